import Foundation
import IVPack
import IVPackLicense
import IVPackTestSupport
import Testing

/// The store's behaviours on both backends (SQLite and PostgreSQL): the same refusals in the same
/// order, the same audit rows, the same messages.
struct LicenseStoreBackendTests {
    enum Backend: String, CaseIterable, Sendable { case sqlite, postgres }

    static let now: Int64 = 1_800_000_000

    /// A fresh store of `backend` and what to call when done.
    static func open(_ backend: Backend, _ folder: TemporaryFolder) async throws -> (
        store: any LicenseStoring, done: @Sendable () async -> Void
    ) {
        switch backend {
        case .sqlite:
            let store = try LicenseStore(path: folder.url("licences.sqlite"))
            return (store, {})
        case .postgres:
            let db = try await PostgresTestDatabase(folder: folder)
            let store = try await PostgresLicenseStore(configuration: db.config)
            return (
                store,
                {
                    await store.close()
                    await db.drop()
                }
            )
        }
    }

    static func license(id: String = "LIC-0001", site: String = "SITE-001", seats: Int = 1) -> License {
        License(
            id: id, siteID: site, product: "PulmoScan AI", minimumVersion: "V2.0.0.1",
            maximumVersion: "V2.999.999.999999", notBefore: now - 86_400, notAfter: now + 86_400, seats: seats,
            createdAt: now - 86_400)
    }

    static func digest(_ letter: Character) -> String { String(repeating: letter, count: 64) }

    @Test(arguments: Backend.allCases)
    func issueRefusesADuplicateIDAndRevokeSaysWhetherItChanged(backend: Backend) async throws {
        let folder = TemporaryFolder()
        let (store, done) = try await Self.open(backend, folder)
        try await store.issue(Self.license(), actor: "test")
        await #expect(throws: LicenseStoreError.self) { try await store.issue(Self.license(), actor: "test") }
        do {
            try await store.issue(Self.license(), actor: "test")
        } catch let error as LicenseStoreError {
            #expect(error.exitStatus == .badInput)
            #expect(error.description.hasSuffix("a licence LIC-0001 exists already; choose another ID"))
        }
        #expect(try await store.license(id: "LIC-0001") == Self.license())
        #expect(try await store.license(id: "LIC-0404") == nil)
        #expect(try await store.revoke(id: "LIC-0001", at: Self.now, actor: "test"))
        #expect(try await !store.revoke(id: "LIC-0001", at: Self.now, actor: "test"))
        #expect(try await store.licenses().map(\.revokedAt) == [Self.now])
        #expect(
            try await store.auditTrail().map { "\($0.action) \($0.result)" } == [
                "issue ok", "revoke ok", "revoke no-change",
            ])
        await done()
    }

    @Test(arguments: Backend.allCases)
    func registerIsIdempotentAndRefusesAnotherReleaseUnderOneDigest(backend: Backend) async throws {
        let folder = TemporaryFolder()
        let (store, done) = try await Self.open(backend, folder)
        let key: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x00]
        let release = RegisteredRelease(
            manifestSHA256: Self.digest("a"), product: "PulmoScan AI", version: "V2.3.1.1024", registeredAt: Self.now,
            escrowedKey: key, keyCheck: Self.digest("c"))
        #expect(try await store.register(release, actor: "test") == .registered)
        var later = release
        later.registeredAt = Self.now + 60
        #expect(try await store.register(later, actor: "test") == .alreadyRegistered(at: Self.now))
        var other = later
        other.version = "V2.3.1.1025"
        do {
            try await store.register(other, actor: "test")
            Issue.record("another release under one digest was registered")
        } catch let error as LicenseStoreError {
            #expect(error.exitStatus == .badInput)
            #expect(error.problem.contains("version V2.3.1.1024, not V2.3.1.1025"), "\(error)")
        }
        // The escrowed key comes back byte for byte (BLOB in SQLite, BYTEA in PostgreSQL).
        #expect(try await store.release(manifestSHA256: Self.digest("a"))?.escrowedKey == key)
        #expect(try await store.releases().count == 1)
        #expect(
            try await store.auditTrail().map { "\($0.action) \($0.result)" } == [
                "register ok", "register ok-existing", "register refused",
            ])
        await done()
    }

    /// The server's activation: each refusal is the rule's, in the same order on both stores, and
    /// every attempt leaves one audit row.
    @Test(arguments: Backend.allCases)
    func activationRefusesInTheSameOrderOnBothStores(backend: Backend) async throws {
        let folder = TemporaryFolder()
        let (store, done) = try await Self.open(backend, folder)
        let now = Self.now
        func activate(
            site: String = "SITE-001", product: String = "PulmoScan AI", version: String = "V2.3.1.1024",
            manifest: String = Self.digest("a")
        ) async throws -> LicenseRefusal? {
            switch try await store.activate(
                siteID: site, product: product, version: version, manifestSHA256: manifest,
                installerSubject: "CN=Installer", installerFingerprint: "00", now: now)
            {
            case .success: return nil
            case .failure(let refusal): return refusal
            }
        }
        // Unregistered: refused before any licence is looked at, without a seat.
        #expect(try await activate() == .unregisteredRelease)
        for (letter, product, version) in [
            ("a", "PulmoScan AI", "V2.3.1.1024"), ("b", "PulmoScan AI", "V2.3.1.1024"),
            ("c", "PulmoScan AI", "V2.3.1.1024"), ("f", "PulmoScan AI", "V3.0.0.1"),
        ] as [(Character, String, String)] {
            try await store.register(
                RegisteredRelease(
                    manifestSHA256: Self.digest(letter), product: product, version: version, registeredAt: now),
                actor: "test")
        }
        #expect(try await activate(version: "V2.3.1.1025") == .releaseMismatch)
        #expect(try await activate() == .noLicense)
        try await store.issue(Self.license(seats: 1), actor: "test")
        #expect(try await activate(site: "SITE-002") == .wrongSite)
        #expect(try await activate(version: "V3.0.0.1", manifest: Self.digest("f")) == .versionNotCovered)
        #expect(try await activate() == nil)
        // The same bundle again takes no seat; another bundle needs a second one.
        #expect(try await activate() == nil)
        #expect(try await activate(manifest: Self.digest("b")) == .seatsExhausted)
        #expect(try await store.activations().count == 1)
        #expect(try await store.activationCount(licenseID: "LIC-0001") == 1)
        _ = try await store.revoke(id: "LIC-0001", at: now, actor: "test")
        #expect(try await activate(manifest: Self.digest("c")) == .revoked)
        let trail = try await store.auditTrail().filter { $0.action == "activate" }
        #expect(
            trail.map(\.result) == [
                "unregistered-release", "release-mismatch", "no-license", "wrong-site", "version-not-covered", "ok",
                "ok-existing", "seats-exhausted", "license-revoked",
            ], "\(trail.map(\.result))")
        #expect(trail[5].detail.hasSuffix("seat=1/1"))
        #expect(trail.allSatisfy { $0.actor == "installer CN=Installer" })
        await done()
    }
}
