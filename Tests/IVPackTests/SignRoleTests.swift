import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// Issue 19, "signing mistakes are permanent": `sign` checks the role a certificate proves before
/// it signs, infers it when there is one, and `--replace` undoes a wrong signature in place.
@Suite struct SignRoleTests {
    func signArguments(_ s: SignedRelease, _ signer: DevelopmentPKILayout.Signer, _ extra: [String]) -> [String] {
        ["sign", s.bundle, "--key", signer.key, "--cert", signer.certificate, "--chain", signer.chain] + extra
    }

    func bytes(_ path: String) -> Data { FileManager.default.contents(atPath: path) ?? Data() }

    @Test func aRoleTheCertificateDoesNotProveIsRefusedWithTheRoleItDoesProve() throws {
        let s = try SignedRelease(signedBy: [])
        let before = bytes(s.bundle)
        // The reported trap: the quality certificate signing as "qa".
        let qa = ivpack(signArguments(s, s.pki.quality, ["--role", "qa"]))
        #expect(qa.status == 2, "\(qa.stdout)\(qa.stderr)")
        #expect(qa.stderr.contains("role \"qa\" is not a role of ivpack's role certificate policies"), "\(qa.stderr)")
        #expect(qa.stderr.contains("the certificate proves \"quality\""), "\(qa.stderr)")
        #expect(qa.stderr.contains("Sign with --role quality"), "\(qa.stderr)")
        // A known role the certificate does not prove.
        let rm = ivpack(signArguments(s, s.pki.quality, ["--role", "release-manager"]))
        #expect(rm.status == 2)
        #expect(rm.stderr.contains("does not prove role \"release-manager\""), "\(rm.stderr)")
        #expect(rm.stderr.contains("sign with --role quality"), "\(rm.stderr)")
        // Under a site policy whose rules name the roles: its rules decide.
        let text = String(decoding: bytes(s.pki.trustPolicy), as: UTF8.self)
        let policy = s.pki.directory + "/qa-policy.yaml"
        #expect(text.contains("  quality:\n"))
        try text.replacingOccurrences(of: "  quality:\n", with: "  qa:\n").replacingOccurrences(
            of: "requiredRoles: [release-manager, quality]", with: "requiredRoles: [release-manager, qa]"
        ).write(
            toFile: policy, atomically: true, encoding: .utf8)
        let underPolicy = ivpack(signArguments(s, s.pki.releaseManager, ["--role", "qa", "--trust", policy]))
        #expect(underPolicy.status == 2)
        #expect(
            underPolicy.stderr.contains("does not prove role \"qa\" under the trust policy"), "\(underPolicy.stderr)")
        #expect(bytes(s.bundle) == before, "a refused sign changed the bundle")
        // The same policy accepts the quality certificate as qa.
        let ok = ivpack(signArguments(s, s.pki.quality, ["--role", "qa", "--trust", policy]))
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("role \"qa\" proven by the certificate (the trust policy"), "\(ok.stdout)")
    }

    @Test func withoutARoleTheOneRoleTheCertificateProvesIsUsed() throws {
        let s = try SignedRelease(signedBy: [])
        let q = ivpack(signArguments(s, s.pki.quality, ["--json"]))
        #expect(q.status == 0, "\(q.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(q.stdout.utf8)) as? [String: Any])
        #expect(json["entry"] as? String == "ivpack/signatures/001-quality.p7s", "\(q.stdout)")
        #expect(json["role"] as? String == "quality")
        #expect((json["roleCheck"] as? String)?.hasPrefix("role \"quality\" proven by the certificate") == true)
        let r = ivpack(signArguments(s, s.pki.releaseManager, []))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("as release-manager: ivpack/signatures/002-release-manager.p7s"), "\(r.stdout)")
        #expect(try s.verify().passed)
        // A certificate that proves no approval role, without --role: told what to give.
        let outsider = try DevelopmentPKI.issueSigner(
            role: "outsider", policyOID: nil, in: s.pki, name: "outsider", notBefore: s.now - 60,
            notAfter: s.now + 86_400)
        let o = ivpack(signArguments(s, outsider, []))
        #expect(o.status == 2)
        #expect(o.stderr.contains("proves none of the roles of ivpack's role certificate policies"), "\(o.stderr)")
        #expect(o.stderr.contains("Give --role ROLE and --trust POLICY"), "\(o.stderr)")
    }

    /// A signature made as the wrong role (by another tool, or before this check) fails verify;
    /// the same certificate could never sign again. `--replace` puts the right one in its place.
    @Test func replaceTurnsAWrongRoleSignatureIntoTheRightOneInPlace() throws {
        let s = try SignedRelease(signedBy: [])
        try s.sign(role: "qa", identity: s.pki.quality)
        try s.sign(role: "release-manager")
        let failed = try s.verify()
        #expect(failed.failedIDs.map(\.rawValue).contains("signature.001"), "\(failed.failureText)")
        // Signing again with the same certificate says how to get out.
        let again = ivpack(signArguments(s, s.pki.quality, []))
        #expect(again.status == 1)
        #expect(
            again.stderr.contains("replace that signature: ivpack sign BUNDLE --replace qa --role quality"),
            "\(again.stderr)")
        let entriesBefore = try BundleSurgery.entries(of: s.bundle)
        // A role with no signature, or no such entry, is refused with what there is.
        let none = ivpack(signArguments(s, s.pki.quality, ["--replace", "auditor"]))
        #expect(none.status == 2)
        #expect(none.stderr.contains("has no signature for role \"auditor\" to replace"), "\(none.stderr)")
        #expect(none.stderr.contains("ivpack/signatures/001-qa.p7s"))
        // The replacement: same place, same number, the right role; everything else byte for byte.
        let replaced = ivpack(signArguments(s, s.pki.quality, ["--replace", "qa"]))
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(replaced.stdout.contains("replaced ivpack/signatures/001-qa.p7s"), "\(replaced.stdout)")
        let entriesAfter = try BundleSurgery.entries(of: s.bundle)
        #expect(
            entriesAfter.map(\.path)
                == entriesBefore.map {
                    $0.path == "ivpack/signatures/001-qa.p7s" ? "ivpack/signatures/001-quality.p7s" : $0.path
                })
        for (a, b) in zip(entriesBefore, entriesAfter) where a.path != "ivpack/signatures/001-qa.p7s" {
            #expect(a.data == b.data && a.permissions == b.permissions, "\(a.path) changed")
        }
        let report = try s.verify()
        #expect(report.passed, "\(report.failureText)")
        #expect(report.checks.first { $0.id == .roles }?.status == .pass)
    }

    /// A kill just before the rename leaves the bundle as it was (the new one was never named);
    /// the next `--replace` does the whole job.
    @Test func aReplaceKilledBeforeItsRenameLeavesTheOldBundleWhole() throws {
        let s = try SignedRelease(signedBy: [])
        try s.sign(role: "qa", identity: s.pki.quality)
        try s.sign(role: "release-manager")
        let before = bytes(s.bundle)
        let killed = try ivpackKilledAtFailpoint(
            signArguments(s, s.pki.quality, ["--replace", "qa"]), failpoint: "sign-replace-before-commit")
        #expect(killed.killedBySignal, "\(killed.stderr)")
        #expect(killed.stderr.contains("failpoint reached"))
        #expect(bytes(s.bundle) == before, "the killed replace changed the bundle")
        let folder = (s.bundle as NSString).deletingLastPathComponent
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".tmp") }
        #expect(leftovers.isEmpty, "\(leftovers)")
        let again = ivpack(signArguments(s, s.pki.quality, ["--replace", "qa"]))
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try s.verify().passed)
    }
}
