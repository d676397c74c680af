import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Bad input ends with exit 2, a precise message, no output left behind, and the input untouched.
@Suite struct BadInputTests {
    /// Snapshot of every file under a folder (path → digest), to prove the input was not touched.
    func snapshot(_ root: String) -> [String: SHA256Digest] {
        var out: [String: SHA256Digest] = [:]
        let e = FileManager.default.enumerator(atPath: root)!
        while let p = e.nextObject() as? String {
            let full = root + "/" + p
            if (try? FileManager.default.attributesOfItem(atPath: full)[.type] as? FileAttributeType) == .typeRegular,
                let data = FileManager.default.contents(atPath: full)
            {
                out[p] = SHA256Digest.of(Array(data))
            }
        }
        return out
    }

    /// Runs the CLI build, expecting exit 2 and a message containing every fragment.
    func expectBadInput(
        _ release: ReleaseFixture, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let before = snapshot(release.root)
        let out = TemporaryFolder()
        let r = ivpack(["build", "--spec", release.specPath, "--output", out.url("b.ivp")])
        #expect(r.status == 2, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        for f in fragments {
            #expect(r.stderr.contains(f), "message lacks \"\(f)\": \(r.stderr)", sourceLocation: sourceLocation)
        }
        #expect(
            (try? FileManager.default.contentsOfDirectory(atPath: out.path))?.isEmpty == true, "output left behind",
            sourceLocation: sourceLocation)
        #expect(snapshot(release.root) == before, "input changed", sourceLocation: sourceLocation)
    }

    func editSpec(_ release: ReleaseFixture, _ from: String, _ to: String) {
        let text = String(decoding: release.folder.read("ivpack.yaml"), as: UTF8.self)
        precondition(text.contains(from), "spec lacks \(from)")
        release.folder.write("ivpack.yaml", text.replacingOccurrences(of: from, with: to))
    }

    @Test func missingFileIsNamed() {
        let release = ReleaseFixture()
        editSpec(release, "paths: [LICENSE.txt]", "paths: [LICENSE.txt, NOTICE.txt]")
        expectBadInput(release, ["component licences: NOTICE.txt: does not exist"])
    }

    @Test func directoryLoopIsRefused() throws {
        let release = ReleaseFixture()
        try FileManager.default.createSymbolicLink(atPath: release.folder.url("docs/loop"), withDestinationPath: "..")
        editSpec(release, "paths: [LICENSE.txt]", "paths: [LICENSE.txt, docs]")
        editSpec(release, "paths: [docs/manual.md, docs/guide.pdf]", "paths: [LICENSE.txt]")
        // docs/loop points at the release root, which contains docs: a loop once walked.
        expectBadInput(release, ["directory loop"])
    }

    @Test func linkUpToAnAncestorOfTheNamedFolderIsALoop() throws {
        let release = ReleaseFixture()
        // docs/up points at the release root, which is above the folder the spec names.
        try FileManager.default.createSymbolicLink(atPath: release.folder.url("docs/up"), withDestinationPath: "..")
        editSpec(release, "paths: [docs/manual.md, docs/guide.pdf]", "paths: [docs]")
        expectBadInput(release, ["docs/up: is a directory loop"])
    }

    @Test func oneFileReachedThroughALinkedFolderIsRefused() throws {
        let release = ReleaseFixture()
        try FileManager.default.createSymbolicLink(
            atPath: release.folder.url("manuals-latest"), withDestinationPath: "docs")
        editSpec(release, "paths: [LICENSE.txt]", "paths: [LICENSE.txt, manuals-latest]")
        expectBadInput(release, ["manuals-latest/manual.md: is the same file as docs/manual.md"])
    }

    @Test func symbolicLinkLeavingTheReleaseIsRefused() throws {
        let release = ReleaseFixture()
        try FileManager.default.createSymbolicLink(
            atPath: release.folder.url("passwd-link"), withDestinationPath: "/etc/passwd")
        editSpec(release, "paths: [LICENSE.txt]", "paths: [LICENSE.txt, passwd-link]")
        expectBadInput(release, ["passwd-link", "outside the release folder"])
    }

    @Test func pathEscapingTheReleaseInTheSpecIsRefused() {
        let release = ReleaseFixture()
        editSpec(release, "paths: [LICENSE.txt]", "paths: [../outside.txt]")
        expectBadInput(release, ["ivpack.yaml:", "components[4].paths[0]", "leaves the release folder"])
    }

    @Test func absolutePathInTheSpecIsRefused() {
        let release = ReleaseFixture()
        editSpec(release, "paths: [LICENSE.txt]", "paths: [/etc/hostname]")
        expectBadInput(release, ["components[4].paths[0]", "absolute"])
    }

    @Test func specThatDoesNotParseNamesLineAndColumn() {
        let release = ReleaseFixture()
        editSpec(release, "  vendor: Example Medical AI Co.", "  vendor: [Example Medical AI Co.")
        expectBadInput(release, ["ivpack.yaml:", "not valid YAML"])
    }

    @Test func unknownKeyNamesLineColumnAndField() {
        let release = ReleaseFixture()
        editSpec(release, "    kind: file", "    kind: file\n    checksum: none")
        expectBadInput(
            release,
            [
                "ivpack.yaml:24:5: components[4].checksum: unknown key \"checksum\"",
                "Allowed keys here: name, kind, paths, version",
            ])
    }

    @Test func unknownKindIsNamed() {
        let release = ReleaseFixture()
        editSpec(release, "    kind: file", "    kind: binary")
        expectBadInput(release, ["components[4].kind: unknown kind \"binary\""])
    }

    @Test func fileInTwoComponentsIsRefused() {
        let release = ReleaseFixture()
        editSpec(release, "paths: [LICENSE.txt]", "paths: [LICENSE.txt, service/app.py]")
        expectBadInput(release, ["service/app.py: is also part of component inference-service"])
    }

    @Test func specFileMissingIsExitTwo() {
        let out = TemporaryFolder()
        let r = ivpack(["build", "--spec", out.url("nope.yaml"), "--output", out.url("b.ivp")])
        #expect(r.status == 2)
        #expect(r.stderr.contains("nope.yaml: cannot open for reading: No such file or directory"))
    }

    /// A missing output folder is created (issue 19); one that cannot be (a file is in the way) is
    /// an environment failure naming it, before any work.
    @Test func outputFolderThatCannotBeMadeIsEnvironmentFailure() {
        let release = ReleaseFixture()
        let out = TemporaryFolder("ivpack-out")
        _ = out.write("not-a-folder", "x")
        let r = ivpack(["build", "--spec", release.specPath, "--output", out.url("not-a-folder/sub/b.ivp")])
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains(out.url("not-a-folder")), "\(r.stderr)")
        #expect(r.stderr.contains("Not a directory"), "\(r.stderr)")
    }

    @Test func fifoInAComponentIsRefused() {
        let release = ReleaseFixture()
        #expect(mkfifo(release.folder.url("service/pipe"), 0o644) == 0)
        expectBadInput(release, ["service/pipe: is a FIFO"])
    }

    @Test func usageErrorIsExit64() {
        let r = ivpack(["build", "--no-such-flag"])
        #expect(r.status == 64)
    }

    /// A header time the tar format cannot hold is bad input, refused before anything is written.
    @Test func sourceDateEpochOutsideTheTarRangeIsRefused() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder()
        for time in ["9999999999", "-1"] {
            let r = ivpack([
                "build", "--spec", release.folder.url("ivpack.yaml"), "--output", out.url("b.ivp"),
                "--source-date-epoch=\(time)",
            ])
            #expect(r.status == 2, "\(time): \(r.stderr)")
            #expect(
                r.stderr.contains("SOURCE_DATE_EPOCH (or --source-date-epoch) is \(time) s since 1970"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out.url("b.ivp")))
        }
    }
}
