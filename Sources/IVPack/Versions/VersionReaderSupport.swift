#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - Shared helpers

/// What a header reader (safetensors, GGUF, PDF) reads from: an open file, or the same bytes
/// already in memory. `read(_:path:...)` opens the file; the fuzz targets and the regression
/// tests pass bytes, so both go through one parser.
protocol ByteSource {
    /// Size in bytes.
    var size: Int64 { get }
    /// Up to `count` bytes at `offset`, fewer at the end; never past `size`.
    func readBytes(count: Int, at offset: Int64) throws -> [UInt8]
}

extension InputFile: ByteSource {}

/// A file's content held in memory.
struct InMemorySource: ByteSource {
    let bytes: [UInt8]

    var size: Int64 { Int64(bytes.count) }

    func readBytes(count: Int, at offset: Int64) -> [UInt8] {
        guard offset >= 0, offset < size, count > 0 else { return [] }
        let start = Int(offset)
        return Array(bytes[start..<(start + min(count, bytes.count - start))])
    }
}

extension VersionReaders {
    static func baseName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    static func fail(_ file: String, at detail: String, _ problem: String, hint: String) -> InputError {
        InputError.versionSource(file: file, detail: detail, problem: problem, hint: hint)
    }

    /// Reads `count` bytes at `offset`, fewer at the end of the file, never past `file.size`.
    static func window(_ file: any ByteSource, at offset: Int64, count: Int) throws -> [UInt8] {
        guard offset >= 0, offset < file.size, count > 0 else { return [] }
        let available = file.size - offset
        let n = available < Int64(count) ? Int(available) : count
        return try file.readBytes(count: n, at: offset)
    }

    /// Reads a whole file of at most `limit` bytes, refusing a larger one with a `InputError` (kind `.versionSource`).
    static func readWhole(path: String, displayPath: String, limit: Int, what: String) throws -> [UInt8] {
        try readWhole(InputFile(path: path), displayPath: displayPath, limit: limit, what: what)
    }

    /// Reads all of `file` when it holds at most `limit` bytes, refusing a larger one with a `InputError` (kind `.versionSource`).
    static func readWhole(_ file: any ByteSource, displayPath: String, limit: Int, what: String) throws -> [UInt8] {
        if file.size > Int64(limit) {
            throw fail(
                displayPath, at: "byte 0",
                "\(what) is \(file.size) bytes, more than the limit of \(limit) bytes",
                hint: "ivpack reads such files whole and refuses larger ones; check that this is the right file.")
        }
        return try file.readBytes(count: Int(file.size), at: 0)
    }

    static func firstIndex(of needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start >= 0 else { return nil }
        var i = start
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == needle[0] {
                var j = 1
                while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    static func lastIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var i = haystack.count - needle.count
        while i >= 0 {
            if haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle { return i }
            i -= 1
        }
        return nil
    }

    static func hexByte(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "0x" + String(digits[Int(b >> 4)]) + String(digits[Int(b & 0xF)])
    }

    /// A byte of hostile input for a message: `'x'` when it is printable ASCII, else `byte 0xNN`.
    static func describeByte(_ b: UInt8) -> String {
        b >= 0x21 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte \(hexByte(b))"
    }

    static func kibibytes(_ n: Int) -> String { n % 1024 == 0 ? "\(n / 1024) KiB" : "\(n) bytes" }
    static func mebibytes(_ n: Int) -> String { n % (1 << 20) == 0 ? "\(n >> 20) MiB" : "\(n) bytes" }

    /// Turns a JSON parse error into a `InputError` (kind `.versionSource`), offsetting byte positions by `base`.
    static func jsonError(_ e: JSONParseError, file: String, what: String, base: Int = 0, hint: String) -> InputError {
        fail(
            file,
            at: "byte \(base + e.offset) (line \(e.line), column \(e.column)\(base == 0 ? "" : " of the header"))",
            "\(what) is not valid JSON: \(e.problem)", hint: hint)
    }
}
