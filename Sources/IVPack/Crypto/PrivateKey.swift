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
    /// A key file that every user of the machine can read or write (any "other" permission bit)
    /// is refused, as ssh refuses one: the key must be assumed copied.
    public static func load(file: String, passphrase: [UInt8]?) throws -> PrivateKey {
        let input = try InputFile(path: file)
        try SecretFileAccess.refuseIfOpenToOthers(input, what: "private key")
        guard input.size <= 1 << 20 else {
            throw InputError.credential(
                file: file, problem: "\(input.size) bytes is too large for a PEM private key",
                hint: "Give the key file, not a bundle or archive")
        }
        let bytes = try input.readBytes(count: Int(input.size), at: 0)
        let text = String(decoding: bytes, as: UTF8.self)
        let encrypted = text.contains("ENCRYPTED")
        if encrypted && passphrase == nil {
            throw InputError.credential(
                file: file, problem: "the key is encrypted and no passphrase was given",
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
            if encrypted
                && (reasons.contains("bad decrypt") || reasons.contains("maybe wrong password")
                    || reasons.contains("unsupported"))
            {
                throw InputError.credential(
                    file: file, problem: "the passphrase does not decrypt this key", hint: "Check the passphrase source"
                )
            }
            throw InputError.credential(
                file: file, problem: "not a PEM private key (\(reasons))",
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
                PEM_write_bio_PKCS8PrivateKey(
                    bio, pkey, EVP_aes_256_cbc(), raw.baseAddress?.assumingMemoryBound(to: CChar.self),
                    Int32(raw.count), nil, nil)
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

/// Permission checks for files holding secrets (private keys, passphrases, PINs).
public enum SecretFileAccess {
    /// The file's permission bits.
    static func mode(_ input: InputFile) -> mode_t? {
        var st = stat()
        return fstat(input.fd, &st) == 0 ? st.st_mode & 0o7777 : nil
    }

    /// Throws when users other than the owner and group may read or write the file.
    public static func refuseIfOpenToOthers(_ input: InputFile, what: String) throws {
        guard let mode = mode(input), mode & 0o006 != 0 else { return }
        throw InputError.credential(
            file: input.path,
            problem:
                "the \(what) file can be \(mode & 0o004 != 0 ? "read" : "written") by every user of this machine (mode \(String(mode, radix: 8)))",
            hint:
                "Treat the \(what) as exposed; restrict the file with chmod 600 (or keep the key in an HSM) and try again"
        )
    }

    /// A warning when the file's group may read or write it (allowed, but worth saying), or nil.
    public static func groupAccessWarning(path: String, what: String) -> String? {
        guard let input = try? InputFile(path: path), let mode = mode(input), mode & 0o060 != 0, mode & 0o006 == 0
        else { return nil }
        return
            "\(path): the \(what) file can be read by its group (mode \(String(mode, radix: 8))); chmod 600 unless the group is meant to use it"
    }
}
