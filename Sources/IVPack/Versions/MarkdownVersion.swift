import Yams

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - Markdown front matter and title line

extension VersionReaders {
    /// The beginning of a Markdown document: its front matter and its title line.
    enum Markdown {
        /// Most bytes read from the start of a document; the front matter and title are at its start.
        static let maxReadBytes = 1 << 20
        /// Largest front matter accepted.
        static let maxFrontMatterBytes = 256 << 10
        /// Deepest nesting of flow collections (`[`, `{`) in front matter.
        static let maxFlowNesting = 32
        /// Widest indentation (or run of `- ` indicators) of a front matter line: bounds block nesting.
        static let maxIndentation = 128

        struct FrontMatter {
            /// The YAML lines between the delimiter lines.
            var lines: [String]
            /// The file line number of the YAML text's first line.
            var firstLine: Int
        }

        struct Head {
            var frontMatter: FrontMatter?
            /// The first non-empty line after the front matter, with its file line number.
            var title: (line: Int, text: String)?
        }

        static func head(path: String, displayPath: String) throws -> Head {
            let file = try InputFile(path: path)
            var bytes = try window(file, at: 0, count: maxReadBytes)
            let truncated = file.size > Int64(bytes.count)
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
            var lines: [ArraySlice<UInt8>] = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
            // A cut line at the end of what was read is not a line of the document.
            if truncated && !lines.isEmpty { lines.removeLast() }
            for i in lines.indices where lines[i].last == 0x0D { lines[i] = lines[i].dropLast() }

            func trimmed(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
                var l = line
                while let last = l.last, last == 0x20 || last == 0x09 { l = l.dropLast() }
                return l
            }
            var head = Head()
            var bodyStart = 0
            if let first = lines.first, Array(trimmed(first)) == Array("---".utf8) {
                var close: Int?
                var size = 0
                for i in 1..<lines.count {
                    let t = Array(trimmed(lines[i]))
                    if t == Array("---".utf8) || t == Array("...".utf8) {
                        close = i
                        break
                    }
                    size += lines[i].count + 1
                    if size > maxFrontMatterBytes {
                        throw fail(
                            displayPath, at: "line \(i + 1)",
                            "front matter is longer than the limit of \(kibibytes(maxFrontMatterBytes))",
                            hint: "Keep front matter short, or close it with a line of three dashes (---).")
                    }
                }
                guard let close else {
                    throw fail(
                        displayPath, at: "line 1",
                        "front matter opened by '---' is not closed by a '---' line\(truncated ? " within the first \(mebibytes(maxReadBytes))" : "")",
                        hint: "End the front matter with a line of three dashes (---).")
                }
                var utf8Lines: [String] = []
                for i in 1..<close {
                    guard let s = String(validating: lines[i], as: UTF8.self) else {
                        throw fail(
                            displayPath, at: "line \(i + 1)", "front matter is not valid UTF-8",
                            hint: "Save the file as UTF-8.")
                    }
                    utf8Lines.append(s)
                }
                try checkNesting(utf8Lines, firstLine: 2, displayPath: displayPath, what: "front matter")
                head.frontMatter = FrontMatter(lines: utf8Lines, firstLine: 2)
                bodyStart = close + 1
            }
            var i = bodyStart
            while i < lines.count {
                if trimmed(lines[i]).contains(where: { $0 != 0x20 && $0 != 0x09 }) {
                    head.title = (i + 1, String(decoding: lines[i], as: UTF8.self))
                    break
                }
                i += 1
            }
            return head
        }

        /// Refuses YAML that could strain the composer, by a conservative reading of its text: collections
        /// nested deeper than `maxFlowNesting` or indented wider than `maxIndentation` (the composer recurses
        /// once per level), and anchors (`&name`), whose aliases can make one small key stand for an
        /// exponentially large tree.
        static func checkNesting(_ lines: [String], firstLine: Int, displayPath: String, what: String) throws {
            var flow = 0
            let hint = "Keep the YAML plain: a version is one key with a text value, e.g. version: \"2.3.1\""
            for (index, line) in lines.enumerated() {
                let chars = Array(line)
                var i = 0
                while i < chars.count && (chars[i] == " " || chars[i] == "\t" || chars[i] == "-" || chars[i] == "?") {
                    i += 1
                }
                if i > maxIndentation {
                    throw fail(
                        displayPath, at: "line \(firstLine + index)",
                        "\(what) is indented deeper than the limit of \(maxIndentation) columns", hint: hint)
                }
                var previous: Character? = i > 0 ? chars[i - 1] : nil
                var lastSignificant: Character? = chars[..<i].last(where: { $0 != " " && $0 != "\t" })
                var quote: Character?
                while i < chars.count {
                    let c = chars[i]
                    let afterSpace = previous == nil || previous == " " || previous == "\t"
                    let atTokenStart = afterSpace || "[{,:-?".contains(previous!)
                    if let q = quote {
                        if q == "\"" && c == "\\" {
                            i += 2
                            previous = nil
                            continue
                        }
                        if c == q { quote = nil }
                    } else if atTokenStart && (c == "\"" || c == "'") {
                        quote = c
                    } else if c == "#" && afterSpace {
                        break
                    } else if c == "[" || c == "{" {
                        flow += 1
                        if flow > maxFlowNesting {
                            throw fail(
                                displayPath, at: "line \(firstLine + index)",
                                "\(what) nests collections deeper than the limit of \(maxFlowNesting)", hint: hint)
                        }
                    } else if c == "]" || c == "}" {
                        flow = max(0, flow - 1)
                    } else if c == "&" && atTokenStart && (lastSignificant.map { ":-?[{,".contains($0) } ?? true)
                        && i + 1 < chars.count && !chars[i + 1].isWhitespace
                    {
                        throw fail(
                            displayPath, at: "line \(firstLine + index)",
                            "\(what) uses a YAML anchor (\(String(chars[i...].prefix(while: { !$0.isWhitespace }).prefix(40)))); ivpack does not accept anchors and aliases",
                            hint: "Write the values out in full.")
                    }
                    if c != " " && c != "\t" { lastSignificant = c }
                    previous = c
                    i += 1
                }
            }
        }

        static func frontMatterReading(_ head: Head, displayPath: String, key: String, format: VersionFormat) throws
            -> VersionReading
        {
            guard let frontMatter = head.frontMatter else {
                return VersionReading(
                    format: format, file: displayPath,
                    location: "front matter key \"\(key)\" (the file has no front matter)", found: nil)
            }
            let result = try YAMLKey.value(
                of: key, in: frontMatter.lines, lineOffset: frontMatter.firstLine - 1,
                displayPath: displayPath, what: "front matter")
            let location =
                result.line.map { "front matter key \"\(key)\" (line \($0))" } ?? "front matter key \"\(key)\""
            return VersionReading(format: format, file: displayPath, location: location, found: result.found)
        }

        static func titleReading(_ head: Head, displayPath: String) -> VersionReading {
            guard let title = head.title else {
                return VersionReading(
                    format: .titleLine, file: displayPath,
                    location:
                        "title line (the file has no text\(head.frontMatter == nil ? "" : " after its front matter"))",
                    found: nil)
            }
            var text = Substring(title.text)
            while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
            while text.first == "#" { text = text.dropFirst() }
            return VersionReading(
                format: .titleLine, file: displayPath, location: "title line \(title.line)",
                found: versionToken(in: text))
        }

        /// The first version-like token on `line`: `V?[0-9]+(\.[0-9]+)+(-[0-9A-Za-z.]+)?(\+[0-9A-Za-z.]+)?`
        /// (the `V` in either case) as a whole token, neither preceded nor followed by a letter, digit or `.`.
        static func versionToken(in line: Substring) -> String? {
            let pattern = /[Vv]?[0-9]+(?:\.[0-9]+)+(?:-[0-9A-Za-z.]+)?(?:\+[0-9A-Za-z.]+)?(?![\p{L}\p{N}.])/
            var previous: Character?
            var index = line.startIndex
            while index < line.endIndex {
                let c = line[index]
                let boundary = previous.map { !($0.isLetter || $0.isNumber || $0 == ".") } ?? true
                if boundary && (c == "V" || c == "v" || ("0"..."9").contains(c)) {
                    if let match = try? pattern.prefixMatch(in: line[index...]) {
                        return String(match.output)
                    }
                }
                previous = c
                index = line.index(after: index)
            }
            return nil
        }
    }

    /// A top-level key of a YAML mapping, read with its line.
    enum YAMLKey {
        /// The value of `key` in the YAML `lines`, whose first line is line `lineOffset + 1` of the file.
        static func value(of key: String, in lines: [String], lineOffset: Int, displayPath: String, what: String) throws
            -> (found: String?, line: Int?)
        {
            let hint = "Fix the YAML; a version is written as: \(key): \"2.3.1\""
            let root: Yams.Node?
            do {
                root = try YAMLText.compose(
                    lines: lines, firstLine: lineOffset + 1, displayPath: displayPath, what: what)
            } catch {
                let yaml: YamlError
                switch error {
                case .refused(_, let e): throw e
                case .unexpected(let e): throw e
                case .syntax(let e): yaml = e
                }
                switch yaml {
                case .scanner(let context, let problem, let mark, _),
                    .parser(let context, let problem, let mark, _),
                    .composer(let context, let problem, let mark, _):
                    let contextText = context.map { " (\($0.text))" } ?? ""
                    throw fail(
                        displayPath, at: "line \(mark.line + lineOffset), column \(mark.column)",
                        "\(what) is not valid YAML: \(problem)\(contextText)", hint: hint)
                case .duplicatedKeysInMapping(let duplicates, let context):
                    throw fail(
                        displayPath, at: "line \(context.mark.line + lineOffset)",
                        "\(what) repeats the key\(duplicates.count == 1 ? "" : "s") \(duplicates.map { "\"\($0)\"" }.joined(separator: ", "))",
                        hint: "Write each key once.")
                case .reader(let problem, let offset, _, _):
                    throw fail(
                        displayPath, at: offset.map { "byte \($0) of the \(what)" } ?? "the \(what)",
                        "\(what) cannot be read: \(problem)", hint: "Save the file as UTF-8.")
                default:
                    throw fail(
                        displayPath, at: "line \(lineOffset + 1)", "\(what) is not valid YAML: \(yaml)", hint: hint)
                }
            }
            guard let root else { return (nil, nil) }
            guard case .mapping(let mapping) = root else {
                throw fail(
                    displayPath, at: "line \((root.mark?.line ?? 1) + lineOffset)",
                    "\(what) is \(kind(of: root)), not a mapping of keys to values", hint: hint)
            }
            for (k, v) in mapping {
                guard case .scalar(let keyScalar) = k, keyScalar.string == key else { continue }
                let line = (k.mark?.line ?? 1) + lineOffset
                switch v {
                case .scalar(let scalar):
                    let tag = v.tag.rawValue
                    if tag == Tag.Name.str.rawValue { return (scalar.string, line) }
                    if tag == Tag.Name.null.rawValue { return (nil, line) }
                    let typeName = tag.split(separator: ":").last.map(String.init) ?? tag
                    throw fail(
                        displayPath, at: "line \(line)",
                        "\(what) key \"\(key)\" holds \(scalar.string), which YAML reads as \(typeName == "int" ? "an int" : "a \(typeName)"), not as text",
                        hint: "Quote the version so that it stays text: \(key): \"\(scalar.string)\"")
                default:
                    throw fail(
                        displayPath, at: "line \(line)",
                        "\(what) key \"\(key)\" holds \(kind(of: v)), not a version string",
                        hint: "Write the version as text: \(key): \"2.3.1\"")
                }
            }
            return (nil, nil)
        }

        static func kind(of node: Yams.Node) -> String {
            switch node {
            case .scalar: return "a scalar"
            case .mapping: return "a mapping"
            case .sequence: return "a list"
            case .alias: return "an alias"
            }
        }
    }
}
