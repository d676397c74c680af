/// One place where a component of a spec does not carry the release's version, as `build` would
/// refuse it, with the component's kind (which decides the rule: VER-016 to VER-019).
public struct ComponentMismatch: Sendable, Equatable {
    /// The kind of the component.
    public var kind: ComponentKind
    /// What build found.
    public var mismatch: VersionMismatch

    /// A mismatch of a component of `kind`.
    public init(kind: ComponentKind, mismatch: VersionMismatch) {
        self.kind = kind
        self.mismatch = mismatch
    }

    /// The rule a mismatch of this kind breaks: VER-016 code, VER-017 model, VER-018 document,
    /// VER-019 dependency manifest; nil for a plain file (it has no version).
    public var ruleID: String? {
        switch kind {
        case .code: return "VER-016"
        case .model: return "VER-017"
        case .document: return "VER-018"
        case .dependencyManifest: return "VER-019"
        case .file: return nil
        }
    }

    /// The gate finding of this mismatch; `root` is the spec's folder (findings name files as the
    /// user can open them).
    public func finding(root: String?) -> Finding {
        let m = mismatch
        var shown = m.file
        if let root, root != "." { shown = m.file == "." ? root : root + "/" + m.file }
        let hint =
            m.hint.isEmpty ? "Write version \(m.expected) there; build refuses the release until it does" : m.hint
        return Finding(
            ruleID ?? "VER-018", file: shown,
            "component \(m.component): \(m.location): expected \(m.expected), found \(m.found)", hint: hint)
    }

    /// Findings for every mismatch of `mismatches`, in order.
    public static func findings(_ mismatches: [ComponentMismatch], root: String?) -> [Finding] {
        mismatches.map { $0.finding(root: root) }
    }
}

/// VER-016 to VER-019: `build`'s version-consistency rules, run by `check` on a spec so that a
/// release `check` passes is one `build` accepts: the code's git tag on the commit built with a clean
/// tree, the model's metadata, the documents' metadata and the SBOM's version and pins. On a bundle
/// these were checked by build and are in the manifest's evidence (verify's `version.consistency`).
public struct VersionConsistencyRule: GateRule {
    /// A rule for any policy.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["VER-016", "VER-017", "VER-018", "VER-019"] }

    /// One finding per mismatch build would report.
    public func check(_ context: GateContext) -> [Finding] {
        ComponentMismatch.findings(context.release.consistency, root: context.release.root)
    }
}

/// SPEC-001: the spec's product fields hold no placeholder (`ivpack init` writes `TODO` where only
/// the manufacturer knows the value).
public struct SpecPlaceholderRule: GateRule {
    /// A rule for the policy's placeholder words.
    public init() {}
    /// The IDs this rule reports.
    public var ruleIDs: [String] { ["SPEC-001"] }

    /// One finding per product field holding a placeholder.
    public func check(_ context: GateContext) -> [Finding] {
        guard context.release.kind == .spec else { return [] }
        let product = context.release.product
        let fields = [
            ("name", product.name, "the product's name"), ("vendor", product.vendor, "the manufacturer (注册人)"),
            ("model", product.model, "the model / specification (型号规格) of the registration"),
        ]
        var findings: [Finding] = []
        for (key, value, what) in fields {
            guard let word = context.policy.notes.placeholders.first(where: { GateText.containsWord(value, $0) })
            else { continue }
            findings.append(
                Finding(
                    "SPEC-001", file: context.release.path,
                    "product.\(key) is a placeholder (\"\(word)\"): \(VersionNaming.escaped(value))",
                    hint: "Write \(what) as product.\(key) in the spec"))
        }
        return findings
    }
}
