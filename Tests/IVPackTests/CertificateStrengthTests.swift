import Foundation
import IVPack
import IVPackLicense
import IVPackTestSupport
import Testing

/// Writes a variant of the development trust policy into the PKI folder and loads it.
func developmentPolicy(_ s: SignedRelease, name: String, _ edit: (String) -> String) throws -> TrustPolicy {
    let path = s.pki.directory + "/" + name
    try edit(DevelopmentPKI.trustPolicyText).write(toFile: path, atomically: true, encoding: .utf8)
    return try TrustPolicy.load(path: path)
}

/// Issue 14: verify trusts only certificates of sufficient strength, end entities as signers,
/// role policies that hold along the whole path, and time-stamps that are not from the future;
/// sign refuses what it can tell without a policy. Real certificates, made by hand.
@Suite struct CertificateStrengthTests {
    /// A signer of `role` issued by the development intermediate with the openssl CLI.
    func opensslSigner(
        _ s: SignedRelease, name: String, key: HandMadeCertificates.KeyKind, digest: String,
        policy: String = WellKnownOID.roleQuality
    ) throws -> DevelopmentPKILayout.Signer {
        try HandMadeCertificates.issueWithOpenSSL(
            name: name, in: s.pki.directory + "/hand-made", key: key, digest: digest,
            extensions: HandMadeCertificates.signerExtensions(policy: policy), issuer: s.pki.intermediate)
    }

    /// Signing as quality with `identity` is refused with `reason`, and the bundle is unchanged.
    func expectSignRefused(
        _ s: SignedRelease, _ identity: DevelopmentPKILayout.Signer, reason: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let before = FileManager.default.contents(atPath: s.bundle)
        let error = #expect(throws: InputError.self, sourceLocation: sourceLocation) {
            try s.sign(role: "quality", identity: identity)
        }
        #expect(error?.exitStatus == .badInput, sourceLocation: sourceLocation)
        #expect(
            error?.description.contains(reason) == true, "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(FileManager.default.contents(atPath: s.bundle) == before, sourceLocation: sourceLocation)
    }

    /// A quality signature by `identity`, written without sign's checks, fails verify with `reason`.
    func expectVerifyRefused(
        _ s: SignedRelease, _ identity: DevelopmentPKILayout.Signer, reason: String, policy: TrustPolicy? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try s.appendUncheckedSignature(role: "quality", identity: identity)
        let report = try s.verify(policy: policy)
        #expect(!report.passed, sourceLocation: sourceLocation)
        #expect(report.failedIDs.contains(.signature(2)), "\(report.failedIDs)", sourceLocation: sourceLocation)
        #expect(report.failureText.contains(reason), "\(report.failureText)", sourceLocation: sourceLocation)
    }

    @Test(.clause("REL-005")) func sha1SignedSignerIsRefusedBySignAndVerify() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let weak = try opensslSigner(s, name: "quality-sha1", key: .p256, digest: "sha1")
        try expectSignRefused(s, weak, reason: "is signed with a weak algorithm, ecdsa-with-SHA1")
        try expectVerifyRefused(
            s, weak,
            reason:
                "\"CN=quality-sha1 (DEVELOPMENT),OU=Quality Assurance,O=\(DevelopmentPKI.organization)\" is signed with a weak algorithm, ecdsa-with-SHA1 (SHA1)"
        )
    }

    @Test func rsa1024SignerIsRefusedBySignAndVerify() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let weak = try opensslSigner(s, name: "quality-rsa1024", key: .rsa(bits: 1024), digest: "sha256")
        try expectSignRefused(s, weak, reason: "has a weak key, RSA 1024-bit")
        try expectVerifyRefused(
            s, weak,
            reason:
                "has a weak key, RSA 1024-bit (80-bit security): security level 2 requires RSA keys of at least 2048 bits"
        )
    }

    @Test func caCertificateAsSignerIsRefusedBySignAndVerify() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let ca = try HandMadeCertificates.issue(
            name: "quality-ca", in: s.pki.directory + "/hand-made",
            request: CertificateRequest(
                subject: HandMadeCertificates.subject("quality-ca"), notBefore: s.now - 600, notAfter: s.now + 86_400,
                isCA: true, keyUsage: ["digitalSignature", "keyCertSign", "cRLSign"],
                extendedKeyUsage: [WellKnownOID.codeSigning], certificatePolicies: [WellKnownOID.roleQuality]),
            issuer: s.pki.intermediate)
        try expectSignRefused(s, ca, reason: "is a CA certificate (basicConstraints CA:TRUE), not an end entity")
        try expectVerifyRefused(
            s, ca,
            reason: "is a CA certificate (basicConstraints CA:TRUE); only an end-entity certificate (CA:FALSE) may sign"
        )
    }

    @Test func sha1SignedChainCertificateIsRefusedBySignAndVerify() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let folder = s.pki.directory + "/hand-made"
        let subCA = try HandMadeCertificates.issueWithOpenSSL(
            name: "sha1-ca", in: folder, key: .p256, digest: "sha1", unit: "CA",
            extensions: [
                "basicConstraints = critical,CA:TRUE", "keyUsage = critical,keyCertSign,cRLSign",
                "subjectKeyIdentifier = hash",
                "authorityKeyIdentifier = keyid:always", "certificatePolicies = \(ChainValidator.anyPolicy)",
            ],
            issuer: s.pki.root)
        let signer = try HandMadeCertificates.issue(
            name: "quality-under-sha1-ca", in: folder,
            request: CertificateRequest(
                subject: HandMadeCertificates.subject("quality-under-sha1-ca"), notBefore: s.now - 600,
                notAfter: s.now + 86_400, extendedKeyUsage: [WellKnownOID.codeSigning],
                certificatePolicies: [WellKnownOID.roleQuality]),
            issuer: subCA.identity)
        try expectSignRefused(s, signer, reason: "certificate \"CN=sha1-ca (DEVELOPMENT)")
        try expectVerifyRefused(
            s, signer,
            reason:
                "\"CN=sha1-ca (DEVELOPMENT),OU=CA,O=\(DevelopmentPKI.organization)\" is signed with a weak algorithm, ecdsa-with-SHA1"
        )
    }

    @Test func signCommandRefusesAWeakSignerWithExitStatus2() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let weak = try opensslSigner(s, name: "quality-sha1-cli", key: .p256, digest: "sha1")
        let r = ivpack([
            "sign", s.bundle, "--role", "quality", "--key", weak.key, "--cert", weak.certificate, "--chain", weak.chain,
        ])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("weak algorithm, ecdsa-with-SHA1"), "\(r.stderr)")
    }

    @Test func signReportRefusesAWeakOrCASigner() throws {
        let s = try SignedRelease(signedBy: [])
        let report = s.folder.write("IQ.json", "{}")
        let weak = try opensslSigner(s, name: "installer-rsa1024", key: .rsa(bits: 1024), digest: "sha256")
        let r = ivpack([
            "sign-report", report, "--role", "installer", "--key", weak.key, "--cert", weak.certificate, "--chain",
            weak.chain,
        ])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("weak key, RSA 1024-bit"), "\(r.stderr)")
        #expect(try ReportSignOffs.discover(reportPath: report).isEmpty)
        let ca = try HandMadeCertificates.issue(
            name: "installer-ca-report", in: s.pki.directory + "/hand-made",
            request: CertificateRequest(
                subject: HandMadeCertificates.subject("installer-ca-report", unit: "Field Service"),
                notBefore: s.now - 600, notAfter: s.now + 86_400, isCA: true,
                keyUsage: ["digitalSignature", "keyCertSign", "cRLSign"], extendedKeyUsage: [WellKnownOID.clientAuth],
                certificatePolicies: [WellKnownOID.roleInstaller]),
            issuer: s.pki.intermediate)
        let byCA = ivpack([
            "sign-report", report, "--role", "installer", "--key", ca.key, "--cert", ca.certificate, "--chain",
            ca.chain,
        ])
        #expect(byCA.status == 2, "\(byCA.stderr)")
        #expect(byCA.stderr.contains("is a CA certificate (basicConstraints CA:TRUE)"), "\(byCA.stderr)")
    }

    @Test func rsa2048SignerPassesAtLevel2AndIsRefusedWhenThePolicyAsksForLevel3() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let rsa = try opensslSigner(s, name: "quality-rsa2048", key: .rsa(bits: 2048), digest: "sha256")
        try s.sign(role: "quality", identity: rsa, at: Timestamp.now()) // openssl x509 -req makes it valid from now
        let atLevel2 = try s.verify()
        #expect(atLevel2.passed, "\(atLevel2.failureText)")
        let level3 = try developmentPolicy(s, name: "level3.yaml") { $0 + "minimumSecurityLevel: 3\n" }
        #expect(level3.minimumSecurityLevel == SecurityLevel(3))
        let report = try s.verify(policy: level3)
        #expect(report.failedIDs == [.signature(2), .roles], "\(report.failedIDs)")
        #expect(
            report.failureText.contains(
                "RSA 2048-bit (112-bit security): security level 3 requires RSA keys of at least 3072 bits"),
            "\(report.failureText)")
    }

    @Test(arguments: ["0", "1", "-2", "6", "two"])
    func policyCannotLowerTheSecurityLevelBelow2(value: String) throws {
        let s = try SignedRelease(signedBy: [])
        let text = DevelopmentPKI.trustPolicyText + "minimumSecurityLevel: \(value)\n"
        let error = #expect(throws: InputError.self) {
            try TrustPolicy.parse(bytes: Array(text.utf8), file: "weak-policy.yaml", folder: s.pki.directory)
        }
        #expect(error?.exitStatus == .badInput)
        #expect(error?.field == "minimumSecurityLevel", "\(String(describing: error))")
        if let n = Int(value), n < 2 {
            #expect(
                error?.description.contains("\(n) is below 2, the least strength ivpack accepts") == true,
                "\(String(describing: error))")
        }
    }

    @Test func verifyCommandRefusesAPolicyBelowLevel2WithExitStatus2() throws {
        let s = try SignedRelease()
        let path = s.pki.directory + "/level1.yaml"
        try (DevelopmentPKI.trustPolicyText + "minimumSecurityLevel: 1\n").write(
            toFile: path, atomically: true, encoding: .utf8)
        let r = ivpack(["verify", s.bundle, "--trust", path])
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("minimumSecurityLevel"), "\(r.stderr)")
    }

    // MARK: - Role policies along the path

    /// A sub-CA under the development root carrying `policies` (its own CRL added to the policy),
    /// and a quality certificate it issued, with the quality policy OID and OU.
    func subCAAndQualitySigner(_ s: SignedRelease, name: String, policies: [String])
        throws -> (signer: DevelopmentPKILayout.Signer, crl: String)
    {
        let folder = s.pki.directory + "/hand-made"
        let ca = try HandMadeCertificates.issue(
            name: name, in: folder,
            request: CertificateRequest(
                subject: HandMadeCertificates.subject(name, unit: "TLS"), notBefore: s.now - 600,
                notAfter: s.now + 86_400,
                isCA: true, pathLength: 0, certificatePolicies: policies),
            issuer: s.pki.root)
        let crl = folder + "/\(name).crl.pem"
        try HandMadeCertificates.emptyCRL(of: ca.identity, to: crl)
        let signer = try HandMadeCertificates.issue(
            name: "quality-from-\(name)", in: folder,
            request: CertificateRequest(
                subject: HandMadeCertificates.subject("quality-from-\(name)"), notBefore: s.now - 600,
                notAfter: s.now + 86_400, extendedKeyUsage: [WellKnownOID.codeSigning],
                certificatePolicies: [WellKnownOID.roleQuality]),
            issuer: ca.identity)
        return (signer, crl)
    }

    func policyWithCRL(_ s: SignedRelease, _ crl: String, name: String, roles: String? = nil) throws -> TrustPolicy {
        try developmentPolicy(s, name: name) { text in
            var t = text.replacingOccurrences(
                of: "crls: [root-crl.pem, crl.pem]", with: "crls: [root-crl.pem, crl.pem, \(crl)]")
            if let roles {
                t = t.replacingOccurrences(of: "    certificatePolicy: \"\(WellKnownOID.roleQuality)\"", with: roles)
            }
            return t
        }
    }

    @Test func subCAWithoutTheRolePolicyCannotIssueRoleCertificates() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        // A TLS CA: its certificate policy is the CA/Browser Forum's domain-validated one, not quality's.
        let (signer, crl) = try subCAAndQualitySigner(s, name: "tls-ca", policies: ["2.23.140.1.2.1"])
        try s.sign(role: "quality", identity: signer) // sign cannot tell without a policy
        let report = try s.verify(policy: try policyWithCRL(s, crl, name: "tls-ca.yaml"))
        #expect(report.failedIDs == [.signature(2), .roles], "\(report.failedIDs)")
        #expect(
            report.failureText.contains(
                "the certificate carries its policy, but the path does not allow it: CA certificate \"CN=tls-ca (DEVELOPMENT),OU=TLS,O=\(DevelopmentPKI.organization)\" carries only certificate policies 2.23.140.1.2.1, neither \(WellKnownOID.roleQuality) nor anyPolicy"
            ),
            "\(report.failureText)")
        let sig = try #require(report.checks.first { $0.id == .signature(2) })
        #expect(sig.evidence.first { $0.key == "roles" }?.value == "none")
    }

    @Test(arguments: [
        [WellKnownOID.roleQuality], [ChainValidator.anyPolicy],
        [WellKnownOID.roleReleaseManager, WellKnownOID.roleQuality],
    ])
    func subCAWithTheRolePolicyOrAnyPolicyStillIssuesRoleCertificates(policies: [String]) throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let (signer, crl) = try subCAAndQualitySigner(s, name: "quality-ca", policies: policies)
        try s.sign(role: "quality", identity: signer)
        let report = try s.verify(policy: try policyWithCRL(s, crl, name: "quality-ca.yaml"))
        #expect(report.passed, "\(report.failureText)")
    }

    @Test func subjectOURolesAreProvenAsBeforeWhateverTheCAsPolicies() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let (signer, crl) = try subCAAndQualitySigner(s, name: "ou-ca", policies: [])
        try s.sign(role: "quality", identity: signer)
        let byOU = try policyWithCRL(s, crl, name: "ou.yaml", roles: "    subjectOU: Quality Assurance")
        let report = try s.verify(policy: byOU)
        #expect(report.passed, "\(report.failureText)")
        // The same signature, the role proven by policy: refused along the path.
        let byPolicy = try s.verify(policy: try policyWithCRL(s, crl, name: "ou-policy.yaml"))
        #expect(
            byPolicy.failureText.contains(
                "carries no certificate policies, neither \(WellKnownOID.roleQuality) nor anyPolicy"),
            "\(byPolicy.failureText)")
    }

    // MARK: - Time-stamps

    @Test func timestampFromTheFutureIsRefusedInsteadOfBecomingTheValidationTime() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let tomorrow = s.now + 86_400
        let future = try DevelopmentPKI.issueSigner(
            role: "quality", policyOID: WellKnownOID.roleQuality, in: s.pki, name: "quality-tomorrow",
            notBefore: tomorrow, notAfter: tomorrow + 86_400)
        let tsa = try s.timestampAuthority(at: tomorrow + 60)
        try s.sign(role: "quality", identity: future, at: tomorrow + 60, timestampAuthority: tsa.url)
        let now = Timestamp.now()
        let report = try s.verify(at: now)
        #expect(report.failedIDs.contains(.signature(2)), "\(report.failedIDs)")
        #expect(
            report.failureText.contains(
                "the time-stamp token is not valid: the token's time \(Timestamp.iso8601(tomorrow + 60)) is after this machine's clock (\(Timestamp.iso8601(now)))"
            ),
            "\(report.failureText)")
        #expect(report.failureText.contains("more than the 300 s allowed"))
        // Tomorrow, the same bundle verifies: the token was refused for its time alone.
        #expect(try s.verify(at: tomorrow + 120).passed)
    }

    @Test func timestampWithinTheClockSkewIsAcceptedAndThePolicySetsTheSkew() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let tsa = try s.timestampAuthority(at: s.now + 120)
        try s.sign(role: "quality", timestampAuthority: tsa.url)
        let report = try s.verify(at: s.now)
        #expect(report.passed, "\(report.failureText)")
        let strict = try developmentPolicy(s, name: "skew.yaml") { $0 + "maxClockSkewSeconds: 60\n" }
        #expect(strict.maxClockSkewSeconds == 60)
        let refused = try s.verify(policy: strict, at: s.now)
        #expect(refused.failureText.contains("by 120 s, more than the 60 s allowed"), "\(refused.failureText)")
    }

    @Test func timestampByAWeakAuthorityIsRefused() throws {
        let s = try SignedRelease(signedBy: ["release-manager"])
        let weakTSA = try HandMadeCertificates.issueWithOpenSSL(
            name: "tsa-rsa1024", in: s.pki.directory + "/hand-made", key: .rsa(bits: 1024),
            unit: "Time Stamping", extensions: HandMadeCertificates.timestampExtensions,
            issuer: s.pki.intermediate)
        let tsa = try LocalTimestampAuthority(certificate: weakTSA.certificate, key: weakTSA.key, chain: weakTSA.chain)
        try s.sign(role: "quality", timestampAuthority: tsa.url)
        let report = try s.verify()
        #expect(report.failedIDs.contains(.signature(2)), "\(report.failedIDs)")
        #expect(
            report.failureText.contains(
                "the time-stamp token is not valid: the time-stamping authority's certificate \"CN=tsa-rsa1024"),
            "\(report.failureText)")
        #expect(report.failureText.contains("has a weak key, RSA 1024-bit"))
    }

    // MARK: - Outcomes as values

    @Test func chainValidationSaysWhyAsAValue() throws {
        let s = try SignedRelease(signedBy: [])
        let policy = try s.policy()
        let quality = try Certificate.load(file: s.pki.quality.certificate)[0]
        let valid = ChainValidator.validate(
            quality, untrusted: policy.intermediates, roots: policy.trustedRoots, crls: policy.crls,
            revocation: .require, at: s.now, requiredPolicy: WellKnownOID.roleQuality)
        guard case .valid(let path, _) = valid else {
            Issue.record("refused: \(String(describing: valid.problem))")
            return
        }
        #expect(path.count == 3)
        // The quality certificate does not carry the release-manager policy: refused as a value.
        let invalid = ChainValidator.validate(
            quality, untrusted: policy.intermediates, roots: policy.trustedRoots, crls: policy.crls,
            revocation: .require, at: s.now, requiredPolicy: WellKnownOID.roleReleaseManager)
        guard case .invalid(let reason, _, _) = invalid else {
            Issue.record("accepted")
            return
        }
        #expect(
            reason.contains("certificate policy \(WellKnownOID.roleReleaseManager) does not hold along the path"),
            "\(reason)")
    }

    // MARK: - Licence grants

    @Test func grantSignerMustBeAStrongEndEntity() throws {
        let s = try SignedRelease(signedBy: [])
        let weak = try HandMadeCertificates.issueWithOpenSSL(
            name: "license-signing-sha1", in: s.pki.directory + "/hand-made", key: .p256, digest: "sha1",
            unit: "Licensing",
            extensions: [
                "basicConstraints = critical,CA:FALSE", "keyUsage = critical,digitalSignature",
                "extendedKeyUsage = \(WellKnownOID.licenseSigning)", "subjectKeyIdentifier = hash",
                "authorityKeyIdentifier = keyid:always",
            ],
            issuer: s.pki.intermediate)
        let certificate = try Certificate.load(file: weak.certificate)[0]
        let key = try PrivateKey.load(file: weak.key, passphrase: nil)
        let error = #expect(throws: InputError.self) {
            try GrantSigner(certificate: certificate, key: key, chain: try Certificate.load(file: weak.chain))
        }
        #expect(
            error?.description.contains("licence-signing certificate: certificate \"CN=license-signing-sha1") == true,
            "\(String(describing: error))")
        // A grant signed with it anyway is refused by the installer.
        let bytes = Array("{\"grant\":1}".utf8)
        let signature = try SignedData.sign(
            content: bytes, certificate: certificate, key: key, chain: try Certificate.load(file: weak.chain))
        let expected = GrantExpectation(
            product: "PulmoScan AI", version: "V2.3.1.1024", manifestSHA256: String(repeating: "0", count: 64),
            siteID: "SITE-001", nonce: nil)
        let result = GrantVerifier.verify(
            SignedGrant(grantBytes: bytes, signature: signature.der), expected: expected, policy: try s.policy(),
            now: s.now)
        guard case .failure(let refusal) = result else {
            Issue.record("a SHA-1 grant signer was accepted")
            return
        }
        #expect(refusal.code == "grant-signer-untrusted")
        #expect(refusal.message.contains("weak algorithm, ecdsa-with-SHA1"), "\(refusal.message)")
    }
}

/// The same rules over real mutual TLS: the licence server's certificate as the client judges it,
/// installer certificates as the server judges them.
@Suite(.serialized) struct CertificateStrengthTLSTests {
    func check(_ s: SignedRelease, _ server: LicenseServerFixture, options: LicenseClientOptions? = nil) async throws
        -> Check
    {
        await LicenseCheck.online(
            options: options ?? server.clientOptions(pki: s.pki), policy: try s.policy(),
            product: "PulmoScan AI", version: s.release.version, manifestSHA256: s.built.manifestDigest)
    }

    @Test(.clause("IQ 6.2.1")) func weakLicenceServerCertificateIsRefusedByTheClient() async throws {
        let s = try SignedRelease()
        let weak = try HandMadeCertificates.issueWithOpenSSL(
            name: "server-rsa1024", in: s.pki.directory + "/hand-made", key: .rsa(bits: 1024),
            unit: "Licensing", extensions: HandMadeCertificates.serverExtensions,
            issuer: s.pki.intermediate)
        let server = try await LicenseServerFixture(pki: s.pki, folder: s.folder) {
            $0.replacingOccurrences(of: "\(s.pki.directory)/license-server/server.pem", with: weak.certificate)
                .replacingOccurrences(of: "\(s.pki.directory)/license-server/server.key", with: weak.key)
        }
        try await server.issue()
        let result = try await check(s, server)
        #expect(result.status == .fail)
        #expect(result.details.first?.contains("tls-server-untrusted") == true, "\(result.details)")
        #expect(
            result.details.first?.contains(
                "\"CN=server-rsa1024 (DEVELOPMENT),OU=Licensing,O=\(DevelopmentPKI.organization)\" has a weak key, RSA 1024-bit"
            ) == true,
            "\(result.details)")
        #expect(try await server.server.store.activations().isEmpty)
        await server.stop()
    }

    @Test(.clause("IQ 6.2.1")) func caInstallerClientCertificateIsRefusedByTheServer() async throws {
        let s = try SignedRelease()
        let server = try await LicenseServerFixture(pki: s.pki, folder: s.folder)
        try await server.issue()
        try await server.register(s)
        let ca = try HandMadeCertificates.issue(
            name: "installer-ca", in: s.pki.directory + "/hand-made",
            request: CertificateRequest(
                subject: HandMadeCertificates.subject("installer-ca", unit: "Field Service"), notBefore: s.now - 600,
                notAfter: s.now + 86_400, isCA: true, keyUsage: ["digitalSignature", "keyCertSign", "cRLSign"],
                extendedKeyUsage: [WellKnownOID.clientAuth], certificatePolicies: [WellKnownOID.roleInstaller]),
            issuer: s.pki.intermediate)
        let result = try await check(
            s, server, options: server.clientOptions(pki: s.pki, certificate: ca.certificate, key: ca.key))
        // In TLS 1.3 the client may finish its side before the server's alert arrives, and then reads
        // it as a closed channel ("unreachable", seen once under full-suite load): the server's
        // recorded reason is what this test is about.
        #expect(result.status == .fail, "\(result.details)")
        #expect(
            server.server.refusedHandshakes.last?.contains("is a CA certificate (basicConstraints CA:TRUE)") == true,
            "\(server.server.refusedHandshakes)")
        // The development installer still gets in.
        let ok = try await check(s, server)
        #expect(ok.status == .pass, "\(ok.details)")
        await server.stop()
    }

    @Test func installerFromASubCAWithoutTheInstallerPolicyIsRefusedByTheServer() async throws {
        let s = try SignedRelease()
        let folder = s.pki.directory + "/hand-made"
        let ca = try HandMadeCertificates.issue(
            name: "vpn-ca", in: folder,
            request: CertificateRequest(
                subject: HandMadeCertificates.subject("vpn-ca", unit: "VPN"), notBefore: s.now - 600,
                notAfter: s.now + 86_400,
                isCA: true, pathLength: 0, certificatePolicies: ["1.3.6.1.4.1.99999.1"]),
            issuer: s.pki.root)
        let crl = folder + "/vpn-ca.crl.pem"
        try HandMadeCertificates.emptyCRL(of: ca.identity, to: crl)
        let installer = try HandMadeCertificates.issue(
            name: "installer-via-vpn-ca", in: folder,
            request: CertificateRequest(
                subject: HandMadeCertificates.subject("installer-via-vpn-ca", unit: "Field Service"),
                notBefore: s.now - 600,
                notAfter: s.now + 86_400, extendedKeyUsage: [WellKnownOID.clientAuth],
                certificatePolicies: [WellKnownOID.roleInstaller]),
            issuer: ca.identity)
        let withChain = folder + "/installer-via-vpn-ca.full.pem"
        try
            (try String(contentsOfFile: installer.certificate, encoding: .utf8)
            + String(contentsOfFile: ca.certificate, encoding: .utf8))
            .write(toFile: withChain, atomically: true, encoding: .utf8)
        let server = try await LicenseServerFixture(pki: s.pki, folder: s.folder) {
            $0.replacingOccurrences(of: "\(s.pki.directory)/crl.pem]", with: "\(s.pki.directory)/crl.pem, \(crl)]")
        }
        try await server.issue()
        let result = try await check(
            s, server, options: server.clientOptions(pki: s.pki, certificate: withChain, key: installer.key))
        #expect(result.status == .fail)
        #expect(
            server.server.refusedHandshakes.last?.contains(
                "not an installer certificate along its path: CA certificate \"CN=vpn-ca (DEVELOPMENT)") == true,
            "\(server.server.refusedHandshakes)")
        await server.stop()
    }
}
