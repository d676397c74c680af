import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Issue 19, "results lost over an output path" and "build silently overwrites a signed bundle".
@Suite struct OutputPathTests {
    @Test func buildRefusesToReplaceABundleWithoutForce() throws {
        let s = try SignedRelease()
        let signed = FileManager.default.contents(atPath: s.bundle)
        let r = ivpack(["build", "--spec", s.release.specPath, "--output", s.bundle])
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("exists already; nothing was built"), "\(r.stderr)")
        #expect(r.stderr.contains("--force"))
        #expect(FileManager.default.contents(atPath: s.bundle) == signed, "the signed bundle changed")
        let forced = ivpack(["build", "--force", "--spec", s.release.specPath, "--output", s.bundle])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try s.verify().failedIDs.contains(.roles), "the rebuilt bundle is unsigned")
    }

    @Test func buildCreatesAMissingOutputFolder() throws {
        let release = ReleaseFixture()
        let out = TemporaryFolder("ivpack-out")
        let r = ivpack(["build", "--spec", release.specPath, "--output", out.url("new/deeper/b.ivp")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: out.url("new/deeper/b.ivp")))
    }

    /// The reported trap: `verify … --report newiq/r.json` hashed the bundle, then printed no
    /// verdict and exited 3. The folder is made first; the verdict and the report both come.
    @Test func verifyMakesTheReportFolderAndPrintsTheVerdict() throws {
        let s = try SignedRelease()
        let report = s.folder.url("newiq/sub/r.json")
        let html = s.folder.url("newiq/r.html")
        let r = ivpack(["verify", s.bundle, "--trust", s.pki.trustPolicy, "--report", report, "--html", html])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("Result: PASS"), "\(r.stdout)")
        #expect(r.stdout.contains("IQ report: \(report)"))
        #expect(FileManager.default.fileExists(atPath: report) && FileManager.default.fileExists(atPath: html))
        // A folder that cannot be made (a file in the way): exit 3 at once, naming it, nothing read.
        _ = s.folder.write("blocked", "x")
        let blocked = ivpack([
            "verify", s.bundle, "--trust", s.pki.trustPolicy, "--report", s.folder.url("blocked/r.json"),
        ])
        #expect(blocked.status == 3, "\(blocked.stderr)")
        #expect(blocked.stderr.contains(s.folder.url("blocked")), "\(blocked.stderr)")
        #expect(!blocked.stdout.contains("Result:"), "it verified before finding the output unusable")
    }

    /// A failed verify's verdict comes before the report is written, so a report that cannot be
    /// written (here: the report path is a folder) loses no result.
    @Test func aReportThatCannotBeWrittenLosesNoVerdict() throws {
        let s = try SignedRelease(signedBy: [])
        let folderInTheWay = s.folder.url("iq.json")
        try FileManager.default.createDirectory(atPath: folderInTheWay, withIntermediateDirectories: false)
        let r = ivpack(["verify", s.bundle, "--trust", s.pki.trustPolicy, "--report", folderInTheWay])
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("Result: FAIL"), "\(r.stdout)")
        #expect(r.stderr.contains(folderInTheWay), "\(r.stderr)")
    }
}

/// Issue 19: a bundle cut short was reported as "not signed" with "byte -30".
@Suite struct CutBundleTests {
    @Test func aCutBundleIsReportedAsCutWhereverItEnds() throws {
        let s = try SignedRelease()
        let bytes = [UInt8](FileManager.default.contents(atPath: s.bundle)!)
        let entries = try BundleSurgery.entries(of: s.bundle)
        let payload = try #require(entries.first { $0.path.hasPrefix("payload/") && $0.data.count > 64 })
        let dataAt = try #require(BundleSurgery.offset(of: Array(payload.data.prefix(64)), in: s.bundle))
        let signatureAt = try #require(BundleSurgery.offset(of: Array(entries.last!.data.prefix(64)), in: s.bundle))
        // Inside a payload file's data, inside a header (one block after a data start), inside a signature.
        for cut in [dataAt + 10, dataAt - 512 + 100, signatureAt + 20] {
            let out = s.folder.url("cut-\(cut).ivp")
            _ = FileManager.default.createFile(atPath: out, contents: Data(bytes.prefix(cut)))
            let report = try s.verify(out)
            let entriesCheck = try #require(report.checks.first { $0.id == .entries })
            #expect(entriesCheck.status == .fail)
            let text = entriesCheck.details.joined(separator: "\n")
            #expect(text.contains("the bundle is cut short: the file ends at byte \(cut), inside"), "\(text)")
            #expect(!report.failureText.contains("byte -"), "\(report.failureText)")
            #expect(!report.failureText.contains("(the bundle is not signed)"), "\(report.failureText)")
        }
    }
}
