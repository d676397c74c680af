/// The exact tar header bytes ivpack writes for a regular file (docs/bundle-format.md, "Header
/// bytes"): the one definition that `build` and `sign` write and `verify` compares every bundle
/// header against, byte for byte.
///
/// Bundles are reproducible, so every header byte follows from the manifest record (path, size,
/// mode) and the release's `sourceDateEpoch`. For the common case (an ASCII path that fits the
/// ustar name and prefix fields, a size below 8 GiB, a time before 2038) the bytes are those of
/// libarchive's restricted pax writer, which ivpack used before; a test keeps the two equal. Other
/// paths, sizes and times get one pax extended header ('x') with exactly the records needed, in
/// a fixed order: `path`, `size`, `mtime`. Owning the encoding means the bytes of a bundle do
/// not depend on the libarchive version of the machine that built it.
public enum TarHeaderFormat {
    public static let blockSize = 512
    /// Longest path ivpack writes (the manifest and verify refuse longer names).
    public static let maxPathBytes = 4096
    /// Largest modification time: the ustar field holds 11 octal digits.
    public static let maxModificationTime: Int64 = (1 << 33) - 1
    /// Name of the ustar header block that carries a pax extended header's records.
    public static let paxHeaderName = Array("ivpack/PaxHeader".utf8)

    /// The fields of a ustar header block, in order, for messages about a differing byte.
    public static let fields: [(name: String, range: Range<Int>)] = [
        ("name", 0..<100), ("mode", 100..<108), ("uid", 108..<116), ("gid", 116..<124), ("size", 124..<136),
        ("mtime", 136..<148), ("checksum", 148..<156), ("typeflag", 156..<157), ("linkname", 157..<257),
        ("magic", 257..<263), ("version", 263..<265), ("uname", 265..<297), ("gname", 297..<329),
        ("devmajor", 329..<337), ("devminor", 337..<345), ("prefix", 345..<500), ("unused", 500..<512),
    ]

    /// Zero bytes that follow `size` bytes of data up to the next 512-byte boundary.
    public static func paddingCount(_ size: Int64) -> Int { Int((512 - size % 512) % 512) }

    /// Bytes an entry of `size` data bytes occupies after its headers: data and padding.
    public static func paddedSize(_ size: Int64) -> Int64 { size + Int64(paddingCount(size)) }

    /// The header blocks for a regular file: a pax extended header when needed, then the ustar
    /// header. Nil when ivpack cannot write such an entry (empty path, NUL in it, longer than
    /// `maxPathBytes`, a negative size or a time outside 0...`maxModificationTime`).
    public static func headers(path: [UInt8], size: Int64, mode: UInt32, mtime: Int64) -> [UInt8]? {
        guard !path.isEmpty, path.count <= maxPathBytes, !path.contains(0), size >= 0,
            mtime >= 0, mtime <= maxModificationTime
        else { return nil }
        let mode = mode & 0o7777
        var records: [UInt8] = []
        var name: ArraySlice<UInt8> = path[...]
        var prefix: ArraySlice<UInt8> = []
        if let split = ustarSplit(path) {
            (prefix, name) = split
        } else {
            appendRecord(&records, "path", path)
            name = utf8Prefix(path, maxBytes: 100)
        }
        if size >= 1 << 33 { appendRecord(&records, "size", Array(String(size).utf8)) }
        // libarchive's restricted writer keeps times up to 2^31 - 2 in the ustar field alone.
        if mtime >= 0x7FFF_FFFF { appendRecord(&records, "mtime", Array(String(mtime).utf8)) }

        var out: [UInt8] = []
        out.reserveCapacity(records.isEmpty ? 512 : 1024 + records.count + 511)
        if !records.isEmpty {
            appendBlock(
                &out, name: paxHeaderName[...], prefix: [], mode: mode, size: Int64(records.count),
                mtime: min(mtime, 0x7FFF_FFFF), typeflag: UInt8(ascii: "x"))
            out += records
            out += repeatElement(0, count: paddingCount(Int64(records.count)))
        }
        appendBlock(&out, name: name, prefix: prefix, mode: mode, size: size, mtime: mtime, typeflag: UInt8(ascii: "0"))
        return out
    }

    /// The path split as the ustar header stores it (prefix, name) when it is plain ASCII and fits;
    /// nil when it needs a pax `path` record. Same rule as libarchive: the name field takes up to
    /// 100 bytes, a longer path is split at the first '/' that leaves at most 100 bytes after it
    /// and a non-empty prefix of at most 155.
    static func ustarSplit(_ path: [UInt8]) -> (prefix: ArraySlice<UInt8>, name: ArraySlice<UInt8>)? {
        guard path.allSatisfy({ $0 < 0x80 }) else { return nil }
        if path.count <= 100 { return ([], path[...]) }
        var slash = path[(path.count - 101)...].firstIndex(of: UInt8(ascii: "/"))
        if slash == 0 { slash = path[1...].firstIndex(of: UInt8(ascii: "/")) }
        guard let s = slash, s != path.count - 1, s <= 155 else { return nil }
        return (path[..<s], path[(s + 1)...])
    }

    /// The longest start of `path` of at most `maxBytes` bytes that ends on a character boundary.
    static func utf8Prefix(_ path: [UInt8], maxBytes: Int) -> ArraySlice<UInt8> {
        guard path.count > maxBytes else { return path[...] }
        var end = maxBytes
        // A continuation byte (10xxxxxx) cannot start a character.
        while end > 0 && path[end] & 0xC0 == 0x80 { end -= 1 }
        return path[..<end]
    }

    /// One pax record, "LENGTH KEY=VALUE\n", where LENGTH counts the whole record in decimal.
    static func appendRecord(_ out: inout [UInt8], _ key: String, _ value: [UInt8]) {
        let body = 1 + key.utf8.count + 1 + value.count + 1
        var length = body + String(body).count
        if String(length).count != String(body).count { length = body + String(length).count }
        out += Array(String(length).utf8)
        out.append(UInt8(ascii: " "))
        out += Array(key.utf8)
        out.append(UInt8(ascii: "="))
        out += value
        out.append(UInt8(ascii: "\n"))
    }

    /// Appends one ustar header block to `out` (owner and group 0, empty user and group names,
    /// no link), written in place: verify makes one per entry.
    static func appendBlock(
        _ out: inout [UInt8], name: ArraySlice<UInt8>, prefix: ArraySlice<UInt8>, mode: UInt32,
        size: Int64, mtime: Int64, typeflag: UInt8
    ) {
        let base = out.count
        out.append(contentsOf: repeatElement(0, count: 512))
        out.withUnsafeMutableBufferPointer { whole in
            let b = UnsafeMutableBufferPointer(rebasing: whole[base..<(base + 512)])
            for (i, c) in name.enumerated() { b[i] = c }
            octal(b, 100, 6, Int64(mode), 0x20, 0)
            octal(b, 108, 6, 0, 0x20, 0)
            octal(b, 116, 6, 0, 0x20, 0)
            if size < 1 << 33 {
                octal(b, 124, 11, size, 0x20)
            } else if size < 1 << 36 {
                // 12 octal digits without a terminator, as libarchive and GNU tar write large sizes.
                octal(b, 124, 12, size)
            } else {
                // Base-256: the first byte's high bit set, the number big-endian in the 12 bytes.
                var v = UInt64(size)
                for i in stride(from: 135, through: 124, by: -1) {
                    b[i] = UInt8(v & 0xFF)
                    v >>= 8
                }
                b[124] |= 0x80
            }
            octal(b, 136, 11, mtime, 0x20)
            b[156] = typeflag
            for (i, c) in "ustar".utf8.enumerated() { b[257 + i] = c }
            b[263] = UInt8(ascii: "0")
            b[264] = UInt8(ascii: "0")
            octal(b, 329, 6, 0, 0x20, 0)
            octal(b, 337, 6, 0, 0x20, 0)
            for (i, c) in prefix.enumerated() { b[345 + i] = c }
            // The checksum is the sum of all bytes with its own field taken as spaces.
            for i in 148..<156 { b[i] = 0x20 }
            var sum: Int64 = 0
            for c in b { sum += Int64(c) }
            octal(b, 148, 6, sum, 0, 0x20)
        }
    }

    /// `value` as `digits` octal digits with leading zeros at `offset`, then the terminator bytes.
    static func octal(
        _ b: UnsafeMutableBufferPointer<UInt8>, _ offset: Int, _ digits: Int, _ value: Int64,
        _ terminator: UInt8...
    ) {
        var v = value
        for i in stride(from: offset + digits - 1, through: offset, by: -1) {
            b[i] = UInt8(ascii: "0") + UInt8(v & 7)
            v >>= 3
        }
        for (i, t) in terminator.enumerated() { b[offset + digits + i] = t }
    }

    /// The two zero blocks that end an archive.
    public static let endOfArchive = [UInt8](repeating: 0, count: 1024)
}
