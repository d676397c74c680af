/// The bundle manifest: the canonical-JSON document that is the bundle's first entry and the
/// thing every signature covers. See `docs/bundle-format.md` and `Schemas/manifest.schema.json`.
public struct Manifest: Sendable, Equatable {
    /// The value of the `format` member this ivpack writes and reads.
    public static let format = "ivpack-manifest/1"
    /// The manifest's path inside the bundle: always the first entry.
    public static let entryPath = "ivpack/manifest.json"
    /// Prefix of every payload entry.
    public static let payloadPrefix = "payload/"
    /// Largest manifest accepted when reading a bundle.
    public static let maxBytes = 256 << 20

    public var product: ProductSpec
    public var version: String
    public var chunkSize: Int
    /// Entry path of the release notes (a file of the `release-notes` component).
    public var releaseNotes: String
    public var components: [Component]
    /// What the target machine must offer (IQ 4.1.1); nil when the release names nothing.
    public var requirements: EnvironmentRequirements?
    /// How the release is installed (the spec's `install:` section); nil when it names nothing.
    public var install: InstallSpec?
    /// How the release is qualified on site (the spec's `qualification:` section); nil when absent.
    public var qualification: QualificationSpec?
    /// Which components are encrypted and how (docs/encryption.md); nil for a bundle in the clear.
    public var encryption: Encryption?
    public var provenance: Provenance

    /// One component and its files, in bundle order.
    public struct Component: Sendable, Equatable {
        public var name: String
        public var kind: ComponentKind
        public var files: [FileEntry]
        /// Where the version was found, per file, as checked at build time.
        public var versionEvidence: [Evidence]
    }

    /// One payload file.
    public struct FileEntry: Sendable, Equatable {
        /// Entry path in the bundle: `payload/` + the release-relative path.
        public var path: String
        public var size: Int64
        /// `0644` or `0755`.
        public var mode: String
        public var sha256: SHA256Digest
        /// Digest of each `chunkSize` piece of the file, in order; the last may be shorter. Empty
        /// for an encrypted file: its chunks are digested as stored (`encryption.ciphertextChunks`),
        /// and plaintext chunk digests would only tell a holder of two bundles which pieces of a
        /// confidential model changed, or confirm a guessed piece (docs/encryption.md).
        public var chunks: [SHA256Digest]
        /// Set when the file is stored encrypted: `size` and `sha256` are then the plaintext's
        /// (what is installed), and the bundle holds `storedSize` bytes of ciphertext.
        public var encryption: FileEncryption? = nil

        /// Bytes of the file's data in the bundle: the plaintext size, or for an encrypted file
        /// the ciphertext's, `size + 16 × chunks` (each chunk followed by its GCM tag).
        public var storedSize: Int64 {
            guard let encryption else { return size }
            let (total, overflow) = size.addingReportingOverflow(
                Int64(ChunkCipher.tagSize) * Int64(encryption.ciphertextChunks.count))
            return overflow ? Int64.max : total
        }
    }

    /// How one file is encrypted: its place in the nonces and the digests of its encrypted chunks.
    public struct FileEncryption: Sendable, Equatable {
        /// The file index of every chunk's nonce and associated data: the file's position among
        /// all files of the manifest (`allFiles`), from 0. Both readers require exactly that.
        public var fileIndex: Int
        /// SHA-256 of each encrypted chunk (ciphertext then tag), one per `chunkSize` piece of
        /// the plaintext: what `verify` checks without the key and `install` checks before it
        /// decrypts.
        public var ciphertextChunks: [SHA256Digest]

        public init(fileIndex: Int, ciphertextChunks: [SHA256Digest]) {
            self.fileIndex = fileIndex
            self.ciphertextChunks = ciphertextChunks
        }
    }

    /// The bundle's encryption: one content key for every encrypted file (docs/encryption.md).
    public struct Encryption: Sendable, Equatable {
        /// The only algorithm: AES-256-GCM per chunk, nonce and associated data of `ivpack-chunk/1`.
        public static let algorithmName = "AES-256-GCM/ivpack-chunk/1"
        public var algorithm: String = algorithmName
        /// The encrypted components, in manifest order; never the release notes.
        public var components: [String]
        /// The content key's check value (`ContentKey.checkValue()`): a key from a recipient, a
        /// grant or a file is known right or wrong before anything is decrypted.
        public var keyCheck: String
        /// `generated` (a key made for this build) or `file` (a key file given to build: for
        /// reproducible test builds only; a release gate may refuse it).
        public var keyOrigin: String

        public static let keyOrigins = ["generated", "file"]

        public init(algorithm: String = algorithmName, components: [String], keyCheck: String, keyOrigin: String) {
            self.algorithm = algorithm
            self.components = components
            self.keyCheck = keyCheck
            self.keyOrigin = keyOrigin
        }
    }

    /// A version found at build time.
    public struct Evidence: Sendable, Equatable {
        /// Release-relative file, or the repository folder for a git tag.
        public var file: String
        /// Machine-readable source: `git-tag`, `safetensors`, `gguf`, `model-card`, `front-matter`, `title-line`, `pdf-info`, `cyclonedx`, `spdx`.
        public var source: String
        /// Where exactly, in words.
        public var location: String
        public var found: String
    }

    /// How the bundle was made.
    public struct Provenance: Sendable, Equatable {
        /// `ivpack <version>`.
        public var tool: String
        public var sourceDateEpoch: Int64
        /// SHA-256 of the spec file's bytes.
        public var specSHA256: SHA256Digest
        public var git: [GitProvenance]
    }

    /// The commit and tag a code component was built from.
    public struct GitProvenance: Sendable, Equatable {
        public var component: String
        public var commit: String
        public var tag: String
        public var annotatedTag: Bool
    }

    /// Number of chunks a file of `size` bytes has (at least one, for an empty file). Cannot
    /// overflow: a hostile manifest may declare any size up to Int64.max (docs/fuzzing.md, findings).
    public static func chunkCount(size: Int64, chunkSize: Int) -> Int {
        size <= 0 ? 1 : Int((size - 1) / Int64(chunkSize) + 1)
    }

    /// Every file of every component, in bundle order.
    public var allFiles: [FileEntry] { components.flatMap(\.files) }

    /// Whether any file is stored encrypted.
    public var isEncrypted: Bool { encryption != nil }

    /// Where `ivpack install` puts every file in the release folder (`install.destinations`
    /// applied, see `InstallSpec.installedPath(ofEntry:component:)`), in `allFiles`' order.
    public var installedPaths: [String] {
        let spec = install ?? InstallSpec()
        return components.flatMap { c in c.files.map { spec.installedPath(ofEntry: $0.path, component: c.name) } }
    }

    /// Where `ivpack install` puts the file of payload path `path` (without `payload/`, as a
    /// hook's program is written); nil when no component ships it.
    public func installedPath(ofPayloadPath path: String) -> String? {
        let entry = Self.payloadPrefix + path
        guard let component = components.first(where: { $0.files.contains { $0.path == entry } }) else { return nil }
        return (install ?? InstallSpec()).installedPath(ofEntry: entry, component: component.name)
    }
}

// MARK: - JSON form

extension Manifest {
    /// The manifest as a JSON value (member order is irrelevant: the canonical form sorts them).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("format", .string(Self.format)),
            (
                "product",
                .object([
                    ("name", .string(product.name)), ("vendor", .string(product.vendor)),
                    ("model", .string(product.model)),
                ])
            ),
            ("version", .string(version)),
            ("chunkSize", .integer(chunkSize)),
            ("releaseNotes", .string(releaseNotes)),
            ("components", .array(components.map(\.json))),
            ("provenance", provenance.json),
        ]
        if let requirements { members.append(("requirements", requirements.json)) }
        if let install { members.append(("install", install.json)) }
        if let qualification { members.append(("qualification", qualification.json)) }
        if let encryption { members.append(("encryption", encryption.json)) }
        return .object(members)
    }

    /// The canonical bytes that go into the bundle and that signatures cover: the same bytes as
    /// `CanonicalJSON.encode(json)`, written straight from the typed values (members already in
    /// sorted order) without a tree of JSON values: a 20,000-file manifest is 4.4 MB.
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(estimatedCanonicalLength)
        func raw(_ text: StaticString) {
            out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        func string(_ s: String) { CanonicalJSON.writeString(s, into: &out) }
        func integer(_ i: some BinaryInteger) { out.append(contentsOf: String(i).utf8) }
        func digest(_ d: SHA256Digest) {
            out.append(UInt8(ascii: "\""))
            let at = out.count
            out.append(contentsOf: repeatElement(0, count: 64))
            out.withUnsafeMutableBytes { d.writeHex(into: UnsafeMutableRawBufferPointer(rebasing: $0[at..<(at + 64)])) }
            out.append(UInt8(ascii: "\""))
        }
        raw("{\"chunkSize\":")
        integer(chunkSize)
        raw(",\"components\":[")
        for (ci, c) in components.enumerated() {
            raw(ci == 0 ? "{\"files\":[" : ",{\"files\":[")
            for (fi, f) in c.files.enumerated() {
                raw(fi == 0 ? "{\"chunks\":[" : ",{\"chunks\":[")
                for (i, chunk) in f.chunks.enumerated() {
                    if i > 0 { raw(",") }
                    digest(chunk)
                }
                if let e = f.encryption {
                    raw("],\"encryption\":{\"ciphertextChunks\":[")
                    for (i, chunk) in e.ciphertextChunks.enumerated() {
                        if i > 0 { raw(",") }
                        digest(chunk)
                    }
                    raw("],\"fileIndex\":")
                    integer(e.fileIndex)
                    raw("}")
                } else {
                    raw("]")
                }
                raw(",\"mode\":")
                string(f.mode)
                raw(",\"path\":")
                string(f.path)
                raw(",\"sha256\":")
                digest(f.sha256)
                raw(",\"size\":")
                integer(f.size)
                raw("}")
            }
            raw("],\"kind\":")
            string(c.kind.rawValue)
            raw(",\"name\":")
            string(c.name)
            raw(",\"versionEvidence\":[")
            for (ei, e) in c.versionEvidence.enumerated() {
                raw(ei == 0 ? "{\"file\":" : ",{\"file\":")
                string(e.file)
                raw(",\"found\":")
                string(e.found)
                raw(",\"location\":")
                string(e.location)
                raw(",\"source\":")
                string(e.source)
                raw("}")
            }
            raw("]}")
        }
        raw("]")
        if let encryption {
            raw(",\"encryption\":")
            out.append(contentsOf: CanonicalJSON.encode(encryption.json))
        }
        raw(",\"format\":")
        string(Self.format)
        if let install {
            raw(",\"install\":")
            out.append(contentsOf: CanonicalJSON.encode(install.json))
        }
        raw(",\"product\":{\"model\":")
        string(product.model)
        raw(",\"name\":")
        string(product.name)
        raw(",\"vendor\":")
        string(product.vendor)
        raw("},\"provenance\":{\"git\":[")
        for (gi, g) in provenance.git.enumerated() {
            raw(gi == 0 ? "{\"annotatedTag\":" : ",{\"annotatedTag\":")
            if g.annotatedTag { raw("true") } else { raw("false") }
            raw(",\"commit\":")
            string(g.commit)
            raw(",\"component\":")
            string(g.component)
            raw(",\"tag\":")
            string(g.tag)
            raw("}")
        }
        raw("],\"sourceDateEpoch\":")
        integer(provenance.sourceDateEpoch)
        raw(",\"specSHA256\":")
        digest(provenance.specSHA256)
        raw(",\"tool\":")
        string(provenance.tool)
        raw("}")
        if let qualification {
            raw(",\"qualification\":")
            out.append(contentsOf: CanonicalJSON.encode(qualification.json))
        }
        raw(",\"releaseNotes\":")
        string(releaseNotes)
        if let requirements {
            raw(",\"requirements\":")
            out.append(contentsOf: CanonicalJSON.encode(requirements.json))
        }
        raw(",\"version\":")
        string(version)
        raw("}")
        return out
    }

    /// About the length of `canonicalBytes` (room for it in one allocation).
    private var estimatedCanonicalLength: Int {
        var n = 4096
        for c in components {
            n += 256 + c.versionEvidence.count * 256
            for f in c.files {
                n += 150 + f.path.utf8.count + 67 * (f.chunks.count + (f.encryption?.ciphertextChunks.count ?? 0))
            }
        }
        return n
    }
}

extension Manifest.Component {
    var json: JSONValue {
        .object([
            ("name", .string(name)), ("kind", .string(kind.rawValue)),
            ("files", .array(files.map(\.json))),
            ("versionEvidence", .array(versionEvidence.map(\.json))),
        ])
    }
}

extension Manifest.FileEntry {
    var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("path", .string(path)), ("size", .integer(size)), ("mode", .string(mode)),
            ("sha256", .string(sha256.hex)), ("chunks", .array(chunks.map { .string($0.hex) })),
        ]
        if let encryption {
            members.append(
                (
                    "encryption",
                    .object([
                        ("fileIndex", .integer(encryption.fileIndex)),
                        ("ciphertextChunks", .array(encryption.ciphertextChunks.map { .string($0.hex) })),
                    ])
                ))
        }
        return .object(members)
    }
}

extension Manifest.Encryption {
    var json: JSONValue {
        .object([
            ("algorithm", .string(algorithm)), ("components", .array(components.map { .string($0) })),
            ("keyCheck", .string(keyCheck)), ("keyOrigin", .string(keyOrigin)),
        ])
    }

    /// Reads the `encryption` member with `reader`'s errors (pointers under `/encryption`).
    static func decode(_ value: JSONValue, _ reader: StrictJSONReader) throws -> Manifest.Encryption {
        let e = try reader.object(
            value, "/encryption", required: ["algorithm", "components", "keyCheck", "keyOrigin"])
        let algorithm = try reader.string(e["algorithm"], "/encryption/algorithm")
        guard algorithm == algorithmName else {
            throw reader.fail("/encryption/algorithm", "is \"\(algorithm)\"; this ivpack decrypts \"\(algorithmName)\"")
        }
        let components = try reader.array(e["components"], "/encryption/components").enumerated().map {
            try reader.string($1, "/encryption/components/\($0)")
        }
        let keyCheck = try reader.string(e["keyCheck"], "/encryption/keyCheck")
        guard keyCheck.utf8.count == 64, keyCheck.utf8.allSatisfy({ LowerHex.value($0) != nil }) else {
            throw reader.fail("/encryption/keyCheck", "must be 64 lower-case hex digits")
        }
        let keyOrigin = try reader.string(e["keyOrigin"], "/encryption/keyOrigin")
        guard keyOrigins.contains(keyOrigin) else {
            throw reader.fail("/encryption/keyOrigin", "must be \"generated\" or \"file\"")
        }
        return Manifest.Encryption(
            algorithm: algorithm, components: components, keyCheck: keyCheck, keyOrigin: keyOrigin)
    }
}

extension Manifest {
    /// The rules that tie the `encryption` member to the files, for both readers: the member is
    /// there exactly when some file is encrypted; it lists existing components, each once, in
    /// manifest order, never the release notes; every file of a listed component is encrypted
    /// and no other; each encrypted file's index is its position among all files and it has one
    /// ciphertext digest per chunk. Returns the JSON pointer and the problem, or nil.
    static func encryptionProblem(components: [Component], encryption: Encryption?, chunkSize: Int) -> (
        String, String
    )? {
        let listed = encryption?.components ?? []
        var position = 0
        var next = 0
        for (ci, c) in components.enumerated() {
            let isListed = next < listed.count && listed[next] == c.name
            if isListed {
                if c.name == ReleaseNotesComponent.name {
                    return ("/encryption/components/\(next)", "the release notes are never encrypted")
                }
                next += 1
            }
            for (fi, f) in c.files.enumerated() {
                defer { position += 1 }
                let fp = "/components/\(ci)/files/\(fi)"
                guard let e = f.encryption else {
                    if isListed { return ("\(fp)", "component \"\(c.name)\" is encrypted but this file is not") }
                    continue
                }
                guard isListed else {
                    return (
                        "\(fp)/encryption",
                        encryption == nil
                            ? "an encrypted file needs the manifest's encryption member"
                            : "component \"\(c.name)\" is not listed in /encryption/components"
                    )
                }
                guard e.fileIndex == position else {
                    return (
                        "\(fp)/encryption/fileIndex",
                        "is \(e.fileIndex); the file's position among all files is \(position)"
                    )
                }
                let count = Manifest.chunkCount(size: f.size, chunkSize: chunkSize)
                guard e.ciphertextChunks.count == count else {
                    return (
                        "\(fp)/encryption/ciphertextChunks",
                        "has \(e.ciphertextChunks.count) digests; a file of \(f.size) bytes in \(chunkSize)-byte chunks has \(count)"
                    )
                }
            }
        }
        if next < listed.count {
            return (
                "/encryption/components/\(next)",
                "\"\(listed[next])\" is not a component, is listed twice or out of the manifest's order"
            )
        }
        if let encryption, encryption.components.isEmpty {
            return ("/encryption/components", "lists no component; a bundle in the clear has no encryption member")
        }
        if position > Int(UInt32.max) {
            return ("/components", "more files than an encrypted bundle can number (2^32)")
        }
        return nil
    }
}

extension Manifest.Evidence {
    var json: JSONValue {
        .object([
            ("file", .string(file)), ("source", .string(source)), ("location", .string(location)),
            ("found", .string(found)),
        ])
    }
}

extension Manifest.Provenance {
    var json: JSONValue {
        .object([
            ("tool", .string(tool)), ("sourceDateEpoch", .integer(sourceDateEpoch)),
            ("specSHA256", .string(specSHA256.hex)),
            (
                "git",
                .array(
                    git.map {
                        .object([
                            ("component", .string($0.component)), ("commit", .string($0.commit)),
                            ("tag", .string($0.tag)), ("annotatedTag", .bool($0.annotatedTag)),
                        ])
                    })
            ),
        ])
    }
}

// MARK: - Reading

extension InputError {
    /// A refused manifest: `source` (a bundle path), the JSON pointer of the offending member
    /// (`/components/2/files/0/sha256`, empty for the whole document) and what is wrong with it.
    static func manifest(_ source: String, pointer: String, _ problem: String) -> InputError {
        InputError(
            .manifest,
            Diagnostic(
                file: source, location: .member(of: "manifest", pointer: pointer), problem: problem,
                hint: "The bundle is damaged or was not made by ivpack; rebuild it or ask the vendor for a new copy"))
    }
}

extension Manifest {
    /// Parses and validates manifest bytes. Refuses anything that is not exactly the canonical form
    /// of a valid manifest, so that the bytes signed and the values checked are one and the same.
    public static func decode(_ bytes: [UInt8], source: String) throws -> Manifest {
        if let manifest = CanonicalManifestReader.read(bytes) { return manifest }
        return try decodeGeneral(bytes, source: source)
    }

    /// The manifest in `bytes` if they are the canonical form of a valid manifest, else nil; the
    /// one-pass reader `decode` tries first (see CanonicalManifestReader). For tests and fuzzing.
    public static func readCanonical(_ bytes: [UInt8]) -> Manifest? { CanonicalManifestReader.read(bytes) }

    /// The general reader: parses any JSON, checks every member with a precise error, and
    /// compares the canonical re-encoding with the bytes. The authority on what is valid.
    public static func decodeGeneral(_ bytes: [UInt8], source: String) throws -> Manifest {
        let value: JSONValue
        do {
            value = try JSONParser.parse(
                bytes,
                limits: JSONLimits(
                    maxBytes: maxBytes, maxDepth: 16, maxStringBytes: 1 << 16, maxContainerCount: 10_000_000))
        } catch {
            throw InputError.manifest(source, pointer: "", "is not valid JSON: \(error)")
        }
        let reader = StrictJSONReader.manifest(source: source)
        let manifest = try reader.manifest(value)
        guard manifest.canonicalBytes == bytes else {
            throw InputError.manifest(
                source, pointer: "", "is not in canonical form (keys sorted, no whitespace, integers only)")
        }
        return manifest
    }
}

extension StrictJSONReader {
    /// The reader of a bundle's manifest: errors name `source` and the member.
    static func manifest(source: String) -> StrictJSONReader {
        StrictJSONReader(fail: { .manifest(source, pointer: $0, $1) })
    }

    fileprivate func manifest(_ v: JSONValue) throws -> Manifest {
        let m = try object(
            v, "", required: ["format", "product", "version", "chunkSize", "releaseNotes", "components", "provenance"],
            optional: ["requirements", "install", "qualification", "encryption"])
        let format = try string(m["format"], "/format")
        guard format == Manifest.format else {
            throw fail("/format", "is \"\(format)\"; this ivpack reads \"\(Manifest.format)\"")
        }
        let pm = try object(m["product"]!, "/product", required: ["name", "vendor", "model"])
        let product = ProductSpec(
            name: try string(pm["name"], "/product/name"), vendor: try string(pm["vendor"], "/product/vendor"),
            model: try string(pm["model"], "/product/model"))
        let chunkSize = try int(m["chunkSize"], "/chunkSize", min: 1)
        guard ReleaseSpec.chunkSizeRange.contains(Int(clamping: chunkSize)), chunkSize & (chunkSize - 1) == 0 else {
            throw fail("/chunkSize", "must be a power of two from 64 KiB to 64 MiB")
        }
        var components: [Manifest.Component] = []
        var seenPaths = Set<String>()
        for (ci, cv) in try array(m["components"], "/components").enumerated() {
            let cp = "/components/\(ci)"
            let c = try object(cv, cp, required: ["name", "kind", "files", "versionEvidence"])
            let kindText = try string(c["kind"], "\(cp)/kind")
            guard let kind = ComponentKind(rawValue: kindText) else {
                throw fail("\(cp)/kind", "\"\(kindText)\" is not a component kind")
            }
            var files: [Manifest.FileEntry] = []
            for (fi, fv) in try array(c["files"], "\(cp)/files").enumerated() {
                let fp = "\(cp)/files/\(fi)"
                let f = try object(
                    fv, fp, required: ["path", "size", "mode", "sha256", "chunks"], optional: ["encryption"])
                let path = try string(f["path"], "\(fp)/path")
                guard path.hasPrefix(Manifest.payloadPrefix), RelativePath.isCanonical(path) else {
                    throw fail(
                        "\(fp)/path", "\"\(path)\" is not a safe payload path (relative, normalised, under payload/)")
                }
                guard seenPaths.insert(path).inserted else { throw fail("\(fp)/path", "\"\(path)\" is listed twice") }
                let size = try int(f["size"], "\(fp)/size")
                let mode = try string(f["mode"], "\(fp)/mode")
                guard mode == "0644" || mode == "0755" else { throw fail("\(fp)/mode", "must be \"0644\" or \"0755\"") }
                let chunkValues = try array(f["chunks"], "\(fp)/chunks")
                if f["encryption"] != nil {
                    guard chunkValues.isEmpty else {
                        throw fail(
                            "\(fp)/chunks",
                            "has \(chunkValues.count) digests; an encrypted file has none (its chunks are digested as stored, in encryption/ciphertextChunks)"
                        )
                    }
                } else if chunkValues.count != Manifest.chunkCount(size: size, chunkSize: Int(chunkSize)) {
                    throw fail(
                        "\(fp)/chunks",
                        "has \(chunkValues.count) digests; a file of \(size) bytes in \(chunkSize)-byte chunks has \(Manifest.chunkCount(size: size, chunkSize: Int(chunkSize)))"
                    )
                }
                let chunks = try chunkValues.enumerated().map { try digest($1, "\(fp)/chunks/\($0)") }
                let encryption = try f["encryption"].map { ev -> Manifest.FileEncryption in
                    let ep = "\(fp)/encryption"
                    let e = try object(ev, ep, required: ["fileIndex", "ciphertextChunks"])
                    let index = try int(e["fileIndex"], "\(ep)/fileIndex")
                    let digests = try array(e["ciphertextChunks"], "\(ep)/ciphertextChunks").enumerated().map {
                        try digest($1, "\(ep)/ciphertextChunks/\($0)")
                    }
                    return Manifest.FileEncryption(fileIndex: Int(clamping: index), ciphertextChunks: digests)
                }
                files.append(
                    Manifest.FileEntry(
                        path: path, size: size, mode: mode, sha256: try digest(f["sha256"], "\(fp)/sha256"),
                        chunks: chunks, encryption: encryption))
            }
            var evidence: [Manifest.Evidence] = []
            for (ei, ev) in try array(c["versionEvidence"], "\(cp)/versionEvidence").enumerated() {
                let ep = "\(cp)/versionEvidence/\(ei)"
                let e = try object(ev, ep, required: ["file", "source", "location", "found"])
                evidence.append(
                    Manifest.Evidence(
                        file: try string(e["file"], "\(ep)/file"), source: try string(e["source"], "\(ep)/source"),
                        location: try string(e["location"], "\(ep)/location"),
                        found: try string(e["found"], "\(ep)/found")))
            }
            components.append(
                Manifest.Component(
                    name: try string(c["name"], "\(cp)/name"), kind: kind, files: files, versionEvidence: evidence))
        }
        let releaseNotes = try string(m["releaseNotes"], "/releaseNotes")
        guard seenPaths.contains(releaseNotes) else {
            throw fail("/releaseNotes", "\"\(releaseNotes)\" is not one of the bundle's files")
        }
        let pv = try object(
            m["provenance"]!, "/provenance", required: ["tool", "sourceDateEpoch", "specSHA256", "git"])
        var git: [Manifest.GitProvenance] = []
        for (gi, gv) in try array(pv["git"], "/provenance/git").enumerated() {
            let gp = "/provenance/git/\(gi)"
            let g = try object(gv, gp, required: ["component", "commit", "tag", "annotatedTag"])
            guard let annotated = g["annotatedTag"]?.boolValue else {
                throw fail("\(gp)/annotatedTag", "must be a boolean")
            }
            git.append(
                Manifest.GitProvenance(
                    component: try string(g["component"], "\(gp)/component"),
                    commit: try string(g["commit"], "\(gp)/commit"),
                    tag: try string(g["tag"], "\(gp)/tag"), annotatedTag: annotated))
        }
        let provenance = Manifest.Provenance(
            tool: try string(pv["tool"], "/provenance/tool"),
            sourceDateEpoch: try int(pv["sourceDateEpoch"], "/provenance/sourceDateEpoch"),
            specSHA256: try digest(pv["specSHA256"], "/provenance/specSHA256"), git: git)
        if let r = m["requirements"], r.objectValue == nil || !r.hasOnlyIntegerNumbers {
            throw fail("/requirements", "must be an object whose numbers are integers")
        }
        let install = try m["install"].map { value in
            try InstallSpec.decode(value, self, components: components)
        }
        let qualification = try m["qualification"].map { value in
            try QualificationSpec.decode(
                value, self, modeOf: { path in components.lazy.flatMap(\.files).first { $0.path == path }?.mode },
                componentOf: { path in components.first { $0.files.contains { $0.path == path } }?.name },
                components: Set(components.map(\.name)))
        }
        let encryption = try m["encryption"].map { try Manifest.Encryption.decode($0, self) }
        if let (pointer, problem) = Manifest.encryptionProblem(
            components: components, encryption: encryption, chunkSize: Int(chunkSize))
        {
            throw fail(pointer, problem)
        }
        return Manifest(
            product: product, version: try string(m["version"], "/version"), chunkSize: Int(chunkSize),
            releaseNotes: releaseNotes, components: components,
            requirements: m["requirements"].map(EnvironmentRequirements.init(json:)), install: install,
            qualification: qualification, encryption: encryption, provenance: provenance)
    }
}
