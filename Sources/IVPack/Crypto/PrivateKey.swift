internal import CLibCrypto
#if canImport(Glibc)
import Glibc
#endif

/// A private key held by OpenSSL (`EVP_PKEY`): from a PEM file (PKCS#8, encrypted PKCS#8, or the
/// traditional RSA/EC forms), from an HSM through PKCS#11, or freshly generated.
/// The key material never leaves OpenSSL except through `pkcs8PEM(passphrase:)`.
public final class PrivateKey: @unchecked Sendable {
    let pkey: OpaquePointer
    /// Where the key came from, for messages (a path or a PKCS#11 URI without its PIN).
    public let source: String

    init(owning pkey: OpaquePointer, source: String) {
        self.pkey = pkey
        self.source = source
    }

    deinit { EVP_PKEY_free(pkey) }

    /// A new EC key on the P-256 curve.
    public static func generateP256() throws -> PrivateKey {
        guard let key = ivpack_generate_p256() else { throw OpenSSLError.drain("generate a P-256 key") }
        return PrivateKey(owning: key, source: "generated")
    }

    /// Reads a PEM private key. An encrypted key needs `passphrase`; a wrong or missing one is
    /// reported as such, never as a parse error. The passphrase bytes are not kept.
    public static func load(file: String, passphrase: [UInt8]?) throws -> PrivateKey {
        let bytes = try InputFile.readAll(path: file, limit: 1 << 20)
        let text = String(decoding: bytes, as: UTF8.self)
        let encrypted = text.contains("ENCRYPTED")
        if encrypted && passphrase == nil {
            throw CryptoInputError(file: file, problem: "the key is encrypted and no passphrase was given",
                                   hint: "Set IVPACK_KEY_PASSPHRASE or pass --passphrase-file FILE (never on the command line)")
        }
        ERR_clear_error()
        var pass = passphrase ?? []
        pass.append(0)
        let key: OpaquePointer? = withMemoryBIO(bytes) { bio in
            pass.withUnsafeMutableBytes { raw in
                PEM_read_bio_PrivateKey(bio, nil, nil, raw.baseAddress)
            }
        }
        // Overwrite our copy of the passphrase before anything else can see the memory again.
        for i in pass.indices { pass[i] = 0 }
        guard let key else {
            let error = OpenSSLError.drain("read the private key")
            let reasons = error.reasons.joined(separator: "; ")
            if encrypted && (reasons.contains("bad decrypt") || reasons.contains("maybe wrong password") || reasons.contains("unsupported")) {
                throw CryptoInputError(file: file, problem: "the passphrase does not decrypt this key", hint: "Check the passphrase source")
            }
            throw CryptoInputError(file: file, problem: "not a PEM private key (\(reasons))",
                                   hint: "Give a PEM key (-----BEGIN PRIVATE KEY----- or ENCRYPTED PRIVATE KEY)")
        }
        return PrivateKey(owning: key, source: file)
    }

    /// The key as PKCS#8 PEM, encrypted with AES-256-CBC under `passphrase` when one is given.
    public func pkcs8PEM(passphrase: [UInt8]?) throws -> String {
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        let ok: Int32
        if var pass = passphrase {
            ok = pass.withUnsafeMutableBytes { raw in
                PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_256_cbc(), raw.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(raw.count), nil, nil)
            }
            for i in pass.indices { pass[i] = 0 }
        } else {
            ok = PEM_write_bio_PKCS8PrivateKey(bio, pkey, nil, nil, 0, nil, nil)
        }
        guard ok == 1 else { throw OpenSSLError.drain("write the private key") }
        return String(decoding: bioBytes(bio), as: UTF8.self)
    }

    /// Whether `certificate` holds this key's public half.
    public func matches(_ certificate: Certificate) -> Bool {
        guard let pub = X509_get0_pubkey(certificate.x509) else { return false }
        return EVP_PKEY_eq(pkey, pub) == 1
    }
}
