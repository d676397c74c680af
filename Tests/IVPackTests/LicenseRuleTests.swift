import Foundation
import IVPack
import IVPackLicense
import IVPackTestSupport
import Testing

/// The one licence rule, as the server's activation and `license export` apply it, and the typed
/// refusals of grants.
struct LicenseRuleTests {
    static let now: Int64 = 1_800_000_000

    static func license(
        revokedAt: Int64? = nil, notBefore: Int64 = now - 86_400, notAfter: Int64 = now + 86_400,
        minimum: String = "V2.0.0.1", maximum: String = "V2.999.999.999999", seats: Int = 2
    ) -> License {
        License(
            id: "LIC-0001", siteID: "SITE-001", product: "PulmoScan AI", minimumVersion: minimum,
            maximumVersion: maximum,
            notBefore: notBefore, notAfter: notAfter, seats: seats, revokedAt: revokedAt, createdAt: now - 86_400)
    }

    @Test func aGoodLicenceCoversItsProductSiteAndRange() {
        let problems = Self.license().ineligibilities(
            product: "PulmoScan AI", version: "V2.3.1.1024", siteID: "SITE-001",
            seatsInUse: 1, at: Self.now)
        #expect(problems.isEmpty)
    }

    @Test func everyBrokenTermIsNamedInOrder() {
        let l = Self.license(revokedAt: Self.now - 10, notAfter: Self.now - 1, seats: 1)
        let problems = l.ineligibilities(
            product: "CardioScan", version: "V3.0.0.1", siteID: "SITE-002", seatsInUse: 1, at: Self.now)
        #expect(
            problems == [
                .revoked, .expired(at: Self.now - 1), .otherProduct(licensed: "PulmoScan AI", requested: "CardioScan"),
                .otherSite(licensed: "SITE-001", requested: "SITE-002"),
                .versionNotCovered(minimum: "V2.0.0.1", maximum: "V2.999.999.999999", version: "V3.0.0.1"),
                .seatsExhausted(seats: 1),
            ])
        #expect(
            problems.map(\.refusal) == [
                .revoked, .expired, .noLicense, .wrongSite, .versionNotCovered, .seatsExhausted,
            ])
    }

    @Test func siteAndSeatsAreLeftOutWhenNotGiven() {
        let problems = Self.license(seats: 1).ineligibilities(
            product: "PulmoScan AI", version: "V2.3.1.1024", siteID: nil,
            seatsInUse: nil, at: Self.now)
        #expect(problems.isEmpty)
    }

    @Test func validityBoundsAreInclusive() {
        let l = Self.license(notBefore: Self.now, notAfter: Self.now)
        #expect(
            l.ineligibilities(
                product: "PulmoScan AI", version: "V2.3.1.1024", siteID: nil, seatsInUse: nil, at: Self.now
            ).isEmpty)
        #expect(
            l.ineligibilities(
                product: "PulmoScan AI", version: "V2.3.1.1024", siteID: nil, seatsInUse: nil, at: Self.now - 1)
                == [.notYetValid(from: Self.now)])
    }

    @Test func aLicenceWithUnreadableBoundsCoversNoVersion() {
        let l = Self.license(maximum: "latest")
        #expect(l.versionRange == nil)
        #expect(
            l.ineligibilities(
                product: "PulmoScan AI", version: "V2.3.1.1024", siteID: nil, seatsInUse: nil, at: Self.now)
                == [.versionNotCovered(minimum: "V2.0.0.1", maximum: "latest", version: "V2.3.1.1024")])
    }

    @Test func exportWordsAreTheOperatorsMessages() {
        #expect(LicenseIneligibility.revoked.description == "the licence is revoked")
        #expect(LicenseIneligibility.expired(at: 0).description == "the licence has expired")
        #expect(
            LicenseIneligibility.otherProduct(licensed: "A", requested: "B").description
                == "the licence is for A, the bundle is B")
        #expect(
            LicenseIneligibility.versionNotCovered(minimum: "V1", maximum: "V2", version: "V3").description
                == "the licence covers V1 to V2, not V3")
    }

    /// The server's activation, straight on the store: each refusal is the rule's.
    @Test func storeActivationRefusesWhatTheRuleRefuses() throws {
        let folder = TemporaryFolder()
        let store = try LicenseStore(path: folder.url("licences.sqlite"))
        let now = Self.now
        func activate(
            site: String = "SITE-001", product: String = "PulmoScan AI", version: String = "V2.3.1.1024",
            manifest: String = String(repeating: "a", count: 64)
        ) throws -> LicenseRefusal? {
            switch try store.activate(
                siteID: site, product: product, version: version, manifestSHA256: manifest,
                installerSubject: "CN=Installer", installerFingerprint: "00", now: now)
            {
            case .success: return nil
            case .failure(let refusal): return refusal
            }
        }
        // Only registered releases are activated, and only as what they were registered as.
        #expect(try activate() == .unregisteredRelease)
        let releases = [
            ("a", "PulmoScan AI", "V2.3.1.1024"), ("b", "PulmoScan AI", "V2.3.1.1024"),
            ("c", "PulmoScan AI", "V2.3.1.1024"), ("d", "PulmoScan AI", "V2.0.0.1-rc.1"),
            ("e", "CardioScan", "V2.3.1.1024"), ("f", "PulmoScan AI", "V3.0.0.1"),
        ]
        for (letter, product, version) in releases {
            try store.register(
                RegisteredRelease(
                    manifestSHA256: String(repeating: letter, count: 64), product: product, version: version,
                    registeredAt: now), actor: "test")
        }
        #expect(try activate(product: "CardioScan") == .releaseMismatch)
        #expect(try activate(version: "V2.3.1.1025") == .releaseMismatch)
        #expect(try activate() == .noLicense)
        try store.issue(Self.license(seats: 1), actor: "test")
        #expect(try activate(product: "CardioScan", manifest: String(repeating: "e", count: 64)) == .noLicense)
        #expect(try activate(site: "SITE-002") == .wrongSite)
        #expect(try activate(version: "V3.0.0.1", manifest: String(repeating: "f", count: 64)) == .versionNotCovered)
        #expect(try activate(version: "V2.0.0.1-rc.1", manifest: String(repeating: "d", count: 64)) == nil)
        // The same bundle again takes no seat; another bundle needs a second one.
        #expect(try activate(version: "V2.0.0.1-rc.1", manifest: String(repeating: "d", count: 64)) == nil)
        #expect(try activate(manifest: String(repeating: "b", count: 64)) == .seatsExhausted)
        #expect(try store.activations().count == 1)
        var later = Self.license(notBefore: now + 10)
        later.id = "LIC-0002"
        later.siteID = "SITE-LATER"
        try store.issue(later, actor: "test")
        #expect(try activate(site: "SITE-LATER") == .notYetValid)
        _ = try store.revoke(id: "LIC-0001", at: now, actor: "test")
        #expect(try activate(manifest: String(repeating: "c", count: 64)) == .revoked)
    }

    @Test func storeFindsALicenceByID() throws {
        let folder = TemporaryFolder()
        let store = try LicenseStore(path: folder.url("licences.sqlite"))
        try store.issue(Self.license(), actor: "test")
        #expect(try store.license(id: "LIC-0001") == Self.license())
        #expect(try store.license(id: "LIC-0404") == nil)
    }

    @Test(arguments: [
        (GrantRefusal.signatureUnreadable, "grant-signature-invalid"),
        (.signatureMismatch(problem: "x"), "grant-signature-invalid"),
        (.signerUntrusted(reason: "x"), "grant-signer-untrusted"), (.signerDevelopmentRoot, "grant-signer-untrusted"),
        (.signerNotLicenseSigning, "grant-signer-untrusted"), (.malformed(problem: "x"), "malformed-grant"),
        (.replayed(grantNonce: "a", expectedNonce: "b"), "grant-replayed"), (.notOffline, "grant-not-offline"),
        (.wrongBundle(granted: "a", expected: "b"), "grant-wrong-bundle"),
        (.wrongSite(granted: "a", expected: "b"), "grant-wrong-site"),
        (.wrongProduct(granted: "a", expected: "b"), "grant-wrong-product"),
        (.versionNotCovered(minimum: "1", maximum: "2", version: "3"), "grant-version-not-covered"),
        (.notYetValid(issuedAt: 0), "grant-not-yet-valid"), (.grantExpired(notAfter: 0), "grant-expired"),
        (.licenseExpired(notAfter: 0), "license-expired"),
    ])
    func grantRefusalsKeepTheirProtocolCodes(refusal: GrantRefusal, code: String) {
        #expect(refusal.code == code)
        #expect(refusal.description == "\(code): \(refusal.message)")
    }
}

/// `license export` applies the same rule as the server (over the real command line).
@Suite(.serialized) struct LicenseExportRuleTests {
    @Test func exportRefusesALicenceNotValidYet() async throws {
        let s = try SignedRelease()
        let server = try await LicenseServerFixture(pki: s.pki, folder: s.folder)
        await server.stop()
        try await server.issue(notBefore: Timestamp.now() + 86_400)
        try await server.register(s)
        let out = s.folder.url("early.json")
        let early = await runDetached(
            ivpackExecutable,
            [
                "license", "export", "--offline", "--config", server.configPath, "--id", "LIC-0001",
                "--bundle", s.bundle, "--output", out,
            ])
        #expect(early.status == 1, "\(early.stderr)")
        #expect(early.stderr.contains("cannot export LIC-0001: the licence is not valid before"), "\(early.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

extension LicenseRuleTests {
    @Test func refusalsHaveTheirWireForm() {
        let grant = GrantRefusal.wrongSite(granted: "SITE-001", expected: "SITE-002")
        #expect(
            grant.protocolError
                == ProtocolError(code: "grant-wrong-site", message: "the grant is for site SITE-001, not SITE-002"))
        #expect(
            LicenseRefusal.seatsExhausted.protocolError
                == ProtocolError(code: "seats-exhausted", message: "every seat of the licence is in use"))
    }
}
