import Foundation
import IVPack
import IVPackLicense
import IVPackTestSupport
import Testing

/// Fresh revocation (issue 18): verify warns before a CRL's nextUpdate and, under
/// `revocation: require`, fails after it saying how to refresh; `ivpack trust refresh` fetches CRLs
/// over HTTP (a real loopback server), checks them and installs them atomically.
@Suite struct CRLFreshnessTests {
    static let day: Int64 = 86_400

    /// Re-issues the development PKI's intermediate CRL (`crl.pem`) with the given times and number.
    static func intermediateCRL(
        _ s: SignedRelease, lastUpdate: Int64, nextUpdate: Int64, number: Int, pki: DevelopmentPKILayout? = nil
    ) throws -> RevocationList {
        let layout = pki ?? s.pki
        return try CertificateAuthority.revocationList(
            issuer: try Certificate.load(file: layout.intermediateCertificate)[0],
            key: try PrivateKey.load(file: layout.intermediateKey, passphrase: nil), revoked: [],
            lastUpdate: lastUpdate, nextUpdate: nextUpdate, number: number)
    }

    static func install(_ crl: RevocationList, at path: String) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(crl.pem.utf8))
    }

    /// The development policy with `revocation`, `crlWarnDays` and, when given, a url for crl.pem.
    static func policy(
        _ s: SignedRelease, revocation: String = "require", warnDays: Int? = nil, url: String? = nil
    ) throws -> String {
        var text = String(decoding: FileManager.default.contents(atPath: s.pki.trustPolicy)!, as: UTF8.self)
            .replacingOccurrences(of: "revocation: require", with: "revocation: \(revocation)")
        if let warnDays { text += "crlWarnDays: \(warnDays)\n" }
        if let url {
            text = text.replacingOccurrences(
                of: "crls: [root-crl.pem, crl.pem]", with: "crls: [root-crl.pem, {file: crl.pem, url: \"\(url)\"}]")
        }
        let path = s.pki.directory + "/policy-crl.yaml"
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    /// A refresh on a thread of its own (the prober blocks; never on the cooperative pool).
    static func refresh(_ policyPath: String, timeout: Int64 = 5000) async throws -> CRLRefresh.Report {
        let policy = try TrustPolicy.load(path: policyPath)
        return await withCheckedContinuation { continuation in
            Thread {
                continuation.resume(
                    returning: CRLRefresh.refresh(
                        policy: policy, prober: NIOHTTPProber(), timeoutMilliseconds: timeout, now: Timestamp.now()))
            }.start()
        }
    }

    static func serving(_ bytes: [UInt8]) throws -> LoopbackHTTPServer {
        try LoopbackHTTPServer { path, _ in
            path == "/int.crl" ? (200, "application/pkix-crl", bytes) : (404, "text/plain", Array("no".utf8))
        }
    }

    // MARK: - verify

    @Test func aCRLWithinTheWarningWindowWarns() throws {
        let s = try SignedRelease()
        Self.install(
            try Self.intermediateCRL(s, lastUpdate: s.now - 60, nextUpdate: s.now + 3 * Self.day, number: 2),
            at: s.pki.crl)
        let report = try s.verify()
        #expect(report.passed, "\(report.failureText)")
        let check = try #require(report.checks.first { $0.id == .trustCRLFreshness })
        #expect(check.status == .warn)
        let text = check.details.joined(separator: "\n")
        #expect(text.contains("crl.pem") && text.contains("Intermediate") && text.contains("expires"), "\(text)")
        #expect(text.contains("ivpack trust refresh --policy"), "\(text)")
        // Outside a narrower window: no warning.
        let narrow = try TrustPolicy.load(path: try Self.policy(s, warnDays: 2))
        #expect(narrow.crlWarnDays == 2)
        #expect(!(try s.verify(policy: narrow)).checks.contains { $0.id == .trustCRLFreshness })
    }

    @Test func aCurrentCRLAddsNoCheck() throws {
        let s = try SignedRelease()
        let report = try s.verify()
        #expect(report.passed)
        #expect(!report.checks.contains { $0.id == .trustCRLFreshness })
    }

    @Test(.clause("IQ 6.2.1")) func anExpiredCRLFailsUnderRequireAndSaysHowToRefresh() throws {
        let s = try SignedRelease()
        Self.install(
            try Self.intermediateCRL(s, lastUpdate: s.now - 10 * Self.day, nextUpdate: s.now - Self.day, number: 2),
            at: s.pki.crl)
        let report = try s.verify()
        #expect(!report.passed)
        #expect(report.failedIDs.contains(.trustCRLFreshness))
        #expect(report.failedIDs.contains(.signature(1)))
        #expect(report.failureText.contains("expired at its next update"), "\(report.failureText)")
        #expect(report.failureText.contains("crl.pem"))
        #expect(report.failureText.contains("ivpack trust refresh --policy \(s.pki.trustPolicy)"))
    }

    @Test func anExpiredCRLOnlyWarnsUnderIfAvailable() throws {
        let s = try SignedRelease()
        Self.install(
            try Self.intermediateCRL(s, lastUpdate: s.now - 10 * Self.day, nextUpdate: s.now - Self.day, number: 2),
            at: s.pki.crl)
        let policy = try TrustPolicy.load(path: try Self.policy(s, revocation: "if-available"))
        let report = try s.verify(policy: policy)
        #expect(report.passed, "\(report.failureText)")
        #expect(report.checks.first { $0.id == .trustCRLFreshness }?.status == .warn)
    }

    @Test func policyKeysAreChecked() throws {
        let s = try SignedRelease()
        #expect(try TrustPolicy.load(path: s.pki.trustPolicy).crlWarnDays == TrustPolicy.defaultCRLWarnDays)
        #expect(throws: (any Error).self) { try TrustPolicy.load(path: try Self.policy(s, warnDays: 400)) }
        let error = #expect(throws: (any Error).self) {
            try TrustPolicy.load(path: try Self.policy(s, url: "https://crl.example.invalid/int.crl"))
        }
        #expect("\(error!)".contains("crls[1].url"), "\(error!)")
    }

    // MARK: - trust refresh

    @Test func refreshInstallsAFreshCRLAndVerifyPassesAgain() async throws {
        let s = try SignedRelease()
        Self.install(
            try Self.intermediateCRL(s, lastUpdate: s.now - 10 * Self.day, nextUpdate: s.now - Self.day, number: 2),
            at: s.pki.crl)
        let fresh = try Self.intermediateCRL(s, lastUpdate: s.now - 60, nextUpdate: s.now + 30 * Self.day, number: 3)
        let server = try Self.serving(fresh.der)
        let policyPath = try Self.policy(s, url: server.url("/int.crl"))
        #expect(!(try s.verify(policy: try TrustPolicy.load(path: policyPath))).passed)
        let report = try await Self.refresh(policyPath)
        #expect(report.outcomes.map(\.result) == [.updated], "\(report.outcomes.map(\.line))")
        #expect(report.outcomes.first?.file == "crl.pem")
        #expect(report.exitCode == 0)
        #expect(try RevocationList.load(file: s.pki.crl).map(\.crlNumber) == [3])
        let after = try s.verify(policy: try TrustPolicy.load(path: policyPath))
        #expect(after.passed, "\(after.failureText)")
        #expect(!after.checks.contains { $0.id == .trustCRLFreshness })
        // The same CRL again: unchanged.
        #expect(try await Self.refresh(policyPath).outcomes.map(\.result) == [.unchanged])
    }

    @Test(arguments: ["flipped", "other-key"])
    func aTamperedCRLIsRefusedAndTheOldFileKept(_ how: String) async throws {
        let s = try SignedRelease()
        let before = try #require(FileManager.default.contents(atPath: s.pki.crl))
        var bytes: [UInt8]
        if how == "flipped" {
            bytes = try Self.intermediateCRL(s, lastUpdate: s.now - 60, nextUpdate: s.now + 30 * Self.day, number: 3)
                .der
            bytes[bytes.count / 2] ^= 0x01
        } else {
            let folder = TemporaryFolder()
            let other = try DevelopmentPKI.create(in: folder.url("other"), now: s.now - 3600)
            bytes = try Self.intermediateCRL(
                s, lastUpdate: s.now - 60, nextUpdate: s.now + 30 * Self.day, number: 3, pki: other
            ).der
        }
        let server = try Self.serving(bytes)
        let report = try await Self.refresh(try Self.policy(s, url: server.url("/int.crl")))
        guard case .refused(let why) = report.outcomes.first?.result else {
            Issue.record("expected a refusal: \(report.outcomes.map(\.line))")
            return
        }
        #expect(why.contains("signature") || why.contains("not a CRL"), "\(why)")
        #expect(report.exitCode == 1)
        #expect(FileManager.default.contents(atPath: s.pki.crl) == before)
    }

    @Test func aLowerCRLNumberIsRefusedAsARollback() async throws {
        let s = try SignedRelease()
        Self.install(
            try Self.intermediateCRL(s, lastUpdate: s.now - 60, nextUpdate: s.now + 30 * Self.day, number: 5),
            at: s.pki.crl)
        let before = try #require(FileManager.default.contents(atPath: s.pki.crl))
        let older = try Self.intermediateCRL(s, lastUpdate: s.now - 30, nextUpdate: s.now + 40 * Self.day, number: 4)
        let server = try Self.serving(older.der)
        let report = try await Self.refresh(try Self.policy(s, url: server.url("/int.crl")))
        guard case .refused(let why) = report.outcomes.first?.result else {
            Issue.record("expected a refusal: \(report.outcomes.map(\.line))")
            return
        }
        #expect(why.contains("CRL number 4") && why.contains("rollback"), "\(why)")
        #expect(FileManager.default.contents(atPath: s.pki.crl) == before)
    }

    @Test func anUnreachableDistributionPointIsReportedAndNothingChanges() async throws {
        let s = try SignedRelease()
        let before = try #require(FileManager.default.contents(atPath: s.pki.crl))
        let server = try Self.serving([])
        let url = server.url("/int.crl")
        server.stop()
        let policyPath = try Self.policy(s, url: url)
        let report = try await Self.refresh(policyPath, timeout: 3000)
        guard case .unreachable = report.outcomes.first?.result else {
            Issue.record("expected unreachable: \(report.outcomes.map(\.line))")
            return
        }
        #expect(report.exitCode == 3)
        #expect(FileManager.default.contents(atPath: s.pki.crl) == before)
        // The command says so and exits 3.
        let r = await runDetached(ivpackExecutable, ["trust", "refresh", "--policy", policyPath, "--timeout", "3"])
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("UNREACHABLE"), "\(r.stdout)")
    }

    @Test func theCommandRefreshesFromAServer() async throws {
        let s = try SignedRelease()
        let fresh = try Self.intermediateCRL(s, lastUpdate: s.now - 60, nextUpdate: s.now + 30 * Self.day, number: 3)
        let server = try Self.serving(Array(fresh.pem.utf8))
        let policyPath = try Self.policy(s, url: server.url("/int.crl"))
        let r = await runDetached(ivpackExecutable, ["trust", "refresh", "--policy", policyPath])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("UPDATED  \(server.url("/int.crl")) -> crl.pem"), "\(r.stdout)")
        #expect(try RevocationList.load(file: s.pki.crl).map(\.crlNumber) == [3])
    }

    /// A CA certificate's distribution point names its issuer's CRL: the root's CRL is fetched
    /// through the intermediate's; a non-HTTP distribution point is refused with a note.
    @Test func distributionPointsOfThePolicysCertificatesAreFetched() async throws {
        let folder = TemporaryFolder()
        let now = Timestamp.now()
        let rootKey = try PrivateKey.generateP256()
        let root = try CertificateAuthority.issue(
            CertificateRequest(
                subject: [("CN", "CRL Test Root")], notBefore: now - Self.day, notAfter: now + 90 * Self.day, isCA: true
            ),
            publicKeyOf: rootKey, issuer: nil)
        let fresh = try CertificateAuthority.revocationList(
            issuer: root, key: rootKey, revoked: [], lastUpdate: now - 60, nextUpdate: now + 30 * Self.day, number: 2)
        let server = try LoopbackHTTPServer { path, _ in
            path == "/root.crl" ? (200, "application/pkix-crl", fresh.der) : (404, "text/plain", [])
        }
        func intermediate(_ name: String, _ cdp: String) throws -> Certificate {
            try CertificateAuthority.issue(
                CertificateRequest(
                    subject: [("CN", name)], notBefore: now - Self.day, notAfter: now + 90 * Self.day, isCA: true,
                    crlDistributionPoint: cdp),
                publicKeyOf: try PrivateKey.generateP256(), issuer: (root, rootKey))
        }
        let http = try intermediate("CRL Test Intermediate", server.url("/root.crl"))
        #expect(http.crlDistributionPoints == [server.url("/root.crl")])
        let ldap = try intermediate("CRL Test Intermediate 2", "ldap://crl.example.invalid/cn=root")
        _ = folder.write("root.pem", Array(root.pem.utf8))
        _ = folder.write("intermediates.pem", Array((http.pem + ldap.pem).utf8))
        let stale = try CertificateAuthority.revocationList(
            issuer: root, key: rootKey, revoked: [], lastUpdate: now - 10 * Self.day, nextUpdate: now - Self.day,
            number: 1)
        _ = folder.write("root.crl", Array(stale.pem.utf8))
        let policyPath = folder.write(
            "policy.yaml",
            Array(
                """
                apiVersion: ivpack.dev/v1
                kind: TrustPolicy
                trustedRoots: [root.pem]
                intermediates: [intermediates.pem]
                crls: [root.crl]
                roles:
                  release-manager: {subjectOU: Release}
                requiredRoles: [release-manager]

                """.utf8))
        let report = try await Self.refresh(policyPath)
        #expect(report.outcomes.map(\.result.word) == ["updated", "refused"], "\(report.outcomes.map(\.line))")
        #expect(report.outcomes.last?.line.contains("only http://") == true)
        #expect(report.stale.isEmpty)
        #expect(try RevocationList.load(file: folder.url("root.crl")).map(\.crlNumber) == [2])
    }
}
