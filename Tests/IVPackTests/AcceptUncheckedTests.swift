import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// `--accept-unchecked ID` must name a requirement check of the release: one that matches
/// nothing is bad input (exit 2) naming the checks there are, not silently ignored.
@Suite struct AcceptUncheckedTests {
    static func check(_ id: String) -> Check { Check(CheckID(rawValue: id), status: .pass) }

    @Test func anAcceptanceMatchingNoRequirementIsNamedWithTheChecksThereAre() {
        let checks = [
            Self.check("signatures"), Self.check("environment.cpu"), Self.check("environment.gpu"),
            Self.check("environment.tool.python3"),
        ]
        let accept = { (ids: [String]) in ids.map { UncheckedAcceptance(requirement: $0, reason: "r") } }
        #expect(UnmatchedAcceptance.find(accept(["gpu", "environment.cpu", "tool.python3"]), in: checks) == nil)
        let found = UnmatchedAcceptance.find(accept(["gpux", "gpu", "signatures"]), in: checks)
        #expect(found?.unmatched == ["gpux", "signatures"], "only environment checks can be accepted")
        #expect(found?.known == ["environment.cpu", "environment.gpu", "environment.tool.python3"])
        #expect(found?.exitStatus == .badInput)
        #expect(
            found?.description
                == "--accept-unchecked gpux, --accept-unchecked signatures: names no requirement of this release. "
                + "Name one of its checks: environment.cpu, environment.gpu, environment.tool.python3 "
                + "(or its kind without environment., e.g. cpu)")
        let none = UnmatchedAcceptance.find(accept(["gpu"]), in: [Self.check("signatures")])
        #expect(none?.description.contains("this release has no environment requirements") == true)
    }

    @Test func verifyAndInstallRefuseAnAcceptanceOfNoRequirementAndWriteNothing() throws {
        let f = try InstallFixture()
        let bundle = try f.bundle(version: ReleaseFixture.defaultVersion, big: false)
        let report = f.work.url("iq.json")
        let verified = ivpack([
            "verify", bundle, "--trust", f.signed.pki.trustPolicy, "--accept-unchecked", "gpu", "--reason", "CR-77",
            "--report", report,
        ])
        #expect(verified.status == 2, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stderr.contains("--accept-unchecked gpu: names no requirement of this release"))
        #expect(verified.stderr.contains("environment.cpu, environment.memory"), "\(verified.stderr)")
        #expect(!FileManager.default.fileExists(atPath: report), "no report for a command that was misused")
        let installed = ivpack([
            "install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root, "--accept-unchecked", "gpu",
            "--reason", "CR-77",
        ])
        #expect(installed.status == 2, "\(installed.stdout)\(installed.stderr)")
        #expect(installed.stderr.contains("--accept-unchecked gpu: names no requirement"), "\(installed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.root), "nothing written, not even the root")
        // A requirement the release has may be accepted even when its check passes: nothing to refuse.
        let accepted = ivpack([
            "verify", bundle, "--trust", f.signed.pki.trustPolicy, "--accept-unchecked", "cpu", "--reason", "CR-77",
        ])
        #expect(accepted.status == 0, "\(accepted.stdout)\(accepted.stderr)")
    }
}
