import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// The JSON Schemas in Schemas/ describe what ivpack really reads and writes: a built manifest and
/// the example spec validate against them (scripts/check-schemas.py, python3 jsonschema).
@Suite struct SchemaTests {
    static var repositoryRoot: String {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir.deleteLastPathComponent()
        }
        return dir.path
    }

    @Test func builtManifestAndExampleSpecValidateAgainstTheSchemas() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        _ = try release.build(to: out.url("b.ivp"))
        let r = run(
            "/usr/bin/env",
            [
                "python3", Self.repositoryRoot + "/scripts/check-schemas.py", "--spec", release.specPath,
                out.url("b.ivp"),
            ],
            in: Self.repositoryRoot)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("ok   bundle"))
    }

    @Test func schemaCheckFailsOnAManifestThatBreaksTheSchema() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        let built = try release.build(to: out.url("b.ivp"))
        // Rewrite the manifest with a mode the schema does not allow, keeping the length.
        var bytes = out.read("b.ivp")
        let manifest = built.manifest.canonicalBytes
        let start = try #require(bytes.firstRange(of: manifest)).lowerBound
        let text = String(decoding: manifest, as: UTF8.self).replacingOccurrences(
            of: "\"mode\":\"0644\"", with: "\"mode\":\"0666\"")
        bytes.replaceSubrange(start..<(start + manifest.count), with: Array(text.utf8))
        out.write("bad.ivp", bytes)
        let r = run(
            "/usr/bin/env", ["python3", Self.repositoryRoot + "/scripts/check-schemas.py", out.url("bad.ivp")],
            in: Self.repositoryRoot)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect((r.stdout + r.stderr).contains("mode"))
    }
}
