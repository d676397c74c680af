import Yams

/// A Markdown release-notes document as the release gate reads it: front matter, headings with
/// their lines, level-2 sections with their level-3 subsections, and pipe tables.
///
/// Parsing never fails on content: a front matter that is not valid YAML is kept as a problem for
/// the rules to report (NOTES-002). Only text that is not UTF-8 or beyond the limits is refused.
public struct ReleaseNotesDocument: Sendable {
    /// Largest release notes accepted.
    public static let maxBytes = 4 << 20
    /// Most lines accepted.
    public static let maxLines = 100_000

    /// A front matter member whose value is a scalar, with its line.
    public struct FrontMatterEntry: Sendable, Equatable {
        /// The key as written.
        public var key: String
        /// The scalar's text; nil for a null or a value that is not a scalar.
        public var value: String?
        /// The 1-based line of the key in the file.
        public var line: Int
        /// The whole value, mappings and sequences included (the structured records: `ai`,
        /// `regulatory`, `rollback`, `modules`).
        public var node: FrontMatterNode
    }

    /// An ATX heading (`## Title`), outside code blocks.
    public struct Heading: Sendable, Equatable {
        /// 1 to 6.
        public var level: Int
        /// The title without the `#` marks, trimmed.
        public var text: String
        /// The 1-based line of the heading.
        public var line: Int
    }

    /// A line of the document and its 1-based number.
    public struct Line: Sendable, Equatable {
        /// 1-based.
        public var number: Int
        /// The line without its line break.
        public var text: String
    }

    /// A heading and everything under it up to the next heading of the same or a higher level.
    public struct Section: Sendable, Equatable {
        /// The heading that opens the section.
        public var heading: Heading
        /// Every line after the heading, subsections included.
        public var lines: [Line]
        /// The sections one level down.
        public var subsections: [Section]

        /// Lines with text, subsection headings excluded.
        public var contentLines: [Line] {
            lines.filter { line in
                !line.text.allSatisfy(\.isWhitespace) && !subsections.contains { $0.heading.line == line.number }
            }
        }

        /// The pipe tables in the section, subsections included.
        public var tables: [Table] { Table.all(in: lines) }

        /// The section's text, one string.
        public var text: String { lines.map(\.text).joined(separator: "\n") }
    }

    /// A pipe table: a header row, a delimiter row, and data rows.
    public struct Table: Sendable, Equatable {
        /// The header cells, trimmed.
        public var header: [String]
        /// The data rows, in order.
        public var rows: [Row]
        /// Line of the header row.
        public var line: Int

        /// A data row and its line.
        public struct Row: Sendable, Equatable {
            /// The cells, trimmed, with `\|` unescaped.
            public var cells: [String]
            /// The 1-based line of the row.
            public var line: Int
        }

        /// The index of the first column whose header, lower-cased, is one of `names`.
        public func column(_ names: [String]) -> Int? {
            header.firstIndex { h in names.contains { $0.lowercased() == h.lowercased() } }
        }

        /// The tables among `lines`, in order.
        static func all(in lines: [Line]) -> [Table] {
            var tables: [Table] = []
            var i = 0
            while i + 1 < lines.count {
                let head = lines[i].text.trimmingWhitespace
                let delimiter = lines[i + 1].text.trimmingWhitespace
                guard head.hasPrefix("|"), isDelimiterRow(delimiter) else {
                    i += 1
                    continue
                }
                var table = Table(header: cells(head), rows: [], line: lines[i].number)
                i += 2
                while i < lines.count, lines[i].text.trimmingWhitespace.hasPrefix("|") {
                    table.rows.append(Row(cells: cells(lines[i].text.trimmingWhitespace), line: lines[i].number))
                    i += 1
                }
                tables.append(table)
            }
            return tables
        }

        static func isDelimiterRow(_ s: String) -> Bool {
            s.hasPrefix("|") && s.contains("-") && s.allSatisfy { "|-: \t".contains($0) }
        }

        static func cells(_ row: String) -> [String] {
            var body = Substring(row)
            if body.first == "|" { body = body.dropFirst() }
            if body.last == "|" && !body.hasSuffix("\\|") { body = body.dropLast() }
            var out: [String] = []
            var current = ""
            var previous: Character?
            for c in body {
                if c == "|" && previous != "\\" {
                    out.append(current.trimmingWhitespace)
                    current = ""
                } else if c == "|" {
                    current.removeLast()
                    current.append(c)
                } else {
                    current.append(c)
                }
                previous = c
            }
            out.append(current.trimmingWhitespace)
            return out
        }
    }

    /// The file as named in findings.
    public var file: String
    /// Every line of the file, front matter included; line n is `lines[n - 1]`.
    public var lines: [Line]
    /// The front matter's top-level members, in order.
    public var frontMatter: [FrontMatterEntry]
    /// Why the front matter could not be read, with its line; nil when it was read or is absent.
    public var frontMatterProblem: (line: Int, problem: String)?
    /// Whether the document opens with a front matter block.
    public var hasFrontMatter: Bool
    /// The first line after the front matter.
    public var bodyStart: Int
    /// Every heading outside code blocks, in order.
    public var headings: [Heading]
    /// The level-2 sections, each with its level-3 subsections.
    public var sections: [Section]

    /// The value and line of front matter key `key`, if present.
    public func frontMatter(_ key: String) -> FrontMatterEntry? { frontMatter.first { $0.key == key } }

    /// The front matter value at `path` (`record("ai", "model", "sha256")`), if present and not null.
    public func record(_ path: String...) -> FrontMatterNode? {
        guard let first = path.first, var node = frontMatter(first)?.node else { return nil }
        for key in path.dropFirst() {
            guard let next = node[key] else { return nil }
            node = next
        }
        return node.isNull ? nil : node
    }

    /// The lines after the front matter.
    public var bodyLines: [Line] { Array(lines.dropFirst(bodyStart - 1)) }

    /// Reads notes from bytes. Throws an `InputError` (kind `.releaseNotes`) for text that is not UTF-8 or too large.
    public static func parse(bytes: [UInt8], file: String) throws -> ReleaseNotesDocument {
        guard bytes.count <= maxBytes else {
            throw InputError.releaseNotes(
                file: file, problem: "is \(bytes.count) bytes, more than the limit of \(maxBytes)")
        }
        var data = bytes[...]
        if data.starts(with: [0xEF, 0xBB, 0xBF]) { data = data.dropFirst(3) }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw InputError.releaseNotes(file: file, problem: "is not valid UTF-8; save it as UTF-8")
        }
        return try parse(text: text, file: file)
    }

    /// Reads notes from text.
    public static func parse(text: String, file: String) throws -> ReleaseNotesDocument {
        var raw = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if raw.last == "" { raw.removeLast() }
        guard raw.count <= maxLines else {
            throw InputError.releaseNotes(
                file: file, problem: "has \(raw.count) lines, more than the limit of \(maxLines)")
        }
        let lines = raw.enumerated().map { Line(number: $0.offset + 1, text: $0.element) }
        var doc = ReleaseNotesDocument(
            file: file, lines: lines, frontMatter: [], frontMatterProblem: nil, hasFrontMatter: false,
            bodyStart: 1, headings: [], sections: [])
        if let first = raw.first, first.trimmingWhitespace == "---" {
            doc.hasFrontMatter = true
            if let close = raw.indices.dropFirst().first(where: { ["---", "..."].contains(raw[$0].trimmingWhitespace) })
            {
                doc.bodyStart = close + 2
                doc.readFrontMatter(Array(raw[1..<close]))
            } else {
                doc.frontMatterProblem = (1, "the front matter opened by '---' is not closed by a '---' line")
                doc.bodyStart = raw.count + 1
            }
        }
        // Headings, outside fenced code blocks.
        var fence: String?
        for line in doc.bodyLines {
            let t = line.text.trimmingWhitespace
            if let f = fence {
                if t.hasPrefix(f) { fence = nil }
                continue
            }
            if t.hasPrefix("```") || t.hasPrefix("~~~") {
                fence = String(t.prefix(3))
                continue
            }
            if let heading = Self.heading(line) { doc.headings.append(heading) }
        }
        doc.sections = Self.sections(level: 2, headings: doc.headings, lines: doc.bodyLines)
        return doc
    }

    static func heading(_ line: Line) -> Heading? {
        let text = line.text
        guard !text.hasPrefix("    "), case let t = text.drop(while: { $0 == " " }), t.first == "#" else { return nil }
        let level = t.prefix(while: { $0 == "#" }).count
        let rest = t.dropFirst(level)
        guard level <= 6, rest.isEmpty || rest.first == " " || rest.first == "\t" else { return nil }
        var title = String(rest).trimmingWhitespace
        // A closing sequence of #s, preceded by a space, is not part of the title.
        if let hashes = title.lastIndex(where: { $0 != "#" }), title.last == "#", title[hashes] == " " {
            title = String(title[..<hashes]).trimmingWhitespace
        }
        return Heading(level: level, text: title, line: line.number)
    }

    static func sections(level: Int, headings: [Heading], lines: [Line]) -> [Section] {
        let starts = headings.filter { $0.level == level }
        var out: [Section] = []
        for h in starts {
            // The section ends at the next heading of this level or higher.
            let end = headings.first { $0.line > h.line && $0.level <= level }?.line ?? Int.max
            let body = lines.filter { $0.number > h.line && $0.number < end }
            let inner = headings.filter { $0.line > h.line && $0.line < end }
            out.append(
                Section(
                    heading: h, lines: body,
                    subsections: level < 6 ? sections(level: level + 1, headings: inner, lines: body) : []))
        }
        return out
    }

    private mutating func readFrontMatter(_ yamlLines: [String]) {
        let node: Node?
        do {
            node = try YAMLText.compose(lines: yamlLines, firstLine: 2, displayPath: file, what: "front matter")
        } catch {
            switch error {
            case .refused(let line, let e):
                frontMatterProblem = (line, e.problem)
            case .syntax(let e):
                let converted = YAMLReader.convert(e, file: file)
                frontMatterProblem = (converted.line > 0 ? converted.line + 1 : 1, converted.problem)
            case .unexpected(let e):
                frontMatterProblem = (1, "the front matter is not valid YAML: \(e)")
            }
            return
        }
        guard let node else { return }
        guard case .mapping(let mapping) = node else {
            frontMatterProblem = ((node.mark?.line ?? 1) + 1, "the front matter is not a mapping of keys to values")
            return
        }
        for (k, v) in mapping {
            guard case .scalar(let key) = k else { continue }
            var value: String?
            if case .scalar(let s) = v, v.tag.rawValue != Tag.Name.null.rawValue { value = s.string }
            frontMatter.append(
                FrontMatterEntry(
                    key: key.string, value: value, line: (k.mark?.line ?? 0) + 1,
                    node: FrontMatterNode(v, line: (k.mark?.line ?? 0) + 1, depth: 0)))
        }
    }
}

/// A front matter value with the line it starts on: a scalar, a mapping, a sequence or null.
/// Nesting deeper than `maxDepth` is cut off (read as null), so no input recurses without bound.
public struct FrontMatterNode: Sendable, Equatable {
    /// Deepest nesting kept.
    public static let maxDepth = 16

    /// The shape of a value.
    public enum Value: Sendable, Equatable {
        /// `null`, `~`, an empty value, or nesting beyond `maxDepth`.
        case null
        /// A scalar's text, whatever its YAML type (`true`, `0.05`, `V2.3.1.1024`).
        case scalar(String)
        /// A mapping's members, in order.
        case mapping([Member])
        /// A sequence's items, in order.
        case sequence([FrontMatterNode])
    }

    /// A member of a mapping.
    public struct Member: Sendable, Equatable {
        /// The key's text.
        public var key: String
        /// The value.
        public var node: FrontMatterNode
    }

    /// The value.
    public var value: Value
    /// The 1-based line of the value (of its key, for a member).
    public var line: Int

    init(_ node: Node, line: Int, depth: Int) {
        self.line = (node.mark?.line).map { $0 + 1 } ?? line
        switch node {
        case .scalar(let s):
            value = node.tag.rawValue == Tag.Name.null.rawValue ? .null : .scalar(s.string)
        case .mapping(let m) where depth < Self.maxDepth:
            value = .mapping(
                m.compactMap { k, v in
                    guard case .scalar(let key) = k else { return nil }
                    let keyLine = (k.mark?.line ?? 0) + 1
                    var member = FrontMatterNode(v, line: keyLine, depth: depth + 1)
                    member.line = keyLine
                    return Member(key: key.string, node: member)
                })
        case .sequence(let items) where depth < Self.maxDepth:
            value = .sequence(items.map { FrontMatterNode($0, line: line, depth: depth + 1) })
        default:
            value = .null
        }
    }

    /// A node built from its parts (tests, other readers).
    public init(value: Value, line: Int) {
        self.value = value
        self.line = line
    }

    /// The member `key` of a mapping; nil for another shape or a missing key.
    public subscript(key: String) -> FrontMatterNode? {
        guard case .mapping(let members) = value else { return nil }
        return members.first { $0.key == key }?.node
    }

    /// Whether the value is null.
    public var isNull: Bool { value == .null }
    /// The scalar's text, trimmed; nil for another shape or an empty scalar.
    public var string: String? {
        guard case .scalar(let s) = value, !s.trimmingWhitespace.isEmpty else { return nil }
        return s.trimmingWhitespace
    }
    /// `true` or `false` (YAML 1.2 core spellings); nil otherwise.
    public var bool: Bool? {
        switch string?.lowercased() {
        case "true": return true
        case "false": return false
        default: return nil
        }
    }
    /// The scalar as a number; nil when it is not one.
    public var number: Double? { string.flatMap { Double($0) } }
    /// The items of a sequence; empty for another shape.
    public var items: [FrontMatterNode] {
        guard case .sequence(let items) = value else { return [] }
        return items
    }
    /// The members of a mapping; empty for another shape.
    public var members: [Member] {
        guard case .mapping(let members) = value else { return [] }
        return members
    }
    /// Whether the value is a mapping.
    public var isMapping: Bool {
        if case .mapping = value { return true }
        return false
    }
}

extension InputError {
    /// Release notes that cannot be read as text: `FILE: the release notes PROBLEM`.
    static func releaseNotes(file: String, problem: String) -> InputError {
        InputError(.releaseNotes, Diagnostic(file: file, problem: "the release notes \(problem)"))
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    var trimmingWhitespace: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
