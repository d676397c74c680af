import Yams

extension InputError {
    /// An error in a YAML input file (a release spec, a policy, a server configuration) at a 1-based
    /// line and column (0 when unknown) and a field given as a path from the document root
    /// (`components[2].kind`, empty for the document).
    public static func yaml(file: String, line: Int, column: Int, field: String, problem: String, hint: String)
        -> InputError
    {
        InputError(
            .yaml,
            Diagnostic(file: file, location: .line(line, column: column, field: field), problem: problem, hint: hint))
    }
}

/// Why YAML text could not be composed.
package enum YAMLTextProblem: Error {
    /// The pre-scan refused the text (an anchor, nesting beyond the limits); `line` is the file's.
    case refused(line: Int, InputError)
    /// Yams could not compose it.
    case syntax(YamlError)
    /// Yams failed in a way it does not describe.
    case unexpected(any Error)
}

/// The one way ivpack turns YAML text into nodes: the pre-scan first, because Yams resolves aliases
/// while composing (an alias can make a small file stand for an exponentially large tree) and
/// recurses once per nesting level, then Yams' composer. Each reader turns a `YAMLTextProblem` into
/// its own error (`YAMLReader.convert` for input files, an `InputError` of kind `.versionSource` for version readers).
package enum YAMLText {
    /// The single root node of `lines` (joined by line feeds), nil for an empty document.
    /// `firstLine` is the file's line number of `lines[0]`; `what` and `displayPath` name the text
    /// in the pre-scan's messages.
    package static func compose(
        lines: [String], firstLine: Int, displayPath: String,
        what: String
    ) throws(YAMLTextProblem) -> Node? {
        do {
            try VersionReaders.Markdown.checkNesting(lines, firstLine: firstLine, displayPath: displayPath, what: what)
        } catch let e as InputError {
            throw .refused(line: Int(e.detail.split(separator: " ").last ?? "") ?? firstLine, e)
        } catch {
            throw .unexpected(error)
        }
        do {
            return try Yams.compose(yaml: lines.joined(separator: "\n"))
        } catch let error as YamlError {
            throw .syntax(error)
        } catch {
            throw .unexpected(error)
        }
    }
}

/// Walks a YAML document strictly: every mapping's keys are checked against the allowed set,
/// duplicates and anchors/aliases are refused, and every error carries its line and column.
package struct YAMLReader {
    /// Largest YAML input accepted.
    package static let maxBytes = 4 << 20

    package let file: String

    package init(file: String) { self.file = file }

    /// Parses `text` into its single root node.
    package func root(of text: String) throws -> Node {
        let node: Node?
        do {
            node = try YAMLText.compose(
                lines: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init),
                firstLine: 1, displayPath: file, what: "the YAML")
        } catch {
            switch error {
            case .refused(let line, let e):
                throw InputError.yaml(file: file, line: line, column: 1, field: "", problem: e.problem, hint: e.hint)
            case .syntax(let e):
                throw Self.convert(e, file: file)
            case .unexpected(let e):
                throw e
            }
        }
        guard let node else {
            throw InputError.yaml(file: file, line: 1, column: 1, field: "", problem: "the document is empty", hint: "")
        }
        return node
    }

    static func convert(_ error: YamlError, file: String) -> InputError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let prefix = context.map { "\($0.text): " } ?? ""
            return InputError.yaml(
                file: file, line: mark.line, column: mark.column, field: "",
                problem: "not valid YAML: \(prefix)\(problem)", hint: "Fix the YAML syntax at that position")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            return InputError.yaml(
                file: file, line: context.mark.line, column: context.mark.column, field: "",
                problem: "key \(keys) appears twice in the mapping that starts here", hint: "Keep one of them")
        case .reader(let problem, let offset, _, _):
            return InputError.yaml(
                file: file, line: 0, column: 0, field: "",
                problem: "cannot read the file as UTF-8 YAML: \(problem)\(offset.map { " at byte \($0)" } ?? "")",
                hint: "Save the file as UTF-8")
        default:
            return InputError.yaml(
                file: file, line: 0, column: 0, field: "", problem: "not valid YAML: \(error)", hint: "")
        }
    }

    package func error(_ node: Node?, _ field: String, _ problem: String, hint: String = "") -> InputError {
        InputError.yaml(
            file: file, line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0,
            field: field, problem: problem, hint: hint)
    }

    private func describe(_ node: Node) -> String {
        switch node {
        case .scalar: return "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// The members of a mapping, with unknown, duplicate and missing keys refused.
    package func mapping(_ node: Node, _ field: String, allowed: [String], required: [String] = []) throws -> [String:
        Node]
    {
        if case .alias = node {
            throw error(node, field, "anchors and aliases are not allowed", hint: "Write the value out in full")
        }
        guard case .mapping(let mapping) = node else {
            throw error(node, field, "expected a mapping, found \(describe(node))")
        }
        var result: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                throw error(keyNode, field, "a key must be a plain string")
            }
            let key = scalar.string
            let keyField = field.isEmpty ? key : "\(field).\(key)"
            guard allowed.contains(key) else {
                throw error(
                    keyNode, keyField, "unknown key \"\(key)\"",
                    hint: "Allowed keys here: \(allowed.joined(separator: ", "))")
            }
            guard result[key] == nil else {
                throw error(keyNode, keyField, "key \"\(key)\" appears twice", hint: "Keep one of them")
            }
            if case .alias = value {
                throw error(value, keyField, "anchors and aliases are not allowed", hint: "Write the value out in full")
            }
            result[key] = value
        }
        for key in required where result[key] == nil {
            throw error(node, field.isEmpty ? key : "\(field).\(key)", "required key \"\(key)\" is missing")
        }
        return result
    }

    /// A non-empty string scalar.
    package func string(_ node: Node, _ field: String) throws -> String {
        guard case .scalar(let scalar) = node else {
            throw error(node, field, "expected a string, found \(describe(node))")
        }
        let s = scalar.string
        if scalar.style == .plain, ["~", "null", "Null", "NULL", ""].contains(s) {
            throw error(
                node, field, "expected a string, found nothing (null)",
                hint: "Write the value, in quotes if it looks like a YAML keyword")
        }
        if scalar.style == .plain,
            ["true", "false", "True", "False", "TRUE", "FALSE", "yes", "no", "on", "off"].contains(s)
        {
            throw error(
                node, field, "expected a string, found the YAML boolean \(s)",
                hint: "Put the value in quotes if it is meant as text")
        }
        if s.isEmpty { throw error(node, field, "must not be empty") }
        if s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw error(node, field, "contains a control character")
        }
        return s
    }

    /// A plain `true` or `false` (YAML 1.2 core schema; `yes`/`no`/`on`/`off` are refused as
    /// ambiguous between YAML versions).
    package func boolean(_ node: Node, _ field: String) throws -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else {
            throw error(node, field, "expected true or false, found \(describe(node))")
        }
        switch scalar.string {
        case "true": return true
        case "false": return false
        default:
            throw error(node, field, "expected true or false, found \"\(scalar.string)\"", hint: "Write true or false")
        }
    }

    /// A non-negative integer scalar.
    package func integer(_ node: Node, _ field: String, range: ClosedRange<Int64> = 0...Int64.max) throws -> Int64 {
        guard case .scalar(let scalar) = node, let value = Int64(scalar.string) else {
            throw error(node, field, "expected a whole number")
        }
        guard range.contains(value) else {
            throw error(node, field, "\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A size in bytes: a whole number, or a number with a unit (KiB, MiB, GiB, TiB, KB, MB, GB, TB).
    package func size(_ node: Node, _ field: String) throws -> Int64 {
        let text = try string(node, field).replacingOccurrences(of: " ", with: "")
        let units: [(String, Int64)] = [
            ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
            ("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("B", 1),
        ]
        for (unit, factor) in units where text.hasSuffix(unit) {
            let number = text.dropLast(unit.count)
            if let n = Int64(number), n >= 0, n <= Int64.max / factor { return n * factor }
            throw error(node, field, "\"\(text)\" is not a size", hint: "Write a whole number with a unit, e.g. 16GiB")
        }
        if let n = Int64(text), n >= 0 { return n }
        throw error(node, field, "\"\(text)\" is not a size", hint: "Write a whole number with a unit, e.g. 16GiB")
    }

    /// A list of nodes.
    package func sequence(_ node: Node, _ field: String, nonEmpty: Bool = true) throws -> [Node] {
        if case .alias = node { throw error(node, field, "anchors and aliases are not allowed") }
        guard case .sequence(let sequence) = node else {
            throw error(node, field, "expected a list, found \(describe(node))")
        }
        let items = Array(sequence)
        if nonEmpty && items.isEmpty { throw error(node, field, "the list is empty") }
        return items
    }

    /// A list of strings.
    package func strings(_ node: Node, _ field: String, nonEmpty: Bool = true) throws -> [String] {
        try sequence(node, field, nonEmpty: nonEmpty).enumerated().map { try string($1, "\(field)[\($0)]") }
    }
}
