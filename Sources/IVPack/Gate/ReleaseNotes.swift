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
            frontMatter.append(FrontMatterEntry(key: key.string, value: value, line: (k.mark?.line ?? 0) + 1))
        }
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
