/// The layout facts of a bundle that signing needs, read through the one bundle reader from its
/// headers only (data is skipped by seeking): cost grows with the number of entries, never with
/// their size.
struct BundleLayout {
    var manifestBytes: [UInt8]
    var manifest: Manifest
    /// Existing signature entries with their bytes.
    var signatures: [(path: String, der: [UInt8])]
    /// Existing recipient entries (wrapped content keys) with their bytes.
    var recipients: [(path: String, der: [UInt8])] = []
    /// Existing attestation entries (signed statements about the manifest).
    var attestations: [AttestationEntry] = []
    /// Offset of the end-of-archive marker.
    var endOfArchive: Int64
    /// Where each signature entry's headers start, in the order of `signatures`.
    var signatureStarts: [Int64] = []
    /// Where every entry's headers start, in archive order.
    var entryStarts: [Int64] = []

    /// Reads the bundle and refuses one that `verify` would refuse for its structure: a file
    /// missing or of another size than the manifest says (a bundle cut at an entry boundary reads
    /// as a complete, shorter tar), an unexpected entry, a header byte ivpack does not write, no
    /// complete end-of-archive marker. Only what an interrupted sign leaves after the marker's
    /// first zero block is accepted: this sign overwrites it.
    static func read(path: String) throws -> BundleLayout {
        // Small reads: headers are 512 bytes and data is skipped by seeking.
        let reader = try BundleReader(path: path, blockSize: 16 << 10)
        var signatures: [(String, [UInt8])] = []
        var recipients: [(String, [UInt8])] = []
        var attestations: [AttestationEntry] = []
        var wrongSize: [String] = []
        var signatureStarts: [Int64] = []
        var entryStarts: [Int64] = []
        while let entry = try reader.next() {
            entryStarts.append(entry.tar.headerOffset)
            switch entry.kind {
            case .signature(let name):
                signatureStarts.append(entry.tar.headerOffset)
                signatures.append((name.path, try reader.readAll(limit: SignedData.maxBytes)))
            case .payload(_, let file) where entry.tar.size != file.storedSize:
                wrongSize.append(
                    "\(Display.name(file.path)) has \(entry.tar.size) bytes in the archive, \(file.storedSize) in the manifest"
                )
            case .recipient(let name):
                recipients.append((name.path, try reader.readAll(limit: EnvelopedKey.maxBytes)))
            case .attestation(let name):
                attestations.append(AttestationEntry(name: name, der: try reader.readAll(limit: SignedData.maxBytes)))
            case .payload, .unexpected:
                break
            }
        }
        let problems = wrongSize + reader.problems.filter { !$0.isSignLeftover }.map(\.description)
        if let first = problems.first {
            let more =
                problems.count > 1
                ? " (and \(problems.count - 1) more problem\(problems.count == 2 ? "" : "s"); `ivpack verify` lists them all)"
                : ""
            throw InputError.bundle(path, "the bundle is incomplete, cut short or damaged: \(first)\(more)")
        }
        guard let end = reader.endOfArchiveOffset else {
            throw InputError.bundle(path, "the archive has no end-of-archive marker")
        }
        return BundleLayout(
            manifestBytes: reader.manifestBytes, manifest: reader.manifest, signatures: signatures,
            recipients: recipients, attestations: attestations, endOfArchive: end, signatureStarts: signatureStarts,
            entryStarts: entryStarts)
    }

    /// Appends one entry (`path`, `data`) at the end-of-archive marker of the bundle open as
    /// `file`, with the release's header time, crash-safe: first everything but the header block
    /// after the old marker's first zero block, flushed; then (after `failpoint`) the header block
    /// over that zero block, flushed: the single write that makes the entry visible. Until then
    /// tar readers still stop at the zero block, and the next append overwrites the rest.
    func append(path: String, data: [UInt8], to file: UpdatableFile, failpoint: String) throws {
        let bytes = try TarStreamWriter.entryWithEndMarker(
            path: path, data: data, permissions: 0o644, modificationTime: manifest.provenance.sourceDateEpoch)
        try file.write(bytes[512...], at: endOfArchive + 512)
        try file.truncate(to: endOfArchive + Int64(bytes.count))
        try file.sync()
        Failpoint.reach(failpoint)
        try file.write(bytes[0..<512], at: endOfArchive)
        try file.sync()
    }

    /// Replaces signature entry `index` (of `signatures`) by the entry (`path`, `data`) at the
    /// same place, crash-safe by a whole new file: the bytes before the old entry, the new entry,
    /// the bytes after it up to the end marker and a new end marker go to a temporary file beside
    /// the bundle (unnamed until complete where Linux allows; the unchanged ranges by
    /// copy_file_range(2), in the kernel), flushed, then renamed over the bundle. A kill at any
    /// moment leaves the old bundle or the new one. Costs a copy of the bundle and as much free
    /// space; `file` (the locked old bundle) is read, never written.
    func replace(
        signatureAt index: Int, path: String, data: [UInt8], bundlePath: String, file: UpdatableFile,
        failpoint: String
    ) throws {
        let start = signatureStarts[index]
        let end = entryStarts.first { $0 > start } ?? endOfArchive
        let entry = try TarStreamWriter.entryWithEndMarker(
            path: path, data: data, permissions: 0o644, modificationTime: manifest.provenance.sourceDateEpoch
        ).dropLast(TarHeaderFormat.endOfArchive.count)
        let output = try AtomicOutputFile(path: bundlePath)
        try output.keepMode(of: file)
        try output.append(from: file, offset: 0, count: start)
        try Array(entry).withUnsafeBytes { try output.write($0) }
        try output.append(from: file, offset: end, count: endOfArchive - end)
        try TarHeaderFormat.endOfArchive.withUnsafeBytes { try output.write($0) }
        Failpoint.reach(failpoint)
        try output.commit()
    }
}
