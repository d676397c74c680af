/// What a bundle holds, read from its headers and manifest without hashing its payload.
public struct BundleInspection: Sendable {
    public var path: String
    public var manifest: Manifest
    /// SHA-256 of the manifest's bytes: what signatures cover.
    public var manifestDigest: SHA256Digest
    /// Signature entries present (`ivpack/signatures/...`), in bundle order.
    public var signatures: [Entry]
    /// Recipient entries (wrapped content keys, `ivpack/recipients/...`), in bundle order.
    public var recipients: [Entry] = []
    /// Attestation entries (signed statements: the gate's verdict, overrides, `ivpack/attestations/...`), in bundle order.
    public var attestations: [Entry] = []
    /// Entries that are neither the manifest, a payload file of the manifest, nor a signature.
    public var unexpected: [Entry]
    /// Payload files of the manifest that the archive does not contain.
    public var missing: [String]

    /// Every structural problem the bundle reader found (unexpected and missing entries among
    /// them), escaped for display. `ivpack verify` fails on any of them.
    public var problems: [String]

    /// An entry as listed.
    public struct Entry: Sendable, Equatable {
        /// The name as read (lossy where it is not UTF-8): never print it as it is.
        public var path: String
        /// The name escaped for a terminal (control characters, invalid UTF-8).
        public var shownPath: String
        public var size: Int64
    }
}

/// The bundle's first entry is not a usable manifest.
extension InputError {
    /// A bundle whose structure is wrong for the command: `path: problem`.
    static func bundle(_ path: String, _ problem: String) -> InputError {
        InputError(.bundle, Diagnostic(file: path, problem: problem))
    }
}

/// Reads a bundle's manifest and lists its entries.
public enum BundleInspector {
    /// Reads the manifest (which must be the first entry) and the names of all entries.
    public static func inspect(path: String) throws -> BundleInspection {
        let reader: BundleReader
        do {
            reader = try BundleReader(path: path, blockSize: 16 << 10)
        } catch .manifest(let error) {
            throw error // the manifest's own error, with its JSON pointer
        }
        var signatures: [BundleInspection.Entry] = []
        var recipients: [BundleInspection.Entry] = []
        var unexpected: [BundleInspection.Entry] = []
        var attestations: [BundleInspection.Entry] = []
        var listed = Set<String>()
        while let entry = try reader.next() {
            let item = BundleInspection.Entry(
                path: entry.tar.path ?? String(decoding: entry.tar.rawPath, as: UTF8.self),
                shownPath: entry.shownName, size: entry.tar.size)
            switch entry.kind {
            case .payload(_, let file): listed.insert(file.path)
            case .signature: signatures.append(item)
            case .recipient: recipients.append(item)
            case .attestation: attestations.append(item)
            case .unexpected: unexpected.append(item)
            }
        }
        let missing = reader.manifest.allFiles.map(\.path).filter { !listed.contains($0) }
        var inspection = BundleInspection(
            path: path, manifest: reader.manifest, manifestDigest: reader.manifestDigest,
            signatures: signatures, recipients: recipients, unexpected: unexpected, missing: missing,
            problems: reader.problems.map(\.description))
        inspection.attestations = attestations
        return inspection
    }
}
