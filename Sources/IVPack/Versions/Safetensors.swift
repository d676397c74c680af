import Yams

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - safetensors

extension VersionReaders {
    /// The safetensors header reader: an 8-byte little-endian length, then that many bytes of JSON.
    enum Safetensors {
        /// Largest header accepted; the safetensors library itself refuses headers over 100 MB.
        static let maxHeaderBytes: UInt64 = 100_000_000

        static func read(path: String, displayPath: String, key: String) throws -> VersionReading {
            try read(InputFile(path: path), displayPath: displayPath, key: key)
        }

        /// The reader itself, on any source of the file's bytes: the path-based function opens the file and
        /// calls it; the fuzz target and FuzzRegressionTests pass bytes in memory.
        static func read(_ file: any ByteSource, displayPath: String, key: String) throws -> VersionReading {
            let location = "safetensors header __metadata__[\"\(key)\"]"
            let reading = { (found: String?) in
                VersionReading(format: .safetensors, file: displayPath, location: location, found: found)
            }
            let damaged = "The file is damaged, truncated or not a safetensors file; copy or export it again."
            guard file.size >= 8 else {
                throw fail(
                    displayPath, at: "byte 0",
                    "file is \(file.size) bytes, too short for the 8-byte header length of a safetensors file",
                    hint: damaged)
            }
            let prefix = try file.readBytes(count: 8, at: 0)
            guard prefix.count == 8 else {
                throw fail(
                    displayPath, at: "byte \(prefix.count)", "file ended while reading the 8-byte header length",
                    hint: damaged)
            }
            var length: UInt64 = 0
            for (i, b) in prefix.enumerated() { length |= UInt64(b) << (8 * UInt64(i)) }
            if length > maxHeaderBytes {
                throw fail(
                    displayPath, at: "byte 0",
                    "header length is \(length) bytes, more than the limit of \(maxHeaderBytes) bytes", hint: damaged)
            }
            let available = UInt64(file.size - 8)
            if length > available {
                throw fail(
                    displayPath, at: "byte 0",
                    "header length \(length) runs past the end of the file (only \(available) bytes follow the length field)",
                    hint: damaged)
            }
            if length < 2 {
                throw fail(
                    displayPath, at: "byte 0", "header length \(length) is too short for a JSON object", hint: damaged)
            }
            let header = try file.readBytes(count: Int(length), at: 8)
            guard header.count == Int(length) else {
                throw fail(displayPath, at: "byte \(8 + header.count)", "file ended inside the header", hint: damaged)
            }
            let json: JSONValue
            do {
                json = try JSONParser.parse(header, limits: JSONLimits(maxBytes: Int(maxHeaderBytes)))
            } catch {
                throw jsonError(
                    error, file: displayPath, what: "safetensors header", base: 8,
                    hint: "Save the model again with the safetensors library.")
            }
            guard json.objectValue != nil else {
                throw fail(
                    displayPath, at: "byte 8", "safetensors header is \(json.typeName), not a JSON object",
                    hint: "Save the model again with the safetensors library.")
            }
            guard let metadata = json["__metadata__"] else { return reading(nil) }
            guard let entries = metadata.objectValue else {
                throw fail(
                    displayPath, at: "byte 8 (header key \"__metadata__\")",
                    "__metadata__ is \(metadata.typeName), not an object of strings",
                    hint:
                        "safetensors metadata maps names to strings; save the model again with the safetensors library."
                )
            }
            var found: String?
            for entry in entries {
                guard let text = entry.value.stringValue else {
                    let isKey = entry.key == key
                    let shown = Display.name(entry.key)
                    throw fail(
                        displayPath, at: "byte 8 (header __metadata__[\"\(shown)\"])",
                        "__metadata__[\"\(shown)\"] is \(entry.value.typeName), not a string",
                        hint: isKey
                            ? "Write the version as a string, e.g. metadata={\"\(key)\": \"2.3.1\"}."
                            : "safetensors metadata values must all be strings; save the model again with the safetensors library."
                    )
                }
                if entry.key == key { found = text }
            }
            return reading(found)
        }
    }
}
