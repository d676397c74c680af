/// How much a finding of the release gate weighs.
public enum FindingSeverity: String, Sendable, CaseIterable, Comparable {
    /// Stops the release: `ivpack check` exits 1.
    case block
    /// Needs a recorded justification; printed, but the release may go on.
    case warn

    /// `block` sorts before `warn`.
    public static func < (a: FindingSeverity, b: FindingSeverity) -> Bool { a == .block && b == .warn }
}

/// One nonconformity found by the release gate: which rule, how severe, where (file and line),
/// which clause the rule comes from, what is wrong and what to do. Findings are values that rules
/// return; a rule never throws because a release breaks it.
public struct Finding: Sendable, Equatable, Hashable {
    /// Stable rule ID, e.g. `VER-001`, `NOTES-010` (see `GateRuleCatalog`).
    public var ruleID: String
    /// `block` stops the release; `warn` is printed.
    public var severity: FindingSeverity
    /// The file the finding is about, as the user named it (a spec, release notes, a bundle).
    public var file: String
    /// 1-based line in `file`; nil when the finding has no line (a bundle, a missing section).
    public var line: Int?
    /// The clauses and sources the rule comes from.
    public var clause: String
    /// What is wrong, in one sentence, with the values involved.
    public var message: String
    /// What to do about it.
    public var hint: String

    /// A finding of rule `ruleID` with the catalogue's severity and clause unless given.
    public init(
        _ ruleID: String, file: String, line: Int? = nil, _ message: String, hint: String,
        severity: FindingSeverity? = nil
    ) {
        let rule = GateRuleCatalog.rule(ruleID)
        self.ruleID = ruleID
        self.severity = severity ?? rule?.severity ?? .block
        self.file = file
        self.line = line
        self.clause = rule?.clause ?? ""
        self.message = message
        self.hint = hint
    }
}

/// A rule the gate knows: its ID, default severity, what it requires and where that comes from.
public struct GateRuleDescriptor: Sendable, Equatable {
    /// The stable rule ID, e.g. `VER-009`.
    public var id: String
    /// The severity of the rule's findings.
    public var severity: FindingSeverity
    /// What the rule requires, in one line (SARIF `shortDescription`).
    public var title: String
    /// The clauses and sources (REGULATORY.md section 5.3, the IQ draft clause 6.6.1).
    public var clause: String

    /// The rule's section of docs/release-gate.md (SARIF `helpUri`).
    public var helpURI: String { GateRuleCatalog.helpBase + "#" + id.lowercased() }
}

/// Every rule ID the release gate can report. IDs are stable: pipelines filter on them.
public enum GateRuleCatalog {
    /// Where the rules are documented; each rule's anchor is its lower-case ID.
    public static let helpBase = "https://ivpack.dev/docs/release-gate.md"

    /// All rules, in documentation order.
    public static let all: [GateRuleDescriptor] = [
        .init(
            id: "VER-001", severity: .block,
            title: "The full version matches the policy's canonical pattern (prefix, field count, no leading zeros)",
            clause: "IQ 6.6.1 d; NMPA SW §二（七）; SemVer §2"),
        .init(
            id: "VER-002", severity: .block, title: "The release version is the prefix and X, nothing else",
            clause: "NMPA SW §二（七）, §九（一）1（1）"),
        .init(
            id: "VER-003", severity: .block,
            title: "Field widths, ranges and reserved values are those of the naming rule",
            clause: "NMPA SW §二（七）, 附录 1.3; GMP appendix 2.3.5"),
        .init(
            id: "VER-004", severity: .block,
            title: "Versions are ASCII: no spaces, full-width digits, words or dates in fields",
            clause: "IQ 6.6.1 d; SemVer identifier charset"),
        .init(
            id: "VER-005", severity: .block, title: "Reserved major values (X = 0) only in internal channels",
            clause: "Policy; SemVer §4"),
        .init(
            id: "VER-006", severity: .block,
            title: "Pre-release suffixes only in channels that allow them, never on a market release",
            clause: "Policy; SemVer §9"),
        .init(
            id: "VER-007", severity: .block, title: "No build metadata or extra fields in the canonical version",
            clause: "Policy (one canonical form)"),
        .init(
            id: "VER-008", severity: .block,
            title: "The version is strictly greater than the previous release; the build number increases",
            clause: "NMPA SW §二（七） (一一对应); SemVer §2"),
        .init(
            id: "VER-009", severity: .block,
            title: "Bump iff classification: the highest changed field equals the level the change types require",
            clause: "IQ 6.6.1 d; NMPA SW §二（七） (风险从高); GMP 2.3.16"),
        .init(
            id: "VER-010", severity: .block, title: "An X bump resets Y and Z; a Y bump resets Z",
            clause: "SemVer §7-8"),
        .init(
            id: "VER-011", severity: .warn, title: "No skipped values (X+1, Y+1, Z+1 only)",
            clause: "Policy (audit readability)"),
        .init(
            id: "VER-012", severity: .block,
            title:
                "A separately versioned module (model, middleware) declares its version format and its mapping to the full version",
            clause: "NMPA SW §二（七） last paragraph, §八（一）2（8）"),
        .init(
            id: "VER-013", severity: .block,
            title: "A version maps to exactly one content: a version is never reused for other content",
            clause: "NMPA SW (一一对应); SemVer §3; GMP 2.5.1"),
        .init(
            id: "VER-014", severity: .block,
            title: "No full-version literal in the code outside the declared version module",
            clause: "NMPA SW §二（七）; IMDRF N7 §10.6.2; EU MDR Annex VI C §6.5"),
        .init(
            id: "VER-015", severity: .block,
            title: "The derived SemVer X.Y.Z+B passes the official SemVer 2.0.0 pattern",
            clause: "semver.org"),
        .init(
            id: "VER-016", severity: .block,
            title: "A code component is the commit its version tag names, with a clean tree under its paths",
            clause: "IQ 5.5.1 c; NMPA SW §二（七） (一一对应)"),
        .init(
            id: "VER-017", severity: .block,
            title: "A model component's metadata (or model card) carries the release's version",
            clause: "IQ 5.5.1 c; NMPA SW §二（七） last paragraph"),
        .init(
            id: "VER-018", severity: .block,
            title: "A document component (manual, IFU) states the release's version in its metadata or title",
            clause: "IQ 5.5.1 b; NMPA SW (一一对应)"),
        .init(
            id: "VER-019", severity: .block,
            title: "A dependency manifest (SBOM) names the release's version and pins every dependency exactly",
            clause: "IQ 5.5.1 a; NMPA Cyber §二（八）"),
        .init(
            id: "SPEC-001", severity: .block,
            title: "The release spec's product fields hold no placeholder (TODO) left by ivpack init",
            clause: "IQ 6.6.1 e (ivpack rule)"),
        .init(
            id: "NOTES-001", severity: .block,
            title: "Release notes exist for the exact full version, with a heading naming it",
            clause: "IQ 6.6.1 e; KaC 1.1.0; IEC 62304 5.8.4"),
        .init(
            id: "NOTES-002", severity: .block,
            title: "The notes' header metadata (front matter) is complete and well formed",
            clause: "NMPA SW §八（一）1（1）, §九; IEC 62304 5.8.4"),
        .init(
            id: "NOTES-003", severity: .block,
            title: "Every required section is present with the policy's headings; an empty one says 无 / None",
            clause: "IQ 6.6.1 e; NMPA SW §八; KaC 1.1.0"),
        .init(
            id: "NOTES-004", severity: .block,
            title: "Every change item has an ID, a Keep a Changelog type and a change_type of the policy's vocabulary",
            clause: "NMPA SW §二（六）, §八（一）2（6）（8）; IEC 62304 8.2.4"),
        .init(
            id: "NOTES-005", severity: .block,
            title: "The stated update classification equals the level the change items require",
            clause: "NMPA SW footnote [8]; IQ 6.6.1 d"),
        .init(
            id: "NOTES-006", severity: .block,
            title: "Known residual anomalies: totals stated, one row per remaining anomaly",
            clause: "IEC 62304 5.8.2/5.8.3; NMPA SW §八（一）2（7）"),
        .init(
            id: "NOTES-008", severity: .block,
            title:
                "The AI record: model and weights digest as shipped, update driver, test set equal to the baseline's, metrics, statistical conclusion",
            clause: "NMPA AI 2022 (data-driven significance); FDA PCCP §VII.B(1)-(3)"),
        .init(
            id: "NOTES-009", severity: .block, title: "The SBOM file and SHA-256 in the notes match the release",
            clause: "NMPA Cyber §二（八）; FDA Cyber §V.A.4"),
        .init(
            id: "NOTES-010", severity: .block,
            title: "The operating environment lists exact versions (no 'or later', '>=', 以上版本)",
            clause: "IQ 6.6.1 e; NMPA SW §八（一）1（5）"),
        .init(
            id: "NOTES-011", severity: .block,
            title: "Regulatory impact per market with record IDs; an X bump has the CN change-registration approval",
            clause: "NMPA SW §二（六）; FDA PCCP §V.D"),
        .init(
            id: "NOTES-013", severity: .block,
            title: "The upgrade record states compatibility, data migration and legacy-user impact",
            clause: "IEC 81001-5-1 6.3.1; NMPA SW §二（六） (回滚机制); FDA PCCP §VII.B(4)"),
        .init(
            id: "NOTES-016", severity: .block, title: "Version strings in the notes equal the release's version",
            clause: "NMPA SW (一一对应); NMPA UDI footnote [3]"),
        .init(
            id: "NOTES-018", severity: .block,
            title: "No placeholder text (TODO, TBD, FIXME, lorem ipsum, 待定) in the notes",
            clause: "IQ 6.6.1 e (ivpack rule)"),
        .init(
            id: "NOTES-019", severity: .block,
            title: "Every component whose content changed since the previous release is named in the notes",
            clause: "IQ 6.6.1 e; IEC 62304 5.8.4 (ivpack rule)"),
        .init(
            id: "NOTES-020", severity: .block, title: "A model whose content changed has a model/algorithm change item",
            clause: "NMPA AI 2022; REL-012 (ivpack rule)"),
        .init(
            id: "REL-001", severity: .block,
            title:
                "Test reports bound to this artifact: its full version and artifact digest, 0 failed, 0 not run without justification, regression run",
            clause: "IEC 62304 5.8.1, 5.8.6; FDA SW guidance; GMP 2.3.16"),
        .init(
            id: "REL-006", severity: .block,
            title: "Every approval role the policy requires has signed the bundle, each with its own certificate",
            clause: "IQ 6.6.1 f; GMP appendix 2.6.1; IEC 62304 8.2.1"),
        .init(
            id: "REL-008", severity: .block,
            title:
                "A recorded FDA decision; under a PCCP: title, version, modification ID, every acceptance criterion passed",
            clause: "FDA PCCP §V.D, §V.F, §VII.B(3)"),
        .init(
            id: "REL-014", severity: .block,
            title: "Adaptive (self/continuous) learning is off in every market unless an approval or PCCP covers it",
            clause: "NMPA AI 2022; FDA PCCP §VI"),
        .init(
            id: "REL-015", severity: .block,
            title: "A tested rollback to the previous released version, with its evidence",
            clause: "NMPA SW §二（六） (回滚机制)"),
    ]

    /// The descriptor of `id`, or nil for an unknown ID.
    public static func rule(_ id: String) -> GateRuleDescriptor? { all.first { $0.id == id } }
}
