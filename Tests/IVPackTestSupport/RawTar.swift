import Foundation

/// A tar writer that writes whatever it is told, byte for byte: headers that lie, names no
/// normal writer would emit, types a bundle must never hold. For hostile-input tests only.
public enum RawTar {
    /// Tar type flags.
    public enum TypeFlag: UInt8 {
        case regular = 0x30 // '0'
        case hardLink = 0x31 // '1'
        case symbolicLink = 0x32 // '2'
        case characterDevice = 0x33
        case blockDevice = 0x34
        case directory = 0x35
        case fifo = 0x36
        case paxExtended = 0x78 // 'x'
        case gnuSparse = 0x53 // 'S'
    }

    /// One 512-byte ustar header. `sizeField` replaces the octal size (for lies and base-256).
    public static func header(
        name: [UInt8], size: Int64, type: TypeFlag = .regular, linkName: [UInt8] = [],
        mode: Int = 0o644, sizeField: [UInt8]? = nil
    ) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int, max: Int) {
            for (i, b) in bytes.prefix(max).enumerated() { h[offset + i] = b }
        }
        func octal(_ value: Int64, width: Int) -> [UInt8] {
            Array(String(value, radix: 8).leftPadded(to: width - 1).utf8) + [0]
        }
        put(name, at: 0, max: 100)
        put(octal(Int64(mode), width: 8), at: 100, max: 8)
        put(octal(0, width: 8), at: 108, max: 8)
        put(octal(0, width: 8), at: 116, max: 8)
        put(sizeField ?? octal(size, width: 12), at: 124, max: 12)
        put(octal(1_700_000_000, width: 12), at: 136, max: 12)
        h[156] = type.rawValue
        put(linkName, at: 157, max: 100)
        put(Array("ustar".utf8) + [0], at: 257, max: 6)
        put(Array("00".utf8), at: 263, max: 2)
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        put(octal(Int64(sum), width: 7) + [0x20], at: 148, max: 8)
        return h
    }

    /// A size in GNU base-256 form (for sizes beyond the 8 GiB octal limit).
    public static func base256(_ value: Int64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 12)
        var v = value
        for i in stride(from: 11, through: 1, by: -1) {
            out[i] = UInt8(v & 0xFF)
            v >>= 8
        }
        out[0] = 0x80
        return out
    }

    /// Data padded to whole 512-byte blocks.
    public static func padded(_ data: [UInt8]) -> [UInt8] {
        data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }

    /// A pax extended header entry (header + records) applying to the next entry.
    public static func pax(_ records: [(String, [UInt8])]) -> [UInt8] {
        var body: [UInt8] = []
        for (key, value) in records {
            let rest = 1 + key.utf8.count + 1 + value.count + 1 // " key=value\n"
            var length = rest + String(rest).count
            if String(length).count != String(rest).count { length = rest + String(length).count }
            body += Array("\(length) \(key)=".utf8) + value + [0x0A]
        }
        return header(name: Array("PaxHeaders/x".utf8), size: Int64(body.count), type: .paxExtended) + padded(body)
    }

    /// A regular entry whose name is given in a pax `path` record (any length, any bytes).
    public static func file(_ name: [UInt8], _ data: [UInt8], extraRecords: [(String, [UInt8])] = []) -> [UInt8] {
        pax([("path", name)] + extraRecords) + header(name: Array(name.prefix(99)), size: Int64(data.count))
            + padded(data)
    }

    public static func file(_ name: String, _ data: [UInt8]) -> [UInt8] { file(Array(name.utf8), data) }

    /// The end-of-archive marker.
    public static let end = [UInt8](repeating: 0, count: 1024)
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
