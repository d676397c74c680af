#if canImport(Glibc)
    import Glibc
#endif

/// Reads a manifest straight from its canonical bytes in one pass: no JSON tree, no re-encoding.
///
/// A manifest is accepted only in its canonical form (docs/bundle-format.md), so its bytes can be
/// read with a grammar that allows exactly one spelling: members in sorted order, no whitespace,
/// integers without sign or leading zero, strings with only the escapes the canonical form uses.
/// Everything a valid manifest must satisfy (safe unique paths, modes, chunk counts, the release
/// notes among the files) is checked on the way.
///
/// The reader answers only "this is a valid canonical manifest, here it is" or nil. On nil,
/// `Manifest.decode` runs the general reader (`Manifest.decodeGeneral`: JSON tree, typed checks,
/// canonical re-encoding), which is the authority and names the problem. The two readers must
/// agree: the same manifest, or both refuse (Tests/IVPackTests/ManifestTests.swift and the
/// FuzzManifest target check it).
///
/// Why it exists: for a bundle of 20,000 files the general reader spent about 0.45 s (the tree of
/// JSON values and the re-encoding) before `verify` could hash its first byte.
struct CanonicalManifestReader {
    private let b: UnsafeRawBufferPointer
    private var p = 0

    private init(_ bytes: UnsafeRawBufferPointer) { b = bytes }

    /// The manifest in `bytes`, or nil if the bytes are anything but the canonical form of a valid
    /// manifest (or use a form this reader leaves to the general one).
    static func read(_ bytes: [UInt8]) -> Manifest? {
        guard bytes.count <= Manifest.maxBytes else { return nil }
        return bytes.withUnsafeBytes { buffer in
            var reader = CanonicalManifestReader(buffer)
            guard let manifest = reader.manifest(), reader.p == buffer.count else { return nil }
            return manifest
        }
    }

    // MARK: Tokens

    /// Consumes `text` if the bytes at the cursor are exactly it.
    private mutating func take(_ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard b.count - p >= n, memcmp(b.baseAddress! + p, text.utf8Start, n) == 0 else { return false }
        p += n
        return true
    }

    /// A string in canonical form: valid UTF-8, only the escapes canonical JSON writes (`\"`,
    /// `\\`, `\b \f \n \r \t`, and `\u00xx` in lower case for other control characters),
    /// at most the general reader's 64 KiB.
    private mutating func string() -> String? {
        guard p < b.count, b[p] == UInt8(ascii: "\"") else { return nil }
        let start = p + 1
        var i = start
        var ascii = true
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { break }
            if c < 0x20 { return nil }
            if c >= 0x80 { ascii = false }
            i += 1
        }
        guard i < b.count, i - start <= 1 << 16 else { return nil }
        if b[i] == UInt8(ascii: "\\") { return escapedString(start: start) }
        let text = UnsafeRawBufferPointer(rebasing: b[start..<i])
        let value: String
        if ascii {
            value = String(decoding: text, as: UTF8.self)
        } else {
            guard let valid = String(validating: text, as: UTF8.self) else { return nil }
            value = valid
        }
        p = i + 1
        return value
    }

    /// The rest of `string()` for a string with escapes, byte by byte.
    private mutating func escapedString(start: Int) -> String? {
        var out: [UInt8] = []
        var i = start
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { return nil }
            if c == UInt8(ascii: "\\") {
                guard i + 1 < b.count else { return nil }
                if let byte = JSONEscape.shortForm(b[i + 1]) {
                    out.append(byte)
                } else {
                    // Otherwise only \u00xx, for a control character without a short form.
                    guard b[i + 1] == UInt8(ascii: "u"), i + 5 < b.count, b[i + 2] == 0x30, b[i + 3] == 0x30,
                        let hi = LowerHex.value(b[i + 4]), let lo = LowerHex.value(b[i + 5])
                    else { return nil }
                    let value = hi << 4 | lo
                    guard value < 0x20, ![0x08, 0x09, 0x0A, 0x0C, 0x0D].contains(value) else { return nil }
                    out.append(value)
                    i += 4
                }
                i += 2
            } else {
                out.append(c)
                i += 1
            }
            if out.count > 1 << 16 { return nil }
        }
        guard i < b.count, let value = String(validating: out, as: UTF8.self) else { return nil }
        p = i + 1
        return value
    }

    /// The bytes inside the quotes of a string with nothing to unescape.
    private mutating func plainStringRange() -> Range<Int>? {
        guard p < b.count, b[p] == UInt8(ascii: "\"") else { return nil }
        var i = p + 1
        while i < b.count, b[i] != UInt8(ascii: "\""), b[i] != UInt8(ascii: "\\"), b[i] >= 0x20 { i += 1 }
        guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
        defer { p = i + 1 }
        return (p + 1)..<i
    }

    private mutating func digest() -> SHA256Digest? {
        guard let r = plainStringRange() else { return nil }
        return SHA256Digest(hexDigits: UnsafeRawBufferPointer(rebasing: b[r]))
    }

    /// A non-negative integer in canonical form that fits in Int64.
    private mutating func integer() -> Int64? {
        guard p < b.count, b[p] >= 0x30, b[p] <= 0x39 else { return nil }
        if b[p] == 0x30 {
            p += 1
            return p < b.count && b[p] >= 0x30 && b[p] <= 0x39 ? nil : 0
        }
        var v: Int64 = 0
        while p < b.count, b[p] >= 0x30, b[p] <= 0x39 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int64(b[p] - 0x30))
            if o1 || o2 { return nil }
            v = s
            p += 1
        }
        return v
    }

    /// Reads `[`, elements separated by `,`, `]`; `element` returns false to give up.
    private mutating func array(_ element: (inout CanonicalManifestReader) -> Bool) -> Bool {
        guard take("[") else { return false }
        if take("]") { return true }
        var count = 0
        repeat {
            guard element(&self) else { return false }
            count += 1
            // The general reader's limit on elements per array.
            if count > 10_000_000 { return false }
        } while take(",")
        return take("]")
    }

    // MARK: The manifest

    private mutating func manifest() -> Manifest? {
        guard take("{\"chunkSize\":"), let chunkSize64 = integer(),
            ReleaseSpec.chunkSizeRange.contains(Int(clamping: chunkSize64)), chunkSize64 & (chunkSize64 - 1) == 0
        else { return nil }
        let chunkSize = Int(chunkSize64)
        guard take(",\"components\":") else { return nil }
        var components: [Manifest.Component] = []
        var seenPaths = Set<String>()
        guard
            array({ r in
                guard let c = r.component(chunkSize: chunkSize, seenPaths: &seenPaths) else { return false }
                components.append(c)
                return true
            })
        else { return nil }
        var encryption: Manifest.Encryption?
        if take(",\"encryption\":") {
            let start = p
            guard let value = objectValue(),
                let decoded = try? Manifest.Encryption.decode(value, StrictJSONReader.manifest(source: "")),
                matches(CanonicalJSON.encode(decoded.json), at: start)
            else { return nil }
            encryption = decoded
        }
        guard Manifest.encryptionProblem(components: components, encryption: encryption, chunkSize: chunkSize) == nil
        else { return nil }
        guard take(",\"format\":\"ivpack-manifest/1\"") else { return nil }
        var install: InstallSpec?
        if take(",\"install\":") {
            guard let value = installValue(components) else { return nil }
            install = value
        }
        guard take(",\"product\":{\"model\":"), let model = string(),
            take(",\"name\":"), let name = string(), take(",\"vendor\":"), let vendor = string(),
            take("},\"provenance\":{\"git\":")
        else { return nil }
        var git: [Manifest.GitProvenance] = []
        guard
            array({ r in
                guard r.take("{\"annotatedTag\":") else { return false }
                let annotated: Bool
                if r.take("true") {
                    annotated = true
                } else if r.take("false") {
                    annotated = false
                } else {
                    return false
                }
                guard r.take(",\"commit\":"), let commit = r.string(), r.take(",\"component\":"),
                    let component = r.string(),
                    r.take(",\"tag\":"), let tag = r.string(), r.take("}")
                else { return false }
                git.append(
                    Manifest.GitProvenance(component: component, commit: commit, tag: tag, annotatedTag: annotated))
                return true
            })
        else { return nil }
        guard take(",\"sourceDateEpoch\":"), let epoch = integer(), take(",\"specSHA256\":"), let specDigest = digest(),
            take(",\"tool\":"), let tool = string(), take("}")
        else { return nil }
        var qualification: QualificationSpec?
        if take(",\"qualification\":") {
            guard let value = qualificationValue(components) else { return nil }
            qualification = value
        }
        guard take(",\"releaseNotes\":"), let releaseNotes = string(), seenPaths.contains(releaseNotes) else {
            return nil
        }
        var requirements: EnvironmentRequirements?
        if take(",\"requirements\":") {
            guard let value = requirementsValue() else { return nil }
            requirements = EnvironmentRequirements(json: value)
        }
        guard take(",\"version\":"), let version = string(), take("}") else { return nil }
        return Manifest(
            product: ProductSpec(name: name, vendor: vendor, model: model), version: version, chunkSize: chunkSize,
            releaseNotes: releaseNotes, components: components, requirements: requirements, install: install,
            qualification: qualification, encryption: encryption,
            provenance: Manifest.Provenance(tool: tool, sourceDateEpoch: epoch, specSHA256: specDigest, git: git))
    }

    private mutating func component(chunkSize: Int, seenPaths: inout Set<String>) -> Manifest.Component? {
        guard take("{\"files\":") else { return nil }
        var files: [Manifest.FileEntry] = []
        guard
            array({ r in
                guard let f = r.file(chunkSize: chunkSize, seenPaths: &seenPaths) else { return false }
                files.append(f)
                return true
            })
        else { return nil }
        guard take(",\"kind\":"), let kindText = string(), let kind = ComponentKind(rawValue: kindText),
            take(",\"name\":"), let name = string(), take(",\"versionEvidence\":")
        else { return nil }
        var evidence: [Manifest.Evidence] = []
        guard
            array({ r in
                guard r.take("{\"file\":"), let file = r.string(), r.take(",\"found\":"), let found = r.string(),
                    r.take(",\"location\":"), let location = r.string(), r.take(",\"source\":"),
                    let source = r.string(),
                    r.take("}")
                else { return false }
                evidence.append(Manifest.Evidence(file: file, source: source, location: location, found: found))
                return true
            }), take("}")
        else { return nil }
        return Manifest.Component(name: name, kind: kind, files: files, versionEvidence: evidence)
    }

    private mutating func file(chunkSize: Int, seenPaths: inout Set<String>) -> Manifest.FileEntry? {
        guard take("{\"chunks\":") else { return nil }
        var chunks: [SHA256Digest] = []
        guard
            array({ r in
                guard let d = r.digest() else { return false }
                chunks.append(d)
                return true
            })
        else { return nil }
        var encryption: Manifest.FileEncryption?
        if take(",\"encryption\":{\"ciphertextChunks\":") {
            var digests: [SHA256Digest] = []
            guard
                array({ r in
                    guard let d = r.digest() else { return false }
                    digests.append(d)
                    return true
                }), take(",\"fileIndex\":"), let index = integer(), take("}")
            else { return nil }
            encryption = Manifest.FileEncryption(fileIndex: Int(clamping: index), ciphertextChunks: digests)
        }
        guard take(",\"mode\":") else { return nil }
        let mode: String
        if take("\"0644\"") { mode = "0644" } else if take("\"0755\"") { mode = "0755" } else { return nil }
        guard take(",\"path\":"), let path = string(), path.hasPrefix(Manifest.payloadPrefix),
            RelativePath.isCanonical(path),
            take(",\"sha256\":"), let sha256 = digest(), take(",\"size\":"), let size = integer(), take("}"),
            chunks.count == (encryption == nil ? Manifest.chunkCount(size: size, chunkSize: chunkSize) : 0),
            seenPaths.insert(path).inserted
        else { return nil }
        return Manifest.FileEntry(
            path: path, size: size, mode: mode, sha256: sha256, chunks: chunks, encryption: encryption)
    }

    /// The `requirements` object: any JSON the general parser accepts at that depth, whose numbers
    /// are integers and whose bytes are already canonical.
    private mutating func requirementsValue() -> JSONValue? {
        let start = p
        guard let value = objectValue(), value.hasOnlyIntegerNumbers, matches(CanonicalJSON.encode(value), at: start)
        else { return nil }
        return value
    }

    /// The `install` object, checked by the general reader's own rules (InstallSpec.decode:
    /// hook programs and destinations against `components`, collisions of installed paths),
    /// whose bytes are exactly what ivpack writes for the value read: this excludes what the
    /// re-encoding would drop, such as an empty list.
    private mutating func installValue(_ components: [Manifest.Component]) -> InstallSpec? {
        let start = p
        guard let value = objectValue(),
            let install = try? InstallSpec.decode(
                value, StrictJSONReader.manifest(source: ""), components: components),
            matches(CanonicalJSON.encode(install.json), at: start)
        else { return nil }
        return install
    }

    /// The `qualification` object, checked by the general reader's own rules
    /// (QualificationSpec.decode, file references against `components`), whose bytes are exactly
    /// what ivpack writes for the value read.
    private mutating func qualificationValue(_ components: [Manifest.Component]) -> QualificationSpec? {
        let start = p
        guard let value = objectValue(),
            let spec = try? QualificationSpec.decode(
                value, StrictJSONReader.manifest(source: ""),
                modeOf: { path in components.lazy.flatMap(\.files).first { $0.path == path }?.mode },
                componentOf: { path in components.first { $0.files.contains { $0.path == path } }?.name },
                components: Set(components.map(\.name))),
            matches(CanonicalJSON.encode(spec.json), at: start)
        else { return nil }
        return spec
    }

    /// A JSON object at the cursor, parsed with the general reader's limits; the cursor moves past it.
    private mutating func objectValue() -> JSONValue? {
        // The manifest object is depth 1, so a member's object may nest 15 more levels.
        let limits = JSONLimits(
            maxBytes: Manifest.maxBytes, maxDepth: 15, maxStringBytes: 1 << 16, maxContainerCount: 10_000_000)
        guard let (value, length) = try? JSONParser.parsePrefix(Array(b[p...]), limits: limits),
            value.objectValue != nil
        else { return nil }
        p += length
        return value
    }

    /// Whether the bytes from `start` to the cursor are exactly `canonical`.
    private func matches(_ canonical: [UInt8], at start: Int) -> Bool {
        canonical.count == p - start
            && canonical.withUnsafeBytes { memcmp($0.baseAddress!, b.baseAddress! + start, canonical.count) == 0 }
    }
}
