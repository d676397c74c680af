internal import CLibArchive
#if canImport(Glibc)
import Glibc
#endif

/// Writes a POSIX pax tar stream, unblocked (each entry padded to 512 bytes, no padding after the
/// end-of-archive marker, so that more entries can later be appended in place), to an output file.
///
/// Header fields that would leak the build host are fixed: owner and group 0 with empty names,
/// the modification time given by the caller, and only the permission bits given by the caller.
public final class TarWriter {
    private let archive: OpaquePointer
    private let sinkBody: (UnsafeRawBufferPointer) throws -> Void
    private let outputName: String
    private let entry: OpaquePointer
    private var closed = false
    /// Bytes handed to the output so far. libarchive is unblocked here, so this is exact.
    public private(set) var offset: Int64 = 0
    private var pendingError: FileSystemError?

    /// Starts a pax archive on `output`, written from its current position onward.
    public convenience init(output: AtomicOutputFile) throws(ArchiveError) {
        try self.init(name: output.path) { try output.write($0) }
    }

    /// Starts a pax archive whose bytes go to `sink`; `name` names the output in messages.
    public init(name: String, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws(ArchiveError) {
        guard let archive = archive_write_new(), let entry = archive_entry_new() else {
            fatalError("libarchive could not allocate a writer")
        }
        self.archive = archive
        self.entry = entry
        self.sinkBody = sink
        self.outputName = name
        guard archive_write_set_format_pax_restricted(archive) == ARCHIVE_OK,
              archive_write_set_bytes_per_block(archive, 0) == ARCHIVE_OK
        else {
            let error = ArchiveError.from(archive, operation: "configure the pax writer", path: name, isInput: false)
            archive_entry_free(entry)
            archive_write_free(archive)
            throw error
        }
        let status = archive_write_open2(
            archive, Unmanaged.passUnretained(self).toOpaque(), nil,
            { _, client, buffer, length in
                let writer = Unmanaged<TarWriter>.fromOpaque(client!).takeUnretainedValue()
                return writer.sink(buffer, length)
            },
            nil, nil)
        guard status == ARCHIVE_OK else {
            let error = ArchiveError.from(archive, operation: "open the pax writer", path: name, isInput: false)
            archive_entry_free(entry)
            archive_write_free(archive)
            throw error
        }
    }

    deinit {
        if !closed { archive_write_fail(archive) }
        archive_write_free(archive)
        archive_entry_free(entry)
    }

    private func sink(_ buffer: UnsafeRawPointer?, _ length: Int) -> Int {
        guard let buffer, length > 0 else { return 0 }
        do {
            try sinkBody(UnsafeRawBufferPointer(start: buffer, count: length))
            offset += Int64(length)
            return length
        } catch {
            pendingError = error as? FileSystemError
            return -1
        }
    }

    private func failure(_ operation: String) -> any IVPackError {
        if let pendingError { return pendingError }
        return ArchiveError.from(archive, operation: operation, path: outputName, isInput: false)
    }

    /// Starts a regular-file entry; exactly `size` bytes must follow through `write(_:)`.
    public func beginFile(path: String, size: Int64, permissions: UInt32, modificationTime: Int64) throws {
        archive_entry_clear(entry)
        archive_entry_set_pathname_utf8(entry, path)
        archive_entry_set_filetype(entry, UInt32(ivpack_ae_ifreg))
        archive_entry_set_perm(entry, mode_t(permissions & 0o777))
        archive_entry_set_size(entry, la_int64_t(size))
        archive_entry_set_mtime(entry, time_t(modificationTime), 0)
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        guard withUTF8Locale({ archive_write_header(archive, entry) }) == ARCHIVE_OK else {
            throw failure("write the tar header of \(path)")
        }
    }

    /// Appends entry data.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        let n = archive_write_data(archive, bytes.baseAddress, bytes.count)
        guard n == bytes.count else { throw failure("write entry data") }
    }

    /// Ends the current entry (pads it to a 512-byte boundary).
    public func finishEntry() throws {
        guard archive_write_finish_entry(archive) == ARCHIVE_OK else { throw failure("finish a tar entry") }
    }

    /// Writes the end-of-archive marker (two zero blocks) and closes the writer.
    public func close() throws {
        closed = true
        guard archive_write_close(archive) == ARCHIVE_OK else { throw failure("finish the archive") }
    }

    /// One regular-file entry followed by the end-of-archive marker, as bytes: what is appended
    /// to a bundle in place of its old end marker.
    public static func entryWithEndMarker(path: String, data: [UInt8], permissions: UInt32, modificationTime: Int64) throws -> [UInt8] {
        var bytes: [UInt8] = []
        let writer = try TarWriter(name: path) { bytes.append(contentsOf: $0) }
        try writer.beginFile(path: path, size: Int64(data.count), permissions: permissions, modificationTime: modificationTime)
        try data.withUnsafeBytes { try writer.write($0) }
        try writer.finishEntry()
        try writer.close()
        return bytes
    }
}
