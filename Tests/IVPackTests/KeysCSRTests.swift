import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// `ivpack keys csr` (issue 18, production PKI): a request a real CA turns into a certificate
/// ivpack accepts for the role. The CA here is OpenSSL's own `x509 -req -copy_extensions copy`
/// with the development intermediate, standing in for the vendor's CA.
@Suite struct KeysCSRTests {
    /// Makes a key and request for `role` in `folder`, and has OpenSSL's CA issue it.
    static func issue(_ role: String, name: String, in s: SignedRelease) throws -> (certificate: String, key: String) {
        let key = s.folder.url("\(name).key")
        let csr = s.folder.url("\(name).csr")
        let made = ivpack([
            "keys", "csr", "--role", role, "--subject", "O=Example Medical AI Co.,OU=Releases,CN=\(name)",
            "--key-out", key, "--out", csr,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let verified = run("/usr/bin/openssl", ["req", "-in", csr, "-noout", "-verify"])
        #expect(verified.status == 0 && (verified.stderr + verified.stdout).contains("verify OK"), "\(verified.stderr)")
        let certificate = s.folder.url("\(name).pem")
        let issued = run(
            "/usr/bin/openssl",
            [
                "x509", "-req", "-in", csr, "-CA", s.pki.intermediateCertificate, "-CAkey", s.pki.intermediateKey,
                "-CAcreateserial", "-days", "30", "-copy_extensions", "copy", "-out", certificate,
            ])
        #expect(issued.status == 0, "\(issued.stderr)")
        return (certificate, key)
    }

    @Test func requestedCertificatesProveTheirRolesAndSignABundleThatVerifies() throws {
        let s = try SignedRelease(signedBy: [])
        let releaseManager = try Self.issue("release-manager", name: "Jane Doe", in: s)
        let quality = try Self.issue("quality", name: "Li Na", in: s)
        let keyMode = try FileManager.default.attributesOfItem(atPath: releaseManager.key)[.posixPermissions] as? Int
        #expect(keyMode == 0o600)
        let text = run("/usr/bin/openssl", ["x509", "-in", releaseManager.certificate, "-noout", "-text"]).stdout
        #expect(text.contains(WellKnownOID.roleReleaseManager) && text.contains("Code Signing"), "\(text)")
        for (role, identity) in [("release-manager", releaseManager), ("quality", quality)] {
            let signed = ivpack([
                "sign", s.bundle, "--role", role, "--key", identity.key, "--cert", identity.certificate, "--chain",
                s.pki.intermediateCertificate,
            ])
            #expect(signed.status == 0, "\(signed.stderr)")
        }
        let report = try s.verify()
        #expect(report.passed, "\(report.failureText)")
        #expect(report.checks.contains { $0.id == .roles && $0.status == .pass })
    }

    @Test func aCertificateForAnotherRoleDoesNotProveThisOne() throws {
        let s = try SignedRelease(signedBy: ["quality"])
        let reviewer = try Self.issue("hospital-reviewer", name: "Dr Zhang", in: s)
        let signed = ivpack([
            "sign", s.bundle, "--role", "release-manager", "--key", reviewer.key, "--cert", reviewer.certificate,
            "--chain", s.pki.intermediateCertificate,
        ])
        // sign judges the role by ivpack's role certificate policies (issue 19) and refuses it...
        #expect(signed.status == 2, "\(signed.stderr)")
        #expect(signed.stderr.contains("does not prove role \"release-manager\""), "\(signed.stderr)")
        // ...and verify does not take it either when another tool signed it anyway.
        try s.sign(
            role: "release-manager",
            identity: DevelopmentPKILayout.Signer(
                role: "release-manager", certificate: reviewer.certificate, key: reviewer.key,
                chain: s.pki.intermediateCertificate), at: Timestamp.now()) // openssl makes it valid from now
        let report = try s.verify()
        #expect(report.failedIDs.contains(.roles), "\(report.failureText)")
    }

    @Test func refusesToOverwriteAndAsksForWhatARoleNeeds() throws {
        let folder = TemporaryFolder()
        let existing = folder.write("taken.key", "not a key\n", mode: 0o600)
        let overwrite = ivpack([
            "keys", "csr", "--role", "quality", "--subject", "CN=x", "--key-out", existing, "--out",
            folder.url("x.csr"),
        ])
        #expect(overwrite.status == 2, "\(overwrite.stderr)")
        #expect(folder.read("taken.key") == Array("not a key\n".utf8))
        #expect(!folder.exists("x.csr"))
        let server = ivpack([
            "keys", "csr", "--role", "license-server", "--subject", "CN=licence", "--key-out", folder.url("s.key"),
            "--out", folder.url("s.csr"),
        ])
        #expect(server.status == 64 && server.stderr.contains("--dns or --ip"), "\(server.stderr)")
        let unknown = ivpack([
            "keys", "csr", "--role", "auditor", "--subject", "CN=x", "--key-out", folder.url("a.key"), "--out",
            folder.url("a.csr"),
        ])
        #expect(unknown.status == 64 && unknown.stderr.contains("not an ivpack role"), "\(unknown.stderr)")
        let withNames = ivpack([
            "keys", "csr", "--role", "license-server", "--subject", "O=Vendor,CN=licence.vendor.example", "--dns",
            "licence.vendor.example", "--ip", "10.0.0.7", "--key-out", folder.url("s.key"), "--out",
            folder.url("s.csr"),
        ])
        #expect(withNames.status == 0, "\(withNames.stderr)")
        let text = run("/usr/bin/openssl", ["req", "-in", folder.url("s.csr"), "-noout", "-text"]).stdout
        #expect(text.contains("DNS:licence.vendor.example") && text.contains("IP Address:10.0.0.7"), "\(text)")
        #expect(text.contains("TLS Web Server Authentication"), "\(text)")
    }
}
