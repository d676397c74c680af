import IVPack
import IVPackTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The version readers: one format at a time, found, absent, wrong and malformed.
@Suite struct VersionReaderTests {
    let folder = TemporaryFolder("ivpack-versions")

    /// Writes `bytes` as `name` in the test's folder and reads it as `format`.
    func read(_ format: VersionFormat, _ name: String, _ bytes: [UInt8], key: String? = nil, productName: String? = nil)
        throws -> VersionReading
    {
        let path = folder.write(name, bytes)
        return try VersionReaders.read(format, path: path, displayPath: name, key: key, productName: productName)
    }

    func read(_ format: VersionFormat, _ name: String, _ text: String, key: String? = nil) throws -> VersionReading {
        try read(format, name, Array(text.utf8), key: key)
    }

    /// The `InputError` (kind `.versionSource`) that reading `bytes` as `format` throws.
    func readError(_ format: VersionFormat, _ name: String, _ bytes: [UInt8], key: String? = nil) throws -> InputError {
        let e = try #require(throws: InputError.self) { try read(format, name, bytes, key: key) }
        #expect(e.kind == .versionSource)
        return e
    }

    func readError(_ format: VersionFormat, _ name: String, _ text: String, key: String? = nil) throws -> InputError {
        try readError(format, name, Array(text.utf8), key: key)
    }

    // MARK: safetensors

    @Test func safetensorsVersionIsReadFromMetadata() throws {
        let r = try read(
            .safetensors, "m.safetensors",
            FormatFixtures.safetensors(metadata: ["version": "V2.3.1.1024", "arch": "unet"]))
        #expect(
            r
                == VersionReading(
                    format: .safetensors, file: "m.safetensors",
                    location: "safetensors header __metadata__[\"version\"]", found: "V2.3.1.1024"))
    }

    @Test(arguments: [nil, ["arch": "unet"]] as [[String: String]?])
    func safetensorsWithoutVersionFindsNothing(metadata: [String: String]?) throws {
        let r = try read(.safetensors, "m.safetensors", FormatFixtures.safetensors(metadata: metadata))
        #expect(r.found == nil)
        #expect(r.location == "safetensors header __metadata__[\"version\"]")
    }

    @Test func safetensorsKeyCanBeChosen() throws {
        let bytes = FormatFixtures.safetensors(metadata: ["version": "1.0", "release": "2.0"])
        #expect(try read(.safetensors, "m.safetensors", bytes, key: "release").found == "2.0")
        #expect(try read(.safetensors, "m.safetensors", bytes).found == "1.0")
    }

    @Test func safetensorsHeaderLengthBeyondFileIsRejected() throws {
        var bytes = FormatFixtures.safetensors(metadata: ["version": "1.0"])
        bytes.replaceSubrange(0..<8, with: FormatFixtures.littleEndian(UInt64(bytes.count)))
        let e = try readError(.safetensors, "m.safetensors", bytes)
        #expect(e.problem.contains("runs past the end of the file"))
        #expect(e.detail == "byte 0")
        #expect(e.exitStatus == .badInput)
        #expect(e.description.hasPrefix("m.safetensors: header length"))
    }

    @Test func safetensorsAbsurdHeaderLengthIsRejected() throws {
        var bytes = FormatFixtures.safetensors(metadata: ["version": "1.0"])
        bytes.replaceSubrange(0..<8, with: FormatFixtures.littleEndian(UInt64.max))
        let e = try readError(.safetensors, "m.safetensors", bytes)
        #expect(e.problem.contains("more than the limit"))
    }

    @Test func safetensorsShorterThanItsLengthFieldIsRejected() throws {
        let e = try readError(.safetensors, "m.safetensors", [1, 2, 3])
        #expect(e.problem.contains("too short"))
    }

    @Test func safetensorsHeaderThatIsNotJSONIsRejected() throws {
        let e = try readError(
            .safetensors, "m.safetensors", FormatFixtures.safetensors(rawHeader: Array("{\"a\": nope}".utf8)))
        #expect(e.problem.contains("not valid JSON"))
        #expect(e.detail.hasPrefix("byte 14 "))
    }

    @Test func safetensorsDuplicateMetadataKeyIsRejected() throws {
        let header = #"{"__metadata__":{"version":"1.0","version":"2.0"}}"#
        let e = try readError(.safetensors, "m.safetensors", FormatFixtures.safetensors(rawHeader: Array(header.utf8)))
        #expect(e.problem.contains("duplicate key \"version\""))
    }

    @Test func safetensorsNonStringVersionIsRejected() throws {
        let header = #"{"__metadata__":{"version":2.3}}"#
        let e = try readError(.safetensors, "m.safetensors", FormatFixtures.safetensors(rawHeader: Array(header.utf8)))
        #expect(e.problem == "__metadata__[\"version\"] is a number, not a string")
    }

    @Test func safetensorsLargeSparseTailIsNotNeeded() throws {
        let bytes = FormatFixtures.safetensors(metadata: ["version": "2.3.1"], tensorBytes: 0)
        let path = folder.write("big.safetensors", bytes)
        #expect(truncate(path, off_t(bytes.count) + (1 << 30)) == 0)
        let r = try VersionReaders.read(.safetensors, path: path, displayPath: "big.safetensors")
        #expect(r.found == "2.3.1")
    }

    // MARK: GGUF

    @Test func ggufVersionIsReadAfterLargeValues() throws {
        let vocabulary = (0..<5000).map { "token-\($0)" }
        let bytes = FormatFixtures.gguf(metadata: [
            ("general.architecture", .string("llama")),
            ("tokenizer.ggml.tokens", .stringArray(vocabulary)),
            ("tokenizer.ggml.token_type", .uint32Array(Array(repeating: 1, count: 5000))),
            ("general.file_type", .uint32(7)),
            ("general.alignment", .uint32(32)),
            ("general.quantized", .bool(true)),
            ("general.score", .float32(0.5)),
            ("general.version", .string("V2.3.1.1024")),
        ])
        let r = try read(.gguf, "m.gguf", bytes)
        #expect(
            r
                == VersionReading(
                    format: .gguf, file: "m.gguf", location: "GGUF metadata \"general.version\"", found: "V2.3.1.1024"))
    }

    @Test func ggufWithoutVersionFindsNothing() throws {
        let r = try read(.gguf, "m.gguf", FormatFixtures.gguf(metadata: [("general.name", .string("detector"))]))
        #expect(r.found == nil)
    }

    @Test func ggufKeyCanBeChosen() throws {
        let bytes = FormatFixtures.gguf(metadata: [
            ("general.version", .string("1")), ("vendor.release", .string("2.3.1")),
        ])
        #expect(try read(.gguf, "m.gguf", bytes, key: "vendor.release").found == "2.3.1")
    }

    @Test func ggufBadMagicIsRejected() throws {
        var bytes = FormatFixtures.gguf(metadata: [("general.version", .string("1.0"))])
        bytes[0] = UInt8(ascii: "X")
        let e = try readError(.gguf, "m.gguf", bytes)
        #expect(e.problem.contains("GGUF magic"))
        #expect(e.detail == "byte 0")
    }

    @Test func ggufVersionOneIsRejected() throws {
        let e = try readError(.gguf, "m.gguf", FormatFixtures.gguf(metadata: [], version: 1))
        #expect(e.problem.contains("GGUF version 1 is not supported"))
    }

    @Test func ggufTruncatedKeyValueIsRejected() throws {
        let bytes = FormatFixtures.gguf(metadata: [
            ("general.name", .string("detector")), ("general.version", .string("1.0")),
        ])
        let cut = Array(bytes[0..<(24 + 8 + 12 + 4 + 4)])
        let e = try readError(.gguf, "m.gguf", cut)
        #expect(e.problem.contains("file ends at byte \(cut.count)"))
    }

    @Test(arguments: [
        (FormatFixtures.GGUFValue.uint32(2), "uint32"),
        (.int32(-1), "int32"),
        (.float32(2.3), "float32"),
        (.stringArray(["2.3.1"]), "array"),
        (.bool(true), "bool"),
    ])
    func ggufNonStringVersionIsRejectedNamingItsType(value: FormatFixtures.GGUFValue, type: String) throws {
        let e = try readError(.gguf, "m.gguf", FormatFixtures.gguf(metadata: [("general.version", value)]))
        #expect(e.problem == "metadata key \"general.version\" holds a \(type), not a string")
        #expect(e.detail == "byte \(24 + 8 + "general.version".utf8.count)")
    }

    @Test(arguments: ["general.version", "general.name"])
    func ggufAbsurdStringLengthIsRejected(key: String) throws {
        let absurd = FormatFixtures.GGUFValue.raw(
            type: 8, bytes: FormatFixtures.littleEndian(UInt64(1) << 60) + Array("x".utf8))
        let e = try readError(.gguf, "m.gguf", FormatFixtures.gguf(metadata: [(key, absurd)]))
        #expect(e.problem.contains("\(UInt64(1) << 60) bytes"))
    }

    @Test func ggufAbsurdArrayCountIsRejected() throws {
        let absurd = FormatFixtures.GGUFValue.raw(
            type: 9, bytes: FormatFixtures.littleEndian(UInt32(12)) + FormatFixtures.littleEndian(UInt64(1) << 62))
        let e = try readError(.gguf, "m.gguf", FormatFixtures.gguf(metadata: [("tokenizer.scores", absurd)]))
        #expect(e.problem.contains("more than the limit"))
    }

    @Test func ggufArrayLongerThanTheFileIsRejected() throws {
        let absurd = FormatFixtures.GGUFValue.raw(
            type: 9, bytes: FormatFixtures.littleEndian(UInt32(12)) + FormatFixtures.littleEndian(UInt64(1) << 25))
        let e = try readError(.gguf, "m.gguf", FormatFixtures.gguf(metadata: [("tokenizer.scores", absurd)]))
        #expect(e.problem.contains("file ends at byte"))
    }

    @Test func ggufAbsurdKeyCountIsRejected() throws {
        var bytes = FormatFixtures.gguf(metadata: [("general.version", .string("1.0"))])
        bytes.replaceSubrange(16..<24, with: FormatFixtures.littleEndian(UInt64.max))
        let e = try readError(.gguf, "m.gguf", bytes)
        #expect(e.problem.contains("key-value count"))
        #expect(e.detail == "byte 16")
    }

    @Test func ggufUnknownValueTypeIsRejected() throws {
        let e = try readError(
            .gguf, "m.gguf",
            FormatFixtures.gguf(metadata: [("x", .raw(type: 99, bytes: [])), ("general.version", .string("1"))]))
        #expect(e.problem.contains("unknown type 99"))
    }

    @Test func ggufRepeatedVersionKeyIsRejected() throws {
        let e = try readError(
            .gguf, "m.gguf",
            FormatFixtures.gguf(metadata: [("general.version", .string("1")), ("general.version", .string("2"))]))
        #expect(e.problem.contains("appears twice"))
    }

    // MARK: Markdown

    @Test func frontMatterVersionIsReadWithItsLine() throws {
        let r = try read(
            .frontMatter, "manual.md", "---\ntitle: Manual\nversion: \"V2.3.1.1024\"\n---\n# Manual V9.9\n")
        #expect(
            r
                == VersionReading(
                    format: .frontMatter, file: "manual.md", location: "front matter key \"version\" (line 3)",
                    found: "V2.3.1.1024"))
    }

    @Test func frontMatterPlainVersionWithSeveralDotsIsText() throws {
        #expect(try read(.frontMatter, "manual.md", "---\nversion: 2.3.1\n---\n").found == "2.3.1")
    }

    @Test func frontMatterWithByteOrderMarkAndCRLFIsRead() throws {
        let r = try read(
            .frontMatter, "manual.md", [0xEF, 0xBB, 0xBF] + Array("---\r\nversion: '2.3.1'\r\n---\r\n".utf8))
        #expect(r.found == "2.3.1")
        #expect(r.location == "front matter key \"version\" (line 2)")
    }

    @Test(arguments: ["---\ntitle: Manual\n---\n", "---\nversion:\n---\n", "---\n---\n"])
    func frontMatterWithoutVersionFindsNothing(text: String) throws {
        #expect(try read(.frontMatter, "manual.md", text).found == nil)
    }

    @Test func fileWithoutFrontMatterSaysSo() throws {
        let r = try read(.frontMatter, "manual.md", "# Manual 2.3.1\n")
        #expect(r.found == nil)
        #expect(r.location.contains("no front matter"))
    }

    @Test(arguments: [("2.10", "float"), ("2", "int"), ("true", "bool")])
    func frontMatterVersionThatYAMLReadsAsANonTextIsRejected(value: String, type: String) throws {
        let e = try readError(.frontMatter, "manual.md", "---\ntitle: x\nversion: \(value)\n---\n")
        #expect(e.detail == "line 3")
        #expect(e.problem.contains("reads as a") && e.problem.contains(type))
        #expect(e.hint.contains("version: \"\(value)\""))
    }

    @Test func frontMatterVersionThatIsAListIsRejected() throws {
        let e = try readError(.frontMatter, "manual.md", "---\nversion:\n  - 1\n---\n")
        #expect(e.problem.contains("holds a list"))
    }

    @Test func unclosedFrontMatterIsRejected() throws {
        let e = try readError(.frontMatter, "manual.md", "---\nversion: 1.2.3\n# Manual\n")
        #expect(e.problem.contains("not closed"))
        #expect(e.detail == "line 1")
    }

    @Test func invalidFrontMatterYAMLIsReportedAtItsFileLine() throws {
        let e = try readError(.frontMatter, "manual.md", "---\ntitle: a\nlist: [1, 2\nversion: 1.2.3\n---\n")
        #expect(e.problem.contains("not valid YAML"))
        #expect(e.detail.hasPrefix("line 4") || e.detail.hasPrefix("line 5"))
    }

    @Test func repeatedFrontMatterKeyIsRejected() throws {
        let e = try readError(.frontMatter, "manual.md", "---\nversion: '1.0.0'\nversion: '2.0.0'\n---\n")
        #expect(e.problem.contains("repeats the key \"version\""))
    }

    @Test func deeplyNestedFrontMatterIsRejected() throws {
        let e = try readError(.frontMatter, "manual.md", "---\nx: " + String(repeating: "[", count: 5000) + "\n---\n")
        #expect(e.problem.contains("nests collections deeper"))
    }

    @Test func frontMatterAnchorsAreRejected() throws {
        let bomb = "---\na: &a [x, x, x]\nb: &b [*a, *a, *a]\n? *b\n: 1\nversion: '1.0'\n---\n"
        let e = try readError(.frontMatter, "manual.md", bomb)
        #expect(e.problem.contains("anchor (&a)"))
        #expect(e.detail == "line 2")
    }

    @Test func frontMatterTextThatOnlyLooksLikeYAMLSyntaxIsAccepted() throws {
        let text =
            "---\ntitle: Q &A, it's [[[ not nested\nnote: \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"\nversion: '2.3.1'\n---\n"
        #expect(try read(.frontMatter, "manual.md", text).found == "2.3.1")
    }

    @Test(arguments: [
        ("# Installation Manual V2.3.1.1024", "V2.3.1.1024"),
        ("Manual 2.3.1-rc.1+build.5 for sites", "2.3.1-rc.1+build.5"),
        ("## User guide, version v1.2 (and 3.4)", "v1.2"),
        ("# Handbuch 2.3.1 (deutsch)", "2.3.1"),
        ("Manual_2.3.1", "2.3.1"),
    ])
    func titleLineVersionTokenIsFound(line: String, token: String) throws {
        #expect(try read(.titleLine, "manual.md", line + "\n\nBody 9.9.9\n").found == token)
    }

    @Test(arguments: [
        "# Release 10", "Guide for model X2.3.1", "Version 2.3.1a", "Ends with 2.3.1.", "# Manual", "Section 1.2.3.4.x",
    ])
    func titleLineWithoutWholeVersionTokenFindsNothing(line: String) throws {
        #expect(try read(.titleLine, "manual.md", line + "\n").found == nil)
    }

    @Test func titleLineIsFirstNonEmptyLineAfterFrontMatter() throws {
        let r = try read(
            .titleLine, "manual.md", "---\nversion: '1.0.0'\n---\n\n   \n# Manual V2.3.1.1024\nText 9.9.9\n")
        #expect(
            r == VersionReading(format: .titleLine, file: "manual.md", location: "title line 6", found: "V2.3.1.1024"))
    }

    @Test func documentIsReadBothWays() throws {
        let path = folder.write("manual.md", "---\nversion: '2.3.1'\n---\n# Manual V2.3.0\n")
        let readings = try VersionReaders.readDocument(path: path, displayPath: "manual.md")
        #expect(readings.map(\.format) == [.frontMatter, .titleLine])
        #expect(readings.map(\.found) == ["2.3.1", "V2.3.0"])
        let plain = folder.write("plain.md", "# Manual V2.3.0\n")
        #expect(try VersionReaders.readDocument(path: plain, displayPath: "plain.md").map(\.format) == [.titleLine])
    }

    @Test func emptyDocumentHasNoTitleLine() throws {
        let r = try read(.titleLine, "manual.md", "\n\n")
        #expect(r.found == nil)
        #expect(r.location.hasPrefix("title line"))
    }

    // MARK: Model cards

    @Test(arguments: [
        ("card.md", "---\nversion: \"2.3.1\"\n---\n# Card\n", "front matter key \"version\" (line 2)"),
        ("card.json", "{\"name\": \"detector\", \"version\": \"2.3.1\"}", "top-level key \"version\""),
        ("card.yaml", "name: detector\nversion: \"2.3.1\"\n", "top-level key \"version\" (line 2)"),
    ])
    func modelCardVersionIsRead(name: String, text: String, location: String) throws {
        let r = try read(.modelCard, name, text)
        #expect(r == VersionReading(format: .modelCard, file: name, location: location, found: "2.3.1"))
    }

    @Test(arguments: [("card.json", "{\"version\": 2}"), ("card.yml", "version: 2.10\n")])
    func modelCardNonTextVersionIsRejected(name: String, text: String) throws {
        let e = try readError(.modelCard, name, text)
        #expect(e.problem.contains("version"))
    }

    @Test func modelCardOfUnknownKindIsRejected() throws {
        let e = try readError(.modelCard, "card.txt", "version 2.3.1")
        #expect(e.problem.contains("must be Markdown"))
    }

    // MARK: PDF

    @Test(arguments: [false, true])
    func pdfVersionIsReadFromInfo(useXRefStream: Bool) throws {
        let r = try read(
            .pdfInfo, "guide.pdf",
            FormatFixtures.pdf(info: ["Title": "Guide", "Version": "V2.3.1.1024"], useXRefStream: useXRefStream))
        #expect(
            r
                == VersionReading(
                    format: .pdfInfo, file: "guide.pdf", location: "PDF /Info /Version", found: "V2.3.1.1024"))
    }

    @Test(arguments: [false, true])
    func pdfWithoutInfoFindsNothing(useXRefStream: Bool) throws {
        #expect(
            try read(.pdfInfo, "guide.pdf", FormatFixtures.pdf(infoDictionary: nil, useXRefStream: useXRefStream)).found
                == nil)
    }

    @Test func pdfInfoWithoutVersionFindsNothing() throws {
        #expect(try read(.pdfInfo, "guide.pdf", FormatFixtures.pdf(info: ["Title": "Guide"])).found == nil)
    }

    @Test func pdfKeyCanBeChosen() throws {
        let bytes = FormatFixtures.pdf(info: ["Title": "Guide 2.3.1", "Release": "2.3.1"])
        #expect(try read(.pdfInfo, "guide.pdf", bytes, key: "Release").found == "2.3.1")
    }

    @Test(arguments: [
        ("<< /Version <322E332E31> >>", "2.3.1"),
        ("<< /Version <32 2E 33 2E 3> >>", "2.3.0"),
        ("<< /Version <FEFF0056 0032002E0033 00A0 00FC> >>", "V2.3\u{A0}ü"),
        ("<< /Version (2.3.1 \\(beta\\) \\\\ \\101\\t\\0621) >>", "2.3.1 (beta) \\ A\t21"),
        ("<< /Version (a (b) c) >>", "a (b) c"),
        ("<< /Version (2.3.\\\n1) >>", "2.3.1"),
        ("<< /Version (caf\\351) >>", "café"),
        ("<< /Ver#73ion (2.3.1) /Title [ (x) 1 2.5 /N << /A null >> ] >>", "2.3.1"),
        ("<< % a comment\n/Version (2.3.1) >>", "2.3.1"),
    ])
    func pdfStringsAreDecoded(dictionary: String, expected: String) throws {
        let r = try read(.pdfInfo, "guide.pdf", FormatFixtures.pdf(infoDictionary: dictionary))
        #expect(r.found == expected)
    }

    @Test func pdfNonASCIIVersionIsWrittenAndReadAsUTF16() throws {
        let r = try read(.pdfInfo, "guide.pdf", FormatFixtures.pdf(info: ["Version": "Version 2.3.1 – Übersicht"]))
        #expect(r.found == "Version 2.3.1 – Übersicht")
    }

    @Test func pdfVersionHeldInAnotherObjectIsRead() throws {
        let bytes = FormatFixtures.pdf(infoDictionary: "<< /Version 6 0 R >>", extraObjects: ["(2.3.1)"])
        #expect(try read(.pdfInfo, "guide.pdf", bytes).found == "2.3.1")
    }

    @Test func pdfInfoInObjectStreamIsRejectedWithAWayOut() throws {
        let bytes = FormatFixtures.pdf(
            infoDictionary: "<< /Version (2.3.1) >>", useXRefStream: true, infoInObjectStream: true)
        let e = try readError(.pdfInfo, "guide.pdf", bytes)
        #expect(e.problem.contains("compressed object stream"))
        #expect(e.hint.contains("without object streams"))
        #expect(e.hint.contains("Markdown"))
        #expect(e.detail.hasPrefix("the cross-reference stream at byte"))
    }

    @Test func pdfInfoThatCannotBeFoundIsBlamedOnObjectStreams() throws {
        let e = try readError(.pdfInfo, "guide.pdf", FormatFixtures.pdf(infoDictionary: "<< /Version 9 0 R >>"))
        #expect(e.problem.contains("probably inside a compressed object stream"))
        #expect(e.detail == "the /Info entry /Version 9 0 R")
    }

    /// An object 6 stream whose data looks like another object 5 claiming version 9.9.9: a reader that
    /// scans instead of following the cross-reference section finds the decoy.
    static let decoy: String = {
        let data = "\n5 0 obj\n<< /Version (9.9.9) >>\nendobj\n"
        return "<< /Length \(data.utf8.count) >>\nstream\n\(data)\nendstream"
    }()

    @Test(arguments: [false, true])
    func pdfInfoIsLocatedThroughTheCrossReferenceSection(useXRefStream: Bool) throws {
        let bytes = FormatFixtures.pdf(
            infoDictionary: "<< /Version (2.3.1) >>", useXRefStream: useXRefStream, extraObjects: [Self.decoy])
        #expect(try read(.pdfInfo, "guide.pdf", bytes).found == "2.3.1")
    }

    @Test func pdfIncrementalUpdateIsFollowedThroughPrev() throws {
        var bytes = FormatFixtures.pdf(info: ["Version": "2.3.1"])
        let oldXRef = try #require(lastRange(of: "startxref\n", in: bytes)).advanced(by: 10)
        let previous = String(decoding: bytes[oldXRef...].prefix { $0 != 0x0A }, as: UTF8.self)
        // The update adds only object 6, a decoy; object 5 stays listed in the old section only.
        let object6 = bytes.count
        bytes += Array("6 0 obj\n\(Self.decoy)\nendobj\n".utf8)
        let xref = bytes.count
        let offset = String(object6)
        bytes += Array(
            "xref\n0 1\n0000000000 65535 f \n6 1\n\(String(repeating: "0", count: 10 - offset.count) + offset) 00000 n \n"
                .utf8)
        bytes += Array(
            "trailer\n<< /Size 7 /Root 1 0 R /Info 5 0 R /Prev \(previous) >>\nstartxref\n\(xref)\n%%EOF\n".utf8)
        #expect(try read(.pdfInfo, "guide.pdf", bytes).found == "2.3.1")
    }

    @Test func pdfInfoIsFoundByScanningWhenItsXRefEntryIsWrong() throws {
        var bytes = FormatFixtures.pdf(info: ["Version": "2.3.1"])
        let table = try #require(firstRange(of: "xref\n", in: bytes))
        let entry5 = table + 5 + 4 + 5 * 20
        bytes.replaceSubrange(entry5..<(entry5 + 10), with: Array("0000000001".utf8))
        #expect(try read(.pdfInfo, "guide.pdf", bytes).found == "2.3.1")
    }

    @Test func pdfWithWrongStartxrefIsReadThroughItsTrailer() throws {
        var bytes = FormatFixtures.pdf(info: ["Version": "2.3.1"])
        let startxref = try #require(lastRange(of: "startxref\n", in: bytes))
        bytes.replaceSubrange((startxref + 10)..<(bytes.count - 6), with: Array("12\n".utf8))
        #expect(try read(.pdfInfo, "guide.pdf", bytes).found == "2.3.1")
    }

    @Test func pdfNonTextVersionIsRejected() throws {
        let e = try readError(.pdfInfo, "guide.pdf", FormatFixtures.pdf(infoDictionary: "<< /Version 2.3 >>"))
        #expect(e.problem == "/Version is a number, not a text string")
    }

    @Test func pdfUnterminatedInfoIsRejected() throws {
        let e = try readError(.pdfInfo, "guide.pdf", FormatFixtures.pdf(infoDictionary: "<< /Version (2.3.1 >>"))
        #expect(e.problem.contains("string"))
    }

    @Test func truncatedPDFIsRejected() throws {
        let bytes = FormatFixtures.pdf(info: ["Version": "2.3.1"])
        let e = try readError(.pdfInfo, "guide.pdf", Array(bytes[0..<(bytes.count / 2)]))
        #expect(e.problem.contains("no cross-reference section or trailer"))
    }

    @Test func fileThatIsNotAPDFIsRejected() throws {
        let e = try readError(.pdfInfo, "guide.pdf", "just text\n")
        #expect(e.problem.contains("%PDF-"))
    }

    func firstRange(of text: String, in bytes: [UInt8]) -> Int? {
        let needle = Array(text.utf8)
        return (0...(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle }
    }

    func lastRange(of text: String, in bytes: [UInt8]) -> Int? {
        let needle = Array(text.utf8)
        return (0...(bytes.count - needle.count)).reversed().first { Array(bytes[$0..<($0 + needle.count)]) == needle }
    }

    // MARK: SBOMs

    @Test func cycloneDXComponentVersionIsRead() throws {
        let r = try read(.cycloneDX, "bom.cdx.json", FormatFixtures.cycloneDX(version: "V2.3.1.1024"))
        #expect(
            r
                == VersionReading(
                    format: .cycloneDX, file: "bom.cdx.json", location: "CycloneDX metadata.component.version",
                    found: "V2.3.1.1024"))
        #expect(try read(.cycloneDX, "bom.cdx.json", FormatFixtures.cycloneDX(version: nil)).found == nil)
    }

    @Test func cycloneDXWithoutCycloneDXFormatIsRejected() throws {
        let e = try readError(.cycloneDX, "bom.cdx.json", FormatFixtures.spdx(productName: "P", version: "1"))
        #expect(e.problem == "bomFormat is absent, not \"CycloneDX\"")
    }

    @Test func cycloneDXNonStringVersionIsRejected() throws {
        let e = try readError(
            .cycloneDX, "bom.cdx.json", #"{"bomFormat":"CycloneDX","metadata":{"component":{"version":2}}}"#)
        #expect(e.problem.contains("is a number, not a string"))
    }

    @Test func spdxDescribedPackageVersionIsRead() throws {
        let r = try read(
            .spdx, "bom.spdx.json", FormatFixtures.spdx(productName: "PulmoScan AI", version: "V2.3.1.1024"))
        #expect(r.found == "V2.3.1.1024")
        #expect(r.location == "SPDX package \"PulmoScan AI\" (SPDXRef-Product) versionInfo")
    }

    @Test func spdxWithoutDescribesFallsBackToTheProductName() throws {
        let bytes = FormatFixtures.spdx(productName: "PulmoScan AI", version: "2.3.1", describes: false)
        #expect(try read(.spdx, "bom.spdx.json", bytes, productName: "PulmoScan AI").found == "2.3.1")
        #expect(try read(.spdx, "bom.spdx.json", bytes, productName: "Other").found == nil)
        #expect(try read(.spdx, "bom.spdx.json", bytes).found == nil)
    }

    @Test func spdxDocumentDescribesFieldIsHonoured() throws {
        let doc = """
            {"spdxVersion":"SPDX-2.2","SPDXID":"SPDXRef-DOCUMENT","documentDescribes":["SPDXRef-B"],
             "packages":[{"SPDXID":"SPDXRef-A","name":"PulmoScan AI","versionInfo":"1.0"},{"SPDXID":"SPDXRef-B","name":"core","versionInfo":"2.3.1"}]}
            """
        #expect(try read(.spdx, "bom.spdx.json", Array(doc.utf8), productName: "PulmoScan AI").found == "2.3.1")
    }

    @Test func spdxThreeIsRejected() throws {
        let e = try readError(.spdx, "bom.spdx.json", #"{"spdxVersion":"SPDX-3.0"}"#)
        #expect(e.problem.contains("not an SPDX 2.x version"))
    }

    @Test func malformedSBOMJSONIsRejectedWithItsLine() throws {
        let e = try readError(.cycloneDX, "bom.cdx.json", "{\n\"bomFormat\": \"CycloneDX\",\n}")
        #expect(e.detail.hasPrefix("byte"))
        #expect(e.detail.contains("line 3"))
    }

    // MARK: Format detection

    @Test(
        arguments: [
            ("models/m.safetensors", "model", VersionFormat.safetensors),
            ("models/M.GGUF", "model", .gguf),
            ("models/config.json", "model", nil),
            ("docs/manual.md", "document", .frontMatter),
            ("docs/readme.markdown", "document", .frontMatter),
            ("docs/guide.pdf", "document", .pdfInfo),
            ("docs/figure.png", "document", nil),
            ("sbom/bom.cdx.json", "dependency-manifest", .cycloneDX),
            ("sbom/bom.spdx.json", "dependency-manifest", .spdx),
            ("deps/requirements.txt", "dependency-manifest", nil),
            ("sbom/notes.txt", "dependency-manifest", nil),
            ("service/app.py", "code", nil),
        ] as [(String, String, VersionFormat?)])
    func formatIsDetectedFromTheName(path: String, kind: String, expected: VersionFormat?) throws {
        #expect(try VersionReaders.detectFormat(path: path, componentKind: kind) == expected)
    }

    @Test func plainJSONManifestIsDetectedByContent() throws {
        let cdx = folder.write("a.json", FormatFixtures.cycloneDX(version: "1"))
        let spdx = folder.write("b.json", FormatFixtures.spdx(productName: "P", version: "1"))
        let other = folder.write("c.json", "{\"name\": \"x\"}")
        #expect(try VersionReaders.detectFormat(path: cdx, componentKind: "dependency-manifest") == .cycloneDX)
        #expect(try VersionReaders.detectFormat(path: spdx, componentKind: "dependency-manifest") == .spdx)
        let e = try #require(throws: InputError.self) {
            try VersionReaders.detectFormat(path: other, componentKind: "dependency-manifest")
        }
        #expect(e.problem.contains("neither a CycloneDX SBOM"))
    }

    // MARK: Requirements

    func problems(_ text: String) throws -> [RequirementProblem] {
        let path = folder.write("requirements.txt", text)
        return try VersionReaders.unpinnedRequirements(path: path, displayPath: "deps/requirements.txt")
    }

    @Test func pinnedRequirementsHaveNoProblems() throws {
        let text = """
            # Validated with these exact versions.
            --index-url https://pypi.example.invalid/simple
            --require-hashes

            numpy==1.26.4
            requests[socks,security]==2.31.0 ; python_version >= "3.8"
            torch===2.1.0+cpu
            Pillow == 10.2.0  # inline comment
            scipy==1.11.4 \\
                --hash=sha256:aaaa \\
                --hash=sha256:bbbb
            six==1.16.0 --hash sha256:cccc
            legacy (==0.9.1)

            """
        #expect(try problems(text) == [])
    }

    @Test(arguments: [
        ("numpy>=1.26", "uses '>=' (a range)"),
        ("numpy<=1.26", "uses '<=' (a range)"),
        ("numpy>1.26", "uses '>' (a range)"),
        ("numpy<2", "uses '<' (a range)"),
        ("numpy~=1.26.0", "uses '~=' (a compatible-release range)"),
        ("numpy!=1.25.0", "uses '!='"),
        ("numpy==1.*", "uses a wildcard ('==1.*')"),
        ("numpy==1.26.4,<2", "uses '<' (a range)"),
        ("numpy", "has no version specifier"),
        ("numpy[extra] ; python_version >= \"3.8\"", "has no version specifier"),
        ("numpy==", "with no version"),
        ("-r other.txt", "includes another file; list its pins here instead"),
        ("--requirement=other.txt", "includes another file"),
        ("-c constraints.txt", "includes another file"),
        ("-e ./local/package", "editable"),
        ("--editable git+https://example.invalid/x.git#egg=x", "editable"),
        ("pkg @ https://example.invalid/pkg-1.0-py3-none-any.whl", "not pinned to a version"),
        ("https://example.invalid/pkg-1.0.tar.gz", "not pinned to a version"),
        ("./vendor/pkg", "not pinned to a version"),
        ("numpy==1.26.4 --install-option=x", "does not know"),
    ])
    func unpinnedRequirementIsNamed(line: String, problem: String) throws {
        let found = try problems("numpy==1.26.4\n" + line + "\n")
        #expect(found.count == 1)
        #expect(found.first?.line == 2)
        #expect(found.first?.requirement == line)
        #expect(found.first?.problem.contains(problem) == true, "\(found.first?.problem ?? "no problem")")
        #expect(found.first?.file == "deps/requirements.txt")
    }

    @Test func problemLinesAreThoseWhereTheLogicalLineStarts() throws {
        let text = "# header\nnumpy>=1 \\\n    --hash=sha256:abc\n\nscipy  # no pin\n"
        let found = try problems(text)
        #expect(found.map(\.line) == [2, 5])
        #expect(found.map(\.requirement) == ["numpy>=1     --hash=sha256:abc", "scipy"])
    }

    @Test(arguments: [
        ("requirements.txt", true), ("deps/requirements-dev.txt", true), ("ml.requirements.txt", true),
        ("constraints.txt", true), ("Requirements.TXT", true), ("requirements.in", false), ("notes.txt", false),
        (".requirements.txt", false),
    ])
    func requirementsFilesAreRecognisedByName(path: String, expected: Bool) {
        #expect(VersionReaders.isRequirementsFile(path) == expected)
    }

    // MARK: Errors

    @Test func errorDescriptionSaysFileProblemWhereAndHint() {
        let e = InputError.versionSource(
            file: "m.gguf", detail: "byte 0", problem: "bad magic", hint: "Export it again.")
        #expect(e.description == "m.gguf: bad magic at byte 0. Export it again.")
        #expect(e.exitStatus == .badInput)
    }
}
