import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// The content key wrapped for recipients in CMS AuthEnvelopedData: RSA-OAEP and ECDH recipients,
/// interoperability with `openssl cms -decrypt`, refusals, and a key that never shows in a message.
struct EnvelopedKeyTests {
    /// A key with its bytes (read back from an export, the only way out), for comparisons.
    struct KnownKey {
        let key: ContentKey
        let bytes: [UInt8]
        let folder = TemporaryFolder("ivpack-key")

        init() throws {
            key = try ContentKey.generate()
            try key.export(to: folder.url("content.key"))
            bytes = folder.read("content.key")
        }

        /// Records an issue when any spelling of the key shows in the error's description.
        func expectAbsent(from error: (any Error)?, sourceLocation: SourceLocation = #_sourceLocation) {
            guard let error else {
                Issue.record("expected an error", sourceLocation: sourceLocation)
                return
            }
            let text = "\(error) \(String(reflecting: error))"
            for spelling in secretSpellings(bytes) {
                #expect(!text.contains(spelling), "the key shows in: \(text)", sourceLocation: sourceLocation)
            }
        }
    }

    static func failure(_ body: () throws -> Void) -> (any Error)? {
        do {
            try body()
            return nil
        } catch { return error }
    }

    @Test func wrapsForRSAAndECRecipientsAndEachUnwraps() throws {
        let pki = RecipientCertificates()
        let rsa = try pki.rsa("site-rsa")
        let ec = try pki.ec("site-ec")
        let escrow = try pki.rsa("licence-escrow")
        let known = try KnownKey()
        let wrapped = try EnvelopedKey.wrap(
            known.key, to: [rsa.loadCertificate(), ec.loadCertificate(), escrow.loadCertificate()])
        let parsed = try EnvelopedKey.parse(der: wrapped.der, source: "key.p7m")
        // RecipientInfos is a SET OF: DER sorts it, so the order is the encoding's, not the call's.
        let found = Set(parsed.recipients.map { "\($0.method.rawValue) \($0.serialHex) \($0.issuer)" })
        let expected = Set(
            try [(rsa, "RSA-OAEP key transport"), (ec, "ECDH key agreement"), (escrow, "RSA-OAEP key transport")].map {
                let certificate = try $0.0.loadCertificate()
                return "\($0.1) \(certificate.serialHex) \(certificate.issuer)"
            })
        #expect(found == expected)
        for recipient in [rsa, ec, escrow] {
            let unwrapped = try parsed.unwrap(with: recipient.loadKey(), certificate: recipient.loadCertificate())
            #expect(unwrapped.sameKey(as: known.key), "\(recipient.name)")
            #expect(unwrapped.origin == .unwrapped)
        }
        // The key is not in the clear anywhere in the DER.
        #expect(!(0...(wrapped.der.count - 32)).contains { Array(wrapped.der[$0..<$0 + 32]) == known.bytes })
    }

    /// The interoperability promise of docs/encryption.md: OpenSSL alone recovers the key.
    @Test(arguments: ["rsa", "ec"])
    func opensslCMSDecryptRecoversTheExactKeyBytes(_ type: String) throws {
        let pki = RecipientCertificates()
        let recipient = type == "rsa" ? try pki.rsa("recipient") : try pki.ec("recipient")
        let other = try pki.ec("other")
        let known = try KnownKey()
        let wrapped = try EnvelopedKey.wrap(known.key, to: [other.loadCertificate(), recipient.loadCertificate()])
        let p7m = pki.folder.write("key.p7m", wrapped.der)
        let out = pki.folder.url("recovered.key")
        let result = run(
            "/usr/bin/openssl",
            [
                "cms", "-decrypt", "-inform", "DER", "-in", p7m, "-recip", recipient.certificate, "-inkey",
                recipient.key, "-out", out,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(pki.folder.read("recovered.key") == known.bytes)
        // What the structure says, as an auditor reads it.
        let printed = run("/usr/bin/openssl", ["cms", "-cmsout", "-print", "-inform", "DER", "-in", p7m]).stdout
        #expect(printed.contains("id-smime-ct-authEnvelopedData"))
        #expect(printed.contains("aes-256-gcm"))
        #expect(printed.contains(type == "rsa" ? "rsaesOaep" : "dhSinglePass-stdDH-sha256kdf-scheme"))
        if type == "rsa" { #expect(printed.contains("mgf1") && printed.contains("sha256")) }
    }

    /// The other direction: what `openssl cms -encrypt` makes, here naming the recipient by subject
    /// key identifier (`-keyid`), ivpack lists and unwraps.
    @Test func unwrapsWhatOpenSSLWrapsWithKeyIdentifiers() throws {
        let pki = RecipientCertificates()
        let site = try pki.rsa("site")
        let known = try KnownKey()
        let p7m = pki.folder.url("key.p7m")
        let made = run(
            "/usr/bin/openssl",
            [
                "cms", "-encrypt", "-binary", "-aes-256-gcm", "-keyid", "-in", known.folder.url("content.key"),
                "-outform", "DER", "-out", p7m, "-recip", site.certificate, "-keyopt", "rsa_padding_mode:oaep",
            ])
        #expect(made.status == 0, "\(made.stderr)")
        let wrapped = try EnvelopedKey.parse(der: pki.folder.read("key.p7m"), source: p7m)
        let ski = run("/usr/bin/openssl", ["x509", "-in", site.certificate, "-noout", "-ext", "subjectKeyIdentifier"])
            .stdout.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) }?
            .replacingOccurrences(of: ":", with: "").lowercased()
        #expect(wrapped.recipients.map(\.keyIdentifier) == [ski])
        #expect(wrapped.recipients.first?.description.hasPrefix("key identifier \(ski ?? "?")") == true)
        #expect(try wrapped.unwrap(with: site.loadKey(), certificate: site.loadCertificate()).sameKey(as: known.key))
    }

    @Test func aKeyThatIsNotARecipientIsRefusedByName() throws {
        let pki = RecipientCertificates()
        let site = try pki.rsa("site")
        let stranger = try pki.rsa("stranger")
        let known = try KnownKey()
        let wrapped = try EnvelopedKey.wrap(known.key, to: [site.loadCertificate()])
        let certificate = try stranger.loadCertificate()
        let error = Self.failure { _ = try wrapped.unwrap(with: stranger.loadKey(), certificate: certificate) }
        guard case .notARecipient(let subject, let serial, let recipients) = error as? EnvelopedKeyError else {
            Issue.record("expected notARecipient, got \(String(describing: error))")
            return
        }
        #expect(subject.contains("CN=stranger"))
        #expect(serial == certificate.serialHex)
        #expect(recipients.count == 1)
        #expect(
            "\(error!)".hasPrefix(
                "this key is not one of the bundle's recipients: certificate \"O=ivpack test,CN=stranger"))
        #expect("\(error!)".contains("the content key is wrapped for: issuer \"O=ivpack test,CN=site\" serial"))
        known.expectAbsent(from: error)
        // The stranger's key with the site's certificate: the key does not match.
        let mismatch = Self.failure {
            _ = try wrapped.unwrap(with: stranger.loadKey(), certificate: site.loadCertificate())
        }
        #expect(
            mismatch as? EnvelopedKeyError
                == .keyDoesNotMatchCertificate(key: stranger.key, certificate: try site.loadCertificate().subject))
        known.expectAbsent(from: mismatch)
    }

    struct UnsuitableCase: Sendable, CustomTestStringConvertible {
        var name: String
        var type: RecipientCertificates.KeyType
        var keyUsage: String?
        var message: String
        var testDescription: String { name }
    }

    static let unsuitable: [UnsuitableCase] = [
        UnsuitableCase(
            name: "RSA signing-only", type: .rsa2048, keyUsage: "digitalSignature",
            message: "its key usage does not include keyEncipherment, which RSA key transport needs"),
        UnsuitableCase(
            name: "EC signing-only", type: .p256, keyUsage: "digitalSignature,keyEncipherment",
            message: "its key usage does not include keyAgreement, which ECDH key agreement needs"),
        UnsuitableCase(
            name: "Ed25519", type: .ed25519, keyUsage: nil,
            message: "key can take no key: give an RSA or EC certificate"
        ),
    ]

    @Test(arguments: unsuitable)
    func certificatesThatMayNotReceiveAKeyAreRefused(_ c: UnsuitableCase) throws {
        let pki = RecipientCertificates()
        let recipient = try pki.make("bad", c.type, keyUsage: c.keyUsage)
        let known = try KnownKey()
        let error = Self.failure { _ = try EnvelopedKey.wrap(known.key, to: [try recipient.loadCertificate()]) }
        guard case .unsuitableRecipient(let subject, let reason) = error as? EnvelopedKeyError else {
            Issue.record("expected unsuitableRecipient, got \(String(describing: error))")
            return
        }
        #expect(subject.contains("CN=bad"))
        #expect(reason.contains(c.message), "\(reason)")
        #expect(
            "\(error!)".hasPrefix("certificate \"O=ivpack test,CN=bad\" cannot be a recipient of the content key: "))
        known.expectAbsent(from: error)
    }

    @Test func certificatesWithoutKeyUsageAreUnrestrictedAndAccepted() throws {
        let pki = RecipientCertificates()
        let rsa = try pki.make("rsa-any", .rsa2048, keyUsage: nil)
        let ec = try pki.make("ec-any", .p256, keyUsage: nil)
        let known = try KnownKey()
        let wrapped = try EnvelopedKey.wrap(known.key, to: [rsa.loadCertificate(), ec.loadCertificate()])
        #expect(try wrapped.unwrap(with: ec.loadKey(), certificate: ec.loadCertificate()).sameKey(as: known.key))
        #expect(Self.failure { _ = try EnvelopedKey.wrap(known.key, to: []) } as? EnvelopedKeyError == .noRecipients)
    }

    @Test func damagedOrForeignEnvelopedDataIsRefused() throws {
        let pki = RecipientCertificates()
        let site = try pki.ec("site")
        let known = try KnownKey()
        let wrapped = try EnvelopedKey.wrap(known.key, to: [site.loadCertificate()])
        // Flip a byte of the encrypted content (near the end, before the 16-byte MAC): GCM fails.
        var der = wrapped.der
        der[der.count - 20] ^= 0x01
        let damaged = try EnvelopedKey.parse(der: der, source: "key.p7m")
        let error = Self.failure { _ = try damaged.unwrap(with: site.loadKey(), certificate: site.loadCertificate()) }
        guard case .unwrapFailed = error as? EnvelopedKeyError else {
            Issue.record("expected unwrapFailed, got \(String(describing: error))")
            return
        }
        known.expectAbsent(from: error)
        // Not CMS, and CMS of another type.
        let garbage = Self.failure { _ = try EnvelopedKey.parse(der: [0x30, 0x03, 0x02, 0x01, 0x00], source: "x.p7m") }
        #expect("\(garbage!)".hasPrefix("x.p7m: not a wrapped content key: not a DER CMS structure"))
        let data = pki.folder.write("data.bin", "hello")
        let signed = pki.folder.url("signed.p7s")
        let signing = try pki.make("signer", .p256, keyUsage: "digitalSignature")
        let made = run(
            "/usr/bin/openssl",
            [
                "cms", "-sign", "-binary", "-in", data, "-signer", signing.certificate, "-inkey", signing.key,
                "-outform", "DER", "-out", signed,
            ])
        #expect(made.status == 0, "\(made.stderr)")
        let foreign = Self.failure { _ = try EnvelopedKey.parse(der: pki.folder.read("signed.p7s"), source: "s.p7s") }
        #expect(
            "\(foreign!)" == "s.p7s: not a wrapped content key: the CMS structure is not AuthEnvelopedData (RFC 5083)")
    }
}

extension HSMTests {
    /// RSA-OAEP unwrap with the recipient's key inside SoftHSM2, through the pkcs11 engine. In the
    /// HSM suite: it shares the process's token and is serialized with the other HSM tests.
    @Test(
        .disabled(
            "In-process PKCS#11 (SoftHSM2 in this test process) left every later P-256 generation of the process failing (unknown group) in clean-clone CI at 7df8570 and 066ba9e; the same library code runs in child processes in installDecryptsWithARecipientKeyInSoftHSM"
        ))
    func contentKeyUnwrapsWithARecipientRSAKeyInSoftHSM() throws {
        let hsm = try SoftHSM.shared()
        let pki = RecipientCertificates()
        let site = try pki.rsa("site-hsm")
        let uri = try hsm.importKey(file: site.key, label: hsm.uniqueLabel("recipient"))
        let key = try PrivateKey.loadPKCS11(uri: uri, pin: Array(SoftHSM.userPIN.utf8))
        let content = try ContentKey.generate()
        let wrapped = try EnvelopedKey.wrap(content, to: [site.loadCertificate()])
        let unwrapped = try wrapped.unwrap(with: key, certificate: site.loadCertificate())
        #expect(unwrapped.sameKey(as: content))
    }

    /// `ivpack install --recipient-key pkcs11:...`: an encrypted bundle installed with the site's
    /// recipient key inside SoftHSM2, the PIN from the environment.
    @Test func installDecryptsWithARecipientKeyInSoftHSM() throws {
        let hsm = try SoftHSM.shared()
        let f = try InstallFixture()
        let pki = RecipientCertificates()
        let site = try pki.rsa("site-hsm-install")
        var options = BuildEncryption()
        options.components = ["nodule-detector"]
        options.recipients = [("site", try site.loadCertificate())]
        let bundle = try f.bundle(version: InstallTests.v1, big: false, name: "hsm", encryption: options)
        let uri = try hsm.importKey(file: site.key, label: hsm.uniqueLabel("install-recipient"))
        let environment = hsm.environment.merging(["IVPACK_PKCS11_PIN": SoftHSM.userPIN]) { $1 }
        let r = run(
            ivpackExecutable,
            [
                "install", bundle, "--trust", f.signed.pki.trustPolicy, "--root", f.root, "--recipient-key", uri,
                "--recipient-cert", site.certificate,
            ], environment: environment)
        #expect(r.status == 0, "\(r.stderr)")
        let manifest = try BundleReader(path: bundle).manifest
        let model = try #require(manifest.allFiles.first { $0.encryption != nil })
        let installed = f.root + "/current/" + model.path.dropFirst(Manifest.payloadPrefix.count)
        #expect(SHA256Digest.of(Array(FileManager.default.contents(atPath: installed) ?? Data())) == model.sha256)
    }
}
