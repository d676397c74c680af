import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// The release gate made binding (issue 18): `check --attest` appends a signed in-toto statement of
/// the verdict, a trust policy with `requireGate` makes verify's `gate` check need a valid passing
/// one by the gate role, and `sign` refuses an approval without it unless the override is recorded.
@Suite struct GateAttestationTests {
    static let base = "V2.3.1.1024"

    /// A development PKI with a gate signer (OU "Release Gate"), and a policy requiring the gate.
    final class Fixture: @unchecked Sendable {
        let s: SignedRelease
        let gate: DevelopmentPKILayout.Signer
        let policy: TrustPolicy
        let policyPath: String
        var releases: [ReleaseFixture] = []

        init(allowOverride: Bool = false) throws {
            s = try SignedRelease(signedBy: [])
            gate = try HandMadeCertificates.issueWithOpenSSL(
                name: "gate", in: s.pki.directory + "/hand-made", key: .p256, unit: "Release Gate",
                extensions: HandMadeCertificates.signerExtensions(policy: nil), issuer: s.pki.intermediate)
            let text = String(decoding: FileManager.default.contents(atPath: s.pki.trustPolicy)!, as: UTF8.self)
                .replacingOccurrences(
                    of: "requiredRoles: [release-manager, quality]",
                    with: """
                          gate:
                            subjectOU: "Release Gate"
                        requiredRoles: [release-manager, quality]
                        requireGate: {policy: nmpa, role: gate\(allowOverride ? ", allowOverride: true" : "")}
                        """)
            policyPath = s.pki.directory + "/policy-gate.yaml"
            _ = FileManager.default.createFile(atPath: policyPath, contents: Data(text.utf8))
            policy = try TrustPolicy.load(path: policyPath)
        }

        /// A bundle of the fixture release that passes the gate, or that it blocks (a wrong
        /// `sbom_sha256` in the notes: the advisory-gate reproduction).
        func bundle(_ name: String, passing: Bool) throws -> String {
            let r = ReleaseFixture(version: GateAttestationTests.base)
            GateNotes.write(
                r,
                text: GateNotes.text(
                    version: GateAttestationTests.base,
                    sbomSHA256: passing ? GateNotes.sbomDigest(r) : String(repeating: "0", count: 64)))
            releases.append(r)
            let path = s.folder.url(name + ".ivp")
            _ = try r.build(to: path)
            return path
        }

        func gateReport(_ path: String) throws -> GateReport {
            let release = try ReleaseUnderCheck.loadBundle(path: path)
            return ReleaseGate.run(
                try GateContext(
                    policy: .nmpa, channel: GatePolicy.nmpa.channel("market")!, release: release, now: s.now))
        }

        /// Runs the gate on `path` and attests its verdict with `signer` (default: the gate signer).
        @discardableResult
        func attest(_ path: String, signer: DevelopmentPKILayout.Signer? = nil) throws -> GateAttestResult {
            let release = try ReleaseUnderCheck.loadBundle(path: path)
            let id = signer ?? gate
            return try GateAttester.attest(
                bundlePath: path, report: try gateReport(path), checkedDigest: release.manifestDigest!,
                policyDigest: nil,
                identity: try SigningIdentity.load(
                    key: .file(path: id.key, passphrase: nil), certificateFile: id.certificate,
                    chainFiles: [id.chain]),
                now: Timestamp.now())
        }

        func approve(_ path: String, role: String, gate approval: GateApproval) throws -> SignResult {
            let id = s.signer(role)
            return try BundleSigner.sign(
                bundlePath: path, certificate: try Certificate.load(file: id.certificate)[0],
                key: try PrivateKey.load(file: id.key, passphrase: nil), chain: try Certificate.load(file: id.chain),
                role: role, now: Timestamp.now(), gate: approval)
        }

        func gateCheck(_ path: String, policy: TrustPolicy? = nil) throws -> Check? {
            try s.verify(path, policy: policy ?? self.policy).checks.first { $0.id == .gate }
        }
    }

    @Test(.clause("IQ 6.6.1")) func blockedReleaseFailsVerifyOnGateWhenThePolicyRequiresIt() throws {
        let f = try Fixture()
        let bundle = try f.bundle("blocked", passing: false)
        #expect(try f.gateReport(bundle).passed == false)
        // Advisory before: both approvals and verify PASS without requireGate.
        try f.s.sign(role: "release-manager", bundle: bundle)
        try f.s.sign(role: "quality", bundle: bundle)
        #expect(try f.s.verify(bundle).passed)
        // Required now: no attestation.
        let none = try #require(try f.gateCheck(bundle))
        #expect(none.status == .fail)
        #expect(none.details.joined().contains("the bundle has none"))
        // An attestation of the FAIL verdict is evidence, and still fails the check.
        let result = try f.attest(bundle)
        #expect(result.passed == false)
        #expect(result.entry == "ivpack/attestations/001-gate.p7s")
        let report = try f.s.verify(bundle, policy: f.policy)
        #expect(report.failedIDs == [.gate], "\(report.failureText)")
        #expect(report.failureText.contains("did not pass this manifest"))
        #expect(report.failureText.contains("NOTES-"))
        #expect(try BundleInspector.inspect(path: bundle).attestations.map(\.path) == [result.entry])
    }

    @Test func passingAttestationByTheGateRolePassesAndWithoutRequirementIsEvidence() throws {
        let f = try Fixture()
        let bundle = try f.bundle("ok", passing: true)
        let findings = try f.gateReport(bundle).findings
        let result = try f.attest(bundle)
        #expect(result.passed, "\(findings)")
        try f.s.sign(role: "release-manager", bundle: bundle)
        try f.s.sign(role: "quality", bundle: bundle)
        let report = try f.s.verify(bundle, policy: f.policy)
        #expect(report.passed, "\(report.failureText)")
        let gate = try #require(report.checks.first { $0.id == .gate })
        #expect(gate.status == .pass)
        #expect(gate.evidence.contains { $0.key == result.entry && $0.value.hasPrefix("pass by") })
        // The development policy requires nothing: the attestation is reported as evidence.
        let plain = try #require(try f.gateCheck(bundle, policy: try f.s.policy()))
        #expect(plain.status == .pass)
        // The statement travels in the signature: OpenSSL reads it.
        let signed = try SignedData.parse(der: try Self.entry(bundle, result.entry), source: result.entry)
        let statement = try GateStatement.parse(try #require(signed.encapsulatedContent))
        #expect(statement.manifestDigest == result.manifestDigest)
        #expect(statement.policy == "nmpa" && statement.passed)
        #expect(statement.rules.contains { $0.id == "VER-001" })
    }

    @Test func attestationByACertificateWithoutTheRoleFails() throws {
        let f = try Fixture()
        let bundle = try f.bundle("ok", passing: true)
        try f.attest(bundle, signer: f.s.pki.quality)
        let gate = try #require(try f.gateCheck(bundle))
        #expect(gate.status == .fail)
        #expect(gate.details.joined().contains("does not prove role \"gate\""), "\(gate.details)")
    }

    @Test(.clause("IQ 6.6.1")) func attestationCopiedFromAnotherBundleFails() throws {
        let f = try Fixture()
        let other = try f.bundle("other", passing: true)
        try f.attest(other)
        let bundle = try f.bundle("ok", passing: true)
        // Another release's build: same files, another epoch, so another manifest.
        let again = f.s.folder.url("again.ivp")
        _ = try f.releases[1].build(to: again, epoch: 1_700_000_100)
        let stolen = try Self.entry(other, "ivpack/attestations/001-gate.p7s")
        try Self.appendRaw(again, path: "ivpack/attestations/001-gate.p7s", data: stolen)
        let gate = try #require(try f.gateCheck(again))
        #expect(gate.status == .fail)
        #expect(gate.details.joined().contains("attests another manifest"), "\(gate.details)")
        _ = bundle
    }

    @Test(.clause("IQ 6.6.1")) func attestationWithAFlippedByteFails() throws {
        let f = try Fixture()
        let bundle = try f.bundle("ok", passing: true)
        let result = try f.attest(bundle)
        var bytes = Array(FileManager.default.contents(atPath: bundle)!)
        // Flip one byte of the statement's text inside the signature ("pass" becomes "pasr").
        let der = try Self.entry(bundle, result.entry)
        let start = try #require(bytes.firstRange(of: der)).lowerBound
        let text = try #require(der.firstRange(of: Array("\"result\":\"pass\"".utf8)))
        bytes[start + text.upperBound - 2] ^= 0x01
        _ = FileManager.default.createFile(atPath: bundle, contents: Data(bytes))
        let gate = try #require(try f.gateCheck(bundle))
        #expect(gate.status == .fail)
        #expect(gate.details.joined().contains("the attestation was changed"), "\(gate.details)")
    }

    @Test(.clause("IQ 6.6.1", "REL-006")) func signRefusesWithoutAttestationAndRecordsTheOverride() throws {
        let f = try Fixture()
        let bundle = try f.bundle("blocked", passing: false)
        let before = FileManager.default.contents(atPath: bundle)
        let error = #expect(throws: SignError.self) {
            try f.approve(bundle, role: "release-manager", gate: GateApproval(trust: f.policy))
        }
        #expect(error?.description.contains("the release gate does not allow an approval") == true)
        #expect(FileManager.default.contents(atPath: bundle) == before)
        // Without a trust policy, an attested FAIL is enough to refuse.
        try f.attest(bundle)
        #expect(throws: SignError.self) {
            try f.approve(bundle, role: "release-manager", gate: GateApproval())
        }
        // The override is signed and recorded, and verify shows it; the gate still fails.
        let reason = "CAPA-2291: notes corrected in the next build; field fix approved by QA board"
        let signed = try f.approve(
            bundle, role: "release-manager", gate: GateApproval(trust: f.policy, overrideReason: reason))
        #expect(signed.gateOverride == "ivpack/attestations/002-gate-override.p7s")
        _ = try f.approve(bundle, role: "quality", gate: GateApproval(trust: f.policy, overrideReason: reason))
        let report = try f.s.verify(bundle, policy: f.policy)
        #expect(report.failedIDs == [.gate], "\(report.failureText)")
        let gate = try #require(report.checks.first { $0.id == .gate })
        #expect(gate.evidence.contains { $0.key.hasPrefix("override ") && $0.value.contains(reason) })
        #expect(gate.evidence.contains { $0.value.contains("role release-manager") })
        #expect(gate.details.joined().contains("allowOverride is false"))
        // A policy that accepts overrides warns instead.
        let lenient = try Fixture(allowOverride: true)
        let warned = try #require(try f.gateCheck(bundle, policy: try TrustPolicy.load(path: lenient.policyPath)))
        // Another PKI's policy does not trust these signers: still a failure.
        #expect(warned.status == .fail)
    }

    @Test func overrideAcceptedWhenThePolicyAllowsIt() throws {
        let f = try Fixture(allowOverride: true)
        let bundle = try f.bundle("blocked", passing: false)
        _ = try f.approve(
            bundle, role: "release-manager", gate: GateApproval(trust: f.policy, overrideReason: "approved by board"))
        _ = try f.approve(bundle, role: "quality", gate: GateApproval(trust: f.policy, overrideReason: "same"))
        let report = try f.s.verify(bundle, policy: f.policy)
        #expect(report.passed, "\(report.failureText)")
        #expect(report.checks.first { $0.id == .gate }?.status == .warn)
    }

    @Test(.clause("IQ 6.6.1")) func passingAttestationLetsSignApprove() throws {
        let f = try Fixture()
        let bundle = try f.bundle("ok", passing: true)
        try f.attest(bundle)
        let signed = try f.approve(bundle, role: "release-manager", gate: GateApproval(trust: f.policy))
        #expect(signed.gateOverride == nil)
        #expect(signed.entry == "ivpack/signatures/001-release-manager.p7s")
    }

    @Test func checkCommandAttestsTheBundle() throws {
        let f = try Fixture()
        let bundle = try f.bundle("ok", passing: true)
        let r = ivpack([
            "check", bundle, "--attest", "--key", f.gate.key, "--cert", f.gate.certificate, "--chain", f.gate.chain,
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("attested PASS"))
        let blocked = try f.bundle("blocked", passing: false)
        let b = ivpack([
            "check", blocked, "--attest", "--key", f.gate.key, "--cert", f.gate.certificate, "--chain", f.gate.chain,
        ])
        #expect(b.status == 1, "\(b.stdout)\(b.stderr)")
        #expect(b.stderr.contains("attested FAIL"))
        let sign = ivpack([
            "sign", blocked, "--role", "quality", "--key", f.s.pki.quality.key, "--cert", f.s.pki.quality.certificate,
            "--chain", f.s.pki.quality.chain,
        ])
        #expect(sign.status != 0)
        #expect(sign.stderr.contains("release gate does not allow"), "\(sign.stderr)")
        let override = ivpack([
            "sign", blocked, "--role", "quality", "--key", f.s.pki.quality.key, "--cert", f.s.pki.quality.certificate,
            "--chain", f.s.pki.quality.chain, "--override-gate", "--reason", "field fix",
        ])
        #expect(override.status == 0, "\(override.stderr)")
        let verify = ivpack(["verify", blocked, "--trust", f.policyPath, "--json"])
        #expect(verify.stdout.contains("field fix"), "\(verify.stdout)")
    }

    @Test func attestationNamesAreParsedStrictly() {
        #expect(AttestationEntryName("ivpack/attestations/001-gate.p7s")?.kind == .gate)
        #expect(AttestationEntryName("ivpack/attestations/012-gate-override.p7s")?.index == 12)
        for bad in [
            "ivpack/attestations/1-gate.p7s", "ivpack/attestations/000-gate.p7s", "ivpack/attestations/001-other.p7s",
            "ivpack/attestations/001-gate.p7m", "ivpack/attestations/001-gate.p7s/x",
        ] {
            #expect(AttestationEntryName(bad) == nil, "\(bad)")
        }
    }

    /// The data of entry `path` of the bundle.
    static func entry(_ bundle: String, _ path: String) throws -> [UInt8] {
        let reader = try BundleReader(path: bundle)
        while let e = try reader.next() {
            if e.tar.path == path { return try reader.readAll(limit: 1 << 20) }
        }
        Issue.record("\(path) is not in \(bundle)")
        return []
    }

    /// Appends an entry as `sign` would, through a raw tar rewrite of the end marker.
    static func appendRaw(_ bundle: String, path: String, data: [UInt8]) throws {
        try BundleSurgery.rewrite(bundle, to: bundle) { entries in
            entries.append(
                BundleSurgery.Entry(path: path, data: data, modificationTime: entries[0].modificationTime))
        }
    }
}
