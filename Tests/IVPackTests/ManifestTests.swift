import Testing
import IVPack
import IVPackTestSupport

@Suite struct ManifestTests {
    func sample() throws -> (Manifest, [UInt8]) {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        let result = try release.build(to: out.url("b.ivp"))
        return (result.manifest, result.manifest.canonicalBytes)
    }

    @Test func canonicalBytesDecodeToTheSameManifest() throws {
        let (manifest, bytes) = try sample()
        #expect(try Manifest.decode(bytes, source: "test") == manifest)
    }

    @Test func nonCanonicalManifestIsRefused() throws {
        let (_, bytes) = try sample()
        let pretty = Array(PrettyJSON.render(try JSONParser.parse(bytes)).utf8)
        let error = #expect(throws: ManifestError.self) { try Manifest.decode(pretty, source: "test") }
        #expect(error?.problem.contains("canonical") == true)
    }

    @Test(arguments: [
        ("\"path\":\"payload/service/VERSION\"", "\"path\":\"payload/../etc/passwd\"", "/components/0/files/0/path"),
        ("\"mode\":\"0644\"", "\"mode\":\"4755\"", "/mode"),
        ("\"format\":\"ivpack-manifest/1\"", "\"format\":\"ivpack-manifest/9\"", "/format"),
        ("\"kind\":\"code\"", "\"kind\":\"binary\"", "/components/0/kind"),
    ])
    func invalidMembersAreNamedByPointer(from: String, to: String, pointer: String) throws {
        let (_, bytes) = try sample()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(from))
        let changed = Array(text.replacingOccurrences(of: from, with: to).utf8)
        let error = #expect(throws: ManifestError.self) { try Manifest.decode(changed, source: "test") }
        #expect(error?.pointer.hasSuffix(pointer) == true, "\(String(describing: error))")
    }

    @Test func aFileListedTwiceIsRefused() throws {
        let (manifest, _) = try sample()
        var twice = manifest
        twice.components[0].files.append(twice.components[0].files[0])
        let error = #expect(throws: ManifestError.self) { try Manifest.decode(twice.canonicalBytes, source: "test") }
        #expect(error?.problem.contains("listed twice") == true)
    }
}
