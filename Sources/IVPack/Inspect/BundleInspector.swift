/// What a bundle holds, read from its headers and manifest without hashing its payload.
public struct BundleInspection: Sendable {
    public var path: String
    public var manifest: Manifest
    /// SHA-256 of the manifest's bytes: what signatures cover.
    public var manifestDigest: SHA256Digest
    /// Signature entries present (`ivpack/signatures/...`), in bundle order.
    public var signatures: [Entry]
    /// Entries that are neither the manifest, a payload file of the manifest, nor a signature.
    public var unexpected: [Entry]
    /// Payload files of the manifest that the archive does not contain.
    public var missing: [String]

    /// An entry as listed.
    public struct Entry: Sendable, Equatable {
        public var path: String
        public var size: Int64
    }
}

/// The bundle's first entry is not a usable manifest.
public struct BundleFormatError: IVPackError, Equatable {
    public var path: String
    public var problem: String
    public var exitStatus: ExitStatus { .badInput }
    public var description: String { "\(path): \(problem)" }
}

/// Reads a bundle's manifest and lists its entries.
public enum BundleInspector {
    /// Prefix of signature entries.
    public static let signaturePrefix = "ivpack/signatures/"

    /// Reads the manifest (which must be the first entry) and the names of all entries.
    public static func inspect(path: String) throws -> BundleInspection {
        let reader = try TarReader(path: path)
        guard let first = try reader.next() else {
            throw BundleFormatError(path: path, problem: "the archive is empty; an ivpack bundle starts with \(Manifest.entryPath)")
        }
        guard first.path == Manifest.entryPath, first.kind == .regular else {
            throw BundleFormatError(path: path, problem: "the first entry is \"\(first.path ?? "<not UTF-8>")\", not \(Manifest.entryPath); this is not an ivpack bundle")
        }
        let bytes = try reader.readAll(limit: Manifest.maxBytes)
        let manifest = try Manifest.decode(bytes, source: path)
        var expected = Set(manifest.allFiles.map(\.path))
        var signatures: [BundleInspection.Entry] = []
        var unexpected: [BundleInspection.Entry] = []
        while let entry = try reader.next() {
            let name = entry.path ?? String(decoding: entry.rawPath, as: UTF8.self)
            if entry.kind == .regular, expected.remove(name) != nil { continue }
            if entry.kind == .regular, name.hasPrefix(signaturePrefix) {
                signatures.append(.init(path: name, size: entry.size))
            } else {
                unexpected.append(.init(path: name, size: entry.size))
            }
        }
        let missing = manifest.allFiles.map(\.path).filter { expected.contains($0) }
        return BundleInspection(path: path, manifest: manifest, manifestDigest: SHA256Digest.of(bytes),
                                signatures: signatures, unexpected: unexpected, missing: missing)
    }
}
