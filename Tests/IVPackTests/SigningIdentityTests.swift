import Foundation
import IVPack
import IVPackTestSupport
import Testing

@Suite(.serialized) struct SigningIdentityTests {
    func makePKI(_ folder: TemporaryFolder) throws -> DevelopmentPKILayout {
        try DevelopmentPKI.create(in: folder.url("pki"), now: Int64(Date().timeIntervalSince1970) - 3600)
    }

    @Test func loadsKeyCertificateAndChainFromFiles() throws {
        let folder = TemporaryFolder()
        let pki = try makePKI(folder)
        let signer = pki.releaseManager
        let identity = try SigningIdentity.load(
            key: .file(path: signer.key, passphrase: nil), certificateFile: signer.certificate,
            chainFiles: [signer.chain])
        let certificate = try Certificate.load(file: signer.certificate)[0]
        #expect(identity.certificate.sameCertificate(as: certificate))
        #expect(identity.key.matches(certificate))
        #expect(identity.key.source == signer.key)
        let intermediate = try Certificate.load(file: pki.intermediateCertificate)[0]
        #expect(identity.chain.count == 1)
        #expect(identity.chain.first?.sameCertificate(as: intermediate) == true)
    }

    @Test func certificatesAfterTheFirstInTheCertificateFileJoinTheChain() throws {
        let folder = TemporaryFolder()
        let pki = try makePKI(folder)
        let signer = pki.releaseManager
        let both = folder.write(
            "rm-and-intermediate.pem",
            try String(contentsOfFile: signer.certificate, encoding: .utf8)
                + String(contentsOfFile: pki.intermediateCertificate, encoding: .utf8))
        let identity = try SigningIdentity.load(
            key: .file(path: signer.key, passphrase: nil), certificateFile: both, chainFiles: [])
        #expect(identity.certificate.sameCertificate(as: try Certificate.load(file: signer.certificate)[0]))
        #expect(identity.chain.map(\.subject) == [try Certificate.load(file: pki.intermediateCertificate)[0].subject])
    }

    @Test func keyThatDoesNotBelongToTheCertificateIsRefused() throws {
        let folder = TemporaryFolder()
        let pki = try makePKI(folder)
        let subject = try Certificate.load(file: pki.releaseManager.certificate)[0].subject
        let error = #expect(throws: InputError.self) {
            try SigningIdentity.load(
                key: .file(path: pki.quality.key, passphrase: nil), certificateFile: pki.releaseManager.certificate,
                chainFiles: [pki.releaseManager.chain])
        }
        #expect(error?.file == pki.quality.key)
        #expect(error?.problem == "the private key does not belong to the certificate \"\(subject)\"")
        #expect(error?.exitStatus == .badInput)
        // The same refusal for parts loaded elsewhere.
        #expect(throws: InputError.self) {
            try SigningIdentity(
                certificate: try Certificate.load(file: pki.releaseManager.certificate)[0],
                key: try PrivateKey.load(file: pki.quality.key, passphrase: nil), chain: [])
        }
    }

    @Test(arguments: [
        (passphrase: nil as String?, problem: "the key is encrypted and no passphrase was given"),
        (passphrase: "not-the-passphrase", problem: "the passphrase does not decrypt this key"),
    ])
    func encryptedKeyWithoutItsPassphraseIsRefused(passphrase: String?, problem: String) throws {
        let folder = TemporaryFolder()
        let pki = try makePKI(folder)
        let error = #expect(throws: InputError.self) {
            try SigningIdentity.load(
                key: .file(path: pki.releaseManagerEncryptedKey, passphrase: passphrase.map { Array($0.utf8) }),
                certificateFile: pki.releaseManager.certificate, chainFiles: [pki.releaseManager.chain])
        }
        #expect(error?.file == pki.releaseManagerEncryptedKey)
        #expect(error?.problem == problem)
    }

    @Test func encryptedKeyLoadsWithItsPassphrase() throws {
        let folder = TemporaryFolder()
        let pki = try makePKI(folder)
        let identity = try SigningIdentity.load(
            key: .file(
                path: pki.releaseManagerEncryptedKey,
                passphrase: Array(DevelopmentPKILayout.encryptedKeyPassphrase.utf8)),
            certificateFile: pki.releaseManager.certificate, chainFiles: [pki.releaseManager.chain])
        #expect(identity.key.matches(try Certificate.load(file: pki.releaseManager.certificate)[0]))
    }

    @Test func missingCertificateFileIsNamed() throws {
        let folder = TemporaryFolder()
        let pki = try makePKI(folder)
        let missing = folder.url("absent.pem")
        do {
            _ = try SigningIdentity.load(
                key: .file(path: pki.releaseManager.key, passphrase: nil), certificateFile: missing, chainFiles: [])
            Issue.record("a missing certificate file was accepted")
        } catch let error as any IVPackError {
            #expect(error.exitStatus == .badInput)
            #expect(error.description.contains(missing), "\(error)")
        }
    }

    @Test func pkcs11URIIsRecognised() {
        #expect(SigningIdentity.KeySource.isPKCS11("pkcs11:token=release;object=rm"))
        #expect(!SigningIdentity.KeySource.isPKCS11("keys/pkcs11:rm.key"))
        #expect(!SigningIdentity.KeySource.isPKCS11("rm.key"))
    }

    @Test func identitySignsABundleThatVerifies() throws {
        let s = try SignedRelease(signedBy: [])
        let identity = try SigningIdentity.load(
            key: .file(path: s.pki.releaseManager.key, passphrase: nil),
            certificateFile: s.pki.releaseManager.certificate, chainFiles: [s.pki.releaseManager.chain])
        _ = try BundleSigner.sign(bundlePath: s.bundle, identity: identity, role: "release-manager", now: s.now)
        let quality = try SigningIdentity.load(
            key: .file(path: s.pki.quality.key, passphrase: nil),
            certificateFile: s.pki.quality.certificate, chainFiles: [s.pki.quality.chain])
        _ = try BundleSigner.sign(bundlePath: s.bundle, identity: quality, role: "quality", now: s.now)
        let report = try s.verify()
        #expect(report.passed, "\(report.checks.filter { $0.status == .fail })")
    }

    @Test func grantSignerTakesTheLicenceSigningIdentityOnly() throws {
        let folder = TemporaryFolder()
        let pki = try makePKI(folder)
        let grants = try SigningIdentity.load(
            key: .file(path: pki.licenseSigning.key, passphrase: nil),
            certificateFile: pki.licenseSigning.certificate, chainFiles: [pki.intermediateCertificate])
        _ = try GrantSigner(identity: grants)
        let releaseManager = try SigningIdentity.load(
            key: .file(path: pki.releaseManager.key, passphrase: nil),
            certificateFile: pki.releaseManager.certificate, chainFiles: [pki.releaseManager.chain])
        let error = #expect(throws: InputError.self) { try GrantSigner(identity: releaseManager) }
        #expect(error?.problem.contains("licence-signing extended key usage") == true)
    }
}
