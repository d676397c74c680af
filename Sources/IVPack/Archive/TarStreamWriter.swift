/// Writes the tar stream of a bundle with the header bytes of `TarHeaderFormat`: unblocked (each
/// entry padded to 512 bytes, the end-of-archive marker is two zero blocks and nothing follows,
/// so that signatures can later be appended in place).
///
/// Header fields that would leak the build host are fixed: owner and group 0 with empty names,
/// the modification time given by the caller, and only the permission bits given by the caller.
/// Data goes to the sink as given, without a copy.
public final class TarStreamWriter {
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    private let outputName: String
    /// Bytes handed to the sink so far.
    public private(set) var offset: Int64 = 0
    private var current: (path: String, remaining: Int64, padding: Int)?

    /// Starts a stream whose bytes go to `sink`; `name` names the output in messages.
    public init(name: String, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.outputName = name
        self.sink = sink
    }

    private func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try sink($0) }
        offset += Int64(bytes.count)
    }

    /// Starts a regular-file entry; exactly `size` bytes must follow through `write(_:)`.
    public func beginFile(path: String, size: Int64, permissions: UInt32, modificationTime: Int64) throws {
        precondition(current == nil, "beginFile while an entry is open")
        guard
            let header = TarHeaderFormat.headers(
                path: Array(path.utf8), size: size, mode: permissions & 0o777,
                mtime: modificationTime)
        else {
            throw ArchiveError(
                operation: "write the tar header of \(Display.name(path))", path: outputName,
                reason: "a bundle entry needs a path of 1 to \(TarHeaderFormat.maxPathBytes) bytes without NUL, "
                    + "and a modification time from 1970 to \(TarHeaderFormat.maxModificationTime) s "
                    + "(got \(modificationTime); check SOURCE_DATE_EPOCH)", isInput: false)
        }
        try emit(header)
        current = (path, size, TarHeaderFormat.paddingCount(size))
    }

    /// Appends entry data.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        guard let entry = current, Int64(bytes.count) <= entry.remaining else {
            throw ArchiveError(
                operation: "write entry data", path: outputName,
                reason: "more data than the entry's declared size", isInput: false)
        }
        try sink(bytes)
        offset += Int64(bytes.count)
        current?.remaining -= Int64(bytes.count)
    }

    /// Ends the current entry: pads it to a 512-byte boundary. All declared bytes must be written.
    public func finishEntry() throws {
        guard let entry = current else { return }
        guard entry.remaining == 0 else {
            throw ArchiveError(
                operation: "finish the entry \(Display.name(entry.path))", path: outputName,
                reason: "\(entry.remaining) of its declared bytes were not written", isInput: false)
        }
        if entry.padding > 0 { try emit([UInt8](repeating: 0, count: entry.padding)) }
        current = nil
    }

    /// Writes the end-of-archive marker (two zero blocks).
    public func close() throws {
        try finishEntry()
        try emit(TarHeaderFormat.endOfArchive)
    }

    /// One regular-file entry followed by the end-of-archive marker, as bytes: what is appended
    /// to a bundle in place of its old end marker.
    public static func entryWithEndMarker(path: String, data: [UInt8], permissions: UInt32, modificationTime: Int64)
        throws -> [UInt8]
    {
        var bytes: [UInt8] = []
        let writer = TarStreamWriter(name: path) { bytes.append(contentsOf: $0) }
        try writer.beginFile(
            path: path, size: Int64(data.count), permissions: permissions, modificationTime: modificationTime)
        try data.withUnsafeBytes { try writer.write($0) }
        try writer.close()
        return bytes
    }
}
