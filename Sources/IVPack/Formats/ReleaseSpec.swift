import Yams

/// The kinds of component a release is made of.
public enum ComponentKind: String, Sendable, CaseIterable, Codable {
    /// Service code: versioned by a git tag on the commit built.
    case code
    /// Model weights: versioned by header metadata (safetensors, GGUF) or a sidecar model card.
    case model
    /// Manuals and other documents: versioned by front matter, the title line or PDF metadata.
    case document
    /// SBOMs and requirement files: versioned by the SBOM; requirement files must pin exact versions.
    case dependencyManifest = "dependency-manifest"
    /// Any other file: hashed and shipped, no version of its own.
    case file
}

/// Where a component's version lives, beyond what ivpack detects from the file formats.
public struct VersionSource: Sendable, Equatable {
    /// code: the tag name, with `{version}` replaced by the release version. Default `{version}`.
    public var tag: String?
    /// code: the git repository folder (relative to the spec); default: the one containing the component.
    public var repository: String?
    /// model, document: the metadata key that holds the version.
    public var key: String?
    /// model: a sidecar model card (relative to the spec) that states the version.
    public var modelCard: String?

    public init(tag: String? = nil, repository: String? = nil, key: String? = nil, modelCard: String? = nil) {
        self.tag = tag
        self.repository = repository
        self.key = key
        self.modelCard = modelCard
    }
}

/// One component of a release: a named set of files of one kind.
public struct ComponentSpec: Sendable, Equatable {
    /// Unique name: lower-case letters, digits, `.`, `_`, `-`; at most 64 characters.
    public var name: String
    public var kind: ComponentKind
    /// Files or folders, relative to the spec's folder, in normal form.
    public var paths: [String]
    public var version: VersionSource
    /// Line of the component in the spec, for messages.
    public var line: Int
    /// Whether the component's files are stored encrypted (`encrypt: true`, docs/encryption.md).
    public var encrypt = false
}

/// The product a release belongs to.
public struct ProductSpec: Sendable, Equatable {
    public var name: String
    public var vendor: String
    /// Model / specification (型号规格).
    public var model: String
}

/// A release spec (`ivpack.yaml`), parsed and validated. Paths are relative to `root`.
public struct ReleaseSpec: Sendable {
    /// The only `apiVersion` this ivpack reads.
    public static let apiVersion = "ivpack.dev/v1"
    /// Default and allowed chunk sizes for per-chunk digests.
    public static let defaultChunkSize = 4 << 20
    public static let chunkSizeRange = (64 << 10)...(64 << 20)
    /// Most components in one spec.
    public static let maxComponents = 1000

    /// The spec file as the user named it.
    public var file: String
    /// The folder every relative path is resolved against (the spec's folder).
    public var root: String
    /// SHA-256 of the spec file's bytes.
    public var digest: SHA256Digest
    public var product: ProductSpec
    /// The one version of the release.
    public var version: String
    /// Release notes, relative to `root`.
    public var releaseNotes: String
    public var chunkSize: Int
    public var components: [ComponentSpec]
    /// Environment requirements, already normalised to their manifest form (sizes in bytes).
    public var requirements: EnvironmentRequirements?
    /// The `install:` section: how the release is installed on the target; nil when absent.
    public var install: InstallSection?
    /// The `qualification:` section: how the release is qualified on site; nil when absent.
    public var qualification: QualificationSection?

    /// Reads and validates the spec at `path`.
    public static func load(path: String) throws -> ReleaseSpec {
        let bytes = try InputFile.readAll(path: path, limit: YAMLReader.maxBytes)
        let root = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        return try parse(bytes: bytes, file: path, root: root.isEmpty ? "/" : root)
    }

    /// Validates spec bytes; `file` names the spec in messages, `root` is its folder.
    public static func parse(bytes: [UInt8], file: String, root: String) throws -> ReleaseSpec {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw InputError.yaml(
                file: file, line: 0, column: 0, field: "", problem: "the file is not valid UTF-8",
                hint: "Save it as UTF-8")
        }
        let reader = YAMLReader(file: file)
        let top = try reader.root(of: text)
        let doc = try reader.mapping(
            top, "",
            allowed: [
                "apiVersion", "product", "version", "releaseNotes", "chunkSize", "components", "requirements",
                "install", "qualification",
            ],
            required: ["apiVersion", "product", "version", "releaseNotes", "components"])
        let api = try reader.string(doc["apiVersion"]!, "apiVersion")
        guard api == apiVersion else {
            throw reader.error(
                doc["apiVersion"], "apiVersion", "\"\(api)\" is not supported",
                hint: "This ivpack reads apiVersion: \(apiVersion)")
        }
        let productNode = try reader.mapping(
            doc["product"]!, "product", allowed: ["name", "vendor", "model"], required: ["name", "vendor", "model"])
        let product = ProductSpec(
            name: try reader.string(productNode["name"]!, "product.name"),
            vendor: try reader.string(productNode["vendor"]!, "product.vendor"),
            model: try reader.string(productNode["model"]!, "product.model"))
        let version = try reader.string(doc["version"]!, "version")
        guard version.utf8.count <= 64, version.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw reader.error(
                doc["version"], "version", "\"\(version)\" must be at most 64 printable ASCII characters without spaces"
            )
        }
        let releaseNotes = try path(reader, doc["releaseNotes"]!, "releaseNotes")
        var chunkSize = defaultChunkSize
        if let node = doc["chunkSize"] {
            let size = try reader.size(node, "chunkSize")
            guard chunkSizeRange.contains(Int(clamping: size)), size & (size - 1) == 0 else {
                throw reader.error(node, "chunkSize", "must be a power of two from 64KiB to 64MiB")
            }
            chunkSize = Int(size)
        }
        let componentNodes = try reader.sequence(doc["components"]!, "components")
        guard componentNodes.count <= maxComponents else {
            throw reader.error(doc["components"], "components", "more than \(maxComponents) components")
        }
        var components: [ComponentSpec] = []
        var names = Set<String>()
        for (i, node) in componentNodes.enumerated() {
            let component = try parseComponent(reader, node, "components[\(i)]")
            guard names.insert(component.name).inserted else {
                throw reader.error(
                    node, "components[\(i)].name", "component name \"\(component.name)\" is used twice",
                    hint: "Give every component its own name")
            }
            if component.name == ReleaseNotesComponent.name {
                throw reader.error(
                    node, "components[\(i)].name",
                    "the component name \"\(ReleaseNotesComponent.name)\" is reserved for the release notes",
                    hint: "Rename the component; the release notes named by releaseNotes are added automatically")
            }
            components.append(component)
        }
        let requirements = try doc["requirements"].map {
            EnvironmentRequirements(json: try Requirements.parse(reader, $0))
        }
        let install = try doc["install"].map {
            try InstallSection.parse(reader, $0, components: components.map(\.name) + [ReleaseNotesComponent.name])
        }
        let qualification = try doc["qualification"].map { try QualificationSection.parse(reader, $0) }
        return ReleaseSpec(
            file: file, root: root, digest: SHA256Digest.of(bytes), product: product, version: version,
            releaseNotes: releaseNotes, chunkSize: chunkSize, components: components, requirements: requirements,
            install: install, qualification: qualification)
    }

    private static func namePattern(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 64 else { return false }
        let allowed: (UInt8) -> Bool = {
            ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D
        }
        return allowed(first) && first != 0x2E && first != 0x2D && first != 0x5F && name.utf8.allSatisfy(allowed)
    }

    static func path(_ reader: YAMLReader, _ node: Node, _ field: String) throws -> String {
        let raw = try reader.string(node, field)
        switch RelativePath.normalize(raw) {
        case .success(let normal): return normal
        case .failure(let problem):
            throw reader.error(
                node, field, "\"\(raw)\": \(problem)",
                hint: "Paths are relative to the spec's folder and stay inside it")
        }
    }

    private static func parseComponent(_ reader: YAMLReader, _ node: Node, _ field: String) throws -> ComponentSpec {
        let m = try reader.mapping(
            node, field, allowed: ["name", "kind", "paths", "version", "encrypt"], required: ["name", "kind", "paths"])
        let name = try reader.string(m["name"]!, "\(field).name")
        guard namePattern(name) else {
            throw reader.error(
                m["name"], "\(field).name", "\"\(name)\" is not a valid component name",
                hint: "Use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        let kindText = try reader.string(m["kind"]!, "\(field).kind")
        guard let kind = ComponentKind(rawValue: kindText) else {
            throw reader.error(
                m["kind"], "\(field).kind", "unknown kind \"\(kindText)\"",
                hint: "Use one of: \(ComponentKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let pathNodes = try reader.sequence(m["paths"]!, "\(field).paths")
        let paths = try pathNodes.enumerated().map { try path(reader, $1, "\(field).paths[\($0)]") }
        var source = VersionSource()
        if let v = m["version"] {
            let vf = "\(field).version"
            switch kind {
            case .code:
                let vm = try reader.mapping(v, vf, allowed: ["tag", "repository"])
                source.tag = try vm["tag"].map { try reader.string($0, "\(vf).tag") }
                if let tag = source.tag, !tag.contains("{version}") {
                    throw reader.error(
                        vm["tag"], "\(vf).tag", "the tag pattern \"\(tag)\" does not contain {version}",
                        hint:
                            "Write the tag name with {version} where the release version goes, e.g. \"{version}\" or \"service-{version}\""
                    )
                }
                source.repository = try vm["repository"].map { node in
                    // "." names the release folder itself, a common place for the repository.
                    if case .scalar(let scalar) = node, scalar.string == "." || scalar.string == "./" { return "." }
                    return try path(reader, node, "\(vf).repository")
                }
            case .model:
                let vm = try reader.mapping(v, vf, allowed: ["key", "modelCard"])
                source.key = try vm["key"].map { try reader.string($0, "\(vf).key") }
                source.modelCard = try vm["modelCard"].map { try path(reader, $0, "\(vf).modelCard") }
            case .document:
                let vm = try reader.mapping(v, vf, allowed: ["key"])
                source.key = try vm["key"].map { try reader.string($0, "\(vf).key") }
            case .dependencyManifest, .file:
                throw reader.error(
                    v, vf, "a \(kind.rawValue) component takes no version settings",
                    hint: kind == .file
                        ? "Plain files carry no version; use another kind if this one does"
                        : "The version is read from the SBOM itself")
            }
        }
        let encrypt = try m["encrypt"].map { try reader.boolean($0, "\(field).encrypt") } ?? false
        return ComponentSpec(
            name: name, kind: kind, paths: paths, version: source, line: node.mark?.line ?? 0, encrypt: encrypt)
    }
}

/// The release notes travel as a document component of their own, added by `build`.
public enum ReleaseNotesComponent {
    /// The component's reserved name.
    public static let name = "release-notes"
}
