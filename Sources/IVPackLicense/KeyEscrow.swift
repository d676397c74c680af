import Foundation
import IVPack

/// The licence server's escrow identity: the certificate every encrypted bundle's content key is
/// also wrapped to (the bundle's first recipient), and its private key, in a PEM file or an HSM.
/// The server unwraps a registered release's key with it only to wrap it again for an installer
/// or a site; the key is never written, logged or kept beyond that.
public struct KeyEscrow: Sendable {
    /// The escrow certificate.
    public let certificate: Certificate
    /// Its private key.
    public let key: PrivateKey

    /// An escrow of parts already loaded. Refuses a key that is not the certificate's, and a
    /// certificate that cannot receive a key (`EnvelopedKey.checkRecipient`).
    public init(certificate: Certificate, key: PrivateKey) throws {
        guard key.matches(certificate) else {
            throw InputError.credential(
                file: key.source,
                problem: "the escrow private key does not belong to the escrow certificate \"\(certificate.subject)\"",
                hint: "Give the key that was certified as escrow.key")
        }
        try EnvelopedKey.checkRecipient(certificate)
        self.certificate = certificate
        self.key = key
    }

    /// The escrow of the configuration's `escrow` member; nil when the configuration has none.
    /// A `pkcs11:` key logs in with the PIN from `escrow.pinFile`, else `$IVPACK_PKCS11_PIN`.
    public static func load(_ config: LicenseServerConfig) throws -> KeyEscrow? {
        guard let certificateFile = config.escrowCertificate, let keySource = config.escrowKey else { return nil }
        let privateKey: PrivateKey
        if SigningIdentity.KeySource.isPKCS11(keySource) {
            privateKey = try PrivateKey.loadPKCS11(uri: keySource, pin: try pin(file: config.escrowPINFile))
        } else {
            privateKey = try PrivateKey.load(file: keySource, passphrase: nil)
        }
        return try KeyEscrow(certificate: try Certificate.load(file: certificateFile)[0], key: privateKey)
    }

    static func pin(file: String?) throws -> [UInt8]? {
        if let file {
            let input = try InputFile(path: file)
            try SecretFileAccess.refuseIfOpenToOthers(input, what: "PIN")
            var bytes = try input.readBytes(count: Int(min(input.size, 4096)), at: 0)
            if let newline = bytes.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) { bytes.removeSubrange(newline...) }
            return bytes
        }
        return ProcessInfo.processInfo.environment["IVPACK_PKCS11_PIN"].map { Array($0.utf8) }
    }

    /// The content key of an escrowed EnvelopedData, opened with the escrow key. Errors name the
    /// reason (not wrapped for this escrow, damaged, the HSM refused), never the key.
    public func open(_ escrowedKey: [UInt8], source: String) throws -> ContentKey {
        try EnvelopedKey.parse(der: escrowedKey, source: source).unwrap(with: key, certificate: certificate)
    }

    /// The escrowed key wrapped again for `recipient` (an installer's client certificate, a site's
    /// certificate): DER AuthEnvelopedData. The unwrapped key exists only inside this call.
    public func rewrap(_ escrowedKey: [UInt8], to recipient: Certificate, source: String) throws -> [UInt8] {
        let contentKey = try open(escrowedKey, source: source)
        return try EnvelopedKey.wrap(contentKey, to: [recipient]).der
    }
}

/// Why a release could not be registered with its escrowed key. No case carries key material.
public enum ReleaseRegistrationError: IVPackError, Equatable {
    /// An escrowed key was given, but the server's configuration has no `escrow`.
    case noEscrowConfigured(config: String)
    /// An escrowed key without its check value, or a check value without a key.
    case keyAndCheckGoTogether
    /// The check value is not 64 lower-case hex digits.
    case malformedKeyCheck(String)
    /// The escrowed key does not open with the server's escrow key.
    case doesNotOpen(source: String, problem: String)
    /// It opens, but it is not the key whose check value was given.
    case checkValueMismatch(source: String, expected: String)

    public var exitStatus: ExitStatus {
        switch self {
        case .noEscrowConfigured, .keyAndCheckGoTogether, .malformedKeyCheck: return .badInput
        case .doesNotOpen, .checkValueMismatch: return .checkFailed
        }
    }

    public var description: String {
        switch self {
        case .noEscrowConfigured(let config):
            return
                "\(config): the bundle is encrypted, and the licence server has no escrow identity to open its key: "
                + "add `escrow: {certificate: ..., key: ...}` to the configuration (see docs/license-server.md)"
        case .keyAndCheckGoTogether:
            return
                "an escrowed content key and its check value go together: give both (--escrowed-key FILE --key-check HEX) or neither"
        case .malformedKeyCheck(let value):
            return
                "key check value \"\(value.prefix(80))\" is not 64 lower-case hex digits (the manifest's check value)"
        case .doesNotOpen(let source, let problem):
            return
                "\(source): the escrowed content key does not open with the licence server's escrow key (\(problem)): "
                + "the bundle's key must be wrapped to this server's escrow certificate; rebuild or re-wrap it, do not release it"
        case .checkValueMismatch(let source, let expected):
            return
                "\(source): the escrowed content key opens, but it is not the bundle's key (its check value is not \(expected)): "
                + "the escrow entry belongs to another build; do not release this bundle"
        }
    }
}

/// Registers released bundles with the licence server: `ivpack license register` and (later) the
/// admin API call this, with the bundle's digest, product, version and, for an encrypted bundle,
/// its escrowed key and the key's check value.
public enum ReleaseRegistrar {
    /// Registers the bundle of `manifestSHA256`. When `escrowedKey` is given, it is opened with
    /// `escrow` right away and its check value compared with `keyCheck`, so that a key wrapped for
    /// another escrow, damaged or from another build is refused here at the vendor, not at a
    /// hospital. Idempotent: the same release again says `.alreadyRegistered`; the same digest
    /// with another product, version or key is refused (`LicenseStoreError`, exit 2).
    @discardableResult
    public static func register(
        manifestSHA256: SHA256Digest, product: String, version: String, escrowedKey: [UInt8]?, keyCheck: String?,
        escrow: KeyEscrow?, configPath: String, store: any LicenseStoring, actor: String, now: Int64,
        keySource: String = "escrowed key"
    ) async throws -> RegistrationOutcome {
        guard (escrowedKey == nil) == (keyCheck == nil) else { throw ReleaseRegistrationError.keyAndCheckGoTogether }
        if let escrowedKey, let keyCheck {
            guard SHA256Digest(hex: keyCheck) != nil else {
                throw ReleaseRegistrationError.malformedKeyCheck(keyCheck)
            }
            guard let escrow else { throw ReleaseRegistrationError.noEscrowConfigured(config: configPath) }
            // The opened key is released (and zeroed) as soon as its check value is known.
            let check: String?
            do {
                let opened = try escrow.open(escrowedKey, source: keySource)
                check = try? opened.checkValue()
            } catch {
                throw ReleaseRegistrationError.doesNotOpen(source: keySource, problem: "\(error)")
            }
            guard check == keyCheck else {
                throw ReleaseRegistrationError.checkValueMismatch(source: keySource, expected: keyCheck)
            }
        }
        return try await store.register(
            RegisteredRelease(
                manifestSHA256: manifestSHA256.hex, product: product, version: version, registeredAt: now,
                escrowedKey: escrowedKey, keyCheck: keyCheck), actor: actor)
    }
}
