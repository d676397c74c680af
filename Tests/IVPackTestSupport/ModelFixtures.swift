import IVPack

/// Builders of small, valid files in the formats ivpack reads versions from: safetensors and GGUF models,
/// PDF documents, CycloneDX and SPDX SBOMs. Every builder is deterministic: the same arguments give the
/// same bytes.
public enum FormatFixtures {
    /// A GGUF metadata value.
    public enum GGUFValue: Sendable {
        case uint8(UInt8)
        case int32(Int32)
        case uint32(UInt32)
        case uint64(UInt64)
        case float32(Float)
        case bool(Bool)
        case string(String)
        case stringArray([String])
        case uint32Array([UInt32])
        /// Any type code followed by exactly `bytes`, for building malformed files.
        case raw(type: UInt32, bytes: [UInt8])
    }

    // MARK: safetensors

    /// A safetensors file with one F32 tensor `weight` of `tensorBytes` bytes (a multiple of 4) and, unless
    /// `metadata` is nil, a `__metadata__` object holding `metadata`. The header is padded with spaces to
    /// a multiple of 8 bytes, as the safetensors library writes it.
    public static func safetensors(metadata: [String: String]?, tensorBytes: Int = 64) -> [UInt8] {
        precondition(tensorBytes >= 0 && tensorBytes % 4 == 0, "an F32 tensor has a multiple of 4 bytes")
        var members: [(key: String, value: JSONValue)] = [
            (
                "weight",
                .object([
                    ("dtype", .string("F32")),
                    ("shape", .array([.integer(tensorBytes / 4)])),
                    ("data_offsets", .array([.integer(0), .integer(tensorBytes)])),
                ])
            )
        ]
        if let metadata {
            members.append(
                (
                    "__metadata__",
                    .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })
                ))
        }
        var header = CanonicalJSON.encode(.object(members))
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        return safetensors(rawHeader: header, tensorBytes: tensorBytes)
    }

    /// A file of the safetensors shape: the length of `rawHeader`, `rawHeader` itself (not checked), then
    /// `tensorBytes` bytes of data.
    public static func safetensors(rawHeader: [UInt8], tensorBytes: Int = 0) -> [UInt8] {
        var out = littleEndian(UInt64(rawHeader.count))
        out += rawHeader
        out += (0..<tensorBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        return out
    }

    // MARK: GGUF

    /// A GGUF file (version 3, little-endian, no tensors) whose metadata holds `metadata` in order, padded to
    /// the default alignment of 32 bytes.
    public static func gguf(metadata: [(String, GGUFValue)], version: UInt32 = 3) -> [UInt8] {
        var out = Array("GGUF".utf8)
        out += littleEndian(version)
        out += littleEndian(UInt64(0))
        out += littleEndian(UInt64(metadata.count))
        for (key, value) in metadata {
            out += ggufString(key)
            out += ggufValue(value)
        }
        while out.count % 32 != 0 { out.append(0) }
        return out
    }

    /// The bytes of a GGUF string: a little-endian u64 length, then UTF-8.
    public static func ggufString(_ s: String) -> [UInt8] {
        littleEndian(UInt64(s.utf8.count)) + Array(s.utf8)
    }

    static func ggufValue(_ value: GGUFValue) -> [UInt8] {
        switch value {
        case .uint8(let v): return littleEndian(UInt32(0)) + [v]
        case .int32(let v): return littleEndian(UInt32(5)) + littleEndian(UInt32(bitPattern: v))
        case .uint32(let v): return littleEndian(UInt32(4)) + littleEndian(v)
        case .uint64(let v): return littleEndian(UInt32(10)) + littleEndian(v)
        case .float32(let v): return littleEndian(UInt32(6)) + littleEndian(v.bitPattern)
        case .bool(let v): return littleEndian(UInt32(7)) + [v ? 1 : 0]
        case .string(let s): return littleEndian(UInt32(8)) + ggufString(s)
        case .stringArray(let items):
            return littleEndian(UInt32(9)) + littleEndian(UInt32(8)) + littleEndian(UInt64(items.count))
                + items.flatMap(ggufString)
        case .uint32Array(let items):
            return littleEndian(UInt32(9)) + littleEndian(UInt32(4)) + littleEndian(UInt64(items.count))
                + items.flatMap { littleEndian($0) }
        case .raw(let type, let bytes): return littleEndian(type) + bytes
        }
    }

    /// The little-endian bytes of `value`.
    public static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    // MARK: PDF

    /// A one-page PDF whose document information dictionary holds `info` (names as keys; values written as
    /// literal strings, or as UTF-16BE hex strings when they are not printable ASCII), with a classic
    /// cross-reference table, or an uncompressed cross-reference stream when `useXRefStream` is true.
    public static func pdf(info: [String: String], useXRefStream: Bool = false) -> [UInt8] {
        let entries = info.sorted { $0.key < $1.key }.map { "/\($0.key) \(pdfString($0.value))" }
        return pdf(infoDictionary: "<< " + entries.joined(separator: " ") + " >>", useXRefStream: useXRefStream)
    }

    /// A PDF string for `text`: a literal string with `(`, `)` and `\` escaped when it is printable ASCII,
    /// otherwise a hex string of UTF-16BE with a byte-order mark.
    public static func pdfString(_ text: String) -> String {
        if text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) {
            var out = "("
            for c in text {
                if c == "(" || c == ")" || c == "\\" { out.append("\\") }
                out.append(c)
            }
            return out + ")"
        }
        var hex = "<FEFF"
        for unit in text.utf16 { hex += hex4(unit) }
        return hex + ">"
    }

    /// A one-page PDF whose object 5 is `infoDictionary`, written verbatim (any PDF object syntax) and referred
    /// to by the trailer's `/Info`; with nil there is no object 5 content and no `/Info`. With `useXRefStream`
    /// the cross-reference section is an uncompressed cross-reference stream (PDF 1.5); with
    /// `infoInObjectStream` as well, object 5 is stored in an (uncompressed) object stream. `extraObjects`
    /// are written verbatim as objects 6, 7, ... before the cross-reference section.
    public static func pdf(
        infoDictionary: String?, useXRefStream: Bool = false, infoInObjectStream: Bool = false,
        extraObjects: [String] = []
    ) -> [UInt8] {
        precondition(!infoInObjectStream || useXRefStream, "object streams need a cross-reference stream")
        var out: [UInt8] = Array("%PDF-\(useXRefStream ? "1.5" : "1.4")\n%".utf8) + [0xE2, 0xE3, 0xCF, 0xD3, 0x0A]
        var offsets: [Int: Int] = [:]
        func object(_ number: Int, _ body: [UInt8]) {
            offsets[number] = out.count
            out += Array("\(number) 0 obj\n".utf8) + body + Array("\nendobj\n".utf8)
        }
        func stream(_ dictionary: String, _ data: [UInt8]) -> [UInt8] {
            Array("<< \(dictionary) /Length \(data.count) >>\nstream\n".utf8) + data + Array("\nendstream".utf8)
        }
        object(1, Array("<< /Type /Catalog /Pages 2 0 R >>".utf8))
        object(2, Array("<< /Type /Pages /Kids [3 0 R] /Count 1 >>".utf8))
        object(
            3, Array("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R /Resources << >> >>".utf8))
        object(4, stream("", Array("0 0 m 100 100 l S".utf8)))
        if let infoDictionary, !infoInObjectStream { object(5, Array(infoDictionary.utf8)) }
        var next = 6
        for extra in extraObjects {
            object(next, Array(extra.utf8))
            next += 1
        }
        var objectStream: Int?
        if let infoDictionary, infoInObjectStream {
            let prefix = "5 0 "
            let data = Array((prefix + infoDictionary).utf8)
            object(next, stream("/Type /ObjStm /N 1 /First \(prefix.utf8.count)", data))
            objectStream = next
            next += 1
        }
        let trailerEntries = "/Root 1 0 R" + (infoDictionary == nil ? "" : " /Info 5 0 R")
        if useXRefStream {
            let xrefNumber = next
            let size = xrefNumber + 1
            let xrefOffset = out.count
            offsets[xrefNumber] = xrefOffset
            var rows: [UInt8] = []
            for n in 0..<size {
                if n == 5, let objectStream {
                    rows += [2] + bigEndian(UInt32(objectStream)) + [0, 0]
                } else if let o = offsets[n] {
                    rows += [1] + bigEndian(UInt32(o)) + [0, 0]
                } else {
                    rows += [0] + bigEndian(UInt32(0)) + (n == 0 ? [0xFF, 0xFF] : [0, 0])
                }
            }
            out += Array("\(xrefNumber) 0 obj\n".utf8)
            out += stream("/Type /XRef /Size \(size) /W [1 4 2] \(trailerEntries)", rows)
            out += Array("\nendobj\nstartxref\n\(xrefOffset)\n%%EOF\n".utf8)
        } else {
            let size = next
            let xrefOffset = out.count
            var table = "xref\n0 \(size)\n0000000000 65535 f \n"
            for n in 1..<size {
                if let o = offsets[n] {
                    table += pad(o, 10) + " 00000 n \n"
                } else {
                    table += "0000000000 00000 f \n"
                }
            }
            table += "trailer\n<< /Size \(size) \(trailerEntries) >>\nstartxref\n\(xrefOffset)\n%%EOF\n"
            out += Array(table.utf8)
        }
        return out
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] { littleEndian(value).reversed() }

    static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    static func hex4(_ unit: UInt16) -> String {
        let s = String(unit, radix: 16, uppercase: true)
        return String(repeating: "0", count: 4 - s.count) + s
    }

    // MARK: SBOMs

    /// A CycloneDX 1.5 JSON SBOM whose `metadata.component` is `name` at `version` (no `version` member when
    /// nil), with one library component.
    public static func cycloneDX(version: String?, name: String = "PulmoScan AI") -> [UInt8] {
        var component: [(key: String, value: JSONValue)] = [("type", .string("application")), ("name", .string(name))]
        if let version { component.append(("version", .string(version))) }
        return CanonicalJSON.encode(
            .object([
                ("bomFormat", .string("CycloneDX")),
                ("specVersion", .string("1.5")),
                ("version", .integer(1)),
                ("metadata", .object([("component", .object(component))])),
                (
                    "components",
                    .array([
                        .object([
                            ("type", .string("library")), ("name", .string("numpy")), ("version", .string("1.26.4")),
                            ("purl", .string("pkg:pypi/numpy@1.26.4")),
                        ])
                    ])
                ),
            ]))
    }

    /// An SPDX 2.3 JSON document with a package `productName` at `version` (no `versionInfo` when nil) that
    /// depends on a package `numpy` 1.26.4. With `describes`, a DESCRIBES relationship from the document
    /// names the product package; without, the document says nothing of what it describes.
    public static func spdx(productName: String, version: String?, describes: Bool = true) -> [UInt8] {
        var product: [(key: String, value: JSONValue)] = [
            ("SPDXID", .string("SPDXRef-Product")), ("name", .string(productName)),
            ("downloadLocation", .string("NOASSERTION")),
        ]
        if let version { product.append(("versionInfo", .string(version))) }
        var relationships: [JSONValue] = [
            .object([
                ("spdxElementId", .string("SPDXRef-Product")), ("relationshipType", .string("DEPENDS_ON")),
                ("relatedSpdxElement", .string("SPDXRef-numpy")),
            ])
        ]
        if describes {
            relationships.insert(
                .object([
                    ("spdxElementId", .string("SPDXRef-DOCUMENT")), ("relationshipType", .string("DESCRIBES")),
                    ("relatedSpdxElement", .string("SPDXRef-Product")),
                ]), at: 0)
        }
        return CanonicalJSON.encode(
            .object([
                ("spdxVersion", .string("SPDX-2.3")),
                ("dataLicense", .string("CC0-1.0")),
                ("SPDXID", .string("SPDXRef-DOCUMENT")),
                ("name", .string("\(productName) SBOM")),
                ("documentNamespace", .string("https://example.invalid/spdx/product")),
                (
                    "creationInfo",
                    .object([
                        ("created", .string("2026-11-01T00:00:00Z")),
                        ("creators", .array([.string("Tool: ivpack-tests")])),
                    ])
                ),
                (
                    "packages",
                    .array([
                        .object(product),
                        .object([
                            ("SPDXID", .string("SPDXRef-numpy")), ("name", .string("numpy")),
                            ("versionInfo", .string("1.26.4")),
                            ("downloadLocation", .string("NOASSERTION")),
                        ]),
                    ])
                ),
                ("relationships", .array(relationships)),
            ]))
    }
}
