import Yams

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - Model card

extension VersionReaders {
    /// A sidecar model card in Markdown, JSON or YAML.
    enum ModelCard {
        /// Largest JSON or YAML model card read.
        static let maxCardBytes = 1 << 20

        static func read(path: String, displayPath: String, key: String) throws -> VersionReading {
            let name = baseName(path).lowercased()
            if name.hasSuffix(".md") || name.hasSuffix(".markdown") {
                let head = try Markdown.head(path: path, displayPath: displayPath)
                return try Markdown.frontMatterReading(head, displayPath: displayPath, key: key, format: .modelCard)
            }
            if name.hasSuffix(".json") {
                let bytes = try readWhole(path: path, displayPath: displayPath, limit: maxCardBytes, what: "model card")
                let json: JSONValue
                do { json = try JSONParser.parse(bytes) } catch {
                    throw jsonError(error, file: displayPath, what: "model card", hint: "Fix the JSON.")
                }
                guard json.objectValue != nil else {
                    throw fail(
                        displayPath, at: "byte 0", "model card is \(json.typeName), not a JSON object",
                        hint: "Write the model card as an object with a \"\(key)\" member.")
                }
                let location = "top-level key \"\(key)\""
                switch json[key] {
                case nil, .null?:
                    return VersionReading(format: .modelCard, file: displayPath, location: location, found: nil)
                case .string(let s)?:
                    return VersionReading(format: .modelCard, file: displayPath, location: location, found: s)
                case let other?:
                    throw fail(
                        displayPath, at: "top-level key \"\(key)\"",
                        "model card key \"\(key)\" is \(other.typeName), not a string",
                        hint: "Write the version as a string: \"\(key)\": \"2.3.1\"")
                }
            }
            if name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                var bytes = try readWhole(path: path, displayPath: displayPath, limit: maxCardBytes, what: "model card")
                if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw fail(
                        displayPath, at: "byte 0", "model card is not valid UTF-8", hint: "Save the file as UTF-8.")
                }
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                let result = try YAMLKey.value(
                    of: key, in: lines, lineOffset: 0, displayPath: displayPath, what: "model card")
                let location = result.line.map { "top-level key \"\(key)\" (line \($0))" } ?? "top-level key \"\(key)\""
                return VersionReading(format: .modelCard, file: displayPath, location: location, found: result.found)
            }
            throw fail(
                displayPath, at: "the file name",
                "a model card must be Markdown (.md), JSON (.json) or YAML (.yaml, .yml)",
                hint: "Give the model card one of those extensions.")
        }
    }
}
