import Yams

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - Public API

/// The formats in which a file can carry a version.
public enum VersionFormat: String, Sendable, CaseIterable, Codable {
    /// A safetensors header: `__metadata__[key]`, key `version` unless given.
    case safetensors
    /// A GGUF metadata entry, key `general.version` unless given; its value must be a string.
    case gguf
    /// A sidecar model card: Markdown with YAML front matter (key `version` unless given), or a JSON or
    /// YAML file with a top-level key.
    case modelCard = "model-card"
    /// A Markdown file's YAML front matter key (`version` unless given).
    case frontMatter = "front-matter"
    /// The version-like token on the first non-empty line after any front matter, such as
    /// `# Installation Manual V2.3.1.1024`.
    case titleLine = "title-line"
    /// An entry of a PDF document information dictionary (`Version` unless given).
    case pdfInfo = "pdf-info"
    /// A CycloneDX JSON SBOM: `metadata.component.version`.
    case cycloneDX = "cyclonedx"
    /// An SPDX 2.x JSON document: `versionInfo` of the package the document describes (through
    /// `documentDescribes` or a `DESCRIBES` relationship from `SPDXRef-DOCUMENT`), or else of the package
    /// named after the product.
    case spdx
}

/// What one reading of one file found.
public struct VersionReading: Sendable, Equatable {
    /// The format that was read.
    public var format: VersionFormat
    /// The file, as the release-relative path the caller passed as `displayPath`.
    public var file: String
    /// Where exactly ivpack looked, in words a user understands, e.g. `safetensors header
    /// __metadata__["version"]`, `front matter key "version" (line 2)`, `title line 5`, `PDF /Info /Version`,
    /// `CycloneDX metadata.component.version`.
    public var location: String
    /// The version string found there, exactly as written, or nil when that place holds no version (key
    /// absent or null, no version-like token).
    public var found: String?

    /// A reading of `file` in `format` at `location`.
    public init(format: VersionFormat, file: String, location: String, found: String?) {
        self.format = format
        self.file = file
        self.location = location
        self.found = found
    }
}

extension InputError {
    /// A file a version is read from whose header or metadata is malformed, or that cannot carry a
    /// version the way it was asked to: `FILE: PROBLEM at WHERE. HINT`, where `detail` is a byte
    /// offset (`byte 8`) or a line (`line 3`), with context where useful.
    public static func versionSource(file: String, detail: String, problem: String, hint: String) -> InputError {
        InputError(.versionSource, Diagnostic(file: file, location: .at(detail), problem: problem, hint: hint))
    }
}

/// One line of a pip requirements file that does not pin exactly one version.
public struct RequirementProblem: Sendable, Equatable {
    /// The requirements file, as the caller's display path.
    public var file: String
    /// The 1-based physical line on which the offending logical line starts.
    public var line: Int
    /// The logical line's text, comments and line continuations removed, trimmed.
    public var requirement: String
    /// What is wrong and how to fix it, e.g. `uses '>=' (a range); pin one exact version with '=='`.
    public var problem: String

    /// A problem with `requirement` on `line` of `file`.
    public init(file: String, line: Int, requirement: String, problem: String) {
        self.file = file
        self.line = line
        self.requirement = requirement
        self.problem = problem
    }
}

/// Reads the version a file claims, in each format ivpack understands, and checks pip requirement pins.
///
/// Every reader treats its file as untrusted: it reads only the part it needs (a header, the start of a
/// document, the end of a PDF), within named limits, checks every length field before using it, and reports
/// a malformed file as a `InputError` (kind `.versionSource`) naming the file, the byte offset or line, and what to do.
/// A file that cannot be opened or read gives a `FileSystemError`.
public enum VersionReaders {
    /// The format to read for a file of a component of `componentKind` (`model`, `document`,
    /// `dependency-manifest`), from its name and, for a plain `.json` dependency manifest, its first 64 KiB.
    ///
    /// - model: `.safetensors` → `.safetensors`, `.gguf` → `.gguf`.
    /// - document: `.md`/`.markdown` → `.frontMatter` (a caller falls back to `.titleLine` when the front
    ///   matter gives nil, or uses `readDocument`), `.pdf` → `.pdfInfo`.
    /// - dependency-manifest: `*.cdx.json` → `.cycloneDX`, `*.spdx.json` → `.spdx`, other `.json` → by
    ///   content (`"bomFormat"` or `"spdxVersion"`); a JSON file that is neither is an error. Requirements
    ///   files give nil: their pins are checked with `unpinnedRequirements`.
    ///
    /// Returns nil for a file that carries no version by design (a model's `config.json`, a PNG in a
    /// document folder) and for any other component kind. `path` must name the file on disk, since a plain
    /// `.json` manifest is opened; errors name it as `displayPath` when given.
    public static func detectFormat(path: String, componentKind: String, displayPath: String? = nil) throws
        -> VersionFormat?
    {
        // The name decides; a symbolic link's own name counts, not its target's.
        let name = baseName(displayPath ?? path).lowercased()
        switch componentKind {
        case "model":
            if name.hasSuffix(".safetensors") { return .safetensors }
            if name.hasSuffix(".gguf") { return .gguf }
            return nil
        case "document":
            if name.hasSuffix(".md") || name.hasSuffix(".markdown") { return .frontMatter }
            if name.hasSuffix(".pdf") { return .pdfInfo }
            return nil
        case "dependency-manifest":
            if isRequirementsFile(displayPath ?? path) { return nil }
            if name.hasSuffix(".cdx.json") { return .cycloneDX }
            if name.hasSuffix(".spdx.json") { return .spdx }
            if name.hasSuffix(".json") { return try SBOM.sniff(path: path, displayPath: displayPath ?? path) }
            return nil
        default:
            return nil
        }
    }

    /// Reads the version `format` says `path` carries; errors name the file as `displayPath`.
    ///
    /// `key` overrides the default key of `.safetensors` (`version`), `.gguf` (`general.version`),
    /// `.modelCard` and `.frontMatter` (`version`) and `.pdfInfo` (`Version`); it is ignored by
    /// `.titleLine`, `.cycloneDX` and `.spdx`, whose places are fixed. `productName` picks the SPDX package
    /// when the document does not say which package it describes.
    public static func read(
        _ format: VersionFormat, path: String, displayPath: String, key: String? = nil, productName: String? = nil
    ) throws -> VersionReading {
        switch format {
        case .safetensors:
            return try Safetensors.read(path: path, displayPath: displayPath, key: key ?? "version")
        case .gguf:
            return try GGUF.read(path: path, displayPath: displayPath, key: key ?? "general.version")
        case .modelCard:
            return try ModelCard.read(path: path, displayPath: displayPath, key: key ?? "version")
        case .frontMatter:
            let head = try Markdown.head(path: path, displayPath: displayPath)
            return try Markdown.frontMatterReading(
                head, displayPath: displayPath, key: key ?? "version", format: .frontMatter)
        case .titleLine:
            let head = try Markdown.head(path: path, displayPath: displayPath)
            return Markdown.titleReading(head, displayPath: displayPath)
        case .pdfInfo:
            var name = key ?? "Version"
            if name.hasPrefix("/") { name.removeFirst() }
            return try PDF.read(path: path, displayPath: displayPath, key: name)
        case .cycloneDX:
            return try SBOM.readCycloneDX(path: path, displayPath: displayPath)
        case .spdx:
            return try SBOM.readSPDX(path: path, displayPath: displayPath, productName: productName)
        }
    }

    /// Reads a Markdown document both ways it can carry a version, reading the file once: the front matter
    /// reading (key `version` unless given) first when the file has front matter, then always the title-line
    /// reading. A caller takes the first reading whose `found` is not nil.
    public static func readDocument(path: String, displayPath: String, key: String? = nil) throws -> [VersionReading] {
        let head = try Markdown.head(path: path, displayPath: displayPath)
        var readings: [VersionReading] = []
        if head.frontMatter != nil {
            readings.append(
                try Markdown.frontMatterReading(
                    head, displayPath: displayPath, key: key ?? "version", format: .frontMatter))
        }
        readings.append(Markdown.titleReading(head, displayPath: displayPath))
        return readings
    }

    /// Whether `path` names a pip-style requirements file: `requirements.txt`, `requirements-*.txt`,
    /// `*.requirements.txt` or `constraints.txt` (case-insensitive).
    public static func isRequirementsFile(_ path: String) -> Bool {
        let name = baseName(path).lowercased()
        return name == "requirements.txt" || name == "constraints.txt"
            || (name.hasPrefix("requirements-") && name.hasSuffix(".txt"))
            || (name.hasSuffix(".requirements.txt") && name.count > ".requirements.txt".count)
    }

    /// Checks that every requirement in a pip requirements file is pinned to one exact version (`name==1.2.3`
    /// or `name===1.2.3`; extras, environment markers, `--hash` options and index options are allowed).
    /// Returns one problem per offending logical line, in file order; an empty array means all are pinned.
    /// Included files (`-r`, `-c`) are reported, not followed.
    public static func unpinnedRequirements(path: String, displayPath: String) throws -> [RequirementProblem] {
        try Requirements.check(path: path, displayPath: displayPath)
    }
}
