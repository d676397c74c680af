/// A signer as one value: the end-entity certificate, the private key that belongs to it (read
/// from a PEM file or kept inside an HSM) and the intermediate certificates sent with every
/// signature. Bundle signing, report signing and grant signing all take one, so a key that does
/// not belong to its certificate is refused once, when the identity is made, with the same
/// message everywhere. SwiftPM's `SigningIdentity` is the model.
///
/// What the signature is for (an end entity strong enough, a usage, a validity period) is checked
/// by the use: `BundleSigner`, `IQReportSignature`, `GrantSigner`.
public struct SigningIdentity: Sendable {
    /// The signer's certificate.
    public let certificate: Certificate
    /// The private key whose public half `certificate` holds.
    public let key: PrivateKey
    /// Intermediate certificates to include in each signature, nearest the signer first.
    public let chain: [Certificate]

    /// Where the private key is.
    public enum KeySource: Sendable {
        /// A PEM file (PKCS#8, possibly encrypted, or a traditional form); `passphrase` decrypts it.
        case file(path: String, passphrase: [UInt8]?)
        /// A key inside an HSM, named by an RFC 7512 PKCS#11 URI; `pin` logs in to its token.
        case pkcs11(uri: String, pin: [UInt8]?)

        /// Whether `key` names a key in an HSM (a `pkcs11:` URI) rather than a file.
        public static func isPKCS11(_ key: String) -> Bool { key.hasPrefix("pkcs11:") }
    }

    /// An identity of parts already loaded. Throws `InputError` (kind `.credential`) (exit 2) when `key` does not
    /// belong to `certificate`.
    public init(certificate: Certificate, key: PrivateKey, chain: [Certificate]) throws {
        guard key.matches(certificate) else {
            throw InputError.credential(
                file: key.source,
                problem: "the private key does not belong to the certificate \"\(certificate.subject)\"",
                hint: "Give the key that was certified, or the certificate issued for this key")
        }
        self.certificate = certificate
        self.key = key
        self.chain = chain
    }

    /// Loads the key, then `certificateFile` (its first certificate is the signer's, any others
    /// join the chain), then every file of `chainFiles`. Every failure is a typed error naming its
    /// file: unreadable or missing (`FileSystemError`), not PEM, encrypted without a passphrase or
    /// with a wrong one, open to every user, the HSM or its PIN, a key that does not belong to the
    /// certificate (`InputError` (kind `.credential`)).
    public static func load(key: KeySource, certificateFile: String, chainFiles: [String]) throws -> SigningIdentity {
        let privateKey: PrivateKey
        switch key {
        case .file(let path, let passphrase): privateKey = try PrivateKey.load(file: path, passphrase: passphrase)
        case .pkcs11(let uri, let pin): privateKey = try PrivateKey.loadPKCS11(uri: uri, pin: pin)
        }
        let certificates = try Certificate.load(file: certificateFile)
        let chain = try chainFiles.flatMap { try Certificate.load(file: $0) }
        return try SigningIdentity(
            certificate: certificates[0], key: privateKey, chain: Array(certificates.dropFirst()) + chain)
    }
}
