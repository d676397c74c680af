import Foundation
import Testing
import IVPack
import IVPackTestSupport

@Suite struct InspectTests {
    @Test func inspectPrintsProductVersionFilesAndNoSignatures() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        let built = try release.build(to: out.url("b.ivp"))
        let r = ivpack(["inspect", out.url("b.ivp")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Product:   PulmoScan AI (PS-AI), Example Medical AI Co."))
        #expect(r.stdout.contains("Version:   V2.3.1.1024"))
        #expect(r.stdout.contains(built.manifestDigest.hex))
        #expect(r.stdout.contains("payload/models/detector.safetensors"))
        #expect(r.stdout.contains("Signatures: none"))
    }

    @Test func inspectJSONCarriesTheManifest() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        let built = try release.build(to: out.url("b.ivp"))
        let r = ivpack(["inspect", "--json", out.url("b.ivp")])
        #expect(r.status == 0, "\(r.stderr)")
        let value = try JSONParser.parse(Array(r.stdout.utf8))
        #expect(value["manifestSHA256"] == .string(built.manifestDigest.hex))
        #expect(value["manifest"]?["version"] == .string("V2.3.1.1024"))
        #expect(value["manifest"]?["components"]?.arrayValue?.count == built.manifest.components.count)
        #expect(value["signatures"] == .array([]))
    }

    @Test func inspectRefusesAnArchiveThatIsNotABundle() throws {
        let out = TemporaryFolder()
        out.write("x/readme.txt", "hello\n")
        #expect(run("/usr/bin/tar", ["-cf", out.url("plain.tar"), "-C", out.url("x"), "readme.txt"]).status == 0)
        let r = ivpack(["inspect", out.url("plain.tar")])
        #expect(r.status == 2)
        #expect(r.stderr.contains("the first entry is \"readme.txt\", not ivpack/manifest.json"))
    }

    @Test func inspectRefusesAGzippedBundle() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        _ = try release.build(to: out.url("b.ivp"))
        #expect(run("/bin/gzip", ["-k", out.url("b.ivp")]).status == 0)
        let r = ivpack(["inspect", out.url("b.ivp.gz")])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("b.ivp.gz"))
    }
}
