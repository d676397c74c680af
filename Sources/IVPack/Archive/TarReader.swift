internal import CLibArchive

#if canImport(Glibc)
    import Glibc
#endif

/// One entry header of a tar stream, as read; nothing in it has been checked against a manifest.
public struct TarEntry: Sendable, Equatable {
    /// What kind of file the entry holds.
    public enum Kind: Sendable, Equatable {
        case regular, directory, symbolicLink, hardLink
        /// Device nodes, FIFOs, sockets: never valid in a bundle.
        case other(String)
    }

    /// The entry's path as raw bytes (a pax `path` record or the ustar name), never decoded lossily.
    public let rawPath: [UInt8]
    /// The path as text when `rawPath` is valid UTF-8 without NUL; nil otherwise.
    public var path: String? {
        guard !rawPath.contains(0) else { return nil }
        return String(validating: rawPath, as: UTF8.self)
    }
    public let kind: Kind
    /// Data size declared by the header.
    public let size: Int64
    /// Permission bits.
    public let permissions: UInt32
    /// Target of a symbolic or hard link.
    public let linkTarget: String?
    /// Byte offset in the archive where this entry's headers start.
    public let headerOffset: Int64
    /// Byte offset in the archive where this entry's data starts (after all of its headers).
    public let dataOffset: Int64
    /// Whether the entry is a sparse file.
    public let isSparse: Bool
    /// Modification time, seconds since 1970.
    public let modificationTime: Int64
}

/// Reads a tar archive (pax, ustar or GNU; no compression) front to back with bounded memory.
public final class TarReader {
    private let archive: OpaquePointer
    /// The archive file, for messages.
    public let path: String
    private var current: TarEntry?
    /// Where the next header must start: after the current entry's data and padding.
    private var nextHeaderOffset: Int64 = 0
    /// The open archive when the reader was given one (kept open as long as the reader).
    private let file: InputFile?
    /// Offset of the end-of-archive marker, known once `next()` has returned nil.
    public private(set) var endOfArchiveOffset: Int64?
    /// The blocks libarchive reads, kept for `rawBytes(at:count:)` (readers made from a file).
    private let source: BlockSource?
    /// Where in the file this reader started (0, or past entries judged without libarchive): every
    /// offset it reports is the file's, libarchive's own count plus this.
    private let base: Int64

    /// Opens `path` for streaming; only uncompressed tar formats are accepted.
    public init(path: String, blockSize: Int = 1 << 20) throws {
        self.path = path
        self.file = nil
        self.source = nil
        self.base = 0
        guard let archive = archive_read_new() else { fatalError("libarchive could not allocate a reader") }
        self.archive = archive
        archive_read_support_format_tar(archive)
        // Only the "none" filter: a compressed bundle is refused instead of silently inflated.
        guard archive_read_open_filename(archive, path, blockSize) == ARCHIVE_OK else {
            let code = archive_errno(archive)
            if code == ENOENT || code == EACCES || code == EISDIR {
                throw FileSystemError(operation: "open the bundle", path: path, code: code, isInput: true)
            }
            throw ArchiveError.from(archive, operation: "open the bundle as a tar archive", path: path, isInput: true)
        }
    }

    /// Reads the archive through an already open file. libarchive moves the descriptor's file
    /// position; `pread` on the same file (as parallel hashing does) is unaffected. One
    /// descriptor means headers and data come from the same file even if the path is replaced.
    ///
    /// `startingAt` (a multiple of 512) starts reading there, at an entry's headers: the entries
    /// before it were judged another way (`BundleReader.skipCanonicalPayload`).
    public init(file: InputFile, blockSize: Int = 1 << 20, startingAt base: Int64 = 0) throws {
        self.path = file.path
        self.file = file
        self.base = base
        nextHeaderOffset = base
        let source = BlockSource(fd: file.fd, blockSize: blockSize, position: base)
        self.source = source
        guard let archive = archive_read_new() else { fatalError("libarchive could not allocate a reader") }
        self.archive = archive
        archive_read_support_format_tar(archive)
        // Our own read and skip callbacks (what archive_read_open_fd does, plus keeping the last
        // two blocks), so that the raw header bytes libarchive parsed can be compared without
        // reading them again: one pread per entry cost ~4% of verifying 20,000 small files.
        guard lseek(file.fd, off_t(base), SEEK_SET) == off_t(base),
            archive_read_open2(
                archive, Unmanaged.passUnretained(source).toOpaque(), nil,
                { _, client, buffer in
                    let source = Unmanaged<BlockSource>.fromOpaque(client!).takeUnretainedValue()
                    return source.read(buffer)
                },
                { _, client, request in
                    let source = Unmanaged<BlockSource>.fromOpaque(client!).takeUnretainedValue()
                    return source.skip(request)
                },
                nil) == ARCHIVE_OK
        else {
            throw ArchiveError.from(archive, operation: "open the bundle as a tar archive", path: path, isInput: true)
        }
    }

    /// The bytes at `offset` of the archive as libarchive read them, when they are still in one
    /// of the last two blocks it read (the headers of the entry just returned by `next()`, as a
    /// rule); nil otherwise (read them from the file then). Valid until the next call on the reader.
    public func rawBytes(at offset: Int64, count: Int) -> UnsafeRawBufferPointer? {
        source?.bytes(at: offset, count: count)
    }

    deinit { archive_read_free(archive) }

    /// The next entry's header, or nil at the end-of-archive marker. Data of the previous entry that
    /// was not read is skipped.
    public func next() throws -> TarEntry? {
        try withUTF8Locale { try nextHeader() }
    }

    private func nextHeader() throws(ArchiveError) -> TarEntry? {
        var raw: OpaquePointer?
        let status = archive_read_next_header(archive, &raw)
        // libarchive updates the header position inside next_header: afterwards it is where this
        // header (or, at the end, the end-of-archive marker) starts.
        let relative = archive_read_header_position(archive)
        let position = relative >= 0 ? Int64(relative) + base : Int64(relative)
        if status == ARCHIVE_EOF {
            endOfArchiveOffset = position
            return nil
        }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let raw else {
            // On a fatal error libarchive reports the position as -30 (ARCHIVE_FATAL), which once
            // reached a message as "byte -30" (issue 19); the header starts where the last entry ended.
            let at = position >= 0 ? position : nextHeaderOffset
            if let cut = cutShort(before: at + 512, inside: "the entry header at byte \(at)") { throw cut }
            throw ArchiveError.from(
                archive, operation: "read the entry header at byte \(at)", path: path, isInput: true)
        }
        var rawPath: [UInt8] = []
        if let p = archive_entry_pathname(raw) {
            rawPath = Array(
                UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
        }
        let kind: TarEntry.Kind
        var linkTarget: String?
        if let hard = archive_entry_hardlink(raw) {
            kind = .hardLink
            linkTarget = String(cString: hard)
        } else {
            switch Int32(archive_entry_filetype(raw)) {
            case Int32(ivpack_ae_ifreg): kind = .regular
            case Int32(ivpack_ae_ifdir): kind = .directory
            case Int32(ivpack_ae_iflnk):
                kind = .symbolicLink
                linkTarget = archive_entry_symlink(raw).map { String(cString: $0) }
            case Int32(ivpack_ae_ifchr): kind = .other("character device")
            case Int32(ivpack_ae_ifblk): kind = .other("block device")
            case Int32(ivpack_ae_ififo): kind = .other("FIFO")
            case Int32(ivpack_ae_ifsock): kind = .other("socket")
            default: kind = .other("unknown type")
            }
        }
        let entry = TarEntry(
            rawPath: rawPath, kind: kind,
            size: archive_entry_size_is_set(raw) != 0 ? Int64(archive_entry_size(raw)) : 0,
            permissions: UInt32(archive_entry_perm(raw)),
            linkTarget: linkTarget, headerOffset: position,
            // The reader has consumed exactly the headers: its position is where the data starts.
            dataOffset: Int64(archive_filter_bytes(archive, 0)) + base,
            isSparse: archive_entry_sparse_count(raw) > 0,
            modificationTime: Int64(archive_entry_mtime(raw)))
        current = entry
        nextHeaderOffset = entry.dataOffset + entry.size + Int64(TarHeaderFormat.paddingCount(entry.size))
        return entry
    }

    /// The error for an archive whose file ends before byte `end` (what a copy cut short leaves),
    /// naming where; nil when the file is long enough and the problem is another.
    private func cutShort(before end: Int64, inside what: String) -> ArchiveError? {
        var size = file?.size
        if size == nil {
            var st = stat()
            if stat(path, &st) == 0 { size = Int64(st.st_size) }
        }
        guard let size, size < end else { return nil }
        return ArchiveError(
            operation: "read it to its end", path: path,
            reason:
                "the bundle is cut short: the file ends at byte \(size), inside \(what). Copy it again completely and compare its size and SHA-256 with the vendor's",
            isInput: true)
    }

    /// Passes the current entry's data to `body` in blocks, front to back, without copying it.
    /// Throws if the archive ends before the declared size.
    public func readData(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        var expected: Int64 = 0
        while true {
            let status = archive_read_data_block(archive, &buffer, &size, &offset)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN else {
                if let current,
                    let cut = cutShort(
                        before: current.dataOffset + current.size,
                        inside:
                            "the data of \(current.path ?? "an entry") (bytes \(current.dataOffset) to \(current.dataOffset + current.size))"
                    )
                {
                    throw cut
                }
                throw ArchiveError.from(
                    archive, operation: "read the data of \(current?.path ?? "an entry")", path: path, isInput: true)
            }
            if Int64(offset) != expected {
                throw ArchiveError(
                    operation: "read the data of \(current?.path ?? "an entry")", path: path,
                    reason: "the entry has a hole at byte \(expected) (sparse data is not allowed)", isInput: true)
            }
            if size > 0, let buffer { try body(UnsafeRawBufferPointer(start: buffer, count: size)) }
            expected += Int64(size)
        }
    }

    /// The current entry's whole data, refused when its declared size is above `limit`.
    public func readAll(limit: Int) throws -> [UInt8] {
        if let current, current.size > Int64(limit) {
            throw ArchiveError(
                operation: "read \(current.path ?? "an entry")", path: path,
                reason: "it declares \(current.size) bytes, more than the limit of \(limit)", isInput: true)
        }
        var out: [UInt8] = []
        // One allocation of the declared size: grown by doubling, a 4.4 MB manifest (20,000
        // files) took 8 MiB (heaptrack).
        if let current { out.reserveCapacity(Int(min(current.size, Int64(limit)))) }
        try readData { (block) throws in
            if out.count + block.count > limit {
                throw ArchiveError(
                    operation: "read \(self.current?.path ?? "an entry")", path: self.path,
                    reason: "more than the limit of \(limit) bytes", isInput: true)
            }
            out.append(contentsOf: block)
        }
        return out
    }
}

/// The read side of a TarReader over a file descriptor: reads blocks into two alternating
/// buffers (libarchive needs only the latest; the one before stays for `bytes(at:count:)`) and
/// skips with lseek.
final class BlockSource {
    private let fd: Int32
    private let blockSize: Int
    private var buffers: [UnsafeMutableRawBufferPointer]
    private var starts: [Int64] = [0, 0]
    private var counts: [Int] = [0, 0]
    private var next = 0
    private var position: Int64

    init(fd: Int32, blockSize: Int, position: Int64 = 0) {
        self.fd = fd
        self.position = position
        starts = [position, position]
        self.blockSize = max(4096, blockSize)
        buffers = (0..<2).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: max(4096, blockSize), alignment: 4096)
        }
    }

    deinit { for b in buffers { b.deallocate() } }

    func read(_ out: UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int {
        let buffer = buffers[next]
        var n: Int
        repeat { n = Glibc.read(fd, buffer.baseAddress, buffer.count) } while n < 0 && errno == EINTR
        guard n >= 0 else { return -1 }
        starts[next] = position
        counts[next] = n
        position += Int64(n)
        out?.pointee = UnsafeRawPointer(buffer.baseAddress)
        next = 1 - next
        return n
    }

    func skip(_ request: Int64) -> Int64 {
        let target = lseek(fd, off_t(request), SEEK_CUR)
        guard target >= 0 else { return 0 }
        let skipped = Int64(target) - position
        position = Int64(target)
        return skipped
    }

    func bytes(at offset: Int64, count: Int) -> UnsafeRawBufferPointer? {
        for i in 0..<2 where offset >= starts[i] && offset + Int64(count) <= starts[i] + Int64(counts[i]) {
            let from = Int(offset - starts[i])
            return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffers[i])[from..<(from + count)])
        }
        return nil
    }
}
