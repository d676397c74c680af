import Yams

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - GGUF

extension VersionReaders {
    /// The GGUF metadata reader (GGUF versions 2 and 3, either byte order).
    enum GGUF {
        /// Most key-value pairs accepted in the metadata.
        static let maxKeyValueCount: UInt64 = 65_536
        /// Longest key; the GGUF specification caps keys at 65535 bytes.
        static let maxKeyBytes: UInt64 = 65_535
        /// Longest string value skipped over.
        static let maxStringBytes: UInt64 = 16 << 20
        /// Longest version string returned.
        static let maxVersionBytes: UInt64 = 1024
        /// Most elements in one array value.
        static let maxArrayCount: UInt64 = 1 << 26
        /// Deepest nesting of arrays in arrays.
        static let maxArrayNesting = 8
        /// Most metadata bytes walked from the start of the file.
        static let maxMetadataBytes: Int64 = 64 << 20
        /// Read-ahead buffer size.
        static let bufferBytes = 64 << 10

        static let typeNames = [
            "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool",
            "string", "array", "uint64", "int64", "float64",
        ]
        static let fixedSizes: [UInt32: UInt64] = [0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8]

        static func typeName(_ type: UInt32) -> String {
            type < typeNames.count ? typeNames[Int(type)] : "value of unknown type \(type)"
        }

        /// A buffered reader over the start of the file that refuses to go past the file or the metadata limit.
        struct Reader {
            let file: any ByteSource
            let displayPath: String
            let end: Int64
            var position: Int64 = 0
            var bigEndian = false
            private var buffer: [UInt8] = []
            private var bufferStart: Int64 = 0

            init(file: any ByteSource, displayPath: String) {
                self.file = file
                self.displayPath = displayPath
                self.end = min(file.size, GGUF.maxMetadataBytes)
            }

            private func beyond(_ count: UInt64, _ what: String) -> InputError {
                if UInt64(file.size - position) < count {
                    return fail(
                        displayPath, at: "byte \(position)",
                        "file ends at byte \(file.size) inside \(what), which needs \(count) bytes",
                        hint: "The file is truncated or not a GGUF file; copy or export it again.")
                }
                return fail(
                    displayPath, at: "byte \(position)",
                    "\(what) would take the metadata past the limit of \(mebibytes(Int(GGUF.maxMetadataBytes)))",
                    hint:
                        "ivpack reads at most that much GGUF metadata; put the version key before large entries such as tokenizer vocabularies."
                )
            }

            /// Moves past `count` bytes without reading them.
            mutating func skip(_ count: UInt64, _ what: String) throws {
                guard count <= UInt64(end - position) else { throw beyond(count, what) }
                position += Int64(count)
            }

            mutating func bytes(_ count: Int, _ what: String) throws -> [UInt8] {
                guard count >= 0, UInt64(count) <= UInt64(end - position) else {
                    throw beyond(UInt64(max(count, 0)), what)
                }
                let offsetInBuffer = position - bufferStart
                if offsetInBuffer < 0 || offsetInBuffer + Int64(count) > Int64(buffer.count) {
                    buffer = try window(file, at: position, count: max(count, GGUF.bufferBytes))
                    bufferStart = position
                    guard buffer.count >= count else { throw beyond(UInt64(count), what) }
                }
                let start = Int(position - bufferStart)
                position += Int64(count)
                return Array(buffer[start..<(start + count)])
            }

            mutating func u32(_ what: String) throws -> UInt32 {
                let b = try bytes(4, what)
                var v: UInt32 = 0
                for i in 0..<4 { v |= UInt32(b[bigEndian ? 3 - i : i]) << (8 * UInt32(i)) }
                return v
            }

            mutating func u64(_ what: String) throws -> UInt64 {
                let b = try bytes(8, what)
                var v: UInt64 = 0
                for i in 0..<8 { v |= UInt64(b[bigEndian ? 7 - i : i]) << (8 * UInt64(i)) }
                return v
            }
        }

        static func read(path: String, displayPath: String, key: String) throws -> VersionReading {
            try read(InputFile(path: path), displayPath: displayPath, key: key)
        }

        /// The reader itself, on any source of the file's bytes: the path-based function opens the file and
        /// calls it; the fuzz target and FuzzRegressionTests pass bytes in memory.
        static func read(_ file: any ByteSource, displayPath: String, key: String) throws -> VersionReading {
            var reader = Reader(file: file, displayPath: displayPath)
            let location = "GGUF metadata \"\(key)\""
            let notGGUF =
                "This is not a GGUF file or it is damaged; export the model again with llama.cpp's tools or gguf-py."
            let magic = try reader.bytes(4, "the GGUF magic")
            guard magic == Array("GGUF".utf8) else {
                throw fail(
                    displayPath, at: "byte 0",
                    "file does not start with the GGUF magic \"GGUF\" (found \(magic.map(hexByte).joined(separator: " ")))",
                    hint: notGGUF)
            }
            let versionLE = try reader.u32("the GGUF version")
            var version = versionLE
            if !(2...3).contains(versionLE) && (2...3).contains(versionLE.byteSwapped) {
                reader.bigEndian = true
                version = versionLE.byteSwapped
            }
            guard (2...3).contains(version) else {
                throw fail(
                    displayPath, at: "byte 4",
                    "GGUF version \(version) is not supported (ivpack reads versions 2 and 3)",
                    hint: "Convert the model to GGUF version 3 with current llama.cpp tools.")
            }
            _ = try reader.u64("the tensor count")
            let countOffset = reader.position
            let kvCount = try reader.u64("the metadata key-value count")
            if kvCount > maxKeyValueCount {
                throw fail(
                    displayPath, at: "byte \(countOffset)",
                    "metadata key-value count \(kvCount) is more than the limit of \(maxKeyValueCount)", hint: notGGUF)
            }
            let wanted = Array(key.utf8)
            var found: String?
            var foundAt: Int64?
            for index in 0..<kvCount {
                let keyOffset = reader.position
                let keyLength = try reader.u64("the length of metadata key \(index)")
                if keyLength > maxKeyBytes {
                    throw fail(
                        displayPath, at: "byte \(keyOffset)",
                        "metadata key \(index) is \(keyLength) bytes long, more than the limit of \(maxKeyBytes)",
                        hint: notGGUF)
                }
                let keyBytes = try reader.bytes(Int(keyLength), "metadata key \(index)")
                let typeOffset = reader.position
                let type = try reader.u32("the value type of metadata key \(index)")
                guard keyBytes == wanted else {
                    try skipValue(type: type, at: typeOffset, depth: 0, reader: &reader, keyIndex: index)
                    continue
                }
                if let first = foundAt {
                    throw fail(
                        displayPath, at: "byte \(keyOffset)",
                        "metadata key \"\(key)\" appears twice (first at byte \(first))",
                        hint: "Write the model again with the key set once.")
                }
                foundAt = keyOffset
                guard type == 8 else {
                    throw fail(
                        displayPath, at: "byte \(typeOffset)",
                        "metadata key \"\(key)\" holds a \(typeName(type)), not a string",
                        hint:
                            "Write the version as a string value (GGUF type 8), e.g. with gguf-py's add_string(\"\(key)\", \"2.3.1\")."
                    )
                }
                let lengthOffset = reader.position
                let length = try reader.u64("the length of the value of \"\(key)\"")
                if length > maxVersionBytes {
                    throw fail(
                        displayPath, at: "byte \(lengthOffset)",
                        "the value of \"\(key)\" is \(length) bytes long, more than the limit of \(maxVersionBytes) for a version",
                        hint: "Write a plain version string such as \"2.3.1\".")
                }
                let valueBytes = try reader.bytes(Int(length), "the value of \"\(key)\"")
                guard let text = String(validating: valueBytes, as: UTF8.self) else {
                    throw fail(
                        displayPath, at: "byte \(lengthOffset + 8)", "the value of \"\(key)\" is not valid UTF-8",
                        hint: "Write the version as UTF-8 text.")
                }
                found = text
            }
            return VersionReading(format: .gguf, file: displayPath, location: location, found: found)
        }

        /// Skips one value of `type`; arrays are walked element by element where elements vary in size.
        static func skipValue(type: UInt32, at typeOffset: Int64, depth: Int, reader: inout Reader, keyIndex: UInt64)
            throws
        {
            if let size = fixedSizes[type] {
                try reader.skip(size, "a \(typeName(type)) value")
                return
            }
            switch type {
            case 8:
                try skipString(reader: &reader)
            case 9:
                if depth >= maxArrayNesting {
                    throw fail(
                        reader.displayPath, at: "byte \(typeOffset)",
                        "arrays nest deeper than the limit of \(maxArrayNesting) in metadata key \(keyIndex)",
                        hint: "The file is damaged or not a GGUF file; export the model again.")
                }
                let elementTypeOffset = reader.position
                let elementType = try reader.u32("the element type of an array")
                let countOffset = reader.position
                let count = try reader.u64("the element count of an array")
                if count > maxArrayCount {
                    throw fail(
                        reader.displayPath, at: "byte \(countOffset)",
                        "array of \(count) elements in metadata key \(keyIndex) is more than the limit of \(maxArrayCount)",
                        hint: "The file is damaged or not a GGUF file; export the model again.")
                }
                if let size = fixedSizes[elementType] {
                    let (total, overflow) = size.multipliedReportingOverflow(by: count)
                    if overflow {
                        throw fail(
                            reader.displayPath, at: "byte \(countOffset)", "array size overflows",
                            hint: "The file is damaged or not a GGUF file; export the model again.")
                    }
                    try reader.skip(total, "an array of \(count) \(typeName(elementType)) values")
                } else if elementType == 8 {
                    for _ in 0..<count { try skipString(reader: &reader) }
                } else if elementType == 9 {
                    for _ in 0..<count {
                        try skipValue(
                            type: 9, at: reader.position, depth: depth + 1, reader: &reader, keyIndex: keyIndex)
                    }
                } else {
                    throw fail(
                        reader.displayPath, at: "byte \(elementTypeOffset)",
                        "array in metadata key \(keyIndex) has elements of unknown type \(elementType)",
                        hint: "The file is damaged or uses a GGUF type ivpack does not know; export the model again.")
                }
            default:
                throw fail(
                    reader.displayPath, at: "byte \(typeOffset)",
                    "metadata key \(keyIndex) has a value of unknown type \(type)",
                    hint: "The file is damaged or uses a GGUF type ivpack does not know; export the model again.")
            }
        }

        static func skipString(reader: inout Reader) throws {
            let lengthOffset = reader.position
            let length = try reader.u64("the length of a string")
            if length > maxStringBytes {
                throw fail(
                    reader.displayPath, at: "byte \(lengthOffset)",
                    "string of \(length) bytes is longer than the limit of \(maxStringBytes)",
                    hint: "The file is damaged or not a GGUF file; export the model again.")
            }
            try reader.skip(length, "a string of \(length) bytes")
        }
    }
}
