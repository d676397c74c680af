#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A rule of the release gate: one small check that reads the context and returns findings.
/// Rules never throw for a nonconforming release; they are composed by `ReleaseGate.rules(for:)`
/// and by `AllOfGateRules`, as swift-certificates composes its `VerifierPolicy` values.
public protocol GateRule: Sendable {
    /// The rule IDs this rule can report.
    var ruleIDs: [String] { get }
    /// The findings for `context`; empty when it conforms.
    func check(_ context: GateContext) -> [Finding]
}

/// Every finding of every rule, in order.
public struct AllOfGateRules: GateRule {
    /// The rules, run in order.
    public var rules: [any GateRule]

    /// A composition of `rules`.
    public init(_ rules: [any GateRule]) { self.rules = rules }

    /// The IDs of all rules, without repeats, in order.
    public var ruleIDs: [String] {
        var seen = Set<String>()
        return rules.flatMap(\.ruleIDs).filter { seen.insert($0).inserted }
    }

    /// The findings of each rule, concatenated.
    public func check(_ context: GateContext) -> [Finding] { rules.flatMap { $0.check(context) } }
}

/// A file of a release and its SHA-256 (nil when it was not needed and not computed).
public struct ReleaseFileInfo: Sendable, Equatable {
    /// The component the file belongs to.
    public var component: String
    /// The component's kind.
    public var kind: ComponentKind
    /// Release-relative path (`models/detector.safetensors`), without the bundle's `payload/`.
    public var path: String
    /// The file's SHA-256.
    public var sha256: SHA256Digest?
}

/// What the gate checks: a release spec with its folder, or a built (possibly signed) bundle.
public struct ReleaseUnderCheck: Sendable {
    /// Which kind of input.
    public enum Kind: String, Sendable {
        case spec, bundle
    }

    /// Spec or bundle.
    public var kind: Kind
    /// The spec or bundle as the user named it.
    public var path: String
    /// The product the release belongs to.
    public var product: ProductSpec
    /// The release's one version.
    public var version: String
    /// Line of `version:` in the spec; nil for a bundle.
    public var versionLine: Int?
    /// Release-relative path of the release notes.
    public var notesPath: String
    /// The file findings about the notes name: the spec folder's path for a spec, the
    /// release-relative path for a bundle.
    public var notesDisplay: String
    /// The release notes' bytes; nil when they cannot be found (NOTES-001).
    public var notesBytes: [UInt8]?
    /// Why the notes are missing.
    public var notesProblem: String?
    /// Every file of the release, release notes included, in component order.
    public var files: [ReleaseFileInfo]
    /// The bundle's manifest and its digest.
    public var manifest: Manifest?
    /// SHA-256 of the bundle's manifest (what signatures cover); nil for a spec.
    public var manifestDigest: SHA256Digest?
    /// The bundle's signature entries: entry path and DER.
    public var signatures: [(path: String, der: [UInt8])]
    /// The spec's folder (spec only).
    public var root: String?
    /// The test reports the release carries (`*.test-report.json`), path and bytes, in file order.
    public var testReports: [(path: String, bytes: [UInt8])] = []
    /// Full-version literals in the code components' files (VER-014), in file order.
    public var versionLiterals: [VersionLiteral] = []
    /// Where the spec's components do not carry its version, as build would refuse them
    /// (VER-016 to VER-019); empty for a bundle (build checked it).
    public var consistency: [ComponentMismatch] = []

    /// The digest test reports bind to (REL-001): the SHA-256 of the `sha256sum`-style listing
    /// `<sha256>  <path>\n` of every file of the release except the release notes and the test
    /// reports, sorted by path (byte order). The same for a spec and for the bundle built from it,
    /// so a report written before the build stays bound after it; nil when a digest is unknown.
    public var artifactDigest: SHA256Digest? {
        var lines: [(path: String, line: String)] = []
        for f in files where f.path != notesPath && !f.path.hasSuffix(TestReport.suffix) {
            guard let digest = f.sha256 else { return nil }
            lines.append((f.path, "\(digest.hex)  \(f.path)\n"))
        }
        lines.sort { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) }
        return SHA256Digest.of(Array(lines.map(\.line).joined().utf8))
    }

    /// The component names in order.
    public var componentNames: [String] {
        var seen = Set<String>()
        return files.map(\.component).filter { seen.insert($0).inserted }
    }

    /// Whether the bundle carries any signature entry.
    public var isSigned: Bool { !signatures.isEmpty }

    /// Reads a bundle (a file not ending in .yaml or .yml) or a spec (or a folder holding ivpack.yaml).
    public static func load(path: String) throws -> ReleaseUnderCheck {
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            return try loadSpec(path: path.hasSuffix("/") ? path + "ivpack.yaml" : path + "/ivpack.yaml")
        }
        if path.hasSuffix(".yaml") || path.hasSuffix(".yml") { return try loadSpec(path: path) }
        return try loadBundle(path: path)
    }

    /// Reads a release spec and its release notes. `hashAll` (the default) digests every file, as the
    /// rules that compare digests need (NOTES-008 the weights, REL-001 the artifact digest); without
    /// it only the dependency manifests are digested (NOTES-009).
    public static func loadSpec(path: String, hashAll: Bool = true) throws -> ReleaseUnderCheck {
        let spec = try ReleaseSpec.load(path: path)
        let text = String(decoding: try InputFile.readAll(path: path, limit: YAMLReader.maxBytes), as: UTF8.self)
        let versionLine = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex {
            $0.hasPrefix("version:")
        }.map { $0 + 1 }
        let tree = try ReleaseTree(root: spec.root)
        var collected: [ReleaseFile] = []
        var problems: [InputProblem] = []
        for c in spec.components {
            tree.collect(component: c.name, paths: c.paths, into: &collected, problems: &problems)
        }
        if !problems.isEmpty { throw InputProblems(problems: problems) }
        let kinds = Dictionary(spec.components.map { ($0.name, $0.kind) }, uniquingKeysWith: { a, _ in a })
        var files: [ReleaseFileInfo] = []
        for f in collected {
            let kind = kinds[f.component] ?? .file
            let digest = hashAll || kind == .dependencyManifest ? try digestOfFile(f.diskPath) : nil
            files.append(ReleaseFileInfo(component: f.component, kind: kind, path: f.relativePath, sha256: digest))
        }
        let notesDisplay = spec.root == "." ? spec.releaseNotes : spec.root + "/" + spec.releaseNotes
        var notes: [UInt8]?
        var notesProblem: String?
        do {
            notes = try InputFile.readAll(path: notesDisplay, limit: ReleaseNotesDocument.maxBytes)
        } catch let e as FileSystemError {
            notesProblem = "\(e)"
        }
        files.append(
            ReleaseFileInfo(
                component: ReleaseNotesComponent.name, kind: .document, path: spec.releaseNotes,
                sha256: notes.map { SHA256Digest.of($0) }))
        var reports: [(path: String, bytes: [UInt8])] = []
        for f in collected where f.relativePath.hasSuffix(TestReport.suffix) && reports.count < TestReport.maxCount {
            reports.append((f.relativePath, try InputFile.readAll(path: f.diskPath, limit: TestReport.maxBytes)))
        }
        var literals: [VersionLiteral] = []
        for f in collected where kinds[f.component] == .code {
            guard let file = try? InputFile(path: f.diskPath), file.size <= Int64(VersionLiteral.maxBytes) else {
                continue
            }
            literals += VersionLiteral.scan(
                try file.readBytes(count: Int(file.size), at: 0), path: f.relativePath, version: spec.version)
        }
        return ReleaseUnderCheck(
            kind: .spec, path: path, product: spec.product, version: spec.version, versionLine: versionLine,
            notesPath: spec.releaseNotes, notesDisplay: notesDisplay, notesBytes: notes, notesProblem: notesProblem,
            files: files, manifest: nil, manifestDigest: nil, signatures: [], root: spec.root, testReports: reports,
            versionLiterals: literals, consistency: consistency(spec, tree: tree, collected: collected))
    }

    /// Build's version-consistency check of every component (the release notes are NOTES-001 and
    /// NOTES-016's), as values: a component that cannot be checked (no git repository, an
    /// unreadable file) is a mismatch that says why, since build would stop on it too.
    static func consistency(_ spec: ReleaseSpec, tree: ReleaseTree, collected: [ReleaseFile]) -> [ComponentMismatch] {
        let checker = VersionConsistency(spec: spec, tree: tree)
        var out: [ComponentMismatch] = []
        for c in spec.components where c.kind != .file {
            do {
                let result = try checker.check(c, files: collected.filter { $0.component == c.name })
                out += result.mismatches.map { ComponentMismatch(kind: c.kind, mismatch: $0) }
            } catch {
                out.append(
                    ComponentMismatch(
                        kind: c.kind,
                        mismatch: VersionMismatch(
                            component: c.name, file: c.version.repository ?? c.paths.first ?? ".",
                            location: "its version cannot be read", expected: spec.version, found: "\(error)",
                            hint: "Fix what stops the check; build stops on it too")))
            }
        }
        return out
    }

    /// Reads a bundle's manifest, release notes and signature entries (not its payload).
    public static func loadBundle(path: String) throws -> ReleaseUnderCheck {
        // The gate judges the release's content; the bundle's structure is verify's (and sign's)
        // to refuse, so problems the reader records are not findings here.
        let reader: BundleReader
        do {
            reader = try BundleReader(path: path, blockSize: 64 << 10)
        } catch .notABundle(let path, let first) {
            throw InputError.bundle(
                path,
                "the first entry is \"\(first)\", not \(Manifest.entryPath); this is not an ivpack bundle (a spec must end in .yaml)"
            )
        }
        let manifest = reader.manifest
        let bytes = reader.manifestBytes
        var notes: [UInt8]?
        var signatures: [(path: String, der: [UInt8])] = []
        var reports: [(path: String, bytes: [UInt8])] = []
        var literals: [VersionLiteral] = []
        let code = Set(manifest.components.filter { $0.kind == .code }.flatMap { $0.files.map(\.path) })
        while let entry = try reader.next() {
            switch entry.kind {
            case .payload(_, let file) where file.path == manifest.releaseNotes:
                notes = try reader.readAll(limit: ReleaseNotesDocument.maxBytes)
            case .payload(_, let file)
            where file.path.hasSuffix(TestReport.suffix) && file.encryption == nil
                && reports.count < TestReport.maxCount:
                reports.append(
                    (
                        String(file.path.dropFirst(Manifest.payloadPrefix.count)),
                        try reader.readAll(limit: TestReport.maxBytes)
                    ))
            case .payload(_, let file)
            where code.contains(file.path) && file.encryption == nil && file.size <= Int64(VersionLiteral.maxBytes):
                literals += VersionLiteral.scan(
                    try reader.readAll(limit: VersionLiteral.maxBytes),
                    path: String(file.path.dropFirst(Manifest.payloadPrefix.count)), version: manifest.version)
            case .signature(let name):
                signatures.append((name.path, try reader.readAll(limit: SignedData.maxBytes)))
            default:
                break
            }
        }
        let files = manifest.components.flatMap { c in
            c.files.map {
                ReleaseFileInfo(
                    component: c.name, kind: c.kind, path: String($0.path.dropFirst(Manifest.payloadPrefix.count)),
                    sha256: $0.sha256)
            }
        }
        let notesPath = String(manifest.releaseNotes.dropFirst(Manifest.payloadPrefix.count))
        return ReleaseUnderCheck(
            kind: .bundle, path: path, product: manifest.product, version: manifest.version, versionLine: nil,
            notesPath: notesPath, notesDisplay: notesPath, notesBytes: notes,
            notesProblem: notes == nil ? "the bundle does not contain its release notes \(manifest.releaseNotes)" : nil,
            files: files, manifest: manifest, manifestDigest: SHA256Digest.of(bytes), signatures: signatures, root: nil,
            testReports: reports, versionLiterals: literals)
    }

    static func digestOfFile(_ path: String) throws -> SHA256Digest {
        let file = try InputFile(path: path)
        let hasher = SHA256Hasher()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        while true {
            let n = try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: offset) }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += Int64(n)
        }
        return hasher.finish()
    }

    /// The file at release-relative `path`, if the release has it.
    public func file(_ path: String) -> ReleaseFileInfo? { files.first { $0.path == path } }
}

/// Everything a rule may read: the policy and channel, the release, its parsed notes and change
/// items, the previous release and the component diff, the trust policy and the time.
public struct GateContext: Sendable {
    /// The gate policy.
    public var policy: GatePolicy
    /// The channel the release goes to.
    public var channel: GatePolicy.Channel
    /// The release checked.
    public var release: ReleaseUnderCheck
    /// The parsed release notes; nil when missing (`release.notesProblem` says why).
    public var notes: ReleaseNotesDocument?
    /// The change items of the notes' change tables.
    public var changes: [ChangeItem]
    /// The release's own version checked against the naming rules.
    public var version: VersionCheck
    /// The previous release (`--previous`).
    public var previous: ReleaseUnderCheck?
    /// Per-component differences from the previous release (needs `previous`).
    public var diff: ReleaseDiff?
    /// The site trust policy for signature checks (`--trust`); nil: entry names only.
    public var trust: TrustPolicy?
    /// Seconds since 1970, for signature validity.
    public var now: Int64

    /// The file findings about the release's version name: the spec, or the bundle.
    public var versionFile: String { release.path }

    /// Builds the context: parses the notes and the change items, checks the version string.
    public init(
        policy: GatePolicy, channel: GatePolicy.Channel, release: ReleaseUnderCheck, previous: ReleaseUnderCheck? = nil,
        diff: ReleaseDiff? = nil, trust: TrustPolicy? = nil, now: Int64
    ) throws {
        self.policy = policy
        self.channel = channel
        self.release = release
        self.previous = previous
        self.diff = diff
        self.trust = trust
        self.now = now
        notes = try release.notesBytes.map { try ReleaseNotesDocument.parse(bytes: $0, file: release.notesDisplay) }
        changes = notes.map { ChangeItem.items(in: $0, policy: policy) } ?? []
        version = VersionNaming.check(
            release.version, policy: policy, channel: channel, file: release.path, line: release.versionLine,
            what: "the release version")
    }

    /// The level the change items require (风险从高: the highest), or nil without classifiable items.
    public var requiredLevel: BumpLevel? {
        changes.compactMap { policy.level(of: $0.changeType) }.max()
    }

    /// The notes' section matching policy section `id`, if both exist.
    public func section(_ id: String) -> ReleaseNotesDocument.Section? {
        guard let notes, let wanted = policy.notes.sections.first(where: { $0.id == id }) else { return nil }
        return notes.sections.first { SectionMatcher.match($0.heading.text, wanted) != nil }
    }
}

/// The release gate: composes the rules for a policy and runs them.
public enum ReleaseGate {
    /// The rules `check` runs, in report order.
    public static func rules(for policy: GatePolicy) -> AllOfGateRules {
        AllOfGateRules([
            VersionNamingRule(), ReleaseVersionFormsRule(),
            NotesVersionRule(), FrontMatterRule(), RequiredSectionsRule(), ChangeListRule(), ClassificationRule(),
            ResidualAnomaliesRule(), SBOMRule(), ExactEnvironmentRule(), PlaceholderRule(),
            VersionHistoryRule(), ChangedComponentsRule(), ApprovalRule(),
            AIModelRule(), RegulatoryImpactRule(), RollbackRule(), TestReportRule(),
            ModuleVersionRule(), HardCodedVersionRule(), VersionConsistencyRule(), SpecPlaceholderRule(),
        ])
    }

    /// Runs every rule of the policy on `context` and returns the report.
    public static func run(_ context: GateContext) -> GateReport {
        let rules = rules(for: context.policy)
        let findings = rules.check(context)
        return GateReport(
            target: context.release.path, kind: context.release.kind, product: context.release.product.name,
            version: context.release.version, policy: context.policy.name, channel: context.channel.name,
            previous: context.previous.map { ($0.path, $0.version) }, requiredLevel: context.requiredLevel,
            actualLevel: context.diff?.actualLevel, rulesChecked: rules.ruleIDs, findings: findings)
    }
}

/// What `check` found: the findings and the facts they were decided on.
public struct GateReport: Sendable {
    /// The spec or bundle checked, as named.
    public var target: String
    /// Spec or bundle.
    public var kind: ReleaseUnderCheck.Kind
    /// The product name.
    public var product: String
    /// The release's version.
    public var version: String
    /// The policy's name: a preset or the policy file.
    public var policy: String
    /// The channel checked for.
    public var channel: String
    /// The previous release's path and version, when one was given.
    public var previous: (path: String, version: String)?
    /// The level the change items require.
    public var requiredLevel: BumpLevel?
    /// The level of the version step from the previous release.
    public var actualLevel: BumpLevel?
    /// The IDs of the rules that ran.
    public var rulesChecked: [String]
    /// Every finding, in rule order.
    public var findings: [Finding]

    /// True when no finding blocks.
    public var passed: Bool { !findings.contains { $0.severity == .block } }
    /// The blocking findings' rule IDs, in order.
    public var blockingRuleIDs: [String] { findings.filter { $0.severity == .block }.map(\.ruleID) }
    /// All findings' rule IDs, in order.
    public var ruleIDs: [String] { findings.map(\.ruleID) }
}
