import IVPack
import IVPackTestSupport
import Testing

@Suite struct SpecTests {
    func parse(_ text: String) throws -> ReleaseSpec {
        try ReleaseSpec.parse(bytes: Array(text.utf8), file: "ivpack.yaml", root: "/tmp")
    }

    @Test func exampleSpecParses() throws {
        let spec = try parse(ReleaseFixture.spec(version: "V2.3.1.1024"))
        #expect(spec.version == "V2.3.1.1024")
        #expect(spec.components.count == 5)
        #expect(spec.chunkSize == 65536)
        #expect(spec.requirements?.memory?.value.minimum == 1 << 30)
        #expect(spec.requirements?.json["tools"]?.arrayValue?.first?["minimum"] == .string("3.9"))
    }

    @Test(arguments: [
        ("apiVersion: ivpack.dev/v2", "apiVersion", "not supported"),
        ("chunkSize: 64KiB", "chunkSize", "power of two"),
        ("    kind: code", "components[0].version", "no version settings"),
        ("    paths: [service]", "components[0].paths[0]", "leaves the release folder"),
        ("  name: PulmoScan AI", "product.name", "expected a string"),
        ("version: V2.3.1.1024", "version", "printable ASCII"),
    ])
    func invalidFieldsAreNamed(line: String, field: String, problem: String) throws {
        let replacements: [String: String] = [
            "apiVersion: ivpack.dev/v2": "apiVersion: ivpack.dev/v1",
            "chunkSize: 64KiB": "chunkSize: 64KiB",
        ]
        var text = ReleaseFixture.spec(version: "V2.3.1.1024")
        switch field {
        case "apiVersion": text = text.replacingOccurrences(of: replacements[line]!, with: line)
        case "chunkSize": text = text.replacingOccurrences(of: line, with: "chunkSize: 3000")
        case "components[0].version":
            text = text.replacingOccurrences(of: "    kind: file", with: "    kind: file\n    version: {key: version}")
        case "components[0].paths[0]": text = text.replacingOccurrences(of: line, with: "    paths: [service/../../x]")
        case "product.name": text = text.replacingOccurrences(of: line, with: "  name: [a, b]")
        default: text = text.replacingOccurrences(of: line, with: "version: V2.3 .1")
        }
        let error = #expect(throws: InputError.self) { try parse(text) }
        #expect(error?.kind == .yaml)
        let expectedField = field == "components[0].version" ? "components[4].version" : field
        #expect(error?.field == expectedField, "\(String(describing: error))")
        #expect(error?.problem.contains(problem) == true, "\(String(describing: error))")
        #expect((error?.line ?? 0) > 0)
    }

    @Test func duplicateKeyIsRefused() {
        let text = ReleaseFixture.spec(version: "V1.0.0.1").replacingOccurrences(
            of: "version: V1.0.0.1", with: "version: V1.0.0.1\nversion: V1.0.0.2")
        let error = #expect(throws: InputError.self) { try parse(text) }
        #expect(error?.kind == .yaml)
        #expect(error?.problem.contains("appears twice") == true, "\(String(describing: error))")
        #expect(error?.problem.contains("\"version\"") == true)
        #expect((error?.line ?? 0) > 0)
    }

    @Test(arguments: ["~", "null", "true"])
    func yamlNullsAndBooleansAreNotVersions(value: String) {
        let text = ReleaseFixture.spec(version: value)
        let error = #expect(throws: InputError.self) { try parse(text) }
        #expect(error?.kind == .yaml)
        #expect(error?.field == "version")
    }

    @Test func aliasesAreRefused() {
        let text = ReleaseFixture.spec(version: "V1.0.0.1").replacingOccurrences(
            of: "  model: PS-AI", with: "  model: &m PS-AI\nreleaseNotesAlias: *m")
        #expect(throws: InputError.self) { try parse(text) }
    }

    @Test(arguments: ["a/./b//c/", "a/x/../b"])
    func relativePathsNormalise(path: String) {
        let r = RelativePath.normalize(path)
        #expect((try? r.get()) == (path.hasPrefix("a/x") ? "a/b" : "a/b/c"))
    }
}
