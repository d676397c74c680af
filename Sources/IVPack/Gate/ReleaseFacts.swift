/// What ivpack knows about a release from the release itself (its spec or manifest and its files):
/// the values a finding's fix and the release-notes template write instead of a placeholder. A
/// value ivpack cannot know (the release date, the UDI-DI, a decision record) is nil, and
/// `describe(_:)` says what to write there.
public struct ReleaseFacts: Sendable, Equatable {
    /// The product of the spec or manifest.
    public var product: ProductSpec
    /// The release's full version.
    public var version: String
    /// The release version (`V2`, nmpa only); nil when the version does not parse.
    public var releaseVersion: String?
    /// The derived SemVer of the version; nil when the version does not parse.
    public var semver: String?
    /// The previous released version, when known (`--previous`, `notes template --previous`).
    public var previousVersion: String?
    /// The SBOM: the first JSON file of a dependency-manifest component, with its SHA-256.
    public var sbom: ReleaseFileInfo?
    /// The model weights: the files of model components, JSON side files left out.
    public var models: [ReleaseFileInfo]
    /// The code components' names.
    public var codeComponents: [String]
    /// The file the code reads its version from (VER-014), when known (`ivpack init` writes it).
    public var versionModule: String?
    /// The level the change items require, when they are classified.
    public var requiredLevel: BumpLevel?
    /// The policy's scheme: how a level is written (X or major).
    public var scheme: GatePolicy.Scheme

    /// The facts of `release` under `policy`.
    public init(
        release: ReleaseUnderCheck, policy: GatePolicy, previousVersion: String? = nil, requiredLevel: BumpLevel? = nil
    ) {
        product = release.product
        version = release.version
        let channel =
            policy.channel(policy.defaultChannel)
            ?? GatePolicy.Channel(
                name: "market", preRelease: false, reservedMajor: false)
        let parsed = VersionNaming.check(release.version, policy: policy, channel: channel, file: "", line: nil).parsed
        releaseVersion = policy.scheme == .nmpa ? parsed?.releaseVersion(prefix: policy.prefix) : nil
        semver = parsed?.derivedSemVer
        self.previousVersion = previousVersion
        sbom = release.files.first { $0.kind == .dependencyManifest && $0.path.hasSuffix(".json") }
        models = release.files.filter { $0.kind == .model && !$0.path.hasSuffix(".json") }
        var code: [String] = []
        for f in release.files where f.kind == .code && !code.contains(f.component) { code.append(f.component) }
        codeComponents = code
        self.requiredLevel = requiredLevel
        scheme = policy.scheme
    }

    /// The facts a gate context knows: the previous release's version (`--previous`), the change
    /// items' level. What the notes themselves state is no fact about the release.
    public init(context: GateContext) {
        let previous = context.previous.flatMap { $0.version != context.release.version ? $0.version : nil }
        self.init(
            release: context.release, policy: context.policy, previousVersion: previous,
            requiredLevel: context.requiredLevel)
    }

    /// How a level is written under the policy's scheme: `Z`, or `patch`.
    public func label(_ level: BumpLevel) -> String { scheme == .nmpa ? level.letter : level.name }

    /// The value of front matter `key` that ivpack knows, or nil.
    public func frontMatterValue(_ key: String) -> String? {
        switch key {
        case "version", "udi_pi": return version
        case "release_version": return releaseVersion
        case "semver": return semver
        case "model_spec": return product.model
        case "product_name_en", "product_name": return product.name
        case "manufacturer", "vendor": return product.vendor
        case "previous_released_version": return previousVersion
        case "sbom_file": return sbom?.path
        case "sbom_sha256": return sbom?.sha256?.hex
        case "update_level": return requiredLevel.map(label)
        default: return nil
        }
    }

    /// What to write for front matter `key` when ivpack does not know its value.
    public static func describe(_ key: String) -> String {
        switch key {
        case "release_date": return "the release date in quotes, \"YYYY-MM-DD\""
        case "safety_level": return "the software safety class: 轻微 (A), 中等 (B) or 严重 (C)"
        case "udi_di": return "the product's UDI-DI, in quotes"
        case "naming_rule_doc_id": return "the ID of the procedure that defines the version naming rule"
        case "naming_rule_doc_version": return "that procedure's revision"
        case "previous_released_version": return "the previous released version, or 无 / none for a first release"
        case "update_level": return "the level the highest change type requires: X, Y, Z or B (major, minor, patch)"
        case "sbom_file": return "the SBOM's path in the release"
        case "sbom_sha256": return "the SBOM's SHA-256 (sha256sum)"
        default: return "its value"
        }
    }

    /// A fix that adds front matter `key`: with the known value, else saying what to write.
    public func addHint(_ key: String) -> String {
        if let value = frontMatterValue(key) { return "Add \(key): \(value) to the front matter" }
        return "Add \(key) to the front matter: \(Self.describe(key))"
    }
}
