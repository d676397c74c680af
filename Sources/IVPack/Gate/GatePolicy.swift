import Yams

/// The field of a version that a change moves: the level of a change, highest first in risk.
public enum BumpLevel: Int, Sendable, CaseIterable, Comparable {
    /// B only: rebuild, re-sign, repackage.
    case build = 0
    /// Z: corrective (纠正类).
    case patch = 1
    /// Y: minor enhancement (轻微增强类).
    case minor = 2
    /// X: major update (重大更新).
    case major = 3

    /// `major`, `minor`, `patch` or `build`, as written in a policy file.
    public var name: String {
        switch self {
        case .major: return "major"
        case .minor: return "minor"
        case .patch: return "patch"
        case .build: return "build"
        }
    }

    /// The NMPA field letter: X, Y, Z or B.
    public var letter: String {
        switch self {
        case .major: return "X"
        case .minor: return "Y"
        case .patch: return "Z"
        case .build: return "B"
        }
    }

    /// The level named `text`: a name (`major`) or a field letter (`X`), in any case.
    public init?(text: String) {
        switch text.lowercased() {
        case "major", "x": self = .major
        case "minor", "y": self = .minor
        case "patch", "z": self = .patch
        case "build", "b": self = .build
        default: return nil
        }
    }

    /// Orders levels by weight: `build < patch < minor < major`.
    public static func < (a: BumpLevel, b: BumpLevel) -> Bool { a.rawValue < b.rawValue }
}

/// The release gate's policy: how versions are named, which channels exist, the change-type
/// vocabulary and the level each type requires, what the release notes must hold, and which
/// approval roles must sign. Two presets, `nmpa` and `semver`; a policy file starts from one of
/// them and overrides what it names (see docs/release-gate.md and Schemas/gate-policy.schema.json).
public struct GatePolicy: Sendable, Equatable {
    /// How a full version is written.
    public enum Scheme: String, Sendable, CaseIterable {
        /// `V<X>.<Y>.<Z>.<B>`: four numeric fields, the last a global build counter.
        case nmpa
        /// SemVer 2.0.0 `MAJOR.MINOR.PATCH`, optionally with a pre-release and build metadata.
        case semver
    }

    /// Which headings a required release-notes section needs.
    public enum HeadingLanguage: String, Sendable, CaseIterable {
        /// The Chinese and the English title, in one heading (`## 4 变更内容 / Changes`).
        case both
        /// The Chinese title.
        case zh
        /// The English title.
        case en
        /// Either title.
        case either
    }

    /// A release channel and what it lets a version carry.
    public struct Channel: Sendable, Equatable {
        /// The channel name, e.g. `market`.
        public var name: String
        /// Whether a pre-release suffix (`-rc.1`) is allowed.
        public var preRelease: Bool
        /// Whether the reserved major values (default X = 0, before first registration) are allowed.
        public var reservedMajor: Bool

        /// A channel named `name`.
        public init(name: String, preRelease: Bool, reservedMajor: Bool) {
            self.name = name
            self.preRelease = preRelease
            self.reservedMajor = reservedMajor
        }
    }

    /// A change type of the vocabulary and the level it requires.
    public struct ChangeType: Sendable, Equatable {
        /// The change type as written in `change_type` cells.
        public var name: String
        /// The field a change of this type moves.
        public var level: BumpLevel

        /// A change type `name` requiring `level`.
        public init(name: String, level: BumpLevel) {
            self.name = name
            self.level = level
        }
    }

    /// A required section of the release notes: an ID the rules refer to, and the accepted titles.
    public struct Section: Sendable, Equatable {
        /// Stable ID, e.g. `changes`, `environment`; rules look sections up by it.
        public var id: String
        /// Accepted Chinese titles (any one matches).
        public var zh: [String]
        /// Accepted English titles (any one matches, ignoring case).
        public var en: [String]

        /// A section with one title per language.
        public init(id: String, zh: [String], en: [String]) {
            self.id = id
            self.zh = zh
            self.en = en
        }

        /// The titles as a heading would show them, for messages: `变更内容 / Changes`.
        public var display: String {
            [zh.first, en.first].compactMap { $0 }.joined(separator: " / ")
        }
    }

    /// What the release notes must hold.
    public struct Notes: Sendable, Equatable {
        /// Which titles a section heading needs.
        public var headings: HeadingLanguage
        /// Level-2 sections (`##`), in order.
        public var sections: [Section]
        /// Level-3 subsections (`###`) the `changes` section must have.
        public var changeSubsections: [Section]
        /// Front matter keys that must be present and non-empty.
        public var frontMatter: [String]
        /// Words that mark unfinished text (matched as whole words, ignoring case).
        public var placeholders: [String]
        /// Phrases that make an environment version inexact (matched ignoring case).
        public var inexactVersionPhrases: [String]
        /// Keep a Changelog types a change item may carry.
        public var changelogTypes: [String]
        /// The structured records the release must carry (`NotesRecord` raw values). A record that
        /// is present is checked under any policy; a required one that is missing is a finding.
        public var records: [String] = []

        /// Whether the policy requires `record`.
        public func requires(_ record: NotesRecord) -> Bool { records.contains(record.rawValue) }
    }

    /// The policy's name: the preset's, or the file it was read from.
    public var name: String
    /// How the full version is written.
    public var scheme: Scheme
    /// Prefix of the canonical version: `V` for nmpa, empty for semver.
    public var prefix: String
    /// Most digits of each field (build is unused by semver).
    public var digits: [BumpLevel: Int]
    /// Major values reserved for channels with `reservedMajor` (default [0]).
    public var reservedMajor: [Int]
    /// Build numbers never used (default [0]).
    public var reservedBuild: [Int]
    /// Labels of a pre-release suffix `-<label>.<N>`.
    public var preReleaseLabels: [String]
    /// The release channels, in order.
    public var channels: [Channel]
    /// The channel `check` assumes without `--channel`.
    public var defaultChannel: String
    /// The change-type vocabulary, in documentation order.
    public var changeTypes: [ChangeType]
    /// Change types that describe a model or algorithm change (NOTES-020).
    public var modelChangeTypes: [String]
    /// What the release notes must hold.
    public var notes: Notes
    /// Roles that must each have signed the bundle (REL-006).
    public var requiredRoles: [String]

    /// The level `changeType` requires, or nil when it is not in the vocabulary.
    public func level(of changeType: String) -> BumpLevel? {
        changeTypes.first { $0.name == changeType }?.level
    }

    /// The channel named `name`.
    public func channel(_ name: String) -> Channel? { channels.first { $0.name == name } }

    /// The version fields of the scheme, most significant first.
    public var fields: [BumpLevel] { scheme == .nmpa ? [.major, .minor, .patch, .build] : [.major, .minor, .patch] }
}

/// A structured record a release carries for the regulatory rules: a front matter member of the
/// release notes, or (`testReports`) files of the release. A policy lists those it requires.
public enum NotesRecord: String, Sendable, CaseIterable {
    /// `ai:` the model, update driver, test set, metrics and statistical test (NOTES-008), and
    /// adaptive learning per market (REL-014).
    case ai
    /// `regulatory:` the decision per market, with the US PCCP (NOTES-011, REL-008).
    case regulatory
    /// `rollback:` the tested rollback target and its evidence (NOTES-013, REL-015).
    case rollback
    /// Test reports in the release (`*.test-report.json`) bound to this artifact (REL-001).
    case testReports = "test_reports"
    /// `modules:` separately versioned modules and their mapping to the full version (VER-012).
    case modules
}

// MARK: - Presets

extension GatePolicy {
    /// The names of the built-in presets.
    public static let presetNames = ["nmpa", "semver"]

    /// The built-in preset named `name`, or nil.
    public static func preset(_ name: String) -> GatePolicy? {
        switch name {
        case "nmpa": return nmpa
        case "semver": return semver
        default: return nil
        }
    }

    /// The change-type vocabulary of REGULATORY.md table 5.2 and the level each requires.
    public static let nmpaChangeTypes: [ChangeType] = [
        .init(name: "major_perfective", level: .major), .init(name: "major_adaptive", level: .major),
        .init(name: "ai_algorithm_driven", level: .major), .init(name: "ai_retrain_replace_data", level: .major),
        .init(name: "ai_data_driven_significant", level: .major), .init(name: "cyber_major", level: .major),
        .init(name: "recall_related", level: .major), .init(name: "corrective_safety_impact", level: .major),
        .init(name: "minor_perfective", level: .minor), .init(name: "minor_adaptive", level: .minor),
        .init(name: "ai_data_driven_nonsignificant", level: .minor), .init(name: "cyber_minor_function", level: .minor),
        .init(name: "corrective", level: .patch), .init(name: "cyber_patch", level: .patch),
        .init(name: "build_only", level: .build),
    ]

    /// The AI change types of table 5.2: a changed model needs one of them.
    public static let aiChangeTypes = [
        "ai_algorithm_driven", "ai_retrain_replace_data", "ai_data_driven_significant", "ai_data_driven_nonsignificant",
    ]

    /// The fourteen sections of REGULATORY.md 5.5, with bilingual titles.
    public static let nmpaSections: [Section] = [
        .init(id: "version-information", zh: ["版本信息"], en: ["Version Information"]),
        .init(id: "classification", zh: ["更新概述与更新类型判定"], en: ["Release Summary and Update Classification"]),
        .init(id: "regulatory-impact", zh: ["监管影响评估"], en: ["Regulatory Impact Assessment"]),
        .init(id: "changes", zh: ["变更内容"], en: ["Changes"]),
        .init(id: "algorithm-model", zh: ["算法与模型更新"], en: ["Algorithm and Model Updates"]),
        .init(
            id: "verification", zh: ["性能评估与验证确认摘要"],
            en: [
                "Performance Evaluation and Verification & Validation Summary",
                "Performance Evaluation and V&V Summary",
            ]),
        .init(id: "anomalies", zh: ["已知剩余缺陷"], en: ["Known Residual Anomalies"]),
        .init(id: "cybersecurity", zh: ["网络安全"], en: ["Cybersecurity"]),
        .init(id: "environment", zh: ["运行环境与兼容性"], en: ["Operating Environment and Compatibility"]),
        .init(id: "installation", zh: ["安装、升级、数据迁移与回滚"], en: ["Installation, Upgrade, Data Migration and Rollback"]),
        .init(id: "user-communication", zh: ["用户告知与说明书变更"], en: ["User Communication and Labeling (IFU) Changes"]),
        .init(id: "update-history", zh: ["更新历史"], en: ["Update History"]),
        .init(id: "approval", zh: ["发布批准"], en: ["Release Approval"]),
        .init(id: "references", zh: ["参考文件"], en: ["References"]),
    ]

    /// The Keep a Changelog subsections of the changes section.
    public static let changelogSubsections: [Section] = [
        .init(id: "added", zh: ["新增"], en: ["Added"]), .init(id: "changed", zh: ["变更"], en: ["Changed"]),
        .init(id: "deprecated", zh: ["弃用"], en: ["Deprecated"]), .init(id: "removed", zh: ["移除"], en: ["Removed"]),
        .init(id: "fixed", zh: ["修复"], en: ["Fixed"]), .init(id: "security", zh: ["安全"], en: ["Security"]),
    ]

    static let defaultPlaceholders = ["TODO", "TBD", "FIXME", "lorem ipsum", "lorem", "待定", "待补充"]
    static let defaultInexactPhrases = ["or later", "or higher", "or newer", "and above", ">=", "以上版本", "更高版本", "及以上"]
    static let defaultChangelogTypes = ["Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"]

    /// NMPA preset: `V<X>.<Y>.<Z>.<B>` (X 1-3 digits, Y and Z 1-3, B 1-6; X = 0 internal only; B = 0 reserved),
    /// market and internal channels (`-alpha|beta|rc.N` internal only), the table 5.2 vocabulary, the
    /// fourteen bilingual sections of 5.5, approvals by release-manager and quality.
    public static let nmpa = GatePolicy(
        name: "nmpa", scheme: .nmpa, prefix: "V",
        digits: [.major: 3, .minor: 3, .patch: 3, .build: 6], reservedMajor: [0], reservedBuild: [0],
        preReleaseLabels: ["alpha", "beta", "rc"],
        channels: [
            Channel(name: "market", preRelease: false, reservedMajor: false),
            Channel(name: "internal", preRelease: true, reservedMajor: true),
        ],
        defaultChannel: "market", changeTypes: nmpaChangeTypes, modelChangeTypes: aiChangeTypes,
        notes: Notes(
            headings: .both, sections: nmpaSections, changeSubsections: changelogSubsections,
            frontMatter: [
                "model_spec", "release_version", "version", "previous_released_version", "release_date",
                "safety_level", "udi_di", "udi_pi", "naming_rule_doc_id", "naming_rule_doc_version",
                "sbom_file", "sbom_sha256", "update_level",
            ],
            placeholders: defaultPlaceholders, inexactVersionPhrases: defaultInexactPhrases,
            changelogTypes: defaultChangelogTypes, records: NotesRecord.allCases.map(\.rawValue)),
        requiredRoles: ["release-manager", "quality"])

    /// SemVer preset: SemVer 2.0.0 `MAJOR.MINOR.PATCH` (no prefix, up to 9 digits a field, build
    /// metadata refused in the canonical string, `-alpha|beta|rc.N` internal only), the same
    /// vocabulary with `build_only` requiring a patch bump (SemVer has no build field), English or
    /// Chinese headings for a shorter list of sections, approvals by release-manager and quality.
    public static let semver = GatePolicy(
        name: "semver", scheme: .semver, prefix: "",
        digits: [.major: 9, .minor: 9, .patch: 9, .build: 9], reservedMajor: [], reservedBuild: [],
        preReleaseLabels: ["alpha", "beta", "rc"],
        channels: [
            Channel(name: "market", preRelease: false, reservedMajor: false),
            Channel(name: "internal", preRelease: true, reservedMajor: true),
        ],
        defaultChannel: "market",
        changeTypes: nmpaChangeTypes.map { $0.level == .build ? ChangeType(name: $0.name, level: .patch) : $0 },
        modelChangeTypes: aiChangeTypes,
        notes: Notes(
            headings: .either,
            sections: nmpaSections.filter {
                ["classification", "changes", "anomalies", "cybersecurity", "environment"].contains($0.id)
            },
            changeSubsections: [], frontMatter: ["version", "release_date", "update_level"],
            placeholders: defaultPlaceholders, inexactVersionPhrases: defaultInexactPhrases,
            changelogTypes: defaultChangelogTypes),
        requiredRoles: ["release-manager", "quality"])
}

// MARK: - Policy files

extension GatePolicy {
    /// The `kind` of a gate policy file.
    public static let kind = "GatePolicy"

    /// A preset by name, or the policy file at `nameOrPath`.
    public static func resolve(_ nameOrPath: String) throws -> GatePolicy {
        if let preset = preset(nameOrPath) { return preset }
        return try load(path: nameOrPath)
    }

    /// Reads and validates a policy file: it starts from its `preset` (default nmpa) and replaces
    /// each value it names. Unknown keys, anchors and duplicate keys are errors with line and column.
    public static func load(path: String) throws -> GatePolicy {
        let bytes = try InputFile.readAll(path: path, limit: YAMLReader.maxBytes)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw InputError.yaml(
                file: path, line: 0, column: 0, field: "", problem: "the file is not valid UTF-8",
                hint: "Save it as UTF-8")
        }
        return try parse(text: text, file: path)
    }

    /// Validates policy text; `file` names it in messages and becomes the policy's name.
    public static func parse(text: String, file: String) throws -> GatePolicy {
        let r = YAMLReader(file: file)
        let top = try r.root(of: text)
        let m = try r.mapping(
            top, "",
            allowed: [
                "apiVersion", "kind", "preset", "version", "channels", "defaultChannel",
                "changeTypes", "modelChangeTypes", "releaseNotes", "approvals",
            ],
            required: ["apiVersion", "kind"])
        guard try r.string(m["apiVersion"]!, "apiVersion") == ReleaseSpec.apiVersion else {
            throw r.error(
                m["apiVersion"], "apiVersion", "is not supported",
                hint: "This ivpack reads apiVersion: \(ReleaseSpec.apiVersion)")
        }
        guard try r.string(m["kind"]!, "kind") == kind else { throw r.error(m["kind"], "kind", "must be \(kind)") }
        var p = nmpa
        if let node = m["preset"] {
            let name = try r.string(node, "preset")
            guard let base = preset(name) else {
                throw r.error(
                    node, "preset", "unknown preset \"\(name)\"",
                    hint: "Use one of: \(presetNames.joined(separator: ", "))")
            }
            p = base
        }
        p.name = file
        if let node = m["version"] { try parseVersion(r, node, into: &p) }
        if let node = m["channels"] {
            guard case .mapping(let map) = node, !map.isEmpty else {
                throw r.error(node, "channels", "expected a non-empty mapping of channel name to settings")
            }
            var channels: [Channel] = []
            for (k, v) in map {
                let name = try r.string(k, "channels")
                guard isIdentifier(name) else {
                    throw r.error(
                        k, "channels.\(name)", "\"\(name)\" is not a channel name",
                        hint: "Use lower-case letters, digits and '-'")
                }
                let cm = try r.mapping(
                    v, "channels.\(name)", allowed: ["preRelease", "reservedMajor"],
                    required: ["preRelease", "reservedMajor"])
                channels.append(
                    Channel(
                        name: name, preRelease: try boolean(r, cm["preRelease"]!, "channels.\(name).preRelease"),
                        reservedMajor: try boolean(r, cm["reservedMajor"]!, "channels.\(name).reservedMajor")))
            }
            p.channels = channels
            if p.channel(p.defaultChannel) == nil { p.defaultChannel = channels[0].name }
        }
        if let node = m["defaultChannel"] {
            let name = try r.string(node, "defaultChannel")
            guard p.channel(name) != nil else {
                throw r.error(
                    node, "defaultChannel", "\"\(name)\" is not one of the channels",
                    hint: "Channels: \(p.channels.map(\.name).joined(separator: ", "))")
            }
            p.defaultChannel = name
        }
        if let node = m["changeTypes"] {
            guard case .mapping(let map) = node, !map.isEmpty else {
                throw r.error(
                    node, "changeTypes",
                    "expected a non-empty mapping of change type to level (major, minor, patch, build)")
            }
            var types: [ChangeType] = []
            for (k, v) in map {
                let name = try r.string(k, "changeTypes")
                guard isIdentifier(name, allowUnderscore: true) else {
                    throw r.error(
                        k, "changeTypes.\(name)", "\"\(name)\" is not a change type name",
                        hint: "Use lower-case letters, digits and '_'")
                }
                let levelText = try r.string(v, "changeTypes.\(name)")
                guard let level = BumpLevel(text: levelText), p.scheme == .nmpa || level != .build else {
                    throw r.error(
                        v, "changeTypes.\(name)", "\"\(levelText)\" is not a level of the \(p.scheme.rawValue) scheme",
                        hint: p.scheme == .nmpa
                            ? "Use major, minor, patch or build (or X, Y, Z, B)" : "Use major, minor or patch")
                }
                types.append(ChangeType(name: name, level: level))
            }
            p.changeTypes = types
        }
        if let node = m["modelChangeTypes"] {
            let names = try r.strings(node, "modelChangeTypes", nonEmpty: false)
            for (i, name) in names.enumerated() where p.level(of: name) == nil {
                throw r.error(node, "modelChangeTypes[\(i)]", "\"\(name)\" is not one of the change types")
            }
            p.modelChangeTypes = names
        }
        if let node = m["releaseNotes"] { try parseNotes(r, node, into: &p) }
        if let node = m["approvals"] {
            let am = try r.mapping(node, "approvals", allowed: ["requiredRoles"], required: ["requiredRoles"])
            let roles = try r.strings(am["requiredRoles"]!, "approvals.requiredRoles", nonEmpty: false)
            for (i, role) in roles.enumerated() where !SignatureEntryName.isValidRole(role) {
                throw r.error(
                    am["requiredRoles"], "approvals.requiredRoles[\(i)]",
                    "\"\(role)\" is not a role name a signature can carry",
                    hint: "Use 1 to 32 lower-case letters, digits and '-', starting with a letter")
            }
            p.requiredRoles = roles
        }
        return p
    }

    private static func parseVersion(_ r: YAMLReader, _ node: Node, into p: inout GatePolicy) throws {
        let vm = try r.mapping(
            node, "version", allowed: ["scheme", "prefix", "digits", "reserved", "preReleaseLabels"])
        if let n = vm["scheme"] {
            let text = try r.string(n, "version.scheme")
            guard let scheme = Scheme(rawValue: text) else {
                throw r.error(n, "version.scheme", "unknown scheme \"\(text)\"", hint: "Use nmpa or semver")
            }
            if scheme != p.scheme {
                p.scheme = scheme
                if scheme == .semver {
                    p.changeTypes = p.changeTypes.map {
                        $0.level == .build ? ChangeType(name: $0.name, level: .patch) : $0
                    }
                }
            }
        }
        if let n = vm["prefix"] {
            // An empty prefix is written "" (YAMLReader.string refuses empty text).
            if case .scalar(let s) = n, s.string.isEmpty, s.style != .plain {
                p.prefix = ""
            } else {
                let prefix = try r.string(n, "version.prefix")
                guard prefix.utf8.count <= 8, prefix.allSatisfy({ $0.isASCII && $0.isLetter }) else {
                    throw r.error(n, "version.prefix", "\"\(prefix)\" must be at most 8 ASCII letters")
                }
                p.prefix = prefix
            }
        }
        if let n = vm["digits"] {
            let dm = try r.mapping(n, "version.digits", allowed: ["major", "minor", "patch", "build"])
            for (key, value) in dm {
                p.digits[BumpLevel(text: key)!] = Int(try r.integer(value, "version.digits.\(key)", range: 1...18))
            }
        }
        if let n = vm["reserved"] {
            let rm = try r.mapping(n, "version.reserved", allowed: ["major", "build"])
            if let v = rm["major"] {
                p.reservedMajor = try r.sequence(v, "version.reserved.major", nonEmpty: false).enumerated()
                    .map { Int(try r.integer($1, "version.reserved.major[\($0)]", range: 0...999_999_999)) }
            }
            if let v = rm["build"] {
                p.reservedBuild = try r.sequence(v, "version.reserved.build", nonEmpty: false).enumerated()
                    .map { Int(try r.integer($1, "version.reserved.build[\($0)]", range: 0...999_999_999)) }
            }
        }
        if let n = vm["preReleaseLabels"] {
            let labels = try r.strings(n, "version.preReleaseLabels", nonEmpty: false)
            for (i, label) in labels.enumerated() where !isIdentifier(label) || label.contains("-") {
                throw r.error(
                    n, "version.preReleaseLabels[\(i)]", "\"\(label)\" is not a label",
                    hint: "Use lower-case ASCII letters and digits")
            }
            p.preReleaseLabels = labels
        }
    }

    private static func parseNotes(_ r: YAMLReader, _ node: Node, into p: inout GatePolicy) throws {
        let nm = try r.mapping(
            node, "releaseNotes",
            allowed: [
                "headings", "sections", "changeSubsections", "frontMatter",
                "placeholders", "inexactVersionPhrases", "changelogTypes", "records",
            ])
        if let n = nm["headings"] {
            let text = try r.string(n, "releaseNotes.headings")
            guard let h = HeadingLanguage(rawValue: text) else {
                throw r.error(
                    n, "releaseNotes.headings", "unknown value \"\(text)\"", hint: "Use both, zh, en or either")
            }
            p.notes.headings = h
        }
        func sections(_ n: Node, _ field: String) throws -> [Section] {
            var out: [Section] = []
            for (i, item) in try r.sequence(n, field, nonEmpty: false).enumerated() {
                let f = "\(field)[\(i)]"
                let sm = try r.mapping(item, f, allowed: ["id", "zh", "en"], required: ["id"])
                let id = try r.string(sm["id"]!, "\(f).id")
                guard isIdentifier(id) else {
                    throw r.error(
                        sm["id"], "\(f).id", "\"\(id)\" is not an ID", hint: "Use lower-case letters, digits and '-'")
                }
                func titles(_ key: String) throws -> [String] {
                    guard let t = sm[key] else { return [] }
                    if case .sequence = t { return try r.strings(t, "\(f).\(key)") }
                    return [try r.string(t, "\(f).\(key)")]
                }
                let section = Section(id: id, zh: try titles("zh"), en: try titles("en"))
                if section.zh.isEmpty && section.en.isEmpty {
                    throw r.error(item, f, "a section needs a zh or an en title")
                }
                if out.contains(where: { $0.id == id }) {
                    throw r.error(sm["id"], "\(f).id", "the ID \"\(id)\" is used twice")
                }
                out.append(section)
            }
            return out
        }
        if let n = nm["sections"] { p.notes.sections = try sections(n, "releaseNotes.sections") }
        if let n = nm["changeSubsections"] {
            p.notes.changeSubsections = try sections(n, "releaseNotes.changeSubsections")
        }
        if let n = nm["frontMatter"] {
            p.notes.frontMatter = try r.strings(n, "releaseNotes.frontMatter", nonEmpty: false)
        }
        if let n = nm["placeholders"] {
            p.notes.placeholders = try r.strings(n, "releaseNotes.placeholders", nonEmpty: false)
        }
        if let n = nm["inexactVersionPhrases"] {
            p.notes.inexactVersionPhrases = try r.strings(n, "releaseNotes.inexactVersionPhrases", nonEmpty: false)
        }
        if let n = nm["changelogTypes"] { p.notes.changelogTypes = try r.strings(n, "releaseNotes.changelogTypes") }
        if let n = nm["records"] {
            let names = try r.strings(n, "releaseNotes.records", nonEmpty: false)
            for (i, name) in names.enumerated() where NotesRecord(rawValue: name) == nil {
                throw r.error(
                    n, "releaseNotes.records[\(i)]", "unknown record \"\(name)\"",
                    hint: "Use: \(NotesRecord.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            p.notes.records = names
        }
        for section in p.notes.sections {
            let missing =
                p.notes.headings == .both
                ? (section.zh.isEmpty || section.en.isEmpty)
                : p.notes.headings == .zh ? section.zh.isEmpty : p.notes.headings == .en ? section.en.isEmpty : false
            if missing {
                throw r.error(
                    nm["sections"] ?? node, "releaseNotes.sections",
                    "section \"\(section.id)\" lacks the title that headings: \(p.notes.headings.rawValue) requires")
            }
        }
    }

    private static func boolean(_ r: YAMLReader, _ node: Node, _ field: String) throws -> Bool {
        guard case .scalar(let s) = node, s.string == "true" || s.string == "false" else {
            throw r.error(node, field, "must be true or false")
        }
        return s.string == "true"
    }

    static func isIdentifier(_ s: String, allowUnderscore: Bool = false) -> Bool {
        guard let first = s.utf8.first, s.utf8.count <= 64, first >= 0x61 && first <= 0x7A else { return false }
        return s.utf8.allSatisfy {
            ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || (allowUnderscore && $0 == 0x5F)
        }
    }
}
