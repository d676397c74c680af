import Foundation
import IVPack
import IVPackLicense
import IVPackTestSupport
import Testing

/// Registered releases and licence-gated key release (issue 17), over real mutual TLS on
/// loopback with a development PKI in a temporary folder, as `LicenseTests` runs.
@Suite(.serialized) struct LicenseKeyReleaseTests {
    /// A content key, its escrowed EnvelopedData (wrapped to the development escrow certificate),
    /// its check value, and its 32 bytes (through an explicit export, mode 0600) for the greps.
    struct EscrowedKey {
        let key: ContentKey
        let escrowed: [UInt8]
        let check: String
        let bytes: [UInt8]
    }

    func escrowedKey(_ s: SignedRelease, name: String = "content.key") throws -> EscrowedKey {
        let key = try ContentKey.generate()
        let escrowed = try EnvelopedKey.wrap(key, to: [try Certificate.load(file: s.pki.licenseEscrow.certificate)[0]])
        try key.export(to: s.folder.url(name))
        return EscrowedKey(key: key, escrowed: escrowed.der, check: try key.checkValue(), bytes: s.folder.read(name))
    }

    func setUp(seats: Int = 2) async throws -> (SignedRelease, LicenseServerFixture) {
        let s = try SignedRelease()
        let server = try await LicenseServerFixture(pki: s.pki, folder: s.folder)
        try await server.issue(seats: seats)
        return (s, server)
    }

    func client(_ s: SignedRelease, _ server: LicenseServerFixture, certificate: String? = nil, key: String? = nil)
        throws -> LicenseClient
    {
        LicenseClient(
            options: server.clientOptions(pki: s.pki, certificate: certificate, key: key), policy: try s.policy())
    }

    func activate(
        _ s: SignedRelease, _ server: LicenseServerFixture, manifest: SHA256Digest? = nil, version: String? = nil
    )
        async throws -> Result<(LicenseGrant, signer: String), LicenseCheckFailure>
    {
        try await client(s, server).activate(
            product: "PulmoScan AI", version: version ?? s.release.version,
            manifestSHA256: (manifest ?? s.built.manifestDigest).hex)
    }

    /// Another installer certificate from the development intermediate, with `keyUsage`.
    func otherInstaller(_ s: SignedRelease, name: String, keyUsage: [String]?) throws -> DevelopmentPKILayout.Signer {
        try DevelopmentPKI.issueSigner(
            role: "installer", policyOID: WellKnownOID.roleInstaller, in: s.pki, name: name,
            notBefore: s.now - 3000, notAfter: s.now + 86_400, extendedKeyUsage: [WellKnownOID.clientAuth],
            keyUsage: keyUsage)
    }

    // MARK: - Registered releases

    @Test func unregisteredDigestIsRefusedBeforeAnySeatIsTaken() async throws {
        let (s, server) = try await setUp(seats: 1)
        guard case .failure(let refused) = try await activate(s, server) else {
            Issue.record("an unregistered bundle was granted")
            return
        }
        #expect(refused.code == "unregistered-release", "\(refused)")
        #expect(refused.message.contains("ivpack license register"), "\(refused.message)")
        #expect(refused.message.contains("(403)"), "\(refused.message)")
        #expect(!refused.retryable)
        #expect(try await server.server.store.activationCount(licenseID: "LIC-0001") == 0)
        // Registered, the same bundle takes the one seat.
        try await server.register(s)
        guard case .success = try await activate(s, server) else {
            Issue.record("a registered bundle was refused")
            return
        }
        #expect(try await server.server.store.activationCount(licenseID: "LIC-0001") == 1)
        // With every seat taken, a random digest is still refused as unregistered, not as seats-exhausted.
        let random = SHA256Digest.of(Array("never built".utf8))
        guard case .failure(let again) = try await activate(s, server, manifest: random) else {
            Issue.record("a random digest was granted")
            return
        }
        #expect(again.code == "unregistered-release")
        #expect(try await server.server.store.activationCount(licenseID: "LIC-0001") == 1)
        let trail = try await server.server.store.auditTrail().filter { $0.action == "activate" }
        #expect(trail.map(\.result) == ["unregistered-release", "ok", "unregistered-release"], "\(trail)")
        await server.stop()
    }

    @Test func registeredReleaseOfAnotherVersionIsRefused() async throws {
        let (s, server) = try await setUp()
        try await server.register(manifestSHA256: s.built.manifestDigest, version: "V2.0.0.1")
        guard case .failure(let refused) = try await activate(s, server) else {
            Issue.record("a request naming another version than registered was granted")
            return
        }
        #expect(refused.code == "release-mismatch", "\(refused)")
        #expect(try await server.server.store.activations().isEmpty)
        await server.stop()
    }

    @Test func registeredPlainReleaseIsGrantedWithoutAKey() async throws {
        let (s, server) = try await setUp()
        #expect(try await server.register(s) == .registered)
        #expect(
            try await server.register(s)
                == .alreadyRegistered(at: try await server.server.store.releases()[0].registeredAt))
        guard case .success(let (grant, _)) = try await activate(s, server) else {
            Issue.record("no grant")
            return
        }
        #expect(grant.contentKey == nil)
        #expect(!String(decoding: grant.canonicalBytes, as: UTF8.self).contains("contentKey"))
        #expect(grant.json.objectValue?.count == LicenseGrant.memberCount)
        await server.stop()
    }

    @Test func registerRefusesAKeyTheEscrowCannotOpenOrThatIsNotTheBundles() async throws {
        let (s, server) = try await setUp()
        await server.stop()
        let good = try escrowedKey(s)
        let digest = s.built.manifestDigest
        // Wrapped for another certificate than the escrow's: it does not open.
        let recipients = RecipientCertificates()
        let stranger = try recipients.ec("stranger")
        let forStranger = try EnvelopedKey.wrap(good.key, to: [try stranger.loadCertificate()]).der
        var errors: [any Error] = []
        do {
            try await server.register(
                manifestSHA256: digest, version: s.release.version, escrowedKey: forStranger, keyCheck: good.check)
            Issue.record("a key wrapped for another certificate was registered")
        } catch let error as ReleaseRegistrationError {
            guard case .doesNotOpen = error else { throw error }
            #expect(error.exitStatus == .checkFailed)
            errors.append(error)
        }
        // Opens, but the check value is another key's.
        let other = try ContentKey.generate()
        do {
            try await server.register(
                manifestSHA256: digest, version: s.release.version, escrowedKey: good.escrowed,
                keyCheck: try other.checkValue())
            Issue.record("a key with another check value was registered")
        } catch let error as ReleaseRegistrationError {
            #expect(error == .checkValueMismatch(source: "escrowed key", expected: try other.checkValue()))
            errors.append(error)
        }
        // A damaged EnvelopedData.
        var damaged = good.escrowed
        damaged[damaged.count - 5] ^= 0x01
        do {
            try await server.register(
                manifestSHA256: digest, version: s.release.version, escrowedKey: damaged, keyCheck: good.check)
            Issue.record("a damaged key was registered")
        } catch let error as ReleaseRegistrationError {
            errors.append(error)
        }
        #expect(try await server.server.store.release(manifestSHA256: digest.hex) == nil)
        // The right key registers; the same digest with another version or without the key is refused.
        try await server.register(
            manifestSHA256: digest, version: s.release.version, escrowedKey: good.escrowed, keyCheck: good.check)
        for (version, key, check) in [("V2.0.0.1", good.escrowed, good.check), (s.release.version, nil, nil)] {
            do {
                try await server.register(manifestSHA256: digest, version: version, escrowedKey: key, keyCheck: check)
                Issue.record("a conflicting registration was accepted")
            } catch let error as LicenseStoreError {
                #expect(error.exitStatus == .badInput)
                #expect(error.description.contains("is registered already"), "\(error)")
                errors.append(error)
            }
        }
        #expect(try await server.server.store.release(manifestSHA256: digest.hex)?.keyCheck == good.check)
        // A server configured without escrow cannot register an encrypted bundle.
        let noEscrow = s.folder.write(
            "no-escrow.yaml",
            String(decoding: s.folder.read("server.yaml"), as: UTF8.self)
                .replacingOccurrences(of: "escrow:\n", with: "#escrow:\n")
                .replacingOccurrences(of: "  certificate: \(s.pki.licenseEscrow.certificate)\n", with: "")
                .replacingOccurrences(of: "  key: \(s.pki.licenseEscrow.key)\n", with: ""))
        let configuration = try LicenseServerConfig.load(path: noEscrow)
        #expect(configuration.escrowCertificate == nil)
        do {
            try await ReleaseRegistrar.register(
                manifestSHA256: SHA256Digest.of([1]), product: "PulmoScan AI", version: s.release.version,
                escrowedKey: good.escrowed, keyCheck: good.check, escrow: try KeyEscrow.load(configuration),
                configPath: noEscrow, store: server.server.store, actor: "test", now: Timestamp.now())
            Issue.record("registered without an escrow")
        } catch let error as ReleaseRegistrationError {
            #expect(error == .noEscrowConfigured(config: noEscrow))
            errors.append(error)
        }
        for error in errors {
            for spelling in secretSpellings(good.bytes) { #expect(!"\(error)".contains(spelling)) }
        }
    }

    // MARK: - Key release online

    @Test func encryptedReleaseGrantCarriesTheKeyForThisInstallerOnly() async throws {
        let (s, server) = try await setUp()
        let content = try escrowedKey(s)
        try await server.register(
            manifestSHA256: s.built.manifestDigest, version: s.release.version, escrowedKey: content.escrowed,
            keyCheck: content.check)
        guard case .success(let (grant, _)) = try await activate(s, server) else {
            Issue.record("no grant")
            return
        }
        let wrapped = try #require(grant.contentKey)
        let installer = try Certificate.load(file: s.pki.installer.certificate)[0]
        #expect(try EnvelopedKey.parse(der: wrapped, source: "grant").isRecipient(installer))
        let unwrapped = try grant.unwrapContentKey(
            certificateFile: s.pki.installer.certificate, keyFile: s.pki.installer.key, passphrase: nil,
            expectedCheckValue: content.check)
        #expect(unwrapped.sameKey(as: content.key))
        #expect(unwrapped.origin == .unwrapped)
        var errors: [GrantKeyError] = []
        // Another installer's key cannot open it.
        let other = try otherInstaller(s, name: "installer-2", keyUsage: DevelopmentPKI.installerKeyUsage)
        do {
            _ = try grant.unwrapContentKey(
                certificateFile: other.certificate, keyFile: other.key, passphrase: nil,
                expectedCheckValue: content.check)
            Issue.record("another installer opened the key")
        } catch {
            #expect(error.code == "content-key-not-for-this-installer", "\(error)")
            errors.append(error)
        }
        // The manifest's check value of another key: refused by name.
        let wrongCheck = try ContentKey.generate().checkValue()
        do {
            _ = try grant.unwrapContentKey(
                certificateFile: s.pki.installer.certificate, keyFile: s.pki.installer.key, passphrase: nil,
                expectedCheckValue: wrongCheck)
            Issue.record("a key with another check value was accepted")
        } catch {
            #expect(error == .wrongKey(expectedCheckValue: wrongCheck))
            errors.append(error)
        }
        // The installer's private key given with another certificate.
        do {
            _ = try grant.unwrapContentKey(
                certificateFile: other.certificate, keyFile: s.pki.installer.key, passphrase: nil,
                expectedCheckValue: content.check)
            Issue.record("a key that is not the certificate's was accepted")
        } catch {
            #expect(error.code == "content-key-unwrap-failed", "\(error)")
            errors.append(error)
        }
        // The second installer gets its own grant with the key wrapped for it (same activation).
        let second = try await client(s, server, certificate: other.certificate, key: other.key).activate(
            product: "PulmoScan AI", version: s.release.version, manifestSHA256: s.built.manifestDigest.hex)
        guard case .success(let (otherGrant, _)) = second else {
            Issue.record("no grant for the second installer: \(second)")
            return
        }
        #expect(otherGrant.activationID == grant.activationID)
        #expect(
            try otherGrant.unwrapContentKey(
                certificateFile: other.certificate, keyFile: other.key, passphrase: nil,
                expectedCheckValue: content.check
            ).sameKey(as: content.key))
        // The authority the installer calls: licensed, with the key.
        let authority = LicenseServerAuthority(options: server.clientOptions(pki: s.pki), policy: try s.policy())
        let subject = LicenseSubject(
            product: "PulmoScan AI", version: s.release.version, manifestSHA256: s.built.manifestDigest)
        let release = await authority.decideReleasingKey(subject, keyCheckValue: content.check)
        guard case .licensed(let evidence) = release.decision else {
            Issue.record("refused: \(release.decision)")
            return
        }
        #expect(release.contentKey?.sameKey(as: content.key) == true)
        #expect(evidence.contains { $0.key == "contentKey" })
        let wrong = await authority.decideReleasingKey(subject, keyCheckValue: wrongCheck)
        #expect(wrong.contentKey == nil)
        guard case .refused(let details, _) = wrong.decision else {
            Issue.record("a wrong key was licensed")
            return
        }
        #expect(details.first?.hasPrefix("content-key-wrong") == true, "\(details)")
        // Plain `decide` (verify without install) is unchanged.
        guard case .licensed = await authority.decide(subject) else {
            Issue.record("verify's decision changed")
            return
        }
        await server.stop()
        for error in errors {
            for spelling in secretSpellings(content.bytes) { #expect(!"\(error)".contains(spelling)) }
        }
        #expect(try await server.server.store.activations().count == 1)
    }

    @Test func serverWhoseEscrowCannotOpenTheKeyAnswersKeyReleaseFailed() async throws {
        let s = try SignedRelease()
        // The server's escrow is another certificate than the one the key was escrowed to.
        let recipients = RecipientCertificates()
        let otherEscrow = try recipients.ec("other-escrow")
        let server = try await LicenseServerFixture(pki: s.pki, folder: s.folder) {
            $0.replacingOccurrences(of: s.pki.licenseEscrow.certificate, with: otherEscrow.certificate)
                .replacingOccurrences(of: s.pki.licenseEscrow.key, with: otherEscrow.key)
        }
        try await server.issue()
        let content = try escrowedKey(s)
        // Recorded straight in the store, as a database restored with another escrow would hold it.
        try await server.server.store.register(
            RegisteredRelease(
                manifestSHA256: s.built.manifestDigest.hex, product: "PulmoScan AI", version: s.release.version,
                registeredAt: Timestamp.now(), escrowedKey: content.escrowed, keyCheck: content.check), actor: "test")
        guard case .failure(let failure) = try await activate(s, server) else {
            Issue.record("a grant without the key it should carry")
            return
        }
        #expect(failure.code == "key-release-failed", "\(failure)")
        #expect(failure.retryable)
        // The activation is recorded: a retry once the escrow is fixed returns it.
        #expect(try await server.server.store.activations().count == 1)
        await server.stop()
        for spelling in secretSpellings(content.bytes) { #expect(!failure.description.contains(spelling)) }
    }

    @Test func installerCertificateThatCannotReceiveTheKeyIsRefusedWithoutASeat() async throws {
        let (s, server) = try await setUp()
        let content = try escrowedKey(s)
        try await server.register(
            manifestSHA256: s.built.manifestDigest, version: s.release.version, escrowedKey: content.escrowed,
            keyCheck: content.check)
        // digitalSignature only: fine for TLS, but ECDH needs keyAgreement.
        let signOnly = try otherInstaller(s, name: "installer-sign-only", keyUsage: nil)
        let result = try await client(s, server, certificate: signOnly.certificate, key: signOnly.key).activate(
            product: "PulmoScan AI", version: s.release.version, manifestSHA256: s.built.manifestDigest.hex)
        guard case .failure(let refused) = result else {
            Issue.record("granted to a certificate that cannot receive the key")
            return
        }
        #expect(refused.code == "installer-cannot-receive-key", "\(refused)")
        #expect(try await server.server.store.activations().isEmpty)
        // For a plain bundle the same certificate is fine.
        let plain = SHA256Digest.of(Array("plain bundle".utf8))
        try await server.register(manifestSHA256: plain, version: s.release.version)
        guard
            case .success = try await client(s, server, certificate: signOnly.certificate, key: signOnly.key).activate(
                product: "PulmoScan AI", version: s.release.version, manifestSHA256: plain.hex)
        else {
            Issue.record("a plain bundle was refused")
            return
        }
        await server.stop()
    }

    @Test func exhaustedOrRevokedLicenceReleasesNoKey() async throws {
        let (s, server) = try await setUp(seats: 1)
        let content = try escrowedKey(s)
        try await server.register(
            manifestSHA256: s.built.manifestDigest, version: s.release.version, escrowedKey: content.escrowed,
            keyCheck: content.check)
        let second = SHA256Digest.of(Array("second encrypted bundle".utf8))
        try await server.register(
            manifestSHA256: second, version: s.release.version, escrowedKey: content.escrowed, keyCheck: content.check)
        let authority = LicenseServerAuthority(options: server.clientOptions(pki: s.pki), policy: try s.policy())
        let first = await authority.decideReleasingKey(
            LicenseSubject(product: "PulmoScan AI", version: s.release.version, manifestSHA256: s.built.manifestDigest),
            keyCheckValue: content.check)
        #expect(first.contentKey?.sameKey(as: content.key) == true)
        // The raw replies of refusals carry no key at all.
        let raw = try client(s, server)
        func exchange(_ digest: SHA256Digest) async -> Result<SignedGrant, LicenseCheckFailure> {
            await raw.exchange(
                ActivationRequest(
                    product: "PulmoScan AI", version: s.release.version, manifestSHA256: digest.hex, siteID: "SITE-001",
                    nonce: LicenseClient.makeNonce()))
        }
        guard case .failure(let exhausted) = await exchange(second) else {
            Issue.record("a second bundle was granted with one seat")
            return
        }
        #expect(exhausted.code == "seats-exhausted")
        let refusedRelease = await authority.decideReleasingKey(
            LicenseSubject(product: "PulmoScan AI", version: s.release.version, manifestSHA256: second),
            keyCheckValue: content.check)
        #expect(refusedRelease.contentKey == nil)
        guard case .refused(let details, _) = refusedRelease.decision else {
            Issue.record("licensed with no seat")
            return
        }
        #expect(details.first?.hasPrefix("seats-exhausted") == true, "\(details)")
        _ = try await server.server.store.revoke(id: "LIC-0001", at: Timestamp.now(), actor: "test")
        guard case .failure(let revoked) = await exchange(s.built.manifestDigest) else {
            Issue.record("a revoked licence was granted")
            return
        }
        #expect(revoked.code == "license-revoked")
        let afterRevoke = await authority.decideReleasingKey(
            LicenseSubject(product: "PulmoScan AI", version: s.release.version, manifestSHA256: s.built.manifestDigest),
            keyCheckValue: content.check)
        #expect(afterRevoke.contentKey == nil)
        await server.stop()
        for text in [
            exhausted.description, revoked.description, "\(refusedRelease.decision)", "\(afterRevoke.decision)",
        ] {
            #expect(!text.contains("contentKey"))
            for spelling in secretSpellings(content.bytes) { #expect(!text.contains(spelling)) }
        }
    }

    // MARK: - Offline licence file

    @Test func offlineLicenceFileCarriesTheKeyWrappedToTheSite() async throws {
        let (s, server) = try await setUp()
        await server.stop()
        let out = s.folder.url("offline.json")
        func export(_ extra: [String] = []) async -> ProcessResult {
            await runDetached(
                ivpackExecutable,
                [
                    "license", "export", "--offline", "--config", server.configPath, "--id", "LIC-0001",
                    "--bundle", s.bundle, "--output", out,
                ] + extra)
        }
        // Not registered: refused, naming the command that registers it.
        let unregistered = await export()
        #expect(unregistered.status == 1, "\(unregistered.stderr)")
        #expect(unregistered.stderr.contains("is not registered"), "\(unregistered.stderr)")
        #expect(unregistered.stderr.contains("ivpack license register"), "\(unregistered.stderr)")
        let content = try escrowedKey(s)
        try await server.register(
            manifestSHA256: s.built.manifestDigest, version: s.release.version, escrowedKey: content.escrowed,
            keyCheck: content.check)
        // Encrypted and no site certificate: refused, naming the option.
        let noSite = await export()
        #expect(noSite.status == 2, "\(noSite.stderr)")
        #expect(noSite.stderr.contains("--site-cert"), "\(noSite.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let recipients = RecipientCertificates()
        let site = try recipients.rsa("site-001")
        let ok = await export(["--site-cert", site.certificate])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("content key wrapped to"), "\(ok.stdout)")
        let subject = LicenseSubject(
            product: "PulmoScan AI", version: s.release.version, manifestSHA256: s.built.manifestDigest)
        let authority = LicenseFileAuthority(
            file: out, siteID: "SITE-001", policy: try s.policy(), siteCertificate: site.certificate,
            siteKey: site.key)
        let release = authority.decideReleasingKeyNow(subject, keyCheckValue: content.check)
        #expect(release.contentKey?.sameKey(as: content.key) == true, "\(release.decision)")
        // The installer's key is not the site's; and without the site's key there is no key.
        let wrongHolder = LicenseFileAuthority(
            file: out, siteID: "SITE-001", policy: try s.policy(), siteCertificate: s.pki.installer.certificate,
            siteKey: s.pki.installer.key)
        let refused = wrongHolder.decideReleasingKeyNow(subject, keyCheckValue: content.check)
        #expect(refused.contentKey == nil)
        guard case .refused(let details, _) = refused.decision else {
            Issue.record("the key opened for another certificate")
            return
        }
        #expect(details.first?.hasPrefix("content-key-not-for-this-installer") == true, "\(details)")
        let noKey = LicenseFileAuthority(file: out, siteID: "SITE-001", policy: try s.policy())
            .decideReleasingKeyNow(subject, keyCheckValue: content.check)
        #expect(noKey.contentKey == nil)
        // verify's check of the same file passes (the key member is covered by the signature).
        let verified = LicenseCheck.offline(
            file: out, siteID: "SITE-001", policy: try s.policy(), product: "PulmoScan AI",
            version: s.release.version, manifestSHA256: s.built.manifestDigest, now: Timestamp.now())
        #expect(verified.status == .pass, "\(verified.details)")
        // The file with its key, and the configuration with its escrow, validate against their schemas.
        let schemas = run(
            "/usr/bin/env",
            [
                "python3", SchemaTests.repositoryRoot + "/scripts/check-schemas.py", "--license-file", out,
                "--license-config", server.configPath,
            ],
            in: SchemaTests.repositoryRoot)
        #expect(schemas.status == 0, "\(schemas.stdout)\(schemas.stderr)")
        #expect(schemas.stdout.contains("with the content key wrapped for the site"), "\(schemas.stdout)")
        let text = String(decoding: s.folder.read("offline.json"), as: UTF8.self)
        for output in [ok.stdout, ok.stderr, noSite.stderr, text, "\(refused.decision)"] {
            for spelling in secretSpellings(content.bytes) { #expect(!output.contains(spelling)) }
        }
    }

    // MARK: - The command line and key hygiene

    @Test func registerThroughTheCommandLineAndNoKeyInAnyOutput() async throws {
        let s = try SignedRelease()
        let config = s.folder.write(
            "cli.yaml",
            LicenseServerConfig.developmentText(
                pkiDirectory: s.pki.directory, port: 0, database: s.folder.url("cli.sqlite")))
        let audit = s.folder.url("audit.jsonl")
        let env = ["IVPACK_AUDIT_LOG": audit]
        let content = try escrowedKey(s)
        let escrowFile = s.folder.write("escrow.p7m", content.escrowed)
        let recipients = RecipientCertificates()
        let stranger = try recipients.ec("stranger")
        let strangerFile = s.folder.write(
            "stranger.p7m", try EnvelopedKey.wrap(content.key, to: [try stranger.loadCertificate()]).der)
        var outputs: [ProcessResult] = []
        func register(_ extra: [String]) async -> ProcessResult {
            let r = await runDetached(
                ivpackExecutable, ["license", "register", s.bundle, "--config", config] + extra, environment: env)
            outputs.append(r)
            return r
        }
        let wrongKey = await register(["--escrowed-key", strangerFile, "--key-check", content.check])
        #expect(wrongKey.status == 1, "\(wrongKey.stderr)")
        #expect(wrongKey.stderr.contains("does not open with the licence server's escrow key"), "\(wrongKey.stderr)")
        let alone = await register(["--escrowed-key", escrowFile])
        #expect(alone.status == 64, "\(alone.stderr)")
        let first = await register(["--escrowed-key", escrowFile, "--key-check", content.check, "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let json = try JSONParser.parse(Array(first.stdout.utf8))
        #expect(json["manifestSHA256"]?.stringValue == s.built.manifestDigest.hex)
        #expect(json["encrypted"] == .bool(true))
        #expect(json["new"] == .bool(true))
        let again = await register(["--escrowed-key", escrowFile, "--key-check", content.check])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("Already registered"), "\(again.stdout)")
        let plain = await register([])
        #expect(plain.status == 2, "\(plain.stderr)")
        #expect(plain.stderr.contains("is registered already"), "\(plain.stderr)")
        // A server process releases the key in a grant; its log, the audit table and every output are grepped.
        let log = s.folder.url("server.log")
        let (process, port) = try await LicenseTests().startServerProcess(config: config, stderrPath: log)
        let store = try LicenseStore(path: s.folder.url("cli.sqlite"))
        let now = Timestamp.now()
        try store.issue(
            IVPackLicense.License(
                id: "LIC-K", siteID: "SITE-001", product: "PulmoScan AI", minimumVersion: "V2.0.0.1",
                maximumVersion: "V2.999.999.999999", notBefore: now - 60, notAfter: now + 86_400, seats: 1,
                createdAt: now), actor: "test")
        let options = LicenseClientOptions(
            serverURL: "https://127.0.0.1:\(port)", clientCertificate: s.pki.installer.certificate,
            clientKey: s.pki.installer.key, siteID: "SITE-001", timeoutSeconds: 20, attempts: 1)
        let authority = LicenseServerAuthority(options: options, policy: try s.policy())
        let subject = LicenseSubject(
            product: "PulmoScan AI", version: s.release.version, manifestSHA256: s.built.manifestDigest)
        let released = await authority.decideReleasingKey(subject, keyCheckValue: content.check)
        #expect(released.contentKey?.sameKey(as: content.key) == true, "\(released.decision)")
        let wrong = await authority.decideReleasingKey(subject, keyCheckValue: try ContentKey.generate().checkValue())
        let unregistered = await authority.decideReleasingKey(
            LicenseSubject(
                product: "PulmoScan AI", version: s.release.version, manifestSHA256: SHA256Digest.of([7])),
            keyCheckValue: content.check)
        process.terminate()
        process.waitUntilExit()
        outputs.append(
            await runDetached(
                ivpackExecutable, ["license", "list", "--config", config, "--json"], environment: env))
        var texts = outputs.flatMap { [$0.stdout, $0.stderr] }
        texts.append(String(decoding: s.folder.read("server.log"), as: UTF8.self))
        texts.append(String(decoding: s.folder.read("audit.jsonl"), as: UTF8.self))
        texts.append(
            try store.auditTrail().map { "\($0.actor) \($0.action) \($0.result) \($0.detail)" }.joined(separator: "\n"))
        texts += ["\(released.decision)", "\(wrong.decision)", "\(unregistered.decision)"]
        let all = texts.joined(separator: "\n")
        #expect(all.contains("licence granted"), "the server log was captured")
        #expect(all.contains("contentKey=released"), "the grant's log line says a key was released")
        #expect(all.contains("unregistered-release"))
        for spelling in secretSpellings(content.bytes) {
            #expect(!all.contains(spelling), "the content key shows in an output")
        }
        #expect(!all.contains("PRIVATE KEY"))
        let escrowKeyLines = String(
            decoding: FileManager.default.contents(atPath: s.pki.licenseEscrow.key)!, as: UTF8.self
        )
        .split(separator: "\n").filter { !$0.hasPrefix("-----") && $0.count > 16 }
        for line in escrowKeyLines { #expect(!all.contains(line), "escrow key material in an output") }
    }
}
