/// A JSON value as ivpack reads and writes it.
///
/// Objects keep their members in document order (so a diagnostic can point at them) and never hold
/// duplicate keys: the parser rejects a document that repeats a key in one object.
/// Numbers keep their source text, so reading and writing a document does not round them.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            // Member order carries no meaning in JSON; keys are unique (the parser enforces it).
            guard a.count == b.count else { return false }
            return a.allSatisfy { m in b.contains { $0.key == m.key && $0.value == m.value } }
        default: return false
        }
    }

    /// An integer value, from a number whose text is an integer that fits in 64 bits.
    public static func integer<I: BinaryInteger>(_ value: I) -> JSONValue { .number(String(value)) }

    /// The member named `key` of an object; nil for a missing member or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: [(key: String, value: JSONValue)]? {
        if case .object(let o) = self { return o } else { return nil }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// The value of a number written as a plain integer (no fraction, no exponent) that fits in Int64.
    public var int64Value: Int64? {
        guard case .number(let text) = self else { return nil }
        return Int64(text)
    }

    /// Whether every number in the value is an integer that fits in 64 bits.
    public var hasOnlyIntegerNumbers: Bool {
        switch self {
        case .number(let text): return Int64(text) != nil
        case .array(let a): return a.allSatisfy(\.hasOnlyIntegerNumbers)
        case .object(let o): return o.allSatisfy { $0.value.hasOnlyIntegerNumbers }
        default: return true
        }
    }

    /// A short name of the value's JSON type, for messages ("expected a string, found an array").
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Why a JSON document was refused, with the byte offset and line/column where the parser stopped.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset into the document (0-based).
    public let offset: Int
    /// Line (1-based) and column (1-based, in bytes) of `offset`.
    public let line: Int
    public let column: Int
    /// What was wrong, in words.
    public let problem: String

    public var description: String { "line \(line), column \(column) (byte \(offset)): \(problem)" }
}

/// Limits that a JSON document must stay within; a document beyond them is refused, not truncated.
public struct JSONLimits: Sendable {
    /// Largest document accepted, in bytes.
    public var maxBytes: Int
    /// Deepest nesting of arrays and objects.
    public var maxDepth: Int
    /// Longest string, in bytes after unescaping.
    public var maxStringBytes: Int
    /// Most members or elements in any one object or array.
    public var maxContainerCount: Int

    public init(maxBytes: Int, maxDepth: Int = 64, maxStringBytes: Int = 1 << 20, maxContainerCount: Int = 1_000_000) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxStringBytes = maxStringBytes
        self.maxContainerCount = maxContainerCount
    }

    /// Limits for small metadata documents (SBOMs, model headers, sidecars): 64 MiB, depth 64.
    public static let metadata = JSONLimits(maxBytes: 64 << 20)
}

/// A strict RFC 8259 parser: UTF-8 only, no comments, no trailing commas, no duplicate keys,
/// no lone surrogates, explicit limits on size and depth.
public struct JSONParser {
    private let bytes: [UInt8]
    private let limits: JSONLimits
    private var position = 0
    private var depth = 0

    /// Parses one JSON document; whitespace may surround it, nothing else may follow it.
    public static func parse(_ bytes: [UInt8], limits: JSONLimits = .metadata) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, limits: limits)
        if bytes.count > limits.maxBytes {
            throw parser.error("document is \(bytes.count) bytes, more than the limit of \(limits.maxBytes)", at: 0)
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            throw parser.error("document starts with a UTF-8 byte-order mark; JSON must not have one", at: 0)
        }
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        if parser.position != bytes.count {
            throw parser.error("unexpected data after the end of the JSON value", at: parser.position)
        }
        return value
    }

    /// Parses the one JSON value at the start of `bytes` (no whitespace before it) and returns it
    /// with its length in bytes; whatever follows the value is left alone.
    public static func parsePrefix(_ bytes: [UInt8], limits: JSONLimits) throws(JSONParseError) -> (
        value: JSONValue, length: Int
    ) {
        var parser = JSONParser(bytes: bytes, limits: limits)
        let value = try parser.parseValue()
        return (value, parser.position)
    }

    private init(bytes: [UInt8], limits: JSONLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    private func error(_ problem: String, at offset: Int) -> JSONParseError {
        var line = 1
        var column = 1
        var i = 0
        let end = min(offset, bytes.count)
        while i < end {
            if bytes[i] == 0x0A {
                line += 1
                column = 1
            } else {
                column += 1
            }
            i += 1
        }
        return JSONParseError(offset: offset, line: line, column: column, problem: problem)
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private func describeByte(_ b: UInt8) -> String {
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x" + String(b, radix: 16, uppercase: true)
    }

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard position < bytes.count else { throw error("unexpected end of document; expected a value", at: position) }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected \(describeByte(bytes[position])); expected a value", at: position)
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let start = position
        let utf8 = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for b in utf8 {
            guard position < bytes.count, bytes[position] == b else {
                throw error("invalid literal; expected '\(literal)'", at: start)
            }
            position += 1
        }
    }

    private mutating func enter() throws(JSONParseError) {
        depth += 1
        if depth > limits.maxDepth {
            throw error("nesting deeper than the limit of \(limits.maxDepth)", at: position)
        }
    }

    private mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enter()
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error(
                    position < bytes.count
                        ? "expected a member name in double quotes" : "unexpected end of document inside an object",
                    at: position)
            }
            let keyOffset = position
            let key = try parseString()
            if !seen.insert(key).inserted {
                throw error("duplicate key \"\(Display.name(key))\" in one object", at: keyOffset)
            }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                throw error("expected ':' after member name \"\(Display.name(key))\"", at: position)
            }
            position += 1
            skipWhitespace()
            let value = try parseValue()
            members.append((key, value))
            if members.count > limits.maxContainerCount {
                throw error("object has more than \(limits.maxContainerCount) members", at: position)
            }
            skipWhitespace()
            guard position < bytes.count else {
                throw error("unexpected end of document inside an object", at: position)
            }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            if bytes[position] == UInt8(ascii: "}") {
                position += 1
                break
            }
            throw error("unexpected \(describeByte(bytes[position])); expected ',' or '}'", at: position)
        }
        depth -= 1
        return .object(members)
    }

    private mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enter()
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            if elements.count > limits.maxContainerCount {
                throw error("array has more than \(limits.maxContainerCount) elements", at: position)
            }
            skipWhitespace()
            guard position < bytes.count else {
                throw error("unexpected end of document inside an array", at: position)
            }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            if bytes[position] == UInt8(ascii: "]") {
                position += 1
                break
            }
            throw error("unexpected \(describeByte(bytes[position])); expected ',' or ']'", at: position)
        }
        depth -= 1
        return .array(elements)
    }

    private mutating func parseNumber() throws(JSONParseError) -> String {
        let start = position
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count, isDigit(bytes[position]) else {
            throw error("invalid number: expected a digit", at: position)
        }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if position < bytes.count, isDigit(bytes[position]) {
                throw error("invalid number: leading zero", at: start)
            }
        } else {
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else {
                throw error("invalid number: expected a digit after '.'", at: position)
            }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, isDigit(bytes[position]) else {
                throw error("invalid number: expected a digit in the exponent", at: position)
            }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position - start > 400 { throw error("number longer than 400 characters", at: start) }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt16 {
        guard position + 4 <= bytes.count else {
            throw error("unexpected end of document in a \\u escape", at: position)
        }
        var v: UInt16 = 0
        for _ in 0..<4 {
            let b = bytes[position]
            let d: UInt8
            switch b {
            case 0x30...0x39: d = b - 0x30
            case 0x41...0x46: d = b - 0x41 + 10
            case 0x61...0x66: d = b - 0x61 + 10
            default: throw error("invalid hex digit \(describeByte(b)) in a \\u escape", at: position)
            }
            v = v << 4 | UInt16(d)
            position += 1
        }
        return v
    }

    /// The UTF-8 bytes of a `\uXXXX` escape (or a surrogate pair of two) whose backslash is at
    /// `escapeStart`; the cursor is after the `u`.
    private mutating func parseUnicodeEscape(startingAt escapeStart: Int) throws(JSONParseError) -> [UInt8] {
        let unit = try parseHex4()
        var scalarValue = UInt32(unit)
        if unit >= 0xD800 && unit < 0xDC00 {
            guard position + 6 <= bytes.count, bytes[position] == UInt8(ascii: "\\"),
                bytes[position + 1] == UInt8(ascii: "u")
            else {
                throw error("lone high surrogate in a \\u escape", at: escapeStart)
            }
            position += 2
            let low = try parseHex4()
            guard low >= 0xDC00 && low < 0xE000 else {
                throw error("high surrogate not followed by a low surrogate", at: escapeStart)
            }
            scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
        } else if unit >= 0xDC00 && unit < 0xE000 {
            throw error("lone low surrogate in a \\u escape", at: escapeStart)
        }
        guard let scalar = Unicode.Scalar(scalarValue) else {
            throw error("invalid code point in a \\u escape", at: escapeStart)
        }
        return Array(String(Character(scalar)).utf8)
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        let start = position
        position += 1
        // Fast path: a string of plain printable ASCII (every key, digest, path and version of a
        // manifest) becomes a String straight from the input, without a copy byte by byte.
        let runEnd = plainASCIIRunEnd(from: position)
        if runEnd < bytes.count, bytes[runEnd] == UInt8(ascii: "\"") {
            if runEnd - position > limits.maxStringBytes {
                throw error("string longer than the limit of \(limits.maxStringBytes) bytes", at: start)
            }
            let from = position
            position = runEnd + 1
            return bytes.withUnsafeBufferPointer {
                String(decoding: UnsafeBufferPointer(rebasing: $0[from..<runEnd]), as: UTF8.self)
            }
        }
        var out: [UInt8] = []
        out.append(contentsOf: bytes[position..<runEnd])
        position = runEnd
        while true {
            guard position < bytes.count else { throw error("unterminated string", at: start) }
            let b = bytes[position]
            if b == UInt8(ascii: "\"") {
                position += 1
                break
            }
            if b < 0x20 {
                throw error("control character \(describeByte(b)) in a string; it must be escaped", at: position)
            }
            if b == UInt8(ascii: "\\") {
                position += 1
                guard position < bytes.count else { throw error("unterminated escape", at: position) }
                let e = bytes[position]
                position += 1
                if let byte = JSONEscape.shortForm(e) {
                    out.append(byte)
                } else if e == UInt8(ascii: "/") {
                    out.append(0x2F)
                } else if e == UInt8(ascii: "u") {
                    out.append(contentsOf: try parseUnicodeEscape(startingAt: position - 2))
                } else {
                    throw error("invalid escape: a backslash followed by \(describeByte(e))", at: position - 2)
                }
            } else if b < 0x80 {
                // A run of plain ASCII at once.
                let end = plainASCIIRunEnd(from: position)
                out.append(contentsOf: bytes[position..<end])
                position = end
            } else {
                // Anything else is validated as UTF-8, sequence by sequence.
                let length = try utf8SequenceLength(at: position)
                out.append(contentsOf: bytes[position..<(position + length)])
                position += length
            }
            if out.count > limits.maxStringBytes {
                throw error("string longer than the limit of \(limits.maxStringBytes) bytes", at: start)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The first index from `i` on holding a quote, a backslash, a control character or a
    /// non-ASCII byte (or the end of the input).
    private func plainASCIIRunEnd(from i: Int) -> Int {
        bytes.withUnsafeBufferPointer { b in
            var j = i
            while j < b.count {
                let c = b[j]
                if c == 0x22 || c == 0x5C || c < 0x20 || c >= 0x80 { break }
                j += 1
            }
            return j
        }
    }

    /// Length of the well-formed UTF-8 sequence at `i`, or an error naming the offset.
    private func utf8SequenceLength(at i: Int) throws(JSONParseError) -> Int {
        let b0 = bytes[i]
        if b0 < 0x80 { return 1 }
        func cont(_ k: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            i + k < bytes.count && range.contains(bytes[i + k])
        }
        switch b0 {
        case 0xC2...0xDF where cont(1): return 2
        case 0xE0 where cont(1, 0xA0...0xBF) && cont(2): return 3
        case 0xE1...0xEC where cont(1) && cont(2), 0xEE...0xEF where cont(1) && cont(2): return 3
        case 0xED where cont(1, 0x80...0x9F) && cont(2): return 3
        case 0xF0 where cont(1, 0x90...0xBF) && cont(2) && cont(3): return 4
        case 0xF1...0xF3 where cont(1) && cont(2) && cont(3): return 4
        case 0xF4 where cont(1, 0x80...0x8F) && cont(2) && cont(3): return 4
        default:
            throw error("invalid UTF-8 sequence starting with byte 0x\(String(b0, radix: 16, uppercase: true))", at: i)
        }
    }
}

/// The two-character escapes of JSON strings.
enum JSONEscape {
    /// The byte that `\e` stands for, for the escapes canonical JSON writes (`\"`, `\\`, `\b`,
    /// `\f`, `\n`, `\r`, `\t`); nil for any other `e` (`\/` and `\u` are handled by the parser).
    static func shortForm(_ e: UInt8) -> UInt8? {
        switch e {
        case UInt8(ascii: "\""): return 0x22
        case UInt8(ascii: "\\"): return 0x5C
        case UInt8(ascii: "b"): return 0x08
        case UInt8(ascii: "f"): return 0x0C
        case UInt8(ascii: "n"): return 0x0A
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "t"): return 0x09
        default: return nil
        }
    }
}

/// Canonical JSON: the one byte form ivpack signs.
///
/// Object members sorted by the UTF-8 bytes of their keys, no whitespace, strings with only the
/// escapes JSON requires (`\"`, `\\`, and control characters, using the short forms `\b \f \n \r \t`
/// and `\u00XX` otherwise), numbers written as integers. For the documents ivpack writes (ASCII keys,
/// integer numbers) this is the RFC 8785 (JCS) form.
public enum CanonicalJSON {
    /// The canonical bytes of `value`. Numbers must be integers; anything else is a programming error.
    public static func encode(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(value, into: &out)
        return out
    }

    private static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: Array("null".utf8))
        case .bool(let b): out.append(contentsOf: Array((b ? "true" : "false").utf8))
        case .number(let text):
            // Canonical documents hold integers only; other numbers keep their text, which a
            // reader comparing bytes will then refuse as not canonical.
            if let i = Int64(text) {
                out.append(contentsOf: Array(String(i).utf8))
            } else {
                out.append(contentsOf: Array(text.utf8))
            }
        case .string(let s): writeString(s, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, e) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(e, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let sorted = members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            for (i, m) in sorted.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(m.key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(m.value, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `s` as a canonical JSON string (quotes and the escapes above).
    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings (keys, digests, paths) need no escape: copied in one piece.
        var text = s
        let copied = text.withUTF8 { bytes -> Bool in
            for b in bytes where b < 0x20 || b == 0x22 || b == 0x5C { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if copied {
            out.append(UInt8(ascii: "\""))
            return
        }
        for b in s.utf8 {
            switch b {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
