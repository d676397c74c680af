import Foundation
import IVPack

/// Rewrites bundles entry by entry, for tamper tests: real tar files with real changes.
public enum BundleSurgery {
    /// One entry as read back.
    public struct Entry: Sendable {
        public var path: String
        public var data: [UInt8]
        public var permissions: UInt32
        public var modificationTime: Int64
        public init(path: String, data: [UInt8], permissions: UInt32 = 0o644, modificationTime: Int64 = 1_700_000_000) {
            self.path = path
            self.data = data
            self.permissions = permissions
            self.modificationTime = modificationTime
        }

        /// The entry as ivpack writes it: its exact headers, data and padding.
        public var ivpackBytes: [UInt8] {
            TarHeaderFormat.headers(
                path: Array(path.utf8), size: Int64(data.count), mode: permissions, mtime: modificationTime)!
                + data + [UInt8](repeating: 0, count: TarHeaderFormat.paddingCount(Int64(data.count)))
        }
    }

    /// Every regular entry of a (small) bundle, in order, with its data.
    public static func entries(of bundle: String) throws -> [Entry] {
        let reader = try TarReader(path: bundle)
        var out: [Entry] = []
        while let e = try reader.next() {
            out.append(
                Entry(
                    path: e.path ?? "", data: try reader.readAll(limit: 1 << 30), permissions: e.permissions,
                    modificationTime: e.modificationTime))
        }
        return out
    }

    /// Writes `entries` as a new pax tar at `path`, with the headers ivpack writes (each entry
    /// keeps the time it had), so that a change to the entries is the only change.
    public static func write(_ entries: [Entry], to path: String) throws {
        let output = try AtomicOutputFile(path: path)
        let writer = TarStreamWriter(name: path) { try output.write($0) }
        for e in entries {
            try writer.beginFile(
                path: e.path, size: Int64(e.data.count), permissions: e.permissions,
                modificationTime: e.modificationTime)
            try e.data.withUnsafeBytes { try writer.write($0) }
            try writer.finishEntry()
        }
        try writer.close()
        try output.commit()
    }

    /// Reads, changes and writes back a bundle.
    public static func rewrite(_ bundle: String, to output: String, _ change: (inout [Entry]) -> Void) throws {
        var e = try entries(of: bundle)
        change(&e)
        try write(e, to: output)
    }

    /// Flips one bit of the byte at `offset` of a file.
    public static func flipByte(in file: String, at offset: Int) {
        let handle = FileHandle(forUpdatingAtPath: file)!
        try! handle.seek(toOffset: UInt64(offset))
        let byte = try! handle.read(upToCount: 1)!
        try! handle.seek(toOffset: UInt64(offset))
        try! handle.write(contentsOf: Data([byte[0] ^ 0x01]))
        try! handle.close()
    }

    /// Offset of the first occurrence of `needle` in the file.
    public static func offset(of needle: [UInt8], in file: String) -> Int? {
        let bytes = [UInt8](FileManager.default.contents(atPath: file) ?? Data())
        return bytes.firstRange(of: needle)?.lowerBound
    }
}
