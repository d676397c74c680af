import IVPack
import Testing

@Suite struct JSONTests {
    @Test(arguments: [
        ("{\"a\":1,\"a\":2}", "duplicate key \"a\""),
        ("{\"a\":1,}", "expected a member name"),
        ("[1,2", "unexpected end of document inside an array"),
        ("01", "leading zero"),
        ("\"\\ud800\"", "lone high surrogate"),
        ("\"\\udc00\"", "lone low surrogate"),
        ("{\"a\":1} x", "unexpected data after the end"),
        ("\"a\u{01}b\"", "control character"),
        ("nul", "invalid literal"),
    ])
    func parserRefusesMalformedDocuments(text: String, problem: String) {
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8)) }
        #expect(error?.problem.contains(problem) == true, "\(String(describing: error))")
    }

    @Test func parserRefusesInvalidUTF8WithItsOffset() {
        let bytes: [UInt8] = Array("{\"k\":\"ab".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(bytes) }
        #expect(error?.offset == 8)
        #expect(error?.problem.contains("invalid UTF-8") == true)
    }

    @Test func parserEnforcesDepthAndSizeLimits() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        let e1 = #expect(throws: JSONParseError.self) {
            try JSONParser.parse(Array(deep.utf8), limits: JSONLimits(maxBytes: 1000, maxDepth: 64))
        }
        #expect(e1?.problem.contains("nesting deeper") == true)
        let e2 = #expect(throws: JSONParseError.self) {
            try JSONParser.parse(Array("[1,2,3]".utf8), limits: JSONLimits(maxBytes: 4))
        }
        #expect(e2?.problem.contains("limit") == true)
    }

    @Test func parserReportsLineAndColumn() {
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(Array("{\n  \"a\": tru\n}".utf8)) }
        #expect(error?.line == 2)
        #expect(error?.column == 8)
    }

    @Test func canonicalFormSortsKeysAndEscapesMinimally() throws {
        let value = try JSONParser.parse(
            Array("{ \"b\": [1, \"\\u00e9\\n\\u0001\\/\"], \"a\": {\"z\": true, \"A\": null}, \"\\u00e9\": -0 }".utf8))
        let canonical = String(decoding: CanonicalJSON.encode(value), as: UTF8.self)
        #expect(canonical == "{\"a\":{\"A\":null,\"z\":true},\"b\":[1,\"é\\n\\u0001/\"],\"é\":0}")
    }

    @Test func surrogatePairsDecodeToOneScalar() throws {
        let value = try JSONParser.parse(Array("\"\\ud83d\\ude00\"".utf8))
        #expect(value == .string("😀"))
    }
}
