import Foundation
import IVPack
import IVPackLicense
import IVPackTestSupport
import Testing

/// The licence server's admin API over real mutual TLS on loopback: the operator role, each route,
/// the audit rows, the remote CLI and the chain the server presents.
@Suite(.serialized) struct LicenseAdminTests {
    /// A development PKI and a running server with the admin API on (the development config names
    /// the operator policy); no signed bundle, so the suite stays quick.
    func setUp(edit: (String) -> String = { $0 }) async throws -> (
        DevelopmentPKILayout, TemporaryFolder, LicenseServerFixture
    ) {
        let folder = TemporaryFolder("ivpack-admin")
        let pki = try DevelopmentPKI.create(in: folder.url("pki"), now: Timestamp.now() - 3600)
        let server = try await LicenseServerFixture(pki: pki, folder: folder, edit: edit)
        return (pki, folder, server)
    }

    static let request = LicenseIssueRequest(
        id: "LIC-ADM-1", siteID: "SITE-001", product: "PulmoScan AI", minimumVersion: "V2.0.0.1",
        maximumVersion: "V2.999.999.999999", seats: 3, validDays: 30)

    func actor(_ pki: DevelopmentPKILayout) throws -> String {
        let certificate = try Certificate.load(file: pki.licenseOperator.certificate)[0]
        return "operator \(certificate.subject) (sha256 \(certificate.fingerprint.hex))"
    }

    @Test func developmentOperatorCertificateCarriesTheOperatorRole() throws {
        let folder = TemporaryFolder("ivpack-admin")
        let pki = try DevelopmentPKI.create(in: folder.url("pki"), now: Timestamp.now())
        let certificate = try Certificate.load(file: pki.licenseOperator.certificate)[0]
        #expect(certificate.certificatePolicies == [WellKnownOID.roleLicenseOperator])
        #expect(certificate.extendedKeyUsages == [WellKnownOID.clientAuth])
        #expect(certificate.subject.contains(WellKnownOID.developmentMarker))
        #expect(RoleProfile.named("license-operator")?.policyOID == WellKnownOID.roleLicenseOperator)
        let config = try LicenseServerConfig.load(
            path: folder.write(
                "c.yaml", LicenseServerConfig.developmentText(pkiDirectory: pki.directory, port: 0, database: "x")))
        #expect(config.operatorPolicy == WellKnownOID.roleLicenseOperator)
    }

    @Test(.clause("IQ 6.2.1")) func operatorIssuesListsAndRevokesAndEveryActionIsAuditedWithTheCertificate()
        async throws
    {
        let (pki, folder, server) = try await setUp()
        let client = try server.adminClient(pki: pki)
        let issued = try await client.issue(Self.request).get()
        #expect(issued.id == "LIC-ADM-1" && issued.seats == 3 && issued.activations == 0 && issued.revoked == nil)
        let stored = try #require(try await server.server.store.license(id: "LIC-ADM-1"))
        #expect(stored.notAfter - stored.notBefore == 30 * 86_400)
        // The same ID again is a conflict, and nothing changes.
        let again = await client.issue(Self.request)
        #expect(again.failure?.code == "license-exists" && again.failure?.httpStatus == 409, "\(again)")
        let listed = try await client.licenses().get()
        #expect(listed.map(\.id) == ["LIC-ADM-1"])
        #expect(try await client.activations().get().isEmpty)
        #expect(try await client.activations(licenseID: "LIC-ADM-1").get().isEmpty)
        #expect(await client.activations(licenseID: "LIC-NONE").failure?.httpStatus == 404)
        let revoked = try await client.revoke(id: "LIC-ADM-1").get()
        #expect(revoked.revoked != nil)
        #expect(try await server.server.store.license(id: "LIC-ADM-1")?.revokedAt != nil)
        let twice = await client.revoke(id: "LIC-ADM-1")
        #expect(twice.failure?.code == "license-already-revoked" && twice.failure?.httpStatus == 409)
        let unknown = await client.revoke(id: "LIC-NONE")
        #expect(unknown.failure?.code == "no-such-license" && unknown.failure?.httpStatus == 404)
        // The audit rows name the operator by the handshake's certificate, for every action.
        let expected = try actor(pki)
        let rows = try await server.server.store.auditTrail()
        let summary = rows.map { "\($0.action) \($0.result)" }
        #expect(
            summary == [
                "issue ok", "issue refused", "list-licenses ok", "list-activations ok", "list-activations ok",
                "list-activations no-such-license", "revoke ok", "revoke no-change", "revoke no-such-license",
            ], "\(summary)")
        #expect(rows.allSatisfy { $0.actor == expected }, "\(rows.map(\.actor))")
        // The audit route pages the same table and records its own read after it.
        let audit = try await client.audit(after: 7).get()
        #expect(audit.compactMap { $0["action"]?.stringValue } == ["revoke", "revoke"])
        #expect(audit.first?["actor"]?.stringValue == expected)
        #expect(try await server.server.store.auditTrail().last?.action == "read-audit")
        await server.stop()
        withExtendedLifetime(folder) {}
    }

    @Test(.clause("IQ 6.2.1")) func installerCertificateOnTheAdminAPIIsRefusedAndChangesNothing() async throws {
        let (pki, folder, server) = try await setUp()
        try await server.issue(id: "LIC-KEEP")
        let before = try await server.server.store.auditTrail().count
        let installer = try server.adminClient(
            pki: pki, certificate: pki.installer.certificate, key: pki.installer.key)
        let issue = await installer.issue(Self.request)
        #expect(issue.failure?.code == "not-an-operator" && issue.failure?.httpStatus == 403, "\(issue)")
        #expect(issue.failure?.message.contains("Installer 1") == true)
        // Each result is printed when it is not the refusal: a CI run under load once saw another
        // answer to the audit read while the server logged its refusal (2026-12-02, 9th session).
        let revoke = await installer.revoke(id: "LIC-KEEP")
        #expect(revoke.failure?.code == "not-an-operator", "\(revoke)")
        let licenses = await installer.licenses()
        #expect(licenses.failure?.code == "not-an-operator", "\(licenses)")
        let activations = await installer.activations()
        #expect(activations.failure?.code == "not-an-operator", "\(activations)")
        let audit = await installer.audit()
        #expect(audit.failure?.code == "not-an-operator", "\(audit)")
        #expect(try await server.server.store.licenses().map(\.id) == ["LIC-KEEP"])
        #expect(try await server.server.store.license(id: "LIC-KEEP")?.revokedAt == nil)
        #expect(try await server.server.store.auditTrail().count == before)
        await server.stop()
        withExtendedLifetime(folder) {}
    }

    @Test(.clause("IQ 6.2.1")) func operatorCertificateCannotActivate() async throws {
        let s = try SignedRelease()
        let server = try await LicenseServerFixture(pki: s.pki, folder: s.folder)
        try await server.issue()
        try await server.register(s)
        let options = server.clientOptions(
            pki: s.pki, certificate: s.pki.licenseOperator.certificate, key: s.pki.licenseOperator.key)
        let refused = await LicenseCheck.online(
            options: options, policy: try s.policy(), product: "PulmoScan AI", version: s.release.version,
            manifestSHA256: s.built.manifestDigest)
        #expect(refused.status == .fail)
        #expect(refused.details.first?.hasPrefix("not-an-installer") == true, "\(refused.details)")
        #expect(try await server.server.store.activations().isEmpty)
        // The installer's certificate activates the same bundle: the refusal was the role.
        let granted = await LicenseCheck.online(
            options: server.clientOptions(pki: s.pki), policy: try s.policy(), product: "PulmoScan AI",
            version: s.release.version, manifestSHA256: s.built.manifestDigest)
        #expect(granted.status == .pass, "\(granted.details)")
        await server.stop()
    }

    @Test func noCertificateOrACertificateFromAnotherCAIsRefusedInTheHandshake() async throws {
        let (pki, folder, server) = try await setUp()
        let none = await runDetached(
            "/usr/bin/curl",
            ["-sS", "--max-time", "30", "--cacert", pki.rootCertificate, server.url + AdminProtocol.licensesPath])
        #expect(none.status != 0)
        #expect(none.stdout.isEmpty, "\(none.stdout)")
        let other = try DevelopmentPKI.create(in: folder.url("other-pki"), now: Timestamp.now() - 3600)
        let foreign = try server.adminClient(
            pki: pki, certificate: other.licenseOperator.certificate, key: other.licenseOperator.key)
        let result = await foreign.issue(Self.request)
        #expect(result.failure?.code == "tls-handshake-refused", "\(result)")
        #expect(
            server.server.refusedHandshakes.last?.contains("unable to get local issuer certificate") == true,
            "\(server.server.refusedHandshakes)")
        #expect(try await server.server.store.licenses().isEmpty)
        await server.stop()
        withExtendedLifetime(folder) {}
    }

    @Test func withoutAnOperatorPolicyTheAdminAPIIsOff() async throws {
        let (pki, folder, server) = try await setUp { text in
            text.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.contains("operatorPolicy") }.joined(separator: "\n")
        }
        #expect(server.server.config.operatorPolicy == nil)
        // The operator's certificate no longer passes the handshake...
        let op = try server.adminClient(pki: pki)
        #expect(await op.licenses().failure?.code == "tls-handshake-refused")
        #expect(server.server.refusedHandshakes.last?.contains("not an installer certificate") == true)
        // ...and an installer is told the admin API is off.
        let installer = try server.adminClient(
            pki: pki, certificate: pki.installer.certificate, key: pki.installer.key)
        let off = await installer.licenses()
        #expect(off.failure?.code == "admin-api-disabled" && off.failure?.httpStatus == 404, "\(off)")
        #expect(off.failure?.message.contains("clientAuthentication.operatorPolicy") == true)
        await server.stop()
        withExtendedLifetime(folder) {}
    }

    @Test(arguments: [
        ("{\"id\": ", "malformed-json"),
        ("[]", "malformed-request"),
        (
            "{\"id\":\"L\",\"siteID\":\"S\",\"product\":\"P\",\"minimumVersion\":\"V1\",\"maximumVersion\":\"V2\",\"seats\":1,\"validDays\":1,\"actor\":\"root\"}",
            "unknown-field"
        ),
        (
            "{\"id\":\"L\",\"siteID\":\"S\",\"product\":\"P\",\"minimumVersion\":\"V1\",\"maximumVersion\":\"V2\",\"seats\":\"1\",\"validDays\":1}",
            "malformed-request"
        ),
        (
            "{\"id\":\"L\",\"siteID\":\"S\",\"product\":\"P\",\"minimumVersion\":\"V1\",\"maximumVersion\":\"V2\",\"seats\":0,\"validDays\":1}",
            "malformed-request"
        ),
        (
            "{\"id\":\"L/1\",\"siteID\":\"S\",\"product\":\"P\",\"minimumVersion\":\"V1\",\"maximumVersion\":\"V2\",\"seats\":1,\"validDays\":1}",
            "malformed-request"
        ),
        (
            "{\"id\":\"L\",\"siteID\":\"S\",\"product\":\"P\",\"minimumVersion\":\"V3\",\"maximumVersion\":\"V2\",\"seats\":1,\"validDays\":1}",
            "malformed-request"
        ),
        (
            "{\"id\":\"L\",\"siteID\":\"\",\"product\":\"P\",\"minimumVersion\":\"V1\",\"maximumVersion\":\"V2\",\"seats\":1,\"validDays\":1}",
            "malformed-request"
        ),
        (
            "{\"id\":\"L\",\"product\":\"P\",\"minimumVersion\":\"V1\",\"maximumVersion\":\"V2\",\"seats\":1,\"validDays\":1}",
            "malformed-request"
        ),
    ])
    func issueRequestsAreParsedStrictly(body: String, code: String) {
        let parsed = LicenseIssueRequest.parse(Array(body.utf8))
        guard case .failure(let error) = parsed else {
            Issue.record("accepted: \(body)")
            return
        }
        #expect(error.code == code, "\(error.message)")
    }

    @Test func issueRequestRoundTrips() throws {
        let parsed = LicenseIssueRequest.parse(CanonicalJSON.encode(Self.request.json))
        #expect(try parsed.get() == Self.request)
    }

    @Test func malformedAdminRequestsAreAnswered400WithACodeOverTheWire() async throws {
        let (pki, folder, server) = try await setUp()
        func call(_ path: String, body: String? = nil) async -> ProcessResult {
            var arguments = [
                "-sS", "--max-time", "60", "-o", "-", "-w", "\n%{http_code}", "--cacert", pki.rootCertificate,
                "--cert", pki.licenseOperator.certificate, "--key", pki.licenseOperator.key,
            ]
            if let body {
                folder.write("body.json", body)
                arguments += ["-H", "Content-Type: application/json", "--data-binary", "@" + folder.url("body.json")]
            }
            return await runDetached("/usr/bin/curl", arguments + [server.url + path])
        }
        let unknown = await call(
            AdminProtocol.licensesPath,
            body: String(decoding: CanonicalJSON.encode(Self.request.json), as: UTF8.self)
                .replacingOccurrences(of: "{", with: "{\"operator\":\"someone else\","))
        #expect(unknown.stdout.hasSuffix("400") && unknown.stdout.contains("unknown-field"), "\(unknown.stdout)")
        let big = await call(AdminProtocol.licensesPath, body: String(repeating: "x", count: 40_000))
        #expect(big.stdout.hasSuffix("413"), "\(big.stdout) \(big.stderr)")
        let revokeBody = await call(AdminProtocol.revokePath(id: "LIC-X"), body: "{\"reason\":\"x\"}")
        #expect(revokeBody.stdout.hasSuffix("400") && revokeBody.stdout.contains("unknown-field"))
        let parameter = await call(AdminProtocol.licensesPath + "?all=1")
        #expect(parameter.stdout.hasSuffix("400") && parameter.stdout.contains("unknown-parameter"))
        let limit = await call(AdminProtocol.auditPath + "?limit=0")
        #expect(limit.stdout.hasSuffix("400") && limit.stdout.contains("malformed-request"))
        #expect(try await server.server.store.licenses().isEmpty)
        // Still serving, and the good request is taken.
        #expect(try await server.adminClient(pki: pki).issue(Self.request).get().id == "LIC-ADM-1")
        await server.stop()
    }

    @Test func remoteCommandLineIssuesAndRevokesAndTheRevocationRefusesAnInstaller() async throws {
        let s = try SignedRelease()
        let server = try await LicenseServerFixture(pki: s.pki, folder: s.folder)
        try await server.register(s)
        let remote = [
            "--server", server.url, "--client-cert", s.pki.licenseOperator.certificate, "--client-key",
            s.pki.licenseOperator.key, "--ca", s.pki.rootCertificate,
        ]
        let issue = await runDetached(
            ivpackExecutable,
            ["license", "issue"] + remote + [
                "--id", "LIC-R1", "--site", "SITE-001", "--product", "PulmoScan AI", "--min-version", "V2.0.0.1",
                "--max-version", "V2.999.999.999999", "--seats", "2", "--valid-days", "10",
            ])
        #expect(issue.status == 0, "\(issue.stderr)")
        #expect(issue.stdout.hasPrefix("Issued LIC-R1: PulmoScan AI V2.0.0.1 to V2.999.999.999999 for site SITE-001"))
        func online() async throws -> Check {
            await LicenseCheck.online(
                options: server.clientOptions(pki: s.pki), policy: try s.policy(), product: "PulmoScan AI",
                version: s.release.version, manifestSHA256: s.built.manifestDigest)
        }
        #expect(try await online().status == .pass)
        // The remote listing is the local one, byte for byte.
        let list = await runDetached(ivpackExecutable, ["license", "list"] + remote + ["--json"])
        let local = await runDetached(ivpackExecutable, ["license", "list", "--config", server.configPath, "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout == local.stdout)
        #expect(
            list.stdout.contains("\"activations\": 1") || list.stdout.contains("\"activations\":1"), "\(list.stdout)")
        let activations = await runDetached(
            ivpackExecutable, ["license", "activations"] + remote + ["--license", "LIC-R1"])
        #expect(activations.status == 0, "\(activations.stderr)")
        #expect(activations.stdout.contains("LIC-R1  site SITE-001") && activations.stdout.contains("Installer 1"))
        let revoke = await runDetached(ivpackExecutable, ["license", "revoke"] + remote + ["--id", "LIC-R1"])
        #expect(revoke.status == 0, "\(revoke.stderr)")
        #expect(revoke.stdout == "Revoked LIC-R1\n")
        let refused = try await online()
        #expect(refused.status == .fail)
        #expect(refused.details.first?.hasPrefix("license-revoked") == true, "\(refused.details)")
        let again = await runDetached(ivpackExecutable, ["license", "revoke"] + remote + ["--id", "LIC-R1"])
        #expect(again.status == 2 && again.stderr.contains("no valid licence LIC-R1 to revoke"), "\(again.stderr)")
        let expected = "operator \(try Certificate.load(file: s.pki.licenseOperator.certificate)[0].subject)"
        let rows = try await server.server.store.auditTrail().filter { $0.action == "issue" || $0.action == "revoke" }
        #expect(rows.map(\.result) == ["ok", "ok", "no-change"])
        #expect(rows.allSatisfy { $0.actor.hasPrefix(expected + " (sha256 ") }, "\(rows.map(\.actor))")
        // An installer's certificate on the same command line is refused by the server (exit 2).
        let installer = await runDetached(
            ivpackExecutable,
            [
                "license", "list", "--server", server.url, "--client-cert", s.pki.installer.certificate,
                "--client-key", s.pki.installer.key, "--ca", s.pki.rootCertificate,
            ])
        #expect(installer.status == 2 && installer.stderr.contains("not-an-operator"), "\(installer.stderr)")
        // One target, not two, and not none.
        let both = await runDetached(
            ivpackExecutable, ["license", "list", "--config", server.configPath] + remote)
        #expect(both.status == 64 && both.stderr.contains("give --config or --server, not both"), "\(both.stderr)")
        let neither = await runDetached(ivpackExecutable, ["license", "list"])
        #expect(neither.status == 64 && neither.stderr.contains("--config FILE"), "\(neither.stderr)")
        let noCA = await runDetached(
            ivpackExecutable,
            [
                "license", "list", "--server", server.url, "--client-cert", s.pki.licenseOperator.certificate,
                "--client-key", s.pki.licenseOperator.key,
            ])
        #expect(noCA.status == 64 && noCA.stderr.contains("--ca FILE"), "\(noCA.stderr)")
        await server.stop()
    }

    /// Issue 20: standard clients hold only the root. The server sends leaf and intermediate, so
    /// curl with the root alone reaches the admin API; without `tls.chain` it cannot.
    @Test func curlWithOnlyTheRootReachesTheAdminAPIAndTheServerSendsItsChain() async throws {
        let (pki, folder, server) = try await setUp()
        try await server.issue(id: "LIC-CURL")
        let curl = await runDetached(
            "/usr/bin/curl",
            [
                "-sS", "--fail", "--max-time", "30", "--cacert", pki.rootCertificate, "--cert",
                pki.licenseOperator.certificate, "--key", pki.licenseOperator.key,
                server.url + AdminProtocol.licensesPath,
            ])
        #expect(curl.status == 0, "\(curl.stderr)")
        let reply = try JSONParser.parse(Array(curl.stdout.utf8))
        #expect(reply["licenses"]?.arrayValue?.first?["id"]?.stringValue == "LIC-CURL", "\(curl.stdout)")
        let shown = await runDetached(
            "/usr/bin/openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-showcerts", "-CAfile", pki.rootCertificate,
                "-cert", pki.licenseOperator.certificate, "-key", pki.licenseOperator.key, "-verify_return_error",
            ])
        #expect(shown.stdout.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1 == 2, "\(shown.stdout)")
        #expect(shown.stdout.contains("Intermediate CA"))
        #expect(shown.stdout.contains("Verify return code: 0 (ok)"), "\(shown.stdout)")
        await server.stop()
        // The same server without tls.chain: the root alone no longer suffices.
        let (pki2, folder2, bare) = try await setUp { text in
            // Only the first `chain:` (under tls; the second is the grants').
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if let first = lines.firstIndex(where: { $0.hasPrefix("  chain:") }) { lines.remove(at: first) }
            return lines.joined(separator: "\n")
        }
        #expect(bare.server.config.chain.isEmpty)
        let refused = await runDetached(
            "/usr/bin/curl",
            [
                "-sS", "--max-time", "30", "--cacert", pki2.rootCertificate, "--cert",
                pki2.licenseOperator.certificate, "--key", pki2.licenseOperator.key,
                bare.url + AdminProtocol.licensesPath,
            ])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("issuer"), "\(refused.stderr)")
        await bare.stop()
        withExtendedLifetime(folder2) {}
        withExtendedLifetime(folder) {}
    }
}

extension Result {
    /// The failure, or nil.
    var failure: Failure? {
        if case .failure(let f) = self { return f }
        return nil
    }
}
