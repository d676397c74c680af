import Foundation
import IVPack
import IVPackTestSupport
import Testing

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

/// Issue 13: inspect printed entry names from the bundle raw; a hostile name could drive the
/// terminal. It now shows them escaped, with the problems verify would fail on.
@Suite struct InspectHostileNameTests {
    @Test func inspectEscapesHostileEntryNames() throws {
        let signed = try SignedRelease(signedBy: ["release-manager"])
        let hostile = try HostileBundles(signed)
        let name = "payload/\u{1B}[2J\u{1B}]0;owned\u{07}"
        let path = signed.folder.url("hostile.ivp")
        _ = FileManager.default.createFile(atPath: path, contents: Data(hostile.inserting(RawTar.file(name, [1]))))
        let r = ivpack(["inspect", path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(
            !r.stdout.contains("\u{1B}") && !r.stdout.contains("\u{07}"), "a control character reached the terminal")
        #expect(
            r.stdout.contains("warning: entry not in the manifest: payload/\\u{1b}[2J\\u{1b}]0;owned\\u{7}"),
            "\(r.stdout)")
        let json = ivpack(["inspect", "--json", path])
        let value = try JSONParser.parse(Array(json.stdout.utf8))
        #expect(value["problems"]?.arrayValue?.isEmpty == false)
    }
}
