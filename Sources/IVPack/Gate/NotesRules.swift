/// One change item of the release notes: a data row of a change table, i.e. a pipe table in the
/// changes section whose header has the columns `ID` and `change_type` (and optionally `KaC`).
///
/// ```
/// | ID | KaC | change_type | 重大/轻微 | ... |
/// |---|---|---|---|---|
/// | CR-812 | Fixed | `corrective` | 轻微 minor | ... |
/// ```
public struct ChangeItem: Sendable, Equatable {
    /// The change ID (links to the change request); empty when the cell is empty.
    public var id: String
    /// The change type, backticks removed; empty when the cell is empty.
    public var changeType: String
    /// The Keep a Changelog type, when the table has a `KaC` column.
    public var changelogType: String?
    /// The title of the subsection the table is in (`修复 Fixed`), if any.
    public var subsection: String?
    /// The line of the table row.
    public var line: Int

    /// Header names of the ID, change-type and Keep a Changelog columns (matched ignoring case).
    public static let idColumn = ["ID", "Change ID", "变更编号"]
    /// Header names of the change-type column.
    public static let changeTypeColumn = ["change_type", "change type", "变更类型"]
    /// Header names of the Keep a Changelog column.
    public static let changelogColumn = ["KaC", "Keep a Changelog", "Type"]

    /// The items of every change table of the notes' changes section (of the whole body when the
    /// policy or the notes have no changes section).
    public static func items(in notes: ReleaseNotesDocument, policy: GatePolicy) -> [ChangeItem] {
        let wanted = policy.notes.sections.first { $0.id == "changes" }
        let section = wanted.flatMap { w in notes.sections.first { SectionMatcher.match($0.heading.text, w) != nil } }
        let lines = section?.lines ?? notes.bodyLines
        let subsectionHeadings = section?.subsections.map(\.heading) ?? notes.headings.filter { $0.level == 3 }
        var out: [ChangeItem] = []
        for table in ReleaseNotesDocument.Table.all(in: lines) {
            guard let idColumn = table.column(idColumn), let typeColumn = table.column(changeTypeColumn) else {
                continue
            }
            let kacColumn = table.column(changelogColumn)
            let subsection = subsectionHeadings.last { $0.line < table.line }?.text
            for row in table.rows {
                func cell(_ i: Int) -> String { i < row.cells.count ? GateText.unquoted(row.cells[i]) : "" }
                out.append(
                    ChangeItem(
                        id: cell(idColumn), changeType: cell(typeColumn), changelogType: kacColumn.map(cell),
                        subsection: subsection, line: row.line))
            }
        }
        return out
    }
}

/// Text helpers shared by the notes rules.
enum GateText {
    /// Whether `text` says there is nothing: 无, None, N/A, 不适用, alone or as `无 / None`.
    static func isNone(_ text: String) -> Bool {
        let words = text.split(whereSeparator: { " /|;,，。.()（）-".contains($0) }).map { $0.lowercased() }
        let none: Set<String> = ["无", "none", "n/a", "na", "不适用", "not", "applicable", "无。"]
        return !words.isEmpty && words.allSatisfy { none.contains($0) }
    }

    /// A table cell without Markdown code quotes or emphasis.
    static func unquoted(_ cell: String) -> String {
        var s = Substring(cell.trimmingWhitespace)
        while let f = s.first, let l = s.last, s.count >= 2, f == l, "`*_".contains(f) { s = s.dropFirst().dropLast() }
        return String(s).trimmingWhitespace
    }

    /// Whether `needle` occurs in `line` as a whole word (ASCII needles: not touching a letter or
    /// digit; others: anywhere). ASCII needles written in upper case match case-sensitively.
    static func containsWord(_ line: String, _ needle: String) -> Bool {
        guard needle.unicodeScalars.allSatisfy({ $0.isASCII }) else { return line.contains(needle) }
        let caseSensitive = needle == needle.uppercased() && needle != needle.lowercased()
        let hay = Array((caseSensitive ? line : line.lowercased()).unicodeScalars)
        let pin = Array((caseSensitive ? needle : needle.lowercased()).unicodeScalars)
        guard !pin.isEmpty, hay.count >= pin.count else { return false }
        func isWordScalar(_ s: Unicode.Scalar) -> Bool {
            s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "_"
        }
        let wordy = isWordScalar(pin.first!) || isWordScalar(pin.last!)
        for start in 0...(hay.count - pin.count) where Array(hay[start..<(start + pin.count)]) == pin {
            if !wordy { return true }
            let before = start > 0 ? hay[start - 1] : nil
            let after = start + pin.count < hay.count ? hay[start + pin.count] : nil
            if !(before.map(isWordScalar) ?? false) && !(after.map(isWordScalar) ?? false) { return true }
        }
        return false
    }

    /// The first run of ASCII digits after `label` (ignoring case) on `line`.
    static func number(after label: String, in line: String) -> Int? {
        guard let range = line.caseInsensitiveRange(of: label) else { return nil }
        let digits = line[range.upperBound...].drop(while: { !("0"..."9").contains($0) }).prefix(while: {
            ("0"..."9").contains($0)
        })
        return digits.isEmpty || digits.count > 9 ? nil : Int(digits)
    }

    /// The 64-hex-digit tokens of `line`.
    static func sha256Tokens(_ line: String) -> [String] {
        var out: [String] = []
        var current = ""
        for c in line + " " {
            if c.isHexDigit && c.isASCII {
                current.append(c)
                continue
            }
            if current.count == 64 { out.append(current.lowercased()) }
            current = ""
        }
        return out
    }
}

extension StringProtocol {
    /// The first range of `needle` in the text, ignoring case (without Foundation).
    func caseInsensitiveRange(of needle: String) -> Range<Index>? {
        let hay = lowercased()
        guard let r = hay.firstRange(of: needle.lowercased()), hay.count == count else { return nil }
        let lower = index(startIndex, offsetBy: hay.distance(from: hay.startIndex, to: r.lowerBound))
        let upper = index(lower, offsetBy: hay.distance(from: r.lowerBound, to: r.upperBound))
        return lower..<upper
    }
}

/// Matches a heading to a policy section: after removing the leading number, one Chinese and/or
/// one English title of the section, only separators (spaces, `/`, `|`, `:`, brackets) may remain.
public enum SectionMatcher {
    /// Which titles a heading carries.
    public struct Match: Sendable, Equatable {
        /// The heading holds a Chinese title of the section.
        public var hasZh: Bool
        /// The heading holds an English title of the section.
        public var hasEn: Bool
    }

    /// How `heading` matches `section`, or nil when it is another heading.
    public static func match(_ heading: String, _ section: GatePolicy.Section) -> Match? {
        let text = String(heading.drop(while: { ("0"..."9").contains($0) || $0 == "." || $0 == " " }))
        var best: Match?
        for zh in [nil] + section.zh.map(Optional.some) {
            for en in [nil] + section.en.sorted(by: { $0.count > $1.count }).map(Optional.some)
            where zh != nil || en != nil {
                var rest = text
                if let zh {
                    guard let r = rest.firstRange(of: zh) else { continue }
                    rest.removeSubrange(r)
                }
                if let en {
                    guard let r = rest.caseInsensitiveRange(of: en) else { continue }
                    rest.removeSubrange(r)
                }
                if rest.allSatisfy({ " \t/|:：-–—()（）、,.".contains($0) }) {
                    let m = Match(hasZh: zh != nil, hasEn: en != nil)
                    if best == nil || (m.hasZh && m.hasEn) { best = m }
                }
            }
        }
        return best
    }

    /// Whether a match carries the titles `language` requires.
    public static func satisfies(_ m: Match, _ language: GatePolicy.HeadingLanguage) -> Bool {
        switch language {
        case .both: return m.hasZh && m.hasEn
        case .zh: return m.hasZh
        case .en: return m.hasEn
        case .either: return m.hasZh || m.hasEn
        }
    }
}

// MARK: - Rules

/// NOTES-001 and NOTES-016: the notes exist, a heading names the exact version, and the versions the
/// front matter states (`version`, `udi_pi`) are the release's.
public struct NotesVersionRule: GateRule {
    /// A rule for any policy.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-001", "NOTES-016"] }

    /// Findings about the notes' presence and version statements.
    public func check(_ context: GateContext) -> [Finding] {
        let version = context.release.version
        guard let notes = context.notes else {
            return [
                Finding(
                    "NOTES-001", file: context.release.notesDisplay,
                    "no release notes for \(version): \(context.release.notesProblem ?? "not found")",
                    hint:
                        "Write the release notes at \(context.release.notesPath), as releaseNotes in the spec names them"
                )
            ]
        }
        var findings: [Finding] = []
        let titled = notes.headings.filter { $0.level == 1 }
        let tokens = titled.map { ($0, VersionReaders.Markdown.versionToken(in: Substring($0.text))) }
        if !tokens.contains(where: { $0.1 == version }) {
            if let (heading, token) = tokens.first(where: { $0.1 != nil }), let token {
                findings.append(
                    Finding(
                        "NOTES-001", file: notes.file, line: heading.line,
                        "the title heading names version \(token); the release is \(version)",
                        hint:
                            "Write the release's exact full version in the title, e.g. # \(context.release.product.name) \(version) 发布说明 / Release Notes"
                    ))
            } else {
                findings.append(
                    Finding(
                        "NOTES-001", file: notes.file, line: titled.first?.line ?? notes.bodyStart,
                        "no title heading (#) names the exact version \(version)",
                        hint: "Start the notes with # \(context.release.product.name) \(version) 发布说明 / Release Notes"))
            }
        }
        for key in ["version", "udi_pi"] {
            if let entry = notes.frontMatter(key), let value = entry.value, value != version {
                findings.append(
                    Finding(
                        "NOTES-016", file: notes.file, line: entry.line,
                        "front matter \(key) is \"\(VersionNaming.escaped(value))\"; the release's version is \(version)",
                        hint: "Write \(key): \(version); the notes, tag, manifest, UI and UDI-PI carry one version"))
            }
        }
        return findings
    }
}

/// NOTES-002: the front matter exists, reads as YAML, and holds every key the policy requires,
/// with a valid date, level and digest where those keys are present.
public struct FrontMatterRule: GateRule {
    /// A rule for the policy's front matter keys.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-002"] }

    /// Findings about the front matter.
    public func check(_ context: GateContext) -> [Finding] {
        guard let notes = context.notes else { return [] }
        let required = context.policy.notes.frontMatter
        if let problem = notes.frontMatterProblem {
            return [
                Finding(
                    "NOTES-002", file: notes.file, line: problem.line,
                    "the front matter cannot be read: \(problem.problem)",
                    hint: "Fix the YAML between the '---' lines")
            ]
        }
        if !notes.hasFrontMatter {
            guard !required.isEmpty else { return [] }
            return [
                Finding(
                    "NOTES-002", file: notes.file, line: 1,
                    "the notes have no front matter; the policy requires \(required.joined(separator: ", "))",
                    hint: "Open the notes with a YAML front matter block between '---' lines")
            ]
        }
        var findings: [Finding] = []
        let facts = ReleaseFacts(context: context)
        for key in required {
            guard let entry = notes.frontMatter(key), let value = entry.value, !value.trimmingWhitespace.isEmpty else {
                findings.append(
                    Finding(
                        "NOTES-002", file: notes.file, line: notes.frontMatter(key)?.line ?? 1,
                        "front matter key \(key) is missing or empty", hint: facts.addHint(key)))
                continue
            }
        }
        if let entry = notes.frontMatter("release_date"), let value = entry.value, !Self.isISODate(value) {
            findings.append(
                Finding(
                    "NOTES-002", file: notes.file, line: entry.line,
                    "release_date \"\(value)\" is not an ISO 8601 date (YYYY-MM-DD)",
                    hint: "Write the date as \"2026-11-20\", in quotes"))
        }
        if let entry = notes.frontMatter("update_level"), let value = entry.value, BumpLevel(text: value) == nil {
            findings.append(
                Finding(
                    "NOTES-002", file: notes.file, line: entry.line, "update_level \"\(value)\" is not a level",
                    hint: context.policy.scheme == .nmpa
                        ? "Write X, Y, Z or B (major, minor, patch, build)" : "Write major, minor or patch"))
        }
        if let entry = notes.frontMatter("sbom_sha256"), let value = entry.value,
            SHA256Digest(hex: value.lowercased()) == nil
        {
            findings.append(
                Finding(
                    "NOTES-002", file: notes.file, line: entry.line, "sbom_sha256 is not 64 hexadecimal digits",
                    hint: facts.frontMatterValue("sbom_sha256").map { "Write sbom_sha256: \($0)" }
                        ?? "Write the SHA-256 of the SBOM file (sha256sum)"))
        }
        return findings
    }

    static func isISODate(_ s: String) -> Bool {
        let p = s.split(separator: "-", omittingEmptySubsequences: false)
        guard p.count == 3, p[0].count == 4, p[1].count == 2, p[2].count == 2,
            p.allSatisfy({ $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
            let y = Int(p[0]), let m = Int(p[1]), let d = Int(p[2]), (1...12).contains(m)
        else { return false }
        let days = [31, (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return (1...days[m - 1]).contains(d)
    }
}

/// NOTES-003: every section the policy requires has a heading with the required titles, and says
/// something (`无 / None` when there is nothing); the changes section has its subsections.
public struct RequiredSectionsRule: GateRule {
    /// A rule for the policy's sections.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-003"] }

    /// Findings about missing, mistitled and empty sections.
    public func check(_ context: GateContext) -> [Finding] {
        guard let notes = context.notes else { return [] }
        let language = context.policy.notes.headings
        var findings: [Finding] = []
        func verify(
            _ wanted: [GatePolicy.Section], among sections: [ReleaseNotesDocument.Section], level: Int, parent: String?,
            fallbackLine: Int
        ) {
            for section in wanted {
                let marks = String(repeating: "#", count: level)
                let hint =
                    "Add the heading \(marks) \(headingExample(section, language)) with its content, or 无 / None when there is nothing to say"
                guard
                    let (found, match) = sections.lazy.compactMap({ s in
                        SectionMatcher.match(s.heading.text, section).map { (s, $0) }
                    }).first
                else {
                    findings.append(
                        Finding(
                            "NOTES-003", file: notes.file, line: fallbackLine,
                            "the required \(parent.map { "subsection of \($0)" } ?? "section") \"\(section.display)\" is missing",
                            hint: hint))
                    continue
                }
                if !SectionMatcher.satisfies(match, language) {
                    findings.append(
                        Finding(
                            "NOTES-003", file: notes.file, line: found.heading.line,
                            "the heading \"\(found.heading.text)\" lacks the \(match.hasZh ? "English" : "Chinese") title; the policy wants \(language == .both ? "both titles" : "the \(language.rawValue) title")",
                            hint: "Write \(marks) \(headingExample(section, language))"))
                }
                if found.contentLines.isEmpty && found.subsections.isEmpty {
                    findings.append(
                        Finding(
                            "NOTES-003", file: notes.file, line: found.heading.line,
                            "the section \"\(found.heading.text)\" is empty",
                            hint: "Write its content, or 无 / None when there is nothing to say"))
                }
            }
        }
        verify(
            context.policy.notes.sections, among: notes.sections, level: 2, parent: nil, fallbackLine: notes.bodyStart)
        if !context.policy.notes.changeSubsections.isEmpty, let changes = context.section("changes") {
            verify(
                context.policy.notes.changeSubsections, among: changes.subsections, level: 3,
                parent: changes.heading.text,
                fallbackLine: changes.heading.line)
        }
        return findings
    }

    func headingExample(_ s: GatePolicy.Section, _ language: GatePolicy.HeadingLanguage) -> String {
        switch language {
        case .both, .either: return s.display
        case .zh: return s.zh.first ?? s.display
        case .en: return s.en.first ?? s.display
        }
    }
}

/// NOTES-004: the changes are listed in change tables; every item has an ID, a change type of the
/// vocabulary and a valid Keep a Changelog type; IDs are unique; each changes subsection either
/// holds items or says `无 / None`.
public struct ChangeListRule: GateRule {
    /// A rule for the policy's vocabulary.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-004"] }

    /// Findings about the change items.
    public func check(_ context: GateContext) -> [Finding] {
        guard let notes = context.notes else { return [] }
        var findings: [Finding] = []
        let vocabulary = context.policy.changeTypes.map(\.name)
        let tableHint =
            "List changes in a table with the columns | ID | KaC | change_type | ... | (docs/release-gate.md, Change items)"
        if context.changes.isEmpty {
            findings.append(
                Finding(
                    "NOTES-004", file: notes.file, line: context.section("changes")?.heading.line ?? notes.bodyStart,
                    "the notes list no change items (no table with the columns ID and change_type)", hint: tableHint))
        }
        var seen: [String: Int] = [:]
        for item in context.changes {
            if item.id.isEmpty {
                findings.append(
                    Finding(
                        "NOTES-004", file: notes.file, line: item.line, "a change item has no ID",
                        hint: "Write the change request ID, e.g. CR-812"))
            } else if let first = seen[item.id] {
                findings.append(
                    Finding(
                        "NOTES-004", file: notes.file, line: item.line,
                        "change \(item.id) is listed twice (first at line \(first))",
                        hint: "List each change once"))
            } else {
                seen[item.id] = item.line
            }
            let name = item.id.isEmpty ? "a change item" : "change \(item.id)"
            if item.changeType.isEmpty {
                findings.append(
                    Finding(
                        "NOTES-004", file: notes.file, line: item.line, "\(name) has no change_type",
                        hint: "Write one of: \(vocabulary.joined(separator: ", "))"))
            } else if context.policy.level(of: item.changeType) == nil {
                findings.append(
                    Finding(
                        "NOTES-004", file: notes.file, line: item.line,
                        "\(name) has change_type \"\(item.changeType)\", which is not in the vocabulary of policy \(context.policy.name)",
                        hint: "Write one of: \(vocabulary.joined(separator: ", "))"))
            }
            if let kac = item.changelogType, !context.policy.notes.changelogTypes.contains(kac) {
                findings.append(
                    Finding(
                        "NOTES-004", file: notes.file, line: item.line,
                        "\(name) has the Keep a Changelog type \"\(kac)\"",
                        hint: "Write one of: \(context.policy.notes.changelogTypes.joined(separator: ", "))"))
            }
        }
        if let changes = context.section("changes") {
            for sub in changes.subsections {
                let hasItems = context.changes.contains {
                    $0.line > sub.heading.line && $0.line <= (sub.lines.last?.number ?? sub.heading.line)
                }
                let content = sub.contentLines
                if !hasItems && !content.isEmpty && !content.allSatisfy({ GateText.isNone($0.text) }) {
                    findings.append(
                        Finding(
                            "NOTES-004", file: notes.file, line: sub.heading.line,
                            "the subsection \"\(sub.heading.text)\" describes changes without a change table",
                            hint: tableHint + ", or write 无 / None"))
                }
            }
        }
        return findings
    }
}

/// NOTES-005: the update classification the notes state (`update_level`) is the level the change
/// items require (风险从高).
public struct ClassificationRule: GateRule {
    /// A rule for the policy's vocabulary.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-005"] }

    /// A finding when the stated and the required levels differ.
    public func check(_ context: GateContext) -> [Finding] {
        guard let notes = context.notes, let required = context.requiredLevel else { return [] }
        guard let entry = notes.frontMatter("update_level"), let value = entry.value else {
            return [
                Finding(
                    "NOTES-005", file: notes.file, line: context.section("classification")?.heading.line ?? 1,
                    "the notes do not state the update classification; the change items require \(describe(required, context.policy))",
                    hint: "Add update_level: \(label(required, context.policy)) to the front matter")
            ]
        }
        guard let stated = BumpLevel(text: value) else { return [] }
        guard stated != required else { return [] }
        let highest = context.changes.filter { context.policy.level(of: $0.changeType) == required }.map(\.id).joined(
            separator: ", ")
        return [
            Finding(
                "NOTES-005", file: notes.file, line: entry.line,
                "the notes classify the update as \(describe(stated, context.policy)), but the change items require \(describe(required, context.policy)) (highest: \(highest))",
                hint:
                    "Classify by the highest change type (风险从高): update_level: \(label(required, context.policy)), or correct the change types"
            )
        ]
    }

    func label(_ level: BumpLevel, _ policy: GatePolicy) -> String {
        policy.scheme == .nmpa ? level.letter : level.name
    }
    func describe(_ level: BumpLevel, _ policy: GatePolicy) -> String {
        policy.scheme == .nmpa ? "\(level.letter) (\(level.name))" : level.name
    }
}

/// NOTES-006: the known residual anomalies section states the known total and the remaining count,
/// and lists one row per remaining anomaly.
public struct ResidualAnomaliesRule: GateRule {
    /// Labels of the known total and the remaining count (matched ignoring case).
    public static let totalLabels = ["已知缺陷总数", "known total"]
    /// Labels of the remaining count.
    public static let remainingLabels = ["剩余缺陷数", "remaining"]

    /// A rule for the anomalies section.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-006"] }

    /// Findings about the counts and the table.
    public func check(_ context: GateContext) -> [Finding] {
        guard let notes = context.notes, let section = context.section("anomalies") else { return [] }
        let hint =
            "State the counts as: 已知缺陷总数 Known total: N; 剩余缺陷数 Remaining: M, and list each remaining anomaly in a table with an ID column"
        var total: (Int, Int)?
        var remaining: (Int, Int)?
        for line in section.lines {
            if total == nil,
                let n = Self.totalLabels.lazy.compactMap({ GateText.number(after: $0, in: line.text) }).first
            {
                total = (n, line.number)
            }
            if remaining == nil,
                let n = Self.remainingLabels.lazy.compactMap({ GateText.number(after: $0, in: line.text) }).first
            {
                remaining = (n, line.number)
            }
        }
        guard let total, let remaining else {
            if section.contentLines.allSatisfy({ GateText.isNone($0.text) }) && !section.contentLines.isEmpty {
                return []
            }
            return [
                Finding(
                    "NOTES-006", file: notes.file, line: section.heading.line,
                    "the anomalies section does not state \(total == nil ? "the known total" : "the remaining count")",
                    hint: hint)
            ]
        }
        var findings: [Finding] = []
        if remaining.0 > total.0 {
            findings.append(
                Finding(
                    "NOTES-006", file: notes.file, line: remaining.1,
                    "\(remaining.0) anomalies remain of a known total of \(total.0)", hint: hint))
        }
        let rows = section.tables.filter { $0.column(["ID"]) != nil }.flatMap(\.rows)
        if rows.count != remaining.0 {
            findings.append(
                Finding(
                    "NOTES-006", file: notes.file, line: rows.first?.line ?? remaining.1,
                    "the notes state \(remaining.0) remaining anomal\(remaining.0 == 1 ? "y" : "ies") but list \(rows.count)",
                    hint:
                        "List each remaining anomaly with description, root cause, impact, evaluation, rationale and workaround"
                ))
        }
        return findings
    }
}

/// NOTES-009: the SBOM the notes name (`sbom_file`, `sbom_sha256`) is a file of the release with
/// that SHA-256, and every SHA-256 the cybersecurity section gives for the SBOM is the same.
public struct SBOMRule: GateRule {
    /// A rule for the release's SBOM.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-009"] }

    /// Findings about the SBOM's name and digest.
    public func check(_ context: GateContext) -> [Finding] {
        guard let notes = context.notes else { return [] }
        let release = context.release
        guard let fileEntry = notes.frontMatter("sbom_file"), let name = fileEntry.value else {
            let sboms = release.files.filter { $0.kind == .dependencyManifest && $0.path.hasSuffix(".json") }
            guard let sbom = sboms.first else { return [] }
            return [
                Finding(
                    "NOTES-009", file: notes.file, line: 1,
                    "the notes do not name the SBOM (\(sbom.path)) and its SHA-256",
                    hint:
                        "Add sbom_file: \(sbom.path) and sbom_sha256: \(sbom.sha256?.hex ?? "<the SHA-256 of \(sbom.path) (sha256sum)>") to the front matter"
                )
            ]
        }
        guard let file = release.file(name) else {
            return [
                Finding(
                    "NOTES-009", file: notes.file, line: fileEntry.line,
                    "sbom_file \(name) is not a file of the release",
                    hint:
                        "Name the SBOM by its path in the release, e.g. \(release.files.first { $0.kind == .dependencyManifest }?.path ?? "sbom/bom.cdx.json")"
                )
            ]
        }
        guard let actual = file.sha256?.hex else { return [] }
        var findings: [Finding] = []
        if let entry = notes.frontMatter("sbom_sha256"), let value = entry.value,
            SHA256Digest(hex: value.lowercased()) != nil, value.lowercased() != actual
        {
            findings.append(
                Finding(
                    "NOTES-009", file: notes.file, line: entry.line,
                    "sbom_sha256 is \(value), but \(name) in the \(release.kind.rawValue) has SHA-256 \(actual)",
                    hint: "Write the digest of the SBOM that ships: sbom_sha256: \(actual)"))
        }
        if let section = context.section("cybersecurity") {
            for line in section.lines where line.text.localizedSBOMMention {
                for token in GateText.sha256Tokens(line.text) where token != actual {
                    findings.append(
                        Finding(
                            "NOTES-009", file: notes.file, line: line.number,
                            "the cybersecurity section gives the SBOM SHA-256 \(token), but \(name) has \(actual)",
                            hint: "Write the digest of the SBOM that ships: \(actual)"))
                }
            }
        }
        return findings
    }
}

extension String {
    /// Whether the line speaks of the SBOM.
    var localizedSBOMMention: Bool { uppercased().contains("SBOM") || contains("软件物料清单") }
}

/// NOTES-010: the operating environment states exact versions: no `or later`, `>=`, `以上版本`.
public struct ExactEnvironmentRule: GateRule {
    /// A rule for the policy's phrases.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-010"] }

    /// One finding per line of the environment section with an inexact version.
    public func check(_ context: GateContext) -> [Finding] {
        guard let notes = context.notes, let section = context.section("environment") else { return [] }
        var findings: [Finding] = []
        for line in section.lines {
            let lower = line.text.lowercased()
            var phrase = context.policy.notes.inexactVersionPhrases.first { lower.contains($0.lowercased()) }
            if phrase == nil, Self.hasTrailingPlus(line.text) { phrase = "+" }
            if let phrase {
                findings.append(
                    Finding(
                        "NOTES-010", file: notes.file, line: line.number,
                        "the operating environment gives an inexact version (\"\(phrase)\"): \(line.text.trimmingWhitespace.prefix(120))",
                        hint:
                            "List the exact versions validated, e.g. Python 3.11.2, Debian 12.8; a range is not a compatibility statement"
                    ))
            }
        }
        return findings
    }

    /// A version followed by `+` (`3.11+`): a digit, then `+`, then a space or the end.
    static func hasTrailingPlus(_ s: String) -> Bool {
        let chars = Array(s)
        for i in chars.indices.dropFirst() where chars[i] == "+" && chars[i - 1].isASCII && chars[i - 1].isNumber {
            if i + 1 == chars.count || chars[i + 1].isWhitespace || chars[i + 1] == "|" || chars[i + 1] == "," {
                return true
            }
        }
        return false
    }
}

/// NOTES-018: no placeholder text anywhere in the notes (TODO, TBD, FIXME, lorem ipsum, 待定).
public struct PlaceholderRule: GateRule {
    /// A rule for the policy's placeholder words.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["NOTES-018"] }

    /// One finding per line holding a placeholder.
    public func check(_ context: GateContext) -> [Finding] {
        guard let notes = context.notes else { return [] }
        var findings: [Finding] = []
        for line in notes.lines {
            if let word = context.policy.notes.placeholders.first(where: { GateText.containsWord(line.text, $0) }) {
                findings.append(
                    Finding(
                        "NOTES-018", file: notes.file, line: line.number,
                        "placeholder text \"\(word)\": \(line.text.trimmingWhitespace.prefix(120))",
                        hint: "Write the real content, or 无 / None when there is nothing to say"))
            }
        }
        return findings
    }
}
