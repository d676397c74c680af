import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// RFC 3161 time-stamps from a real local authority (OpenSSL's TS API behind a loopback HTTP server).
@Suite struct TimestampTests {
    @Test func timestampedSignatureVerifiesAndRecordsTheAuthoritysTime() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let tsa = try s.timestampAuthority()
        try s.sign(role: "quality", timestampAuthority: tsa.url)
        #expect(tsa.server.requestCount == 1)
        let report = try s.verify()
        #expect(report.passed, "\(report.failureText)")
        let sig = try #require(report.checks.first { $0.id == .signature(2) })
        #expect(sig.evidence.first { $0.key == "timestamp" }?.value.contains("DEVELOPMENT") == true)
        #expect(sig.evidence.first { $0.key == "validatedAt" }?.value.contains("time-stamp") == true)
    }

    @Test func expiredSignerWithATimestampInsideItsValidityIsAccepted() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let old = try DevelopmentPKI.issueSigner(
            role: "quality", policyOID: WellKnownOID.roleQuality, in: s.pki, name: "quality-2025",
            notBefore: s.now - 3000, notAfter: s.now - 1000)
        let tsa = try s.timestampAuthority(at: s.now - 2000)
        try s.sign(role: "quality", identity: old, at: s.now - 2000, timestampAuthority: tsa.url)
        let report = try s.verify()
        #expect(report.passed, "\(report.failureText)")
        let sig = try #require(report.checks.first { $0.id == .signature(2) })
        #expect(sig.evidence.first { $0.key == "timestamp" }?.value.hasPrefix(Timestamp.iso8601(s.now - 2000)) == true)
    }

    @Test func timestampAfterTheSignerExpiredDoesNotHelp() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let old = try DevelopmentPKI.issueSigner(
            role: "quality", policyOID: WellKnownOID.roleQuality, in: s.pki, name: "quality-late",
            notBefore: s.now - 3000, notAfter: s.now - 1000)
        let tsa = try s.timestampAuthority(at: s.now - 500)
        try s.sign(role: "quality", identity: old, at: s.now - 2000, timestampAuthority: tsa.url)
        let report = try s.verify()
        #expect(report.failedIDs.contains(.signature(2)))
        #expect(report.failureText.contains("certificate has expired"))
    }

    @Test func timestampFromAnUntrustedAuthorityIsRejected() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let other = try DevelopmentPKI.create(in: s.folder.url("other-pki"), now: s.now - 3600)
        let tsa = try s.timestampAuthority(pki: other)
        try s.sign(role: "quality", timestampAuthority: tsa.url)
        let report = try s.verify()
        #expect(report.failedIDs.contains(.signature(2)))
        #expect(report.failureText.contains("time-stamp token is not valid"))
    }

    @Test func opensslStillAcceptsATimestampedSignature() throws {
        let s = try SignedRelease(signedBy: [])
        let tsa = try s.timestampAuthority()
        try s.sign(role: "release-manager", timestampAuthority: tsa.url)
        let out = s.folder
        #expect(
            run("/bin/sh", ["-c", "tar -xOf \"$0\" ivpack/manifest.json > \"$1\"", s.bundle, out.url("m.json")]).status
                == 0)
        #expect(
            run(
                "/bin/sh",
                [
                    "-c", "tar -xOf \"$0\" ivpack/signatures/001-release-manager.p7s > \"$1\"", s.bundle,
                    out.url("s.p7s"),
                ]
            ).status == 0)
        let cat = run(
            "/bin/sh",
            [
                "-c", "cat \"$0\" \"$1\" > \"$2\"", s.pki.rootCertificate, s.pki.intermediateCertificate,
                out.url("cas.pem"),
            ])
        #expect(cat.status == 0)
        let ok = run(
            "/usr/bin/openssl",
            [
                "cms", "-verify", "-binary", "-inform", "DER", "-in", out.url("s.p7s"), "-content", out.url("m.json"),
                "-CAfile", out.url("cas.pem"), "-purpose", "any", "-out", "/dev/null",
            ])
        #expect(ok.status == 0, "\(ok.stderr)")
        // The token is in the signature, as an unsigned attribute.
        let dump = run("/usr/bin/openssl", ["cms", "-cmsout", "-print", "-inform", "DER", "-in", out.url("s.p7s")])
        #expect(dump.stdout.contains("id-smime-aa-timeStampToken"))
    }

    @Test func signCommandTimestampsWithTSA() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let tsa = try s.timestampAuthority()
        let r = ivpack([
            "sign", s.bundle, "--role", "quality", "--key", s.pki.quality.key, "--cert", s.pki.quality.certificate,
            "--chain", s.pki.intermediateCertificate, "--tsa", tsa.url,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(tsa.server.requestCount == 1)
        let report = try s.verify()
        #expect(report.passed, "\(report.failureText)")
        #expect(report.checks.first { $0.id == .signature(2) }?.evidence.contains { $0.key == "timestamp" } == true)
    }

    @Test func unreachableAuthorityFailsTheSignAndLeavesTheBundleUnchanged() throws {
        let s = try SignedRelease(signedBy: [])
        let before = FileManager.default.contents(atPath: s.bundle)
        // A port nothing listens on: bind a server, note its port, stop it.
        let gone = try LoopbackHTTPServer { _, _ in (200, "text/plain", []) }
        let url = gone.url("/tsa")
        gone.stop()
        let error = #expect(throws: TimestampAuthorityError.self) {
            try s.sign(role: "release-manager", timestampAuthority: url, timestampTimeout: 2)
        }
        #expect(error?.exitStatus == .environment)
        #expect(FileManager.default.contents(atPath: s.bundle) == before)
    }
}
