import Foundation
import IVPack
import IVPackLicense
import IVPackTestSupport
import Testing

/// `ivpack license serve` and the operator commands on a PostgreSQL store: real servers, mutual
/// TLS, a real PostgreSQL database of the test's own.
struct LicenseServerPostgresTests {
    @Test func serverOnPostgreSQLGrantsOverMutualTLS() async throws {
        let s = try SignedRelease()
        let db = try await PostgresTestDatabase(folder: s.folder)
        let server = try await LicenseServerFixture(pki: s.pki, folder: s.folder, store: db.storeBlock)
        #expect(server.server.store is PostgresLicenseStore)
        try await server.issue(seats: 1)
        try await server.register(s)
        let result = await LicenseCheck.online(
            options: server.clientOptions(pki: s.pki), policy: try s.policy(), product: "PulmoScan AI",
            version: s.release.version, manifestSHA256: s.built.manifestDigest)
        #expect(result.status == .pass, "\(result.details)")
        #expect(try await server.server.store.activations().count == 1)
        #expect(try await server.server.store.auditTrail().contains { $0.action == "activate" && $0.result == "ok" })
        await server.stop()
        await db.drop()
    }

    /// Two servers on one database, installers at both at once: the licence's seats are granted
    /// exactly once in all.
    @Test func twoServersOnOneDatabaseGrantExactlyTheSeats() async throws {
        let s = try SignedRelease()
        let db = try await PostgresTestDatabase(folder: s.folder)
        let a = try await LicenseServerFixture(pki: s.pki, folder: s.folder, name: "a", store: db.storeBlock)
        let b = try await LicenseServerFixture(pki: s.pki, folder: s.folder, name: "b", store: db.storeBlock)
        try await a.issue(seats: 3)
        let digests = (0..<8).map { SHA256Digest.of(Array("bundle \($0)".utf8)) }
        for d in digests { try await b.register(manifestSHA256: d, version: s.release.version) }
        let policy = try s.policy()
        let version = s.release.version
        let options = [a.clientOptions(pki: s.pki), b.clientOptions(pki: s.pki)]
        let details = await withTaskGroup(of: [String].self) { group in
            for (i, d) in digests.enumerated() {
                let o = options[i % 2]
                group.addTask {
                    let r = await LicenseCheck.online(
                        options: o, policy: policy, product: "PulmoScan AI", version: version, manifestSHA256: d)
                    return r.status == .pass ? ["pass"] : r.details
                }
            }
            return await group.reduce(into: []) { $0.append($1.first ?? "") }
        }
        #expect(details.filter { $0 == "pass" }.count == 3, "\(details)")
        #expect(details.filter { $0.hasPrefix("seats-exhausted") }.count == 5, "\(details)")
        #expect(try await a.server.store.activationCount(licenseID: "LIC-0001") == 3)
        #expect(try await b.server.store.auditTrail().filter { $0.action == "activate" }.count == 8)
        await a.stop()
        await b.stop()
        await db.drop()
    }

    /// The admin API on a PostgreSQL store: the queries only it uses (one licence's activations,
    /// audit pages, audit rows of reads and refusals) on the real database.
    @Test(.clause("IQ 6.2.1")) func adminAPIOnPostgreSQLListsPagesAndAuditsEveryAction() async throws {
        let s = try SignedRelease()
        let db = try await PostgresTestDatabase(folder: s.folder)
        let server = try await LicenseServerFixture(pki: s.pki, folder: s.folder, store: db.storeBlock)
        let admin = try server.adminClient(pki: s.pki)
        let issued = try await admin.issue(
            LicenseIssueRequest(
                id: "LIC-PGA", siteID: "SITE-001", product: "PulmoScan AI", minimumVersion: "V2.0.0.1",
                maximumVersion: "V2.999.999.999999", seats: 2, validDays: 30)
        ).get()
        #expect(issued.id == "LIC-PGA" && issued.activations == 0)
        #expect(
            await admin.issue(
                LicenseIssueRequest(
                    id: "LIC-PGA", siteID: "SITE-001", product: "PulmoScan AI", minimumVersion: "V2.0.0.1",
                    maximumVersion: "V2.999.999.999999", seats: 2, validDays: 30)
            ).failure?.code == "license-exists")
        try await server.register(s)
        let granted = await LicenseCheck.online(
            options: server.clientOptions(pki: s.pki), policy: try s.policy(), product: "PulmoScan AI",
            version: s.release.version, manifestSHA256: s.built.manifestDigest)
        #expect(granted.status == .pass, "\(granted.details)")
        let mine = try await admin.activations(licenseID: "LIC-PGA").get()
        #expect(mine.count == 1 && mine.first?.manifestSHA256 == s.built.manifestDigest.hex, "\(mine)")
        #expect(await admin.activations(licenseID: "LIC-NONE").failure?.httpStatus == 404)
        #expect(try await admin.licenses().get().map(\.activations) == [1])
        #expect(try await admin.revoke(id: "LIC-PGA").get().revoked != nil)
        let all = try await server.server.store.auditTrail()
        // Pages of the audit table: the rows after the first two, then a page of one.
        let page = try await admin.audit(after: 2).get()
        #expect(page.compactMap { $0["action"]?.stringValue } == all.dropFirst(2).map(\.action))
        let one = try await admin.audit(after: 0, limit: 1).get()
        #expect(one.compactMap { $0["action"]?.stringValue } == ["issue"])
        let actions = try await server.server.store.auditTrail().map { "\($0.action) \($0.result)" }
        for expected in [
            "issue ok", "issue refused", "list-activations ok", "list-activations no-such-license",
            "list-licenses ok", "revoke ok", "read-audit ok",
        ] {
            #expect(actions.contains(expected), "\(expected) not in \(actions)")
        }
        await server.stop()
        await db.drop()
    }

    /// The database gone while a server runs (its connections cut, new ones refused): that
    /// instance answers 503 store-unavailable within its store deadline (`timeoutSeconds: 3`), names no
    /// secret, and an installer that knows a
    /// second instance is granted there, with no second seat for a bundle activated before; when
    /// the database is back, the first instance grants again without a restart.
    @Test func databaseGoneWhileRunningGives503AndTheInstallerFailsOver() async throws {
        let s = try SignedRelease()
        let db = try await PostgresTestDatabase(folder: s.folder)
        let proxy = try SwitchProxy(to: db.serverPort)
        let a = try await LicenseServerFixture(
            pki: s.pki, folder: s.folder, name: "a", store: db.storeBlock(throughPort: proxy.port, timeoutSeconds: 3))
        let b = try await LicenseServerFixture(pki: s.pki, folder: s.folder, name: "b", store: db.storeBlock)
        try await a.issue(seats: 2)
        let other = SHA256Digest.of(Array("another bundle".utf8))
        try await a.register(s)
        try await a.register(manifestSHA256: other, version: s.release.version)
        let policy = try s.policy()
        func check(_ servers: [LicenseServerFixture], _ digest: SHA256Digest) async -> Check {
            var options = servers[0].clientOptions(pki: s.pki, attempts: 1, timeout: 20)
            options.serverURLs = servers.map(\.url)
            return await LicenseCheck.online(
                options: options, policy: policy, product: "PulmoScan AI", version: s.release.version,
                manifestSHA256: digest)
        }
        let first = await check([a], s.built.manifestDigest)
        #expect(first.status == .pass, "\(first.details)")

        proxy.cut()
        let alone = await check([a], other)
        #expect(alone.status == .fail, "\(alone.details)")
        let aloneText = alone.details.joined(separator: "\n")
        #expect(aloneText.contains("store-unavailable"), "\(aloneText)")
        #expect(!aloneText.contains(PostgresTestDatabase.defaultPassword))
        // The bundle activated before the cut: B finds its activation, no second seat.
        let again = await check([a, b], s.built.manifestDigest)
        #expect(again.status == .pass, "\(again.details)")
        #expect(again.evidence.first { $0.key == "server" }?.value == b.url, "\(again.evidence)")
        #expect(
            again.evidence.first { $0.key == "serversSkipped" }?.value == "\(a.url): store-unavailable",
            "\(again.evidence)")
        let failedOver = await check([a, b], other)
        #expect(failedOver.status == .pass, "\(failedOver.details)")
        #expect(try await b.server.store.activationCount(licenseID: "LIC-0001") == 2)

        // Back: the pool reconnects by itself, after its back-off (100 ms x 1.25^n, here a few s).
        proxy.restore()
        let started = Timestamp.now()
        var back = await check([a], other)
        while back.status != .pass, Timestamp.now() - started < 60 {
            try await Task.sleep(for: .milliseconds(500))
            back = await check([a], other)
        }
        #expect(back.status == .pass, "\(back.details)")
        #expect(try await a.server.store.activationCount(licenseID: "LIC-0001") == 2)
        let audit = try await b.server.store.auditTrail().filter { $0.action == "activate" }
        #expect(audit.filter { $0.result == "ok" }.count == 2, "\(audit.map(\.result))")
        await a.stop()
        await b.stop()
        proxy.stop()
        await db.drop()
    }

    @Test func operatorCommandsWorkAgainstPostgreSQL() async throws {
        let s = try SignedRelease(signedBy: [])
        let db = try await PostgresTestDatabase(folder: s.folder)
        let config = s.folder.write(
            "pg.yaml",
            LicenseServerConfig.developmentText(
                pkiDirectory: s.pki.directory, port: 0, database: "", store: db.storeBlock))
        let issue = [
            "license", "issue", "--config", config, "--id", "LIC-PG", "--site", "SITE-001", "--product",
            "PulmoScan AI", "--min-version", "V2.0.0.1", "--max-version", "V2.9.9.9", "--seats", "2",
        ]
        let issued = await runDetached(ivpackExecutable, issue)
        #expect(issued.status == 0, "\(issued.stderr)")
        let again = await runDetached(ivpackExecutable, issue)
        #expect(again.status == 2, "\(again.stderr)")
        #expect(again.stderr.contains("LIC-PG exists already"))
        let list = await runDetached(ivpackExecutable, ["license", "list", "--config", config, "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        let listed = try JSONParser.parse(Array(list.stdout.utf8)).arrayValue
        #expect(listed?.count == 1)
        let revoked = await runDetached(ivpackExecutable, ["license", "revoke", "--config", config, "--id", "LIC-PG"])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        let text = await runDetached(ivpackExecutable, ["license", "list", "--config", config])
        #expect(text.stdout.contains("LIC-PG") && text.stdout.contains("REVOKED"), "\(text.stdout)")
        // The configuration with its store validates against its schema.
        let schemas = run(
            "/usr/bin/env",
            ["python3", SchemaTests.repositoryRoot + "/scripts/check-schemas.py", "--license-config", config],
            in: SchemaTests.repositoryRoot)
        #expect(schemas.status == 0, "\(schemas.stdout)\(schemas.stderr)")
        #expect(schemas.stdout.contains("store postgres \(db.config.location)"), "\(schemas.stdout)")
        // What the commands did is in the database's audit trail.
        let store = try await PostgresLicenseStore(configuration: db.config)
        #expect(
            try await store.auditTrail().map { "\($0.action) \($0.result)" } == ["issue ok", "revoke ok"])
        await store.close()
        await db.drop()
    }

    @Test func aDatabaseThatCannotBeReachedStopsTheServerWithItsName() async throws {
        let s = try SignedRelease(signedBy: [])
        let secret = "wrong-\(UInt32.random(in: 0...UInt32.max))"
        let passwordFile = s.folder.write("password", secret + "\n", mode: 0o600)
        let (admin, _) = PostgresTestDatabase.adminSettings()
        // The test server with a wrong password, and a port where no server listens.
        for (url, expected) in [
            (admin.location, "password authentication failed"),
            (
                "postgres://ivpack@127.0.0.1:1/licences",
                "cannot connect to PostgreSQL at 127.0.0.1:1 (database licences"
            ),
        ] {
            let config = s.folder.write(
                "unreachable.yaml",
                LicenseServerConfig.developmentText(
                    pkiDirectory: s.pki.directory, port: 0, database: "",
                    store: "store: {kind: postgres, url: \"\(url)\", passwordFile: \(passwordFile)}"))
            for command in [["license", "serve", "--config", config], ["license", "list", "--config", config]] {
                let r = await runDetached(ivpackExecutable, command)
                #expect(r.status == 3, "\(command): \(r.stderr)")
                #expect(r.stderr.contains(expected), "\(r.stderr)")
                #expect(!r.stderr.contains(secret) && !r.stdout.contains(secret))
            }
        }
        // A password in the URL is refused before anything connects (bad input).
        let withPassword = s.folder.write(
            "password-in-url.yaml",
            LicenseServerConfig.developmentText(
                pkiDirectory: s.pki.directory, port: 0, database: "",
                store: "store: {kind: postgres, url: \"postgres://ivpack:\(secret)@127.0.0.1/licences\"}"))
        let r = await runDetached(ivpackExecutable, ["license", "list", "--config", withPassword])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("store.url") && r.stderr.contains("passwordFile"), "\(r.stderr)")
        #expect(!r.stderr.contains(secret))
    }
}
