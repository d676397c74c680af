/// The parts of a release version the gate's scheme names: X, Y, Z and (nmpa) B.
extension ReleaseVersion {
    /// The numeric value of a field; 0 for a field the scheme does not have.
    public func value(_ level: BumpLevel) -> Int {
        let index: Int
        switch level {
        case .major: index = 0
        case .minor: index = 1
        case .patch: index = 2
        case .build: index = 3
        }
        return index < fields.count ? fields[index] : 0
    }

    /// The release version (发布版本): the prefix and X, e.g. `V2`.
    public func releaseVersion(prefix: String) -> String { prefix + String(value(.major)) }

    /// The derived SemVer: `X.Y.Z+B` (nmpa), `X.Y.Z[-pre]` (semver).
    public var derivedSemVer: String {
        var s = "\(value(.major)).\(value(.minor)).\(value(.patch))"
        if let preRelease { s += "-" + preRelease }
        if fields.count == 4 { s += "+\(value(.build))" }
        return s
    }
}

/// The outcome of checking one version string: the parsed version when its structure is sound
/// (even if a channel rule refuses it), and every finding.
public struct VersionCheck: Sendable, Equatable {
    /// The version's fields; nil when its structure is broken.
    public var parsed: ReleaseVersion?
    /// Every naming finding, in order.
    public var findings: [Finding]

    /// The rule IDs of the findings, in order.
    public var ruleIDs: [String] { findings.map(\.ruleID) }
}

/// The version-naming rules VER-001, VER-003 to VER-007 and VER-015, decided from the string alone
/// and the channel it is released to (REGULATORY.md 5.1, 5.3 and 6).
public enum VersionNaming {
    /// Longest version string examined.
    public static let maxLength = 128

    /// Checks `text` under `policy` for `channel`; findings point at `file` and `line`; `what`
    /// names the string in messages ("the release version", "previous_released_version").
    public static func check(
        _ text: String, policy: GatePolicy, channel: GatePolicy.Channel,
        file: String, line: Int?, what: String = "the version"
    ) -> VersionCheck {
        var findings: [Finding] = []
        func add(_ id: String, _ message: String, _ hint: String) {
            findings.append(Finding(id, file: file, line: line, message, hint: hint))
        }
        let shown = "\(what) \"\(escaped(text))\""
        let example = policy.scheme == .nmpa ? "\(policy.prefix)2.3.1.1024" : "\(policy.prefix)2.3.1"

        // VER-004: ASCII letters, digits and punctuation only; a newline or a full-width digit is not.
        if let bad = text.unicodeScalars.first(where: { !$0.isASCII || $0.value <= 0x20 || $0.value == 0x7F }) {
            add(
                "VER-004",
                "\(shown) contains \(describe(bad)); a version is ASCII letters, digits, '.', '-' and '+' only",
                "Retype the version in ASCII (copying from a document often brings full-width digits or a line break), e.g. \(example)"
            )
            return VersionCheck(parsed: nil, findings: findings)
        }
        guard !text.isEmpty, text.utf8.count <= maxLength else {
            add(
                "VER-001", "\(shown) is empty or longer than \(maxLength) characters", "Write the version as \(example)"
            )
            return VersionCheck(parsed: nil, findings: findings)
        }
        var rest = Substring(text)
        if let plus = rest.firstIndex(of: "+") {
            add(
                "VER-007", "\(shown) carries build metadata \"\(rest[plus...])\"; the canonical version has none",
                "Drop \"\(rest[plus...])\"; record the commit in the manifest, not in the version")
            rest = rest[..<plus]
        }
        var preRelease: String?
        if let dash = rest.firstIndex(of: "-") {
            let suffix = String(rest[rest.index(after: dash)...])
            rest = rest[..<dash]
            let parts = suffix.split(separator: ".", omittingEmptySubsequences: false)
            if parts.count == 2, policy.preReleaseLabels.contains(String(parts[0])),
                isBoundedNumber(parts[1], digits: 3), parts[1] != "0"
            {
                preRelease = suffix
                if !channel.preRelease {
                    add(
                        "VER-006",
                        "\(shown) has the pre-release suffix \"-\(suffix)\", which the \(channel.name) channel does not allow",
                        "Release without the suffix, or check with --channel set to a channel that allows pre-releases")
                }
            } else {
                add(
                    "VER-001", "\(shown) has a malformed pre-release suffix \"-\(suffix)\"",
                    "Write the suffix as -<label>.<N> with a label of \(policy.preReleaseLabels.joined(separator: ", ")) and N from 1 to 999, e.g. \(example)-rc.1"
                )
            }
        }
        if !policy.prefix.isEmpty {
            if rest.hasPrefix(policy.prefix) {
                rest = rest.dropFirst(policy.prefix.count)
            } else if rest.lowercased().hasPrefix(policy.prefix.lowercased()) {
                add(
                    "VER-001",
                    "\(shown) starts with \"\(rest.prefix(policy.prefix.count))\"; the prefix is \"\(policy.prefix)\" exactly, so that one version has one spelling",
                    "Write \(policy.prefix)\(rest.dropFirst(policy.prefix.count))")
                rest = rest.dropFirst(policy.prefix.count)
            } else {
                add(
                    "VER-001", "\(shown) lacks the prefix \"\(policy.prefix)\" of the canonical form",
                    "Write \(policy.prefix)\(rest); the bare numbers are only the derived package-manager form")
            }
        }
        if policy.prefix.isEmpty, let first = rest.first, first.isLetter {
            let letters = rest.prefix(while: { $0.isLetter })
            add(
                "VER-001",
                "\(shown) starts with \"\(letters)\"; the \(policy.scheme.rawValue) scheme of policy \(policy.name) writes the numbers without a prefix",
                "Write \(rest.dropFirst(letters.count))")
            rest = rest.dropFirst(letters.count)
        }
        let names = policy.fields
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count < names.count {
            add(
                "VER-001",
                "\(shown) has \(parts.count) field\(parts.count == 1 ? "" : "s"); a full version has \(names.count) (\(names.map(\.letter).joined(separator: "."))), \(names.count - parts.count == 1 ? "the \(names.last!.letter) field is" : "fields are") missing",
                "Write all \(names.count) fields, e.g. \(example)")
            return VersionCheck(parsed: nil, findings: findings)
        }
        if parts.count > names.count {
            add(
                "VER-007",
                "\(shown) has \(parts.count) fields; a full version has \(names.count) (\(names.map(\.letter).joined(separator: ".")))",
                "Drop the extra field\(parts.count - names.count == 1 ? "" : "s"), e.g. \(example)")
            return VersionCheck(parsed: nil, findings: findings)
        }
        var values: [Int] = []
        var fieldsSound = true
        for (level, part) in zip(names, parts) {
            let field = "field \(level.letter) (\(level.name))"
            let width = policy.digits[level] ?? 18
            if part.isEmpty {
                add("VER-001", "\(shown): \(field) is empty", "Write a number in every field, e.g. \(example)")
                fieldsSound = false
            } else if !part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                add(
                    "VER-004",
                    "\(shown): \(field) is \"\(part)\"; a field holds ASCII digits only (no letters, words or dates)",
                    "Keep dates and words out of the version; put them in the release notes")
                fieldsSound = false
            } else if part.count > 1 && part.first == "0" {
                add(
                    "VER-001", "\(shown): \(field) \"\(part)\" has a leading zero",
                    "Write \(part.drop(while: { $0 == "0" }).isEmpty ? "0" : String(part.drop(while: { $0 == "0" })))")
                fieldsSound = false
            } else if part.count > width {
                add(
                    "VER-003",
                    "\(shown): \(field) \"\(part)\" has \(part.count) digits; the naming rule allows at most \(width)",
                    "Use the field widths of the naming rule (policy \(policy.name)), or change the rule under change control"
                )
                fieldsSound = false
            } else {
                values.append(Int(part)!)
            }
        }
        guard fieldsSound else { return VersionCheck(parsed: nil, findings: findings) }
        let parsed = ReleaseVersion(text: text, fields: values, preRelease: preRelease)
        if names.contains(.build), policy.reservedBuild.contains(parsed.value(.build)) {
            add(
                "VER-003",
                "\(shown): build number \(parsed.value(.build)) is reserved by the naming rule (CI never produces it)",
                "Take the build number from the CI build counter; a hard-coded version is how \(parsed.value(.build)) usually gets in"
            )
        }
        if policy.reservedMajor.contains(parsed.value(.major)) && !channel.reservedMajor {
            add(
                "VER-005",
                "\(shown): X = \(parsed.value(.major)) is reserved for internal channels (before the first registration); the \(channel.name) channel does not allow it",
                "Release to the market with X >= 1, or check with --channel internal")
        }
        let semver = parsed.derivedSemVer
        if !SemVer.isValid(semver) {
            add(
                "VER-015", "\(shown): the derived SemVer \"\(semver)\" does not pass the SemVer 2.0.0 pattern",
                "Fix the version fields")
        }
        return VersionCheck(parsed: parsed, findings: findings)
    }

    static func isBoundedNumber(_ s: Substring, digits: Int) -> Bool {
        !s.isEmpty && s.count <= digits && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
            && !(s.count > 1 && s.first == "0")
    }

    /// A character for a message: printable ASCII as is, others by name and code point.
    static func describe(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        switch scalar.value {
        case 0x0A: return "a line break (\(code))"
        case 0x0D: return "a carriage return (\(code))"
        case 0x09: return "a tab (\(code))"
        case 0x20: return "a space"
        case 0x3000: return "an ideographic space (\(code))"
        case 0xFF10...0xFF19: return "the full-width digit '\(Character(scalar))' (\(code))"
        case 0xFF21...0xFF3A, 0xFF41...0xFF5A: return "the full-width letter '\(Character(scalar))' (\(code))"
        case 0xFF0E: return "a full-width full stop (\(code))"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F { return "the control character \(code)" }
            return "the non-ASCII character '\(Character(scalar))' (\(code))"
        }
    }

    /// `text` with control characters made visible, for messages.
    static func escaped(_ text: String) -> String {
        var out = ""
        for s in text.unicodeScalars {
            switch s.value {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0..<0x20, 0x7F: out += "\\u{\(String(s.value, radix: 16))}"
            default: out.unicodeScalars.append(s)
            }
        }
        return out
    }
}

/// VER-001, VER-003 to VER-007, VER-015 on the release's version, and on the previous released
/// version the notes state.
public struct VersionNamingRule: GateRule {
    /// A rule for the context's policy and channel.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["VER-001", "VER-003", "VER-004", "VER-005", "VER-006", "VER-007", "VER-015"] }

    /// The findings of the version strings' names.
    public func check(_ context: GateContext) -> [Finding] {
        var findings = context.version.findings
        if let notes = context.notes, let entry = notes.frontMatter("previous_released_version"),
            let value = entry.value,
            !GateText.isNone(value)
        {
            let market = context.policy.channels.first { !$0.preRelease } ?? context.channel
            findings +=
                VersionNaming.check(
                    value, policy: context.policy, channel: market, file: notes.file, line: entry.line,
                    what: "previous_released_version"
                ).findings
        }
        return findings
    }
}

/// VER-002 and VER-015 on the other forms of the version the notes state: the release version
/// (发布版本) is the prefix and X, and the stated SemVer is the derived one.
public struct ReleaseVersionFormsRule: GateRule {
    /// A rule for the context's policy.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["VER-002", "VER-015"] }

    /// Findings for `release_version` and `semver` in the notes' front matter.
    public func check(_ context: GateContext) -> [Finding] {
        guard let notes = context.notes, let parsed = context.version.parsed else { return [] }
        var findings: [Finding] = []
        if context.policy.scheme == .nmpa, let entry = notes.frontMatter("release_version"), let value = entry.value {
            let expected = parsed.releaseVersion(prefix: context.policy.prefix)
            if value != expected {
                findings.append(
                    Finding(
                        "VER-002", file: notes.file, line: entry.line,
                        "release_version is \"\(VersionNaming.escaped(value))\"; the release version of \(parsed.text) is \(expected) (the prefix and X, nothing else)",
                        hint:
                            "Write release_version: \(expected); the registration form writes it as \(parsed.value(.major))"
                    ))
            }
        }
        if let entry = notes.frontMatter("semver"), let value = entry.value, value != parsed.derivedSemVer {
            findings.append(
                Finding(
                    "VER-015", file: notes.file, line: entry.line,
                    "semver is \"\(VersionNaming.escaped(value))\"; the SemVer derived from \(parsed.text) is \(parsed.derivedSemVer)",
                    hint: "Write semver: \(parsed.derivedSemVer)"))
        }
        return findings
    }
}
