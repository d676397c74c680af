import Foundation
import IVPack
import IVPackLicense
import IVPackTestSupport
import Testing

/// The licence as one check of verify's pipeline, from an authority passed in.
struct LicenseAuthorityTests {
    actor Asked {
        var subjects: [LicenseSubject] = []
        func add(_ s: LicenseSubject) { subjects.append(s) }
    }

    struct FakeAuthority: LicenseAuthority {
        let decision: LicenseDecision
        let asked: Asked
        func decide(_ subject: LicenseSubject) async -> LicenseDecision {
            await asked.add(subject)
            return decision
        }
    }

    @Test func verifyReportsTheAuthoritysDecisionAsTheLastCheck() async throws {
        let s = try SignedRelease()
        let asked = Asked()
        let now = Timestamp.now()
        let authority = FakeAuthority(decision: .licensed(evidence: [("licenseID", "LIC-FAKE")]), asked: asked)
        let report = try await BundleVerifier.verify(
            bundlePath: s.bundle, policy: try s.policy(), now: now, license: authority)
        let without = try BundleVerifier.verify(bundlePath: s.bundle, policy: try s.policy(), now: now)
        #expect(report.checks.map(\.id) == without.checks.map(\.id) + [.license])
        let license = try #require(report.checks.last)
        #expect(license.status == .pass)
        #expect(license.title == VerifyCheckCatalog.title(.license))
        #expect(license.evidence.map(\.value) == ["LIC-FAKE"])
        #expect(report.passed)
        #expect(
            await asked.subjects == [
                LicenseSubject(
                    product: "PulmoScan AI", version: s.release.version, manifestSHA256: s.built.manifestDigest)
            ])
    }

    @Test func aRefusalFailsVerify() async throws {
        let s = try SignedRelease()
        let authority = FakeAuthority(
            decision: .refused(details: ["seats-exhausted: every seat is in use"], evidence: [("site", "SITE-001")]),
            asked: Asked())
        let report = try await BundleVerifier.verify(
            bundlePath: s.bundle, policy: try s.policy(), now: Timestamp.now(), license: authority)
        #expect(report.failedIDs == [.license])
        #expect(report.checks.last?.details == ["seats-exhausted: every seat is in use"])
        #expect(!report.passed)
    }

    @Test func withoutAnAuthorityThereIsNoLicenceCheck() async throws {
        let s = try SignedRelease()
        let now = Timestamp.now()
        let report = try await BundleVerifier.verify(
            bundlePath: s.bundle, policy: try s.policy(), now: now, license: nil)
        let without = try BundleVerifier.verify(bundlePath: s.bundle, policy: try s.policy(), now: now)
        #expect(report.checks.map(\.id) == without.checks.map(\.id))
        #expect(!report.checks.contains { $0.id == .license })
    }

    @Test func anUnreadableManifestIsNotSentToTheAuthority() async throws {
        let s = try SignedRelease()
        let garbage = s.folder.write("garbage.ivp", [UInt8](repeating: 0x41, count: 4096))
        let asked = Asked()
        let report = try await BundleVerifier.verify(
            bundlePath: garbage, policy: try s.policy(), now: Timestamp.now(),
            license: FakeAuthority(decision: .licensed(evidence: []), asked: asked))
        #expect(report.failedIDs == [.manifest])
        #expect(await asked.subjects.isEmpty)
    }

    @Test func theOfflineAuthorityNamesItsWayInTheTitle() async throws {
        let s = try SignedRelease()
        let authority = LicenseFileAuthority(
            file: s.folder.url("no-such-licence.json"), siteID: "SITE-001", policy: try s.policy())
        let report = try await BundleVerifier.verify(
            bundlePath: s.bundle, policy: try s.policy(), now: Timestamp.now(), license: authority)
        let license = try #require(report.checks.last)
        #expect(license.id == .license)
        #expect(license.title == "Licensed for this site, by a signed offline licence file")
        #expect(license.status == .fail)
        #expect(license.evidence.isEmpty)
    }
}
