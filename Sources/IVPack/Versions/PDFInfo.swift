import Yams

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - PDF

extension VersionReaders {
    /// The PDF document information dictionary, found through the trailer without reading the whole file.
    enum PDF {
        /// How much of the end of the file is searched for `startxref` and a trailer.
        static let tailBytes = 64 << 10
        /// Largest trailer, cross-reference stream dictionary or Info object parsed.
        static let maxObjectBytes = 64 << 10
        /// Most cross-reference sections followed through `/Prev` and `/XRefStm`.
        static let maxXRefSections = 64
        /// Most subsections in one cross-reference table.
        static let maxSubsections = 10_000
        /// Most entries in one subsection.
        static let maxSubsectionEntries: Int64 = 50_000_000
        /// Largest uncompressed cross-reference stream whose entries are looked up.
        static let maxXRefStreamBytes: Int64 = 64 << 20
        /// Deepest nesting of arrays and dictionaries.
        static let maxNesting = 32
        /// Longest string value.
        static let maxStringBytes = 32 << 10
        /// Buffer used to scan the file for an object whose offset is unknown.
        static let scanChunkBytes = 1 << 20

        enum Value: Equatable {
            case null
            case bool(Bool)
            case number(String)
            case string([UInt8])
            case name(String)
            case array([Value])
            case dictionary([(String, Value)])
            case reference(Int64, Int64)

            static func == (lhs: Value, rhs: Value) -> Bool {
                switch (lhs, rhs) {
                case (.null, .null): return true
                case (.bool(let a), .bool(let b)): return a == b
                case (.number(let a), .number(let b)): return a == b
                case (.string(let a), .string(let b)): return a == b
                case (.name(let a), .name(let b)): return a == b
                case (.array(let a), .array(let b)): return a == b
                case (.dictionary(let a), .dictionary(let b)):
                    return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
                case (.reference(let a, let b), .reference(let c, let d)): return a == c && b == d
                default: return false
                }
            }

            subscript(key: String) -> Value? {
                guard case .dictionary(let entries) = self else { return nil }
                return entries.first(where: { $0.0 == key })?.1
            }

            var integer: Int64? {
                guard case .number(let text) = self else { return nil }
                return Int64(text)
            }

            var typeName: String {
                switch self {
                case .null: return "null"
                case .bool: return "a boolean"
                case .number: return "a number"
                case .string: return "a string"
                case .name: return "a name"
                case .array: return "an array"
                case .dictionary: return "a dictionary"
                case .reference: return "a reference"
                }
            }
        }

        /// A parser of PDF objects over a window of the file.
        struct Lexer {
            let bytes: [UInt8]
            /// File offset of `bytes[0]`.
            let base: Int64
            /// Whether `bytes` reaches the end of the file.
            let reachesEnd: Bool
            let displayPath: String
            var position = 0

            static func isWhite(_ b: UInt8) -> Bool { b == 0 || b == 9 || b == 10 || b == 12 || b == 13 || b == 32 }
            static func isDelimiter(_ b: UInt8) -> Bool {
                b == 0x28 || b == 0x29 || b == 0x3C || b == 0x3E || b == 0x5B || b == 0x5D || b == 0x7B || b == 0x7D
                    || b == 0x2F || b == 0x25
            }
            static func isRegular(_ b: UInt8) -> Bool { !isWhite(b) && !isDelimiter(b) }

            var offset: Int64 { base + Int64(position) }

            func error(_ problem: String, at position: Int? = nil) -> InputError {
                fail(
                    displayPath, at: "byte \(base + Int64(position ?? self.position))", problem,
                    hint: "The PDF is damaged or unusual; check it with qpdf --check and export it again.")
            }

            func endError(_ what: String) -> InputError {
                reachesEnd
                    ? error("file ends inside \(what)")
                    : error("\(what) is not finished within the limit of \(kibibytes(maxObjectBytes))")
            }

            mutating func skipSpace() {
                while position < bytes.count {
                    let b = bytes[position]
                    if Lexer.isWhite(b) {
                        position += 1
                    } else if b == 0x25 {
                        while position < bytes.count && bytes[position] != 10 && bytes[position] != 13 { position += 1 }
                    } else {
                        return
                    }
                }
            }

            func startsWith(_ keyword: String, at p: Int? = nil) -> Bool {
                let k = Array(keyword.utf8)
                let at = p ?? position
                guard at + k.count <= bytes.count, Array(bytes[at..<(at + k.count)]) == k else { return false }
                return at + k.count == bytes.count || !Lexer.isRegular(bytes[at + k.count])
            }

            /// An unsigned decimal integer, or nil (position unchanged) when there is none or it overflows.
            mutating func unsigned() -> Int64? {
                var p = position
                var value: Int64 = 0
                while p < bytes.count, bytes[p] >= 0x30, bytes[p] <= 0x39 {
                    let (m, o1) = value.multipliedReportingOverflow(by: 10)
                    let (a, o2) = m.addingReportingOverflow(Int64(bytes[p] - 0x30))
                    if o1 || o2 { return nil }
                    value = a
                    p += 1
                }
                guard p > position else { return nil }
                // "12.5" or "12abc" is not an unsigned integer.
                if p < bytes.count && Lexer.isRegular(bytes[p]) { return nil }
                position = p
                return value
            }

            /// `N G obj`, or nil (position unchanged).
            mutating func objectHeader() -> (Int64, Int64)? {
                let saved = position
                skipSpace()
                if let n = unsigned() {
                    skipSpace()
                    if let g = unsigned() {
                        skipSpace()
                        if startsWith("obj") {
                            position += 3
                            return (n, g)
                        }
                    }
                }
                position = saved
                return nil
            }

            mutating func value(depth: Int = 0) throws -> Value {
                if depth > maxNesting { throw error("objects nest deeper than the limit of \(maxNesting)") }
                skipSpace()
                guard position < bytes.count else { throw endError("an object") }
                let b = bytes[position]
                switch b {
                case 0x3C: // <
                    if position + 1 < bytes.count && bytes[position + 1] == 0x3C { return try dictionary(depth: depth) }
                    return .string(try hexString())
                case 0x28: return .string(try literalString())
                case 0x5B: // [
                    position += 1
                    var elements: [Value] = []
                    while true {
                        skipSpace()
                        guard position < bytes.count else { throw endError("an array") }
                        if bytes[position] == 0x5D {
                            position += 1
                            return .array(elements)
                        }
                        elements.append(try value(depth: depth + 1))
                    }
                case 0x2F: return .name(name())
                case 0x2B, 0x2D, 0x2E, 0x30...0x39: return number()
                default:
                    guard Lexer.isRegular(b) else {
                        throw error("unexpected \(describeByte(b)) where a value should start")
                    }
                    let start = position
                    while position < bytes.count && Lexer.isRegular(bytes[position]) { position += 1 }
                    let word = String(decoding: bytes[start..<position], as: UTF8.self)
                    switch word {
                    case "true": return .bool(true)
                    case "false": return .bool(false)
                    case "null": return .null
                    default:
                        throw error(
                            "unexpected keyword '\(Display.name(String(word.prefix(40))))' where a value should start",
                            at: start)
                    }
                }
            }

            mutating func dictionary(depth: Int) throws -> Value {
                let start = position
                position += 2
                var entries: [(String, Value)] = []
                while true {
                    skipSpace()
                    guard position < bytes.count else { throw endError("a dictionary") }
                    if bytes[position] == 0x3E {
                        guard position + 1 < bytes.count else { throw endError("a dictionary") }
                        guard bytes[position + 1] == 0x3E else { throw error("single '>' inside a dictionary") }
                        position += 2
                        return .dictionary(entries)
                    }
                    guard bytes[position] == 0x2F else { throw error("dictionary key is not a name") }
                    let keyOffset = position
                    let key = name()
                    if entries.contains(where: { $0.0 == key }) {
                        throw error(
                            "dictionary starting at byte \(base + Int64(start)) repeats the key /\(Display.name(key))",
                            at: keyOffset)
                    }
                    entries.append((key, try value(depth: depth + 1)))
                }
            }

            mutating func name() -> String {
                position += 1
                var out: [UInt8] = []
                while position < bytes.count && Lexer.isRegular(bytes[position]) {
                    let b = bytes[position]
                    if b == 0x23, position + 2 < bytes.count, let h = hexValue(bytes[position + 1]),
                        let l = hexValue(bytes[position + 2])
                    {
                        out.append(h << 4 | l)
                        position += 3
                    } else {
                        out.append(b)
                        position += 1
                    }
                }
                return String(decoding: out, as: UTF8.self)
            }

            /// A number, or a reference `N G R` when an unsigned integer is followed by one.
            mutating func number() -> Value {
                let start = position
                if let n = unsigned() {
                    let afterFirst = position
                    skipSpace()
                    if let g = unsigned() {
                        skipSpace()
                        if position < bytes.count && bytes[position] == 0x52
                            && (position + 1 == bytes.count || !Lexer.isRegular(bytes[position + 1]))
                        {
                            position += 1
                            return .reference(n, g)
                        }
                    }
                    position = afterFirst
                    return .number(String(n))
                }
                position = start
                while position < bytes.count && Lexer.isRegular(bytes[position]) { position += 1 }
                return .number(String(decoding: bytes[start..<position], as: UTF8.self))
            }

            func hexValue(_ b: UInt8) -> UInt8? {
                switch b {
                case 0x30...0x39: return b - 0x30
                case 0x41...0x46: return b - 0x41 + 10
                case 0x61...0x66: return b - 0x61 + 10
                default: return nil
                }
            }

            mutating func hexString() throws -> [UInt8] {
                let start = position
                position += 1
                var out: [UInt8] = []
                var high: UInt8?
                while true {
                    guard position < bytes.count else { throw endError("a hex string") }
                    let b = bytes[position]
                    position += 1
                    if b == 0x3E { break }
                    if Lexer.isWhite(b) { continue }
                    guard let v = hexValue(b) else {
                        throw error(
                            "hex string starting at byte \(base + Int64(start)) holds \(describeByte(b)), not a hex digit",
                            at: position - 1)
                    }
                    if let h = high {
                        out.append(h << 4 | v)
                        high = nil
                    } else {
                        high = v
                    }
                    if out.count > maxStringBytes {
                        throw error("string longer than the limit of \(kibibytes(maxStringBytes))", at: start)
                    }
                }
                if let h = high { out.append(h << 4) }
                return out
            }

            mutating func literalString() throws -> [UInt8] {
                let start = position
                position += 1
                var out: [UInt8] = []
                var depth = 1
                while true {
                    guard position < bytes.count else { throw endError("a string") }
                    let b = bytes[position]
                    position += 1
                    switch b {
                    case 0x5C: // backslash
                        guard position < bytes.count else { throw endError("a string") }
                        let e = bytes[position]
                        position += 1
                        switch e {
                        case 0x6E: out.append(0x0A)
                        case 0x72: out.append(0x0D)
                        case 0x74: out.append(0x09)
                        case 0x62: out.append(0x08)
                        case 0x66: out.append(0x0C)
                        case 0x30...0x37:
                            var v = Int(e - 0x30)
                            var digits = 1
                            while digits < 3, position < bytes.count, (0x30...0x37).contains(bytes[position]) {
                                v = v * 8 + Int(bytes[position] - 0x30)
                                position += 1
                                digits += 1
                            }
                            out.append(UInt8(v & 0xFF))
                        case 0x0D: // a backslash at the end of a line continues the string
                            if position < bytes.count && bytes[position] == 0x0A { position += 1 }
                        case 0x0A: break
                        default: out.append(e) // \( \) \\ and any other escaped character stand for themselves
                        }
                    case 0x28:
                        depth += 1
                        out.append(b)
                    case 0x29:
                        depth -= 1
                        if depth == 0 { return out }
                        out.append(b)
                    case 0x0D: // an end of line in a string is a line feed
                        if position < bytes.count && bytes[position] == 0x0A { position += 1 }
                        out.append(0x0A)
                    default:
                        out.append(b)
                    }
                    if out.count > maxStringBytes {
                        throw error("string longer than the limit of \(kibibytes(maxStringBytes))", at: start)
                    }
                }
            }

            /// Moves past the `stream` keyword and its end of line; returns the data's file offset.
            mutating func streamStart() -> Int64? {
                skipSpace()
                guard startsWith("stream") else { return nil }
                position += 6
                if position < bytes.count && bytes[position] == 0x0D { position += 1 }
                guard position < bytes.count, bytes[position] == 0x0A else { return nil }
                position += 1
                return offset
            }
        }

        /// Where a cross-reference section says an object is.
        enum Entry {
            case notListed
            case unknown
            case free
            case offset(Int64, generation: Int64)
            case compressed(stream: Int64, index: Int64, section: Int64)
        }

        /// One cross-reference section: a classic table with its trailer, or a cross-reference stream.
        struct Section {
            var offset: Int64
            var trailer: Value
            /// Classic table subsections: first object number, count, file offset of the first entry.
            var subsections: [(first: Int64, count: Int64, entries: Int64)] = []
            /// An unfiltered cross-reference stream: data offset, field widths and index ranges.
            var stream: (data: Int64, widths: [Int], ranges: [(first: Int64, count: Int64)])?
            var isStream = false

            func entry(for number: Int64, in file: any ByteSource) throws -> Entry {
                if isStream {
                    guard let stream else { return .unknown }
                    var row: Int64 = 0
                    for range in stream.ranges {
                        if number >= range.first && number - range.first < range.count {
                            row += number - range.first
                            let width = stream.widths.reduce(0, +)
                            let bytes = try window(file, at: stream.data + row * Int64(width), count: width)
                            guard bytes.count == width else { return .unknown }
                            var fields: [Int64] = []
                            var p = 0
                            for w in stream.widths {
                                var v: Int64 = 0
                                for _ in 0..<w {
                                    v = v << 8 | Int64(bytes[p])
                                    p += 1
                                }
                                fields.append(v)
                            }
                            let type = stream.widths[0] == 0 ? 1 : fields[0]
                            switch type {
                            case 0: return .free
                            case 1: return .offset(fields[1], generation: fields[2])
                            case 2: return .compressed(stream: fields[1], index: fields[2], section: offset)
                            default: return .unknown
                            }
                        }
                        row += range.count
                    }
                    return .notListed
                }
                for s in subsections where number >= s.first && number - s.first < s.count {
                    let bytes = try window(file, at: s.entries + (number - s.first) * 20, count: 20)
                    var lexer = Lexer(bytes: bytes, base: 0, reachesEnd: true, displayPath: "")
                    guard let off = lexer.unsigned() else { return .unknown }
                    lexer.skipSpace()
                    guard let gen = lexer.unsigned() else { return .unknown }
                    lexer.skipSpace()
                    guard lexer.position < bytes.count else { return .unknown }
                    switch bytes[lexer.position] {
                    case 0x6E: return .offset(off, generation: gen)
                    case 0x66: return .free
                    default: return .unknown
                    }
                }
                return .notListed
            }
        }

        static func read(path: String, displayPath: String, key: String) throws -> VersionReading {
            try read(InputFile(path: path), displayPath: displayPath, key: key)
        }

        /// The reader itself, on any source of the file's bytes: the path-based function opens the file and
        /// calls it; the fuzz target and FuzzRegressionTests pass bytes in memory.
        static func read(_ file: any ByteSource, displayPath: String, key: String) throws -> VersionReading {
            let location = "PDF /Info /\(key)"
            let start = try window(file, at: 0, count: 1024)
            guard firstIndex(of: Array("%PDF-".utf8), in: start) != nil else {
                throw fail(
                    displayPath, at: "byte 0", "no %PDF- header in the first 1024 bytes",
                    hint: "This is not a PDF file; check the file name and the export.")
            }
            let (trailer, sections) = try PDF.trailer(file, displayPath: displayPath)
            if trailer["Encrypt"] != nil {
                throw fail(
                    displayPath, at: "the trailer", "the PDF is encrypted, so its /Info strings cannot be read",
                    hint: "Export the PDF without encryption or passwords.")
            }
            let info: Value
            switch trailer["Info"] {
            case nil, .null?:
                return VersionReading(format: .pdfInfo, file: displayPath, location: location, found: nil)
            case .reference(let n, let g)?:
                info = try object(
                    n, g, what: "the /Info dictionary", referencedFrom: "the trailer entry /Info", file: file,
                    sections: sections, displayPath: displayPath)
            case .dictionary?:
                info = trailer["Info"]!
            case let other?:
                throw fail(
                    displayPath, at: "the trailer", "/Info is \(other.typeName), not a reference to a dictionary",
                    hint: "The PDF is damaged; export it again.")
            }
            guard case .dictionary = info else {
                throw fail(
                    displayPath, at: "the /Info object", "/Info is \(info.typeName), not a dictionary",
                    hint: "The PDF is damaged; export it again.")
            }
            var value = info[key]
            if case .reference(let n, let g)? = value {
                value = try object(
                    n, g, what: "the /\(key) string", referencedFrom: "the /Info entry /\(key)", file: file,
                    sections: sections, displayPath: displayPath)
            }
            switch value {
            case nil, .null?:
                return VersionReading(format: .pdfInfo, file: displayPath, location: location, found: nil)
            case .string(let bytes)?:
                return VersionReading(
                    format: .pdfInfo, file: displayPath, location: location,
                    found: try textString(bytes, displayPath: displayPath, key: key))
            case let other?:
                throw fail(
                    displayPath, at: "the /Info dictionary", "/\(key) is \(other.typeName), not a text string",
                    hint: "Write the version as a string, e.g. /\(key) (2.3.1).")
            }
        }

        /// Decodes a PDF text string: UTF-16BE or UTF-8 with a byte-order mark, otherwise PDFDocEncoding
        /// (read as Latin-1, which it matches for the characters of versions).
        static func textString(_ bytes: [UInt8], displayPath: String, key: String) throws -> String {
            if bytes.starts(with: [0xFE, 0xFF]) {
                let body = bytes.dropFirst(2)
                guard body.count % 2 == 0 else {
                    throw fail(
                        displayPath, at: "the /Info dictionary", "/\(key) is UTF-16 text of an odd number of bytes",
                        hint: "The PDF is damaged; export it again.")
                }
                var units: [UInt16] = []
                var i = body.startIndex
                while i < body.endIndex {
                    units.append(UInt16(body[i]) << 8 | UInt16(body[i + 1]))
                    i += 2
                }
                guard let s = String(validating: units, as: UTF16.self) else {
                    throw fail(
                        displayPath, at: "the /Info dictionary", "/\(key) is not valid UTF-16 text",
                        hint: "The PDF is damaged; export it again.")
                }
                return s
            }
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
                guard let s = String(validating: bytes.dropFirst(3), as: UTF8.self) else {
                    throw fail(
                        displayPath, at: "the /Info dictionary", "/\(key) is not valid UTF-8 text",
                        hint: "The PDF is damaged; export it again.")
                }
                return s
            }
            var s = String.UnicodeScalarView()
            for b in bytes { s.append(Unicode.Scalar(b)) }
            return String(s)
        }

        /// The newest trailer that has /Info (or else the newest), and the cross-reference sections, newest first.
        static func trailer(_ file: any ByteSource, displayPath: String) throws -> (Value, [Section]) {
            let tailLength = Int(min(file.size, Int64(tailBytes)))
            let tailStart = file.size - Int64(tailLength)
            let tail = try window(file, at: tailStart, count: tailLength)
            var sections: [Section] = []
            if let s = lastIndex(of: Array("startxref".utf8), in: tail) {
                var lexer = Lexer(bytes: tail, base: tailStart, reachesEnd: true, displayPath: displayPath)
                lexer.position = s + 9
                lexer.skipSpace()
                if let first = lexer.unsigned(), first < file.size {
                    var next: Int64? = first
                    var visited = Set<Int64>()
                    while let offset = next, sections.count < maxXRefSections, visited.insert(offset).inserted {
                        guard let section = try PDF.section(at: offset, file: file, displayPath: displayPath) else {
                            break
                        }
                        sections.append(section)
                        if let stm = section.trailer["XRefStm"]?.integer, !section.isStream,
                            visited.insert(stm).inserted,
                            let hybrid = try PDF.section(at: stm, file: file, displayPath: displayPath), hybrid.isStream
                        {
                            sections.append(hybrid)
                        }
                        next = section.trailer["Prev"]?.integer
                    }
                }
            }
            if let withInfo = sections.first(where: { $0.trailer["Info"] != nil }) {
                return (withInfo.trailer, sections)
            }
            if let newest = sections.first { return (newest.trailer, sections) }
            // No usable startxref: take the last trailer dictionary at the end of the file.
            var searchEnd = tail.count
            while let t = lastIndex(of: Array("trailer".utf8), in: Array(tail[0..<searchEnd])) {
                var lexer = Lexer(bytes: tail, base: tailStart, reachesEnd: true, displayPath: displayPath)
                lexer.position = t + 7
                lexer.skipSpace()
                if lexer.position + 1 < tail.count && tail[lexer.position] == 0x3C && tail[lexer.position + 1] == 0x3C {
                    let value = try lexer.value()
                    return (value, [])
                }
                searchEnd = t
            }
            throw fail(
                displayPath, at: "the last \(kibibytes(tailLength)) of the file",
                "no cross-reference section or trailer found (no usable startxref)",
                hint: "The PDF is truncated or damaged; export it again, or repair it with qpdf in.pdf out.pdf.")
        }

        /// The cross-reference section at `offset`, or nil when there is none there.
        static func section(at offset: Int64, file: any ByteSource, displayPath: String) throws -> Section? {
            let head = try window(file, at: offset, count: maxObjectBytes)
            var lexer = Lexer(
                bytes: head, base: offset, reachesEnd: offset + Int64(head.count) == file.size, displayPath: displayPath
            )
            lexer.skipSpace()
            if lexer.startsWith("xref") {
                return try classicSection(
                    at: offset + Int64(lexer.position) + 4, sectionOffset: offset, file: file, displayPath: displayPath)
            }
            guard lexer.objectHeader() != nil else { return nil }
            let dictionary = try lexer.value()
            guard case .name("XRef")? = dictionary["Type"] else { return nil }
            var section = Section(offset: offset, trailer: dictionary, isStream: true)
            // Only an unfiltered stream can be read without a decompressor; otherwise objects are found by scanning.
            guard dictionary["Filter"] == nil, dictionary["DecodeParms"] == nil,
                case .array(let w)? = dictionary["W"], w.count == 3,
                let length = dictionary["Length"]?.integer, length >= 0, length <= maxXRefStreamBytes,
                let size = dictionary["Size"]?.integer, size >= 0,
                let data = lexer.streamStart()
            else { return section }
            let widths = w.compactMap { $0.integer }.map { Int($0) }
            guard widths.count == 3, widths.allSatisfy({ (0...8).contains($0) }) else { return section }
            var ranges: [(first: Int64, count: Int64)] = []
            if case .array(let index)? = dictionary["Index"] {
                guard index.count % 2 == 0 else { return section }
                var i = 0
                while i < index.count {
                    guard let first = index[i].integer, let count = index[i + 1].integer, first >= 0, count >= 0 else {
                        return section
                    }
                    ranges.append((first, count))
                    i += 2
                }
            } else {
                ranges = [(0, size)]
            }
            var rows: Int64 = 0
            for r in ranges {
                let (sum, overflow) = rows.addingReportingOverflow(r.count)
                guard !overflow else { return section }
                rows = sum
            }
            let (bytesNeeded, overflow) = rows.multipliedReportingOverflow(by: Int64(widths.reduce(0, +)))
            guard !overflow, bytesNeeded <= length, data <= file.size - length else { return section }
            section.stream = (data, widths, ranges)
            return section
        }

        static func classicSection(at start: Int64, sectionOffset: Int64, file: any ByteSource, displayPath: String)
            throws -> Section
        {
            var position = start
            var subsections: [(first: Int64, count: Int64, entries: Int64)] = []
            for _ in 0..<maxSubsections {
                let bytes = try window(file, at: position, count: 256)
                var lexer = Lexer(
                    bytes: bytes, base: position, reachesEnd: position + Int64(bytes.count) == file.size,
                    displayPath: displayPath)
                lexer.skipSpace()
                if lexer.startsWith("trailer") {
                    let dictionaryStart = lexer.offset + 7
                    let body = try window(file, at: dictionaryStart, count: maxObjectBytes)
                    var dictionaryLexer = Lexer(
                        bytes: body, base: dictionaryStart,
                        reachesEnd: dictionaryStart + Int64(body.count) == file.size, displayPath: displayPath)
                    let trailer = try dictionaryLexer.value()
                    guard case .dictionary = trailer else {
                        throw fail(
                            displayPath, at: "byte \(dictionaryStart)",
                            "trailer is \(trailer.typeName), not a dictionary",
                            hint: "The PDF is damaged; export it again.")
                    }
                    return Section(offset: sectionOffset, trailer: trailer, subsections: subsections)
                }
                let headerOffset = lexer.offset
                guard let first = lexer.unsigned() else {
                    throw fail(
                        displayPath, at: "byte \(headerOffset)",
                        "cross-reference table starting at byte \(sectionOffset) is malformed: expected a subsection header or 'trailer'",
                        hint: "Repair the PDF (qpdf in.pdf out.pdf) or export it again.")
                }
                while lexer.position < bytes.count && (bytes[lexer.position] == 0x20 || bytes[lexer.position] == 0x09) {
                    lexer.position += 1
                }
                guard let count = lexer.unsigned(), count <= maxSubsectionEntries else {
                    throw fail(
                        displayPath, at: "byte \(headerOffset)",
                        "cross-reference subsection header is malformed or lists more than \(maxSubsectionEntries) entries",
                        hint: "Repair the PDF (qpdf in.pdf out.pdf) or export it again.")
                }
                lexer.skipSpace()
                let entries = lexer.offset
                let end = entries + count * 20
                guard end <= file.size else {
                    throw fail(
                        displayPath, at: "byte \(headerOffset)",
                        "cross-reference subsection of \(count) entries runs past the end of the file",
                        hint: "The PDF is truncated; export it again.")
                }
                subsections.append((first, count, entries))
                position = end
            }
            throw fail(
                displayPath, at: "byte \(sectionOffset)",
                "cross-reference table has more than \(maxSubsections) subsections",
                hint: "Repair the PDF (qpdf in.pdf out.pdf) or export it again.")
        }

        static func objectStreamError(
            _ displayPath: String, what: String, number: Int64, generation: Int64, detail: String, stream: Int64?
        ) -> InputError {
            let whereText =
                stream.map { "is stored in compressed object stream \($0)" }
                ?? "is not stored as a plain object in the file, so it is probably inside a compressed object stream"
            return fail(
                displayPath, at: detail, "\(what) (object \(number) \(generation)) \(whereText)",
                hint:
                    "ivpack cannot read compressed object streams: write the PDF without object streams (e.g. qpdf --object-streams=disable in.pdf out.pdf), or put the version on the title line of a Markdown sidecar document."
            )
        }

        /// The value of object `number generation`, found through the cross-reference sections or else by scanning.
        static func object(
            _ number: Int64, _ generation: Int64, what: String, referencedFrom: String, file: any ByteSource,
            sections: [Section], displayPath: String
        ) throws -> Value {
            var offset: Int64?
            lookup: for section in sections {
                switch try section.entry(for: number, in: file) {
                case .notListed: continue
                case .unknown: break lookup
                case .free:
                    throw fail(
                        displayPath, at: "the cross-reference section at byte \(section.offset)",
                        "\(what) (object \(number) \(generation)) is marked free",
                        hint: "The PDF is damaged; export it again.")
                case .compressed(let stream, _, let sectionOffset):
                    throw objectStreamError(
                        displayPath, what: what, number: number, generation: generation,
                        detail: "the cross-reference stream at byte \(sectionOffset)", stream: stream)
                case .offset(let o, let g):
                    if g == generation && o >= 0 && o < file.size { offset = o }
                    break lookup
                }
            }
            if let o = offset,
                let value = try parseObject(at: o, number, generation, file: file, displayPath: displayPath)
            {
                return value
            }
            guard let found = try scan(for: number, generation, file: file),
                let value = try parseObject(at: found, number, generation, file: file, displayPath: displayPath)
            else {
                throw objectStreamError(
                    displayPath, what: what, number: number, generation: generation,
                    detail: "\(referencedFrom) \(number) \(generation) R", stream: nil)
            }
            return value
        }

        /// The value of the object at `offset` when it starts with `number generation obj`; nil otherwise.
        static func parseObject(
            at offset: Int64, _ number: Int64, _ generation: Int64, file: any ByteSource, displayPath: String
        ) throws -> Value? {
            let bytes = try window(file, at: offset, count: maxObjectBytes)
            var lexer = Lexer(
                bytes: bytes, base: offset, reachesEnd: offset + Int64(bytes.count) == file.size,
                displayPath: displayPath)
            guard let header = lexer.objectHeader(), header == (number, generation) else { return nil }
            return try lexer.value()
        }

        /// The offset of the last `number generation obj` in the file, scanning it in bounded chunks.
        static func scan(for number: Int64, _ generation: Int64, file: any ByteSource) throws -> Int64? {
            let pattern = Array("\(number) \(generation) obj".utf8)
            var last: Int64?
            var chunkStart: Int64 = 0
            while chunkStart < file.size {
                let readStart = max(0, chunkStart - 1)
                let bytes = try window(file, at: readStart, count: scanChunkBytes + pattern.count + 2)
                let reachesEnd = readStart + Int64(bytes.count) == file.size
                var i = Int(chunkStart - readStart)
                let limit = min(bytes.count, i + scanChunkBytes)
                while i < limit, let hit = firstIndex(of: pattern, in: bytes, from: i), hit < limit {
                    let before = hit == 0 ? true : Lexer.isWhite(bytes[hit - 1])
                    let afterIndex = hit + pattern.count
                    let after = afterIndex < bytes.count ? !Lexer.isRegular(bytes[afterIndex]) : reachesEnd
                    if before && after { last = readStart + Int64(hit) }
                    i = hit + 1
                }
                chunkStart += Int64(scanChunkBytes)
            }
            return last
        }
    }
}
