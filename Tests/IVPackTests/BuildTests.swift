import Foundation
import IVPack
import IVPackTestSupport
import Testing

@Suite struct BuildTests {
    @Test func buildWritesTarWithManifestFirstAndEveryFile() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        let result = try release.build(to: out.url("b.ivp"))
        let listing = run("/usr/bin/tar", ["-tf", out.url("b.ivp")])
        #expect(listing.status == 0, "tar -tf failed: \(listing.stderr)")
        let names = listing.stdout.split(separator: "\n").map(String.init)
        #expect(names.first == Manifest.entryPath)
        #expect(names == [Manifest.entryPath] + result.manifest.allFiles.map(\.path))
        #expect(names.contains("payload/service/lib/util.py"))
        #expect(names.contains("payload/release-notes.md"))
        #expect(
            result.manifest.components.map(\.name) == [
                "inference-service", "nodule-detector", "manuals", "sbom", "licences", "release-notes",
            ])
        // Payload bytes in the tar are the files' bytes.
        let extracted = run("/usr/bin/tar", ["-xOf", out.url("b.ivp"), "payload/service/app.py"])
        #expect(extracted.stdout == String(decoding: release.folder.read("service/app.py"), as: UTF8.self))
    }

    @Test(.clause("REL-003", "REL-005")) func manifestRecordsDigestsChunksModesAndProvenance() throws {
        let release = ReleaseFixture()
        // A file spanning several 64 KiB chunks with an uneven tail.
        var big = [UInt8](repeating: 0, count: 200_000)
        for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        release.folder.write("LICENSE.txt", big)
        let out = TemporaryFolder()
        let result = try release.build(to: out.url("b.ivp"))
        let m = result.manifest
        let licence = try #require(m.allFiles.first { $0.path == "payload/LICENSE.txt" })
        #expect(licence.size == 200_000)
        #expect(licence.sha256 == SHA256Digest.of(big))
        #expect(licence.chunks.count == 4)
        #expect(licence.chunks[0] == SHA256Digest.of(big[0..<65536]))
        #expect(licence.chunks[3] == SHA256Digest.of(big[196608...]))
        #expect(m.allFiles.first { $0.path == "payload/service/run.sh" }?.mode == "0755")
        #expect(m.allFiles.first { $0.path == "payload/service/app.py" }?.mode == "0644")
        let head = git(["rev-parse", "HEAD"], in: release.root).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(m.provenance.git.count == 1)
        #expect(m.provenance.git.first?.component == "inference-service")
        #expect(m.provenance.git.first?.commit == head)
        #expect(m.provenance.git.first?.tag == release.version)
        #expect(m.provenance.git.first?.annotatedTag == true)
        #expect(m.provenance.specSHA256 == SHA256Digest.of(release.folder.read("ivpack.yaml")))
        #expect(m.provenance.sourceDateEpoch == 1_700_000_000)
        #expect(m.components.first { $0.name == "nodule-detector" }?.versionEvidence.first?.source == "safetensors")
        // What the bundle holds decodes to what build returned, and the openssl digest agrees.
        let inspection = try BundleInspector.inspect(path: out.url("b.ivp"))
        #expect(inspection.manifest == m)
        #expect(inspection.manifestDigest == result.manifestDigest)
        let manifestBytes = run("/usr/bin/tar", ["-xOf", out.url("b.ivp"), Manifest.entryPath]).stdout
        #expect(SHA256Digest.of(Array(manifestBytes.utf8)) == result.manifestDigest)
    }

    @Test(.clause("REL-003")) func buildIsByteIdenticalAcrossFoldersUmaskLocaleAndFileOrder() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        let epoch = ["SOURCE_DATE_EPOCH": "1700000000"]
        let first = ivpack(["build", "--spec", release.specPath, "--output", out.url("one.ivp")], environment: epoch)
        #expect(first.status == 0, "\(first.stderr)")
        // The same release in another folder, files created in the reverse order, other umask and locale.
        let copy = TemporaryFolder("ivpack-copy")
        let files = run("/usr/bin/git", ["ls-files", "-z"], in: release.root).stdout.split(separator: "\0").map(
            String.init)
        for file in files.reversed() {
            let mode =
                (try FileManager.default.attributesOfItem(atPath: release.folder.url(file))[.posixPermissions] as? Int)
                ?? 0o644
            copy.write(file, release.folder.read(file), mode: mode & 0o100 != 0 ? 0o700 : 0o600)
        }
        run("/bin/cp", ["-a", release.folder.url(".git"), copy.url(".git")])
        let second = run(
            "/bin/sh",
            [
                "-c", "umask 077; exec \"$0\" build --spec ivpack.yaml --output \"$1\"", ivpackExecutable,
                out.url("two.ivp"),
            ],
            in: copy.path,
            environment: epoch.merging(["LC_ALL": "C", "LANG": "tr_TR.UTF-8", "TZ": "Pacific/Kiritimati"]) { $1 })
        #expect(second.status == 0, "\(second.stderr)")
        let a = out.read("one.ivp")
        let b = out.read("two.ivp")
        #expect(!a.isEmpty)
        #expect(SHA256Digest.of(a) == SHA256Digest.of(b))
        // Headers carry no host identity or time.
        let verbose = run("/usr/bin/tar", ["--numeric-owner", "-tvf", out.url("one.ivp")]).stdout
        for line in verbose.split(separator: "\n") {
            #expect(line.contains(" 0/0 "), "owner leaked: \(line)")
            #expect(line.contains("2023-11-14"), "time is not SOURCE_DATE_EPOCH: \(line)")
        }
    }

    @Test func sourceDateEpochDefaultsToTheCommitTime() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        let result = try release.build(to: out.url("b.ivp"), epoch: nil)
        // ReleaseFixture commits at 2026-11-01T10:00:00Z.
        #expect(result.manifest.provenance.sourceDateEpoch == 1_793_527_200)
    }

    @Test func bundleEndsWithOneEndMarkerAndNoBlockPadding() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        let result = try release.build(to: out.url("b.ivp"))
        let bytes = out.read("b.ivp")
        #expect(Int64(bytes.count) == result.bundleSize)
        #expect(bytes.count % 512 == 0)
        #expect(bytes.suffix(1024).allSatisfy { $0 == 0 })
        #expect(bytes.dropLast(1024).suffix(512).contains { $0 != 0 }, "more than one end marker")
    }

    @Test func progressShowsOnATerminalOnlyAndNotWithQuiet() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        // Not a terminal: nothing on standard error.
        let plain = ivpack(["build", "--spec", release.specPath, "--output", out.url("a.ivp")])
        #expect(plain.status == 0)
        #expect(plain.stderr.isEmpty, "\(plain.stderr)")
        // A terminal (script(1) gives the command a pseudo-terminal): the progress line appears.
        let command = "\"\(ivpackExecutable)\" build --spec \"\(release.specPath)\" --output \"\(out.url("b.ivp"))\""
        let tty = run("/usr/bin/script", ["-qec", command, "/dev/null"])
        #expect(tty.status == 0, "\(tty.stdout)")
        #expect(tty.stdout.contains("build "), "\(tty.stdout)")
        #expect(tty.stdout.contains(", done"), "\(tty.stdout)")
        let quiet = run(
            "/usr/bin/script",
            ["-qec", command.replacingOccurrences(of: "b.ivp", with: "c.ivp") + " --quiet", "/dev/null"])
        #expect(quiet.status == 0)
        #expect(!quiet.stdout.contains(", done"), "\(quiet.stdout)")
    }
}
