import Yams

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - pip requirements

extension VersionReaders {
    /// The pip requirements file checker.
    enum Requirements {
        /// Largest requirements file read.
        static let maxFileBytes = 4 << 20
        /// Options that apply to the whole file and pin nothing.
        static let globalOptions: Set<String> = [
            "-i", "--index-url", "--extra-index-url", "--no-index", "-f", "--find-links", "--require-hashes",
            "--pre", "--trusted-host", "--prefer-binary", "--only-binary", "--no-binary", "--use-feature",
        ]
        /// Options that may follow a requirement on its line.
        static let requirementOptions: Set<String> = ["--hash", "--config-settings", "--global-option"]
        static let rangeOperators = [">=", "<=", ">", "<"]
        static let operators = ["===", "==", "!=", "<=", ">=", "~=", "<", ">"]

        static func check(path: String, displayPath: String) throws -> [RequirementProblem] {
            try check(InputFile(path: path), displayPath: displayPath)
        }

        /// The reader itself, on any source of the file's bytes: the path-based function opens the file and
        /// calls it; the fuzz target and FuzzRegressionTests pass bytes in memory.
        static func check(_ file: any ByteSource, displayPath: String) throws -> [RequirementProblem] {
            var bytes = try readWhole(file, displayPath: displayPath, limit: maxFileBytes, what: "requirements file")
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
            var physical: [String] = []
            for (i, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
                let l = line.last == 0x0D ? line.dropLast() : line
                guard let s = String(validating: l, as: UTF8.self) else {
                    throw fail(
                        displayPath, at: "line \(i + 1)", "requirements file is not valid UTF-8",
                        hint: "Save the file as UTF-8.")
                }
                physical.append(s)
            }
            // Join continued lines as pip does: a line ending in a backslash continues, unless it is a comment.
            var logical: [(line: Int, text: String)] = []
            var current: (line: Int, text: String)?
            for (i, line) in physical.enumerated() {
                let isComment = commentStart(line) != nil
                if line.hasSuffix("\\") && !isComment {
                    let part = String(line.dropLast())
                    current = current.map { ($0.line, $0.text + part) } ?? (i + 1, part)
                } else {
                    logical.append(current.map { ($0.line, $0.text + line) } ?? (i + 1, line))
                    current = nil
                }
            }
            if let current { logical.append(current) }

            var problems: [RequirementProblem] = []
            for (line, raw) in logical {
                var text = raw
                if let c = commentStart(text) { text = String(text[..<c]) }
                text = trim(text)
                if text.isEmpty { continue }
                if let problem = problem(in: text) {
                    problems.append(
                        RequirementProblem(file: displayPath, line: line, requirement: text, problem: problem))
                }
            }
            return problems
        }

        static func trim(_ s: some StringProtocol) -> String {
            var sub = Substring(s)
            while let f = sub.first, f == " " || f == "\t" { sub = sub.dropFirst() }
            while let l = sub.last, l == " " || l == "\t" { sub = sub.dropLast() }
            return String(sub)
        }

        /// Where a comment starts: a `#` at the start of the line or after whitespace.
        static func commentStart(_ line: String) -> String.Index? {
            var previous: Character = " "
            var i = line.startIndex
            while i < line.endIndex {
                let c = line[i]
                if c == "#" && (previous == " " || previous == "\t") { return i }
                previous = c
                i = line.index(after: i)
            }
            return nil
        }

        /// What is wrong with one logical line, or nil when it pins one exact version or is an allowed option.
        static func problem(in text: String) -> String? {
            let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if text.hasPrefix("-") {
                let option = optionName(tokens[0])
                switch option {
                case "-r", "--requirement", "-c", "--constraint":
                    return "includes another file; list its pins here instead"
                case "-e", "--editable":
                    return "is an editable install, not pinned to a version; pin one exact version with '=='"
                default:
                    if globalOptions.contains(option) { return nil }
                    if tokens[0].hasPrefix("-r") && !tokens[0].hasPrefix("--")
                        || tokens[0].hasPrefix("-c") && !tokens[0].hasPrefix("--")
                    {
                        return "includes another file; list its pins here instead"
                    }
                    if tokens[0].hasPrefix("-e") && !tokens[0].hasPrefix("--") {
                        return "is an editable install, not pinned to a version; pin one exact version with '=='"
                    }
                    return
                        "has option '\(Display.name(option))', which ivpack does not know; it cannot tell whether the line pins a version"
                }
            }
            // As pip does: the requirement is the tokens before the first one that starts with '-'.
            var arguments: [String] = []
            var index = 0
            while index < tokens.count && !tokens[index].hasPrefix("-") {
                arguments.append(tokens[index])
                index += 1
            }
            while index < tokens.count {
                let token = tokens[index]
                let option = optionName(token)
                guard token.hasPrefix("-"), requirementOptions.contains(option) else {
                    return
                        "has option '\(Display.name(token.hasPrefix("-") ? option : token))' after the requirement, which ivpack does not know; only --hash may follow a pinned requirement"
                }
                // `--hash=sha256:...` carries its value; `--hash sha256:...` takes the next token.
                index += token.contains("=") ? 1 : 2
            }
            return requirementProblem(arguments.joined(separator: " "))
        }

        static func optionName(_ token: String) -> String {
            guard let eq = token.firstIndex(of: "=") else { return token }
            return String(token[..<eq])
        }

        static func requirementProblem(_ requirement: String) -> String? {
            let unpinned = "pin one exact version with '=='"
            var spec = Substring(requirement)
            if let semicolon = spec.firstIndex(of: ";") { spec = spec[..<semicolon] }
            let lowered = spec.lowercased()
            if lowered.contains("://") || lowered.hasPrefix("file:") || spec.hasPrefix(".") || spec.hasPrefix("/")
                || spec.hasPrefix("~")
                || [".whl", ".tar.gz", ".zip", ".tar.bz2"].contains(where: { lowered.hasSuffix($0) })
            {
                return "is a direct URL or path, not pinned to a version; \(unpinned) from a package index"
            }
            func isNameStart(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }
            func isNameCharacter(_ c: Character) -> Bool { isNameStart(c) || c == "." || c == "_" || c == "-" }
            var rest = spec[...]
            guard let first = rest.first, isNameStart(first) else {
                return "cannot be read as a requirement; write NAME==VERSION"
            }
            while let c = rest.first, isNameCharacter(c) { rest = rest.dropFirst() }
            rest = Substring(trim(rest))
            if rest.first == "[" {
                guard let close = rest.firstIndex(of: "]") else {
                    return "has an unclosed '[' of extras; write NAME[EXTRA]==VERSION"
                }
                rest = Substring(trim(rest[rest.index(after: close)...]))
            }
            if rest.first == "@" {
                return "is a direct reference (NAME @ URL), not pinned to a version; \(unpinned)"
            }
            if rest.first == "(" && rest.last == ")" { rest = Substring(trim(rest.dropFirst().dropLast())) }
            if rest.isEmpty { return "has no version specifier; \(unpinned)" }
            var specifiers: [(op: String, version: String)] = []
            for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
                let clause = trim(part)
                guard let op = operators.first(where: { clause.hasPrefix($0) }) else {
                    return
                        "cannot be read as a requirement ('\(Display.name(clause))' has no version operator); write NAME==VERSION"
                }
                let version = trim(clause.dropFirst(op.count))
                if version.isEmpty { return "has '\(op)' with no version; write NAME==VERSION" }
                specifiers.append((op, version))
            }
            for s in specifiers {
                if rangeOperators.contains(s.op) { return "uses '\(s.op)' (a range); \(unpinned)" }
                if s.op == "~=" { return "uses '~=' (a compatible-release range); \(unpinned)" }
                if s.op == "!=" { return "uses '!=' (an exclusion, not a pin); \(unpinned)" }
                if s.op == "==" && s.version.contains("*") {
                    return "uses a wildcard ('==\(Display.name(s.version))'); \(unpinned)"
                }
            }
            if specifiers.count > 1 {
                return "has \(specifiers.count) version specifiers; \(unpinned) and nothing else"
            }
            let s = specifiers[0]
            let allowed =
                s.op == "==="
                ? s.version.allSatisfy { !$0.isWhitespace }
                : s.version.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._+!-".contains($0)) }
            if !allowed { return "has an unreadable version '\(Display.name(s.version))'; write NAME==VERSION" }
            return nil
        }
    }
}
