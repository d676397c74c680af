#if canImport(Glibc)
    import Glibc
#endif

/// The one way ivpack reads a bundle: verify, sign, inspect, check, diff and the IQ report all
/// open bundles here, so the rules of what a bundle is live in one place.
///
/// Opening reads and decodes the manifest, which must be the first entry (with the manifest's
/// size and nesting limits). `next()` then classifies every further entry in one front-to-back
/// pass (payload file of the manifest, signature, or unexpected), and records what is wrong with
/// the bundle's structure as `problems`: names that are unsafe or unknown, entries that are not
/// regular files, duplicates, order, and every header byte that differs from what `build` and
/// `sign` write (`TarHeaderFormat`), the padding after each entry and the end-of-archive marker.
/// Those header bytes are read raw, beside libarchive, so that whatever libarchive consumes
/// without saying (a global pax header, a volume label, an extra pax record) is seen.
///
/// The caller reads the current entry's data through `readData(_:)` (zero-copy blocks) or
/// `readAll(limit:)`, or skips it and reads it itself from `file` at the entry's `dataOffset`
/// (verify's workers do so for large files). Memory does not grow with the bundle's size.
public final class BundleReader {
    /// The bundle as given, for messages.
    public let path: String
    /// The open bundle: headers and data come from this one descriptor.
    public let file: InputFile
    public let manifest: Manifest
    /// The manifest's bytes: what signatures cover.
    public let manifestBytes: [UInt8]
    public let manifestDigest: SHA256Digest
    /// Structural problems found so far, in bundle order. Complete once `next()` returned nil.
    public private(set) var problems: [BundleProblem] = []
    /// Whether the archive could not be read to its end (`next()` threw).
    public private(set) var unreadable = false
    /// The signatures seen so far, in bundle order.
    public private(set) var signatureNames: [SignatureEntryName] = []
    /// The recipient entries (wrapped content keys) seen so far, in bundle order.
    public private(set) var recipientNames: [RecipientEntryName] = []
    /// The attestation entries (signed statements about the manifest) seen so far, in bundle order.
    public private(set) var attestationNames: [AttestationEntryName] = []
    /// Offset of the end-of-archive marker, once `next()` returned nil.
    public var endOfArchiveOffset: Int64? { tar.endOfArchiveOffset }

    private var tar: TarReader
    private let blockSize: Int
    private let files: [Manifest.FileEntry]
    private var indexByPath: [String: Int] = [:]
    private var seen: [Bool]
    private var lastIndex = -1
    /// Where the bytes after the previous entry's data start: its padding, then this entry's headers.
    private var regionStart: Int64
    /// The previous entry's name as read; escaped only for a message (20,000 escapes cost ~5%).
    private var previousRawName: [UInt8]
    private var previousName: String { Display.name(bytes: previousRawName) }
    private var previousSize: Int64
    private var finished = false

    /// Header regions larger than this are not read back for comparison (ivpack's own are at most
    /// two blocks plus a `path` record of at most 4096 bytes).
    static let maxRegionBytes = 64 << 10

    /// Opens the bundle at `path` and reads its manifest. `blockSize` is libarchive's read size:
    /// small when only headers are wanted (data is skipped by seeking). `known` is a manifest
    /// already decoded from this bundle (install's second read): when the manifest entry holds
    /// exactly its bytes, it is taken as is instead of decoded again, which saves a second copy
    /// of a large manifest (20,000 files: about 5 MiB) and its decoding; otherwise the entry is
    /// decoded as usual and the caller sees a different digest.
    public init(path: String, blockSize: Int = 1 << 20, known: (bytes: [UInt8], manifest: Manifest)? = nil)
        throws(BundleOpenError)
    {
        self.path = path
        self.blockSize = blockSize
        do {
            file = try InputFile(path: path)
        } catch let error as FileSystemError {
            throw .file(error)
        } catch {
            throw .file(FileSystemError(operation: "open for reading", path: path, code: EIO, isInput: true))
        }
        do {
            tar = try TarReader(file: file, blockSize: blockSize)
        } catch let error as ArchiveError {
            throw .notTar(path: path, reason: error.reason)
        } catch {
            throw .notTar(path: path, reason: "\(error)")
        }
        let first: TarEntry
        do {
            guard let entry = try tar.next() else { throw BundleOpenError.empty(path: path) }
            first = entry
        } catch let error as BundleOpenError {
            throw error
        } catch let error as ArchiveError {
            throw .notTar(path: path, reason: error.reason)
        } catch {
            throw .notTar(path: path, reason: "\(error)")
        }
        guard first.path == Manifest.entryPath, first.kind == .regular else {
            throw .notABundle(path: path, firstEntry: Display.name(bytes: first.rawPath))
        }
        do {
            let bytes = try tar.readAll(limit: Manifest.maxBytes)
            if let known, known.bytes == bytes {
                manifestBytes = known.bytes
                manifest = known.manifest
            } else {
                manifestBytes = bytes
                manifest = try Manifest.decode(bytes, source: path)
            }
        } catch let error as any IVPackError {
            throw .manifest(error)
        } catch {
            throw .notTar(path: path, reason: "\(error)")
        }
        manifestDigest = SHA256Digest.of(manifestBytes)
        files = manifest.allFiles
        seen = [Bool](repeating: false, count: files.count)
        for (i, f) in files.enumerated() { indexByPath[f.path] = i }
        regionStart = 0
        previousRawName = []
        previousSize = 0
        checkHeaders(of: first, name: Manifest.entryPath, mode: 0o644)
        moveRegion(past: first)
    }

    /// Install's first read, for a bundle as `build` wrote it: compares every payload entry's
    /// padding and headers with the bytes `build` writes for it (`TarHeaderFormat`), reading only
    /// those bytes (one `pread` per entry, never the data), then goes on with libarchive after the
    /// payload, at the entries appended to it (signatures, recipients, attestations). Returns
    /// false and changes nothing when a byte differs or the file is shorter than the payload:
    /// then `next()` reads the archive front to back as usual and names the problems. The data
    /// is not read here: install hashes every chunk in its second read, which also compares every
    /// header again. Call it right after opening, before `next()`.
    ///
    /// Why: the first read took in the whole bundle when its files are small (64 KiB blocks
    /// hold several files), ~0.35 s of a 2.5 s install of 20,000 files (1 GiB) that `tar -x`
    /// does in 1.9 s; 20,000 reads of about 1 KiB cost a few tens of milliseconds.
    public func skipCanonicalPayload() -> Bool {
        guard !finished, lastIndex == -1, !files.isEmpty, problems.isEmpty else { return false }
        var at = regionStart
        var size = previousSize
        var region: [UInt8] = []
        for record in files {
            guard
                let header = TarHeaderFormat.headers(
                    path: Array(record.path.utf8), size: record.storedSize,
                    mode: UInt32(record.mode, radix: 8) ?? 0o644, mtime: manifest.provenance.sourceDateEpoch)
            else { return false }
            let padding = TarHeaderFormat.paddingCount(size)
            region.removeAll(keepingCapacity: true)
            region.append(contentsOf: repeatElement(0, count: padding))
            region.append(contentsOf: header)
            guard let found = try? file.readBytes(count: region.count, at: at), found == region else { return false }
            at += Int64(region.count)
            guard at <= file.size - record.storedSize else { return false }
            at += record.storedSize
            size = record.storedSize
        }
        let next: TarReader
        do {
            next = try TarReader(
                file: file, blockSize: blockSize, startingAt: at + Int64(TarHeaderFormat.paddingCount(size)))
        } catch {
            return false
        }
        tar = next
        regionStart = at
        previousSize = size
        previousRawName = Array(files[files.count - 1].path.utf8)
        seen = [Bool](repeating: true, count: files.count)
        lastIndex = files.count - 1
        return true
    }

    /// The next entry after the manifest, classified, or nil at the end of the archive (then
    /// the end-of-archive marker and the files the archive lacks have been checked too). Throws
    /// when the archive cannot be read further; the problem is also recorded.
    public func next() throws -> BundleEntry? {
        guard !finished else { return nil }
        guard let entry = try recordingFailure({ try tar.next() }) else {
            finishArchive()
            return nil
        }
        return BundleEntry(tar: entry, kind: classify(entry))
    }

    /// Passes the current entry's data to `body` in blocks, front to back, without copying it.
    /// Throws when the data cannot be read (cut short, a hole); the problem is also recorded.
    public func readData(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try recordingFailure { try tar.readData(body) }
    }

    /// The current entry's whole data, refused when it is larger than `limit`; the problem is
    /// also recorded.
    public func readAll(limit: Int) throws -> [UInt8] { try recordingFailure { try tar.readAll(limit: limit) } }

    /// Runs a read of the archive; when it fails, the archive is unreadable from there on and the
    /// failure is one of `problems` (so that no caller can forget it and report the rest as read).
    private func recordingFailure<T>(_ read: () throws -> T) throws -> T {
        do {
            return try read()
        } catch {
            unreadable = true
            finished = true
            problems.append(.unreadable(reason: "\(error)"))
            throw error
        }
    }

    /// Reads every remaining entry (skipping data), so that `problems` is complete.
    public func readToEnd() throws {
        while try next() != nil {}
    }

    // MARK: - Classification

    private func classify(_ entry: TarEntry) -> BundleEntry.Kind {
        defer { moveRegion(past: entry) }
        guard let path = entry.path else {
            problems.append(.nameNotUTF8(offset: entry.headerOffset, shown: Display.name(bytes: entry.rawPath)))
            return .unexpected
        }
        // What kind of entry it is comes first: no link, device or folder is acceptable.
        switch entry.kind {
        case .regular: break
        case .symbolicLink, .hardLink:
            problems.append(
                .notRegular(shown: Display.name(path), what: "a link to \"\(Display.name(entry.linkTarget ?? ""))\""))
            return .unexpected
        case .directory:
            problems.append(.notRegular(shown: Display.name(path), what: "a directory entry"))
            return .unexpected
        case .other(let what):
            problems.append(.notRegular(shown: Display.name(path), what: "a \(what)"))
            return .unexpected
        }
        if entry.isSparse {
            problems.append(.sparse(shown: Display.name(path)))
            return .unexpected
        }
        guard RelativePath.isCanonical(path) else {
            let why: String
            switch RelativePath.normalize(path) {
            case .failure(let problem): why = "\(problem)"
            case .success(let normal) where path.split(separator: "/").contains(".."):
                why = "the path goes through '..' (it would resolve to \"\(Display.name(normal))\")"
            case .success(let normal): why = "the path is not in normal form (it would be \"\(Display.name(normal))\")"
            }
            problems.append(.unsafeName(offset: entry.headerOffset, shown: Display.name(path), why: why))
            return .unexpected
        }
        // Entries appended after the payload: signatures, recipient entries, attestations.
        if path.hasPrefix(SignatureEntryName.prefix) {
            guard
                let name = appended(
                    entry, path: path, names: &signatureNames, badName: .badSignatureName(shown: Display.name(path)),
                    reused: { .reusedSignatureNumber(shown: Display.name(path), number: $0) })
            else { return .unexpected }
            return .signature(name)
        }
        if path.hasPrefix(RecipientEntryName.prefix) {
            guard
                let name = appended(
                    entry, path: path, names: &recipientNames, badName: .badRecipientName(shown: Display.name(path)),
                    refused: manifest.isEncrypted ? nil : .recipientInClearBundle(shown: Display.name(path)),
                    reused: { .reusedRecipientNumber(shown: Display.name(path), number: $0) })
            else { return .unexpected }
            return .recipient(name)
        }
        if path.hasPrefix(AttestationEntryName.prefix) {
            guard
                let name = appended(
                    entry, path: path, names: &attestationNames,
                    badName: .badAttestationName(shown: Display.name(path)),
                    reused: { .reusedAttestationNumber(shown: Display.name(path), number: $0) })
            else { return .unexpected }
            return .attestation(name)
        }
        guard let index = indexByPath[path] else {
            problems.append(.notInManifest(shown: Display.name(path)))
            return .unexpected
        }
        if seen[index] {
            problems.append(.duplicate(shown: Display.name(path)))
            return .unexpected
        }
        if !signatureNames.isEmpty || !recipientNames.isEmpty || !attestationNames.isEmpty {
            problems.append(.afterSignatures(shown: Display.name(path)))
        }
        if index < lastIndex {
            problems.append(.outOfOrder(shown: Display.name(path), listedBefore: files[lastIndex].path))
        }
        lastIndex = max(lastIndex, index)
        seen[index] = true
        let record = files[index]
        // A size that differs from the manifest is the payload check's finding; the rest of
        // that entry's header is not compared. An encrypted file is stored as its ciphertext.
        if entry.size == record.storedSize {
            checkHeaders(of: entry, name: path, mode: UInt32(record.mode, radix: 8) ?? 0o644)
        }
        return .payload(index: index, file: record)
    }

    /// The rules of every entry appended after the payload: a valid name of its kind, then
    /// `refused` (a kind this bundle cannot have), not there twice, its number unused within its
    /// kind; then its header bytes. Records the problem and returns nil, or returns the name.
    private func appended<Name: AppendedEntryName>(
        _ entry: TarEntry, path: String, names: inout [Name], badName: BundleProblem, refused: BundleProblem? = nil,
        reused: (Int) -> BundleProblem
    ) -> Name? {
        guard let name = Name(path) else {
            problems.append(badName)
            return nil
        }
        if let refused {
            problems.append(refused)
            return nil
        }
        if names.contains(where: { $0.path == path }) {
            problems.append(.duplicate(shown: Display.name(path)))
            return nil
        }
        if names.contains(where: { $0.index == name.index }) {
            problems.append(reused(name.index))
            return nil
        }
        names.append(name)
        checkHeaders(of: entry, name: path, mode: 0o644)
        return name
    }

    // MARK: - Raw header bytes

    /// The next region to compare starts where `entry`'s data ends (its padding comes first).
    private func moveRegion(past entry: TarEntry) {
        regionStart = entry.dataOffset + entry.size
        previousRawName = entry.rawPath
        previousSize = entry.size
    }

    /// Compares the bytes from the end of the previous entry's data to the start of this one's
    /// (the previous entry's padding, then this entry's headers) with what ivpack writes.
    private func checkHeaders(of entry: TarEntry, name: String, mode: UInt32) {
        let padding = TarHeaderFormat.paddingCount(previousSize)
        var shown: String { Display.name(name) }
        guard
            let header = TarHeaderFormat.headers(
                path: Array(name.utf8), size: entry.size, mode: mode,
                mtime: manifest.provenance.sourceDateEpoch)
        else {
            problems.append(
                .header(
                    shown: shown, offset: entry.headerOffset,
                    problem:
                        "ivpack cannot write this entry's header (its time \(manifest.provenance.sourceDateEpoch) or name is out of range)"
                ))
            return
        }
        let length = entry.dataOffset - regionStart
        guard length >= 0, length <= Int64(Self.maxRegionBytes) else {
            problems.append(
                .header(
                    shown: shown, offset: regionStart,
                    problem:
                        "\(length) bytes of headers and padding before its data, where ivpack writes \(padding + header.count)"
                ))
            return
        }
        // The bytes libarchive just parsed, from its last blocks; read from the file only when
        // they are no longer there (after a large entry whose data was skipped).
        let found: [UInt8]
        if let raw = tar.rawBytes(at: regionStart, count: Int(length)) {
            if Self.matches(raw, padding: padding, header: header) { return }
            found = Array(raw)
        } else {
            do {
                found = try file.readBytes(count: Int(length), at: regionStart)
            } catch {
                problems.append(
                    .header(shown: shown, offset: regionStart, problem: "its headers cannot be read back: \(error)"))
                return
            }
            if found.withUnsafeBytes({ Self.matches($0, padding: padding, header: header) }) { return }
        }
        // The bytes differ: say where and how.
        if let bad = found.prefix(padding).firstIndex(where: { $0 != 0 }) {
            problems.append(.padding(after: previousName, offset: regionStart + Int64(bad)))
            return
        }
        let description = HeaderDifference.describe(
            found: Array(found.dropFirst(min(padding, found.count))),
            expected: header, at: regionStart + Int64(padding))
        problems.append(.header(shown: shown, offset: description.offset, problem: description.text))
    }

    /// Whether `found` is `padding` zero bytes followed by exactly `header`.
    static func matches(_ found: UnsafeRawBufferPointer, padding: Int, header: [UInt8]) -> Bool {
        guard found.count == padding + header.count, found[0..<padding].allSatisfy({ $0 == 0 }) else { return false }
        return header.withUnsafeBytes { memcmp(found.baseAddress! + padding, $0.baseAddress!, $0.count) == 0 }
    }

    // MARK: - The end

    private func finishArchive() {
        finished = true
        for (i, f) in files.enumerated() where !seen[i] {
            problems.append(.missing(path: f.path))
        }
        guard let end = tar.endOfArchiveOffset else { return }
        // The last entry's padding: zero, and nothing else before the marker.
        let padding = TarHeaderFormat.paddingCount(previousSize)
        if end - regionStart != Int64(padding) {
            problems.append(.end(.between(offset: regionStart, count: end - regionStart)))
        } else if let tail = try? file.readBytes(count: padding, at: regionStart),
            let bad = tail.firstIndex(where: { $0 != 0 })
        {
            problems.append(.padding(after: previousName, offset: regionStart + Int64(bad)))
        }
        let marker = (try? file.readBytes(count: 1024, at: end)) ?? []
        if marker.count < 512 || marker.prefix(512).contains(where: { $0 != 0 }) {
            problems.append(.end(.missing(offset: end)))
        } else if marker.count < 1024 {
            problems.append(.end(.cutShort(offset: end, present: marker.count)))
        } else if let bad = marker.firstIndex(where: { $0 != 0 }) {
            problems.append(
                .end(.leftovers(offset: end, firstNonZero: end + Int64(bad), following: file.size - end - 1024)))
        } else if file.size > end + 1024 {
            problems.append(.end(.leftovers(offset: end, firstNonZero: nil, following: file.size - end - 1024)))
        }
    }
}

/// The name of an entry appended after the payload (`NNN-...` under its prefix), parsed strictly.
public protocol AppendedEntryName: Sendable, Equatable {
    /// The parsed name, or nil when `path` is not a valid name of this kind.
    init?(_ path: String)
    /// 1-based number of the entry within its kind.
    var index: Int { get }
    /// The entry's full path.
    var path: String { get }
}

extension SignatureEntryName: AppendedEntryName {}
extension RecipientEntryName: AppendedEntryName {}
extension AttestationEntryName: AppendedEntryName {}

/// One entry after the manifest, as the reader classified it.
public struct BundleEntry: Sendable {
    public enum Kind: Sendable, Equatable {
        /// A file of the manifest (the first time it appears), with its record.
        case payload(index: Int, file: Manifest.FileEntry)
        /// A signature entry with a valid, unused name.
        case signature(SignatureEntryName)
        /// A recipient entry (a wrapped content key) with a valid, unused name, in an encrypted bundle.
        case recipient(RecipientEntryName)
        /// An attestation entry (a signed statement about the manifest) with a valid, unused name.
        case attestation(AttestationEntryName)
        /// Anything else: its problem is in the reader's `problems`.
        case unexpected
    }

    /// The entry's header as libarchive read it.
    public var tar: TarEntry
    public var kind: Kind
    /// The entry's name escaped for messages.
    public var shownName: String { tar.path.map { Display.name($0) } ?? Display.name(bytes: tar.rawPath) }
}

/// A bundle that cannot be read at all: not a file, not a tar archive, or no valid manifest first.
public enum BundleOpenError: IVPackError, Equatable {
    case file(FileSystemError)
    case notTar(path: String, reason: String)
    case empty(path: String)
    case notABundle(path: String, firstEntry: String)
    case manifest(any IVPackError)

    public static func == (a: BundleOpenError, b: BundleOpenError) -> Bool { a.description == b.description }

    public var exitStatus: ExitStatus {
        switch self {
        case .file(let e): return e.exitStatus
        case .manifest(let e): return e.exitStatus
        default: return .badInput
        }
    }

    /// The problem without the bundle's path (verify puts it in its manifest check).
    public var problem: String {
        switch self {
        case .file(let e): return "\(e)"
        case .notTar(_, let reason): return "the file is not a readable tar archive: \(reason)"
        case .empty: return "the archive is empty; an ivpack bundle starts with \(Manifest.entryPath)"
        case .notABundle(_, let first):
            return "the first entry is \"\(first)\", not \(Manifest.entryPath); this is not an ivpack bundle"
        case .manifest(let e): return "\(e)"
        }
    }

    public var description: String {
        switch self {
        case .file(let e): return "\(e)"
        case .manifest(let e): return "\(e)"
        case .notTar(let path, _), .empty(let path), .notABundle(let path, _): return "\(path): \(problem)"
        }
    }
}

/// What is wrong with a bundle's structure, found while reading it. Each names the entry (escaped),
/// and where it helps the byte offset.
public enum BundleProblem: Sendable, Equatable, CustomStringConvertible {
    case nameNotUTF8(offset: Int64, shown: String)
    case notRegular(shown: String, what: String)
    case sparse(shown: String)
    case unsafeName(offset: Int64, shown: String, why: String)
    case badSignatureName(shown: String)
    case badRecipientName(shown: String)
    case recipientInClearBundle(shown: String)
    case badAttestationName(shown: String)
    case reusedAttestationNumber(shown: String, number: Int)
    case duplicate(shown: String)
    case reusedSignatureNumber(shown: String, number: Int)
    case reusedRecipientNumber(shown: String, number: Int)
    case notInManifest(shown: String)
    case afterSignatures(shown: String)
    case outOfOrder(shown: String, listedBefore: String)
    case missing(path: String)
    /// A header byte that differs from what ivpack writes.
    case header(shown: String, offset: Int64, problem: String)
    /// A non-zero byte in the padding after an entry's data.
    case padding(after: String, offset: Int64)
    case end(EndProblem)
    case unreadable(reason: String)

    /// What is wrong at or after the end-of-archive marker.
    public enum EndProblem: Sendable, Equatable {
        /// No zero block where the archive ends: cut short.
        case missing(offset: Int64)
        /// The first zero block is there, the second is cut.
        case cutShort(offset: Int64, present: Int)
        /// Non-zero bytes in the marker's second block, or bytes after the marker: what an
        /// interrupted `sign` leaves, and what `tar --ignore-zeros` would read.
        case leftovers(offset: Int64, firstNonZero: Int64?, following: Int64)
        /// Bytes between the last entry's padding and the marker.
        case between(offset: Int64, count: Int64)
    }

    public var description: String {
        switch self {
        case .nameNotUTF8(let offset, let shown):
            return "entry at byte \(offset) \"\(shown)\": the name is not valid UTF-8 or contains NUL"
        case .notRegular(let shown, let what): return "entry \"\(shown)\": \(what); bundles hold regular files only"
        case .sparse(let shown): return "entry \"\(shown)\": a sparse file; bundles hold plain regular files only"
        case .unsafeName(let offset, let shown, let why):
            return "entry at byte \(offset) \"\(shown)\": unsafe name: \(why); bundle entries are plain relative paths"
        case .badSignatureName(let shown): return "entry \"\(shown)\": not a valid signature entry name (NNN-ROLE.p7s)"
        case .duplicate(let shown): return "entry \"\(shown)\" appears twice"
        case .reusedSignatureNumber(let shown, let number):
            return "entry \"\(shown)\" reuses signature number \(number)"
        case .badRecipientName(let shown):
            return "entry \"\(shown)\": not a valid recipient entry name (NNN-NAME.p7m)"
        case .recipientInClearBundle(let shown):
            return "entry \"\(shown)\": a wrapped content key in a bundle whose manifest encrypts nothing"
        case .reusedRecipientNumber(let shown, let number):
            return "entry \"\(shown)\" reuses recipient number \(number)"
        case .badAttestationName(let shown):
            return
                "entry \"\(shown)\": not a valid attestation entry name (NNN-KIND.p7s, KIND one of \(AttestationEntryName.Kind.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .reusedAttestationNumber(let shown, let number):
            return "entry \"\(shown)\" reuses attestation number \(number)"
        case .notInManifest(let shown): return "entry \"\(shown)\" is not in the manifest"
        case .afterSignatures(let shown):
            return
                "entry \"\(shown)\" comes after the signatures, recipient or attestation entries; the bundle was altered after signing"
        case .outOfOrder(let shown, let before):
            return "entry \"\(shown)\" is out of order (the manifest lists it before \"\(Display.name(before))\")"
        case .missing(let path): return "\(Display.name(path)) is in the manifest but not in the archive"
        case .header(let shown, let offset, let problem):
            return "entry \"\(shown)\": header differs from what ivpack writes at byte \(offset): \(problem)"
        case .padding(let after, let offset):
            return "the zero padding after entry \"\(after)\" has a non-zero byte at byte \(offset)"
        case .end(.missing(let offset)):
            return "the archive ends at byte \(offset) without an end-of-archive marker; the bundle was cut short"
        case .end(.cutShort(let offset, let present)):
            return
                "the end-of-archive marker at byte \(offset) is cut short (\(present) of its 1024 zero bytes are there); the bundle was cut short"
        case .end(.leftovers(let offset, let nonZero, let following)):
            var what: [String] = []
            if let nonZero {
                what.append("the end-of-archive marker at byte \(offset) has a non-zero byte at byte \(nonZero)")
            }
            if following > 0 { what.append("\(following) bytes follow the end-of-archive marker at byte \(offset)") }
            return what.joined(separator: " and ")
                + " (an interrupted `ivpack sign` leaves this: sign again to finish it); `tar --ignore-zeros` would read them"
        case .end(.between(let offset, let count)):
            return "\(count) bytes at byte \(offset) lie between the last entry and the end-of-archive marker"
        case .unreadable(let reason): return "the archive cannot be read to its end: \(reason)"
        }
    }

    /// Whether only `sign` may mend this: bytes an interrupted sign left after the marker's first
    /// zero block, which the next sign overwrites.
    public var isSignLeftover: Bool {
        if case .end(.leftovers) = self { return true }
        return false
    }
}
