internal import CLibArchive
import IVPack

#if canImport(Glibc)
    import Glibc
#endif

/// libarchive's restricted pax writer, as ivpack used it to write bundles before it wrote its own
/// headers (TarHeaderFormat). Tests compare the two byte for byte where they must agree, and use
/// it to write archives the way a third-party tool would.
public final class ReferenceTarWriter {
    private let archive: OpaquePointer
    private let entry: OpaquePointer
    private var closed = false
    /// Every byte written so far (unblocked, so exact).
    public private(set) var bytes: [UInt8] = []

    nonisolated(unsafe) private static let utf8Locale: locale_t? = newlocale(LC_CTYPE_MASK, "C.UTF-8", nil)

    public init() {
        archive = archive_write_new()!
        entry = archive_entry_new()!
        archive_write_set_format_pax_restricted(archive)
        archive_write_set_bytes_per_block(archive, 0)
        archive_write_open2(
            archive, Unmanaged.passUnretained(self).toOpaque(), nil,
            { _, client, buffer, length in
                let writer = Unmanaged<ReferenceTarWriter>.fromOpaque(client!).takeUnretainedValue()
                if let buffer, length > 0 { writer.bytes += UnsafeRawBufferPointer(start: buffer, count: length) }
                return length
            },
            nil, nil)
    }

    deinit {
        if !closed { archive_write_fail(archive) }
        archive_write_free(archive)
        archive_entry_free(entry)
    }

    /// Writes a regular file's header as libarchive does (owner 0, no names); returns false when
    /// libarchive refuses. The data must follow through `write(_:)` before the next entry.
    @discardableResult
    public func beginFile(path: [UInt8], size: Int64, permissions: UInt32, modificationTime: Int64) -> Bool {
        archive_entry_clear(entry)
        let previous = Self.utf8Locale.map { uselocale($0) }
        defer { if let previous { uselocale(previous) } }
        (path + [0]).withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) {
                _ = archive_entry_update_pathname_utf8(entry, $0)
            }
        }
        archive_entry_set_filetype(entry, UInt32(ivpack_ae_ifreg))
        archive_entry_set_perm(entry, mode_t(permissions & 0o7777))
        archive_entry_set_size(entry, la_int64_t(size))
        archive_entry_set_mtime(entry, time_t(modificationTime), 0)
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        return archive_write_header(archive, entry) == ARCHIVE_OK
    }

    /// Appends entry data.
    public func write(_ data: [UInt8]) {
        _ = data.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
    }

    /// Ends the current entry (pads it).
    public func finishEntry() { archive_write_finish_entry(archive) }

    /// Writes the end-of-archive marker and closes the writer.
    public func close() {
        closed = true
        archive_write_close(archive)
    }
}
