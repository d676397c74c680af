internal import CLibCrypto

#if canImport(Glibc)
    import Glibc
#endif

extension InputError {
    /// A key, certificate or HSM object ivpack cannot use: `FILE: PROBLEM. HINT`, where FILE may
    /// also name a certificate by subject or an HSM object by URI.
    public static func credential(file: String, problem: String, hint: String) -> InputError {
        InputError(.credential, Diagnostic(file: file, problem: problem, hint: hint))
    }
}

/// Reads all of a memory BIO.
func bioBytes(_ bio: OpaquePointer) -> [UInt8] {
    var pointer: UnsafeMutablePointer<CChar>?
    let length = ivpack_BIO_get_mem_data(bio, &pointer)
    guard length > 0, let pointer else { return [] }
    return Array(UnsafeRawBufferPointer(start: pointer, count: Int(length)))
}

/// Runs `body` with a read-only memory BIO over `bytes`.
func withMemoryBIO<T>(_ bytes: [UInt8], _ body: (OpaquePointer) throws -> T) rethrows -> T {
    try bytes.withUnsafeBytes { raw in
        let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count))!
        defer { BIO_free(bio) }
        return try body(bio)
    }
}

/// Converts an ASN1_TIME to seconds since 1970.
func epochSeconds(_ time: UnsafePointer<ASN1_TIME>?) -> Int64? {
    guard let time else { return nil }
    var tm = tm()
    guard ASN1_TIME_to_tm(time, &tm) == 1 else { return nil }
    return Int64(timegm(&tm))
}

/// Text of an ASN1_OBJECT as a dotted OID.
func oidString(_ object: OpaquePointer?) -> String {
    guard let object else { return "" }
    var buffer = [CChar](repeating: 0, count: 128)
    let n = OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
    guard n > 0 else { return "" }
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// An X.509 certificate. Owns its OpenSSL `X509`; immutable.
public final class Certificate: @unchecked Sendable, CustomStringConvertible {
    let x509: OpaquePointer

    /// Takes ownership of one reference of `x509`.
    init(owning x509: OpaquePointer) { self.x509 = x509 }

    /// Adds a reference to `x509` (for certificates borrowed from another OpenSSL object).
    convenience init(retaining x509: OpaquePointer) {
        X509_up_ref(x509)
        self.init(owning: x509)
    }

    deinit { X509_free(x509) }

    /// Parses one DER certificate.
    public convenience init(der: [UInt8], source: String) throws {
        let x = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var p: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &p, buffer.count)
        }
        guard let x else {
            throw InputError.credential(
                file: source,
                problem: "not a DER X.509 certificate (\(OpenSSLError.drain("parse").reasons.joined(separator: "; ")))",
                hint: "")
        }
        self.init(owning: x)
    }

    /// Every certificate in PEM `bytes`, in order. Throws when there is none or one is malformed.
    public static func loadPEM(_ bytes: [UInt8], source: String) throws -> [Certificate] {
        var out: [Certificate] = []
        ERR_clear_error()
        withMemoryBIO(bytes) { bio in
            while let x = PEM_read_bio_X509(bio, nil, nil, nil) { out.append(Certificate(owning: x)) }
        }
        // PEM_read at the end of input leaves a "no start line" error: expected once certificates were read.
        let error = OpenSSLError.drain("read PEM certificates")
        if out.isEmpty {
            throw InputError.credential(
                file: source, problem: "holds no PEM certificate (\(error.reasons.joined(separator: "; ")))",
                hint: "Give a file with one or more -----BEGIN CERTIFICATE----- blocks")
        }
        return out
    }

    /// Every certificate in a PEM file.
    public static func load(file: String) throws -> [Certificate] {
        try loadPEM(try InputFile.readAll(path: file, limit: 4 << 20), source: file)
    }

    /// DER encoding.
    public var der: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_X509(x509, &out)
        guard n > 0, let out else { return [] }
        defer { ivpack_openssl_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(n)))
    }

    /// PEM encoding.
    public var pem: String {
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        PEM_write_bio_X509(bio, x509)
        return String(decoding: bioBytes(bio), as: UTF8.self)
    }

    /// SHA-256 of the DER encoding.
    public var fingerprint: SHA256Digest { SHA256Digest.of(der) }

    /// SHA-256 of the DER SubjectPublicKeyInfo: the same for every certificate of one key.
    public var publicKeyFingerprint: SHA256Digest {
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x509), &out)
        guard n > 0, let out else {
            ERR_clear_error()
            return fingerprint
        }
        defer { ivpack_openssl_free(out) }
        return SHA256Digest.of(UnsafeBufferPointer(start: out, count: Int(n)))
    }

    static func name(_ n: OpaquePointer?) -> String {
        guard let n else { return "" }
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        X509_NAME_print_ex(bio, n, 0, ivpack_xn_flag_rfc2253)
        return String(decoding: bioBytes(bio), as: UTF8.self)
    }

    /// Subject in RFC 2253 form (`CN=...,O=...`).
    public var subject: String { Self.name(X509_get_subject_name(x509)) }
    /// Issuer in RFC 2253 form.
    public var issuer: String { Self.name(X509_get_issuer_name(x509)) }

    /// The values of one subject attribute (e.g. "OU", "CN", "O").
    public func subjectValues(_ shortName: String) -> [String] {
        let nid = OBJ_txt2nid(shortName)
        guard nid != NID_undef, let name = X509_get_subject_name(x509) else { return [] }
        var values: [String] = []
        var index: Int32 = -1
        while true {
            index = X509_NAME_get_index_by_NID(name, nid, index)
            if index < 0 { break }
            guard let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry) else {
                continue
            }
            var utf8: UnsafeMutablePointer<UInt8>?
            let n = ASN1_STRING_to_UTF8(&utf8, data)
            if n >= 0, let utf8 {
                values.append(String(decoding: UnsafeBufferPointer(start: utf8, count: Int(n)), as: UTF8.self))
                ivpack_openssl_free(utf8)
            }
        }
        return values
    }

    /// Serial number in upper-case hex.
    public var serialHex: String {
        guard let serial = X509_get_serialNumber(x509), let bn = ASN1_INTEGER_to_BN(serial, nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { ivpack_openssl_free(hex) }
        return String(cString: hex)
    }

    /// Start and end of validity, in seconds since 1970.
    public var notBefore: Int64 { epochSeconds(X509_get0_notBefore(x509)) ?? 0 }
    public var notAfter: Int64 { epochSeconds(X509_get0_notAfter(x509)) ?? 0 }

    /// Extended key usage OIDs (dotted); empty when the extension is absent.
    public var extendedKeyUsages: [String] {
        guard let raw = X509_get_ext_d2i(x509, NID_ext_key_usage, nil, nil) else { return [] }
        let eku = OpaquePointer(raw)
        defer { ivpack_EXTENDED_KEY_USAGE_free(eku) }
        return (0..<ivpack_sk_ASN1_OBJECT_num(eku)).map { oidString(ivpack_sk_ASN1_OBJECT_value(eku, $0)) }
    }

    /// Certificate policy OIDs (dotted); empty when the extension is absent.
    public var certificatePolicies: [String] {
        guard let raw = X509_get_ext_d2i(x509, NID_certificate_policies, nil, nil) else { return [] }
        let policies = OpaquePointer(raw)
        defer { ivpack_CERTIFICATEPOLICIES_free(policies) }
        return (0..<ivpack_sk_POLICYINFO_num(policies)).compactMap { i in
            guard let info = ivpack_sk_POLICYINFO_value(policies, i) else { return nil }
            return oidString(info.pointee.policyid)
        }
    }

    /// Whether basic constraints mark the certificate as a CA.
    public var isCA: Bool { X509_check_ca(x509) != 0 }

    /// Whether the certificate is self-issued and its signature verifies with its own key.
    public var isSelfSigned: Bool { X509_check_issued(x509, x509) == X509_V_OK && X509_self_signed(x509, 1) == 1 }

    public var description: String { subject }

    /// Whether the certificate names `host`: an IP address against its IP subject alternative
    /// names, a DNS name against its DNS names (RFC 6125, through OpenSSL).
    public func matchesHost(_ host: String) -> Bool {
        if X509_check_ip_asc(x509, host, 0) == 1 { return true }
        return X509_check_host(x509, host, host.utf8.count, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS), nil) == 1
    }

    /// The URIs of the certificate's CRL distribution points (full names), in order; empty when
    /// it has none.
    public var crlDistributionPoints: [String] {
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        ivpack_crl_distribution_uris(x509, bio)
        return String(decoding: bioBytes(bio), as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Whether the two certificates are the same DER.
    public func sameCertificate(as other: Certificate) -> Bool { X509_cmp(x509, other.x509) == 0 }
}

/// A certificate revocation list.
public final class RevocationList: @unchecked Sendable {
    let crl: OpaquePointer

    init(owning crl: OpaquePointer) { self.crl = crl }
    deinit { X509_CRL_free(crl) }

    /// Every CRL in a PEM or DER file.
    public static func load(file: String) throws -> [RevocationList] {
        let bytes = try InputFile.readAll(path: file, limit: 64 << 20)
        let out = parse(bytes)
        guard !out.isEmpty else {
            throw InputError.credential(
                file: file, problem: "holds no CRL in PEM or DER form",
                hint: "Give the CA's CRL file (-----BEGIN X509 CRL-----)")
        }
        return out
    }

    /// Every CRL in PEM or DER `bytes`; empty when there is none.
    public static func parse(_ bytes: [UInt8]) -> [RevocationList] {
        var out: [RevocationList] = []
        ERR_clear_error()
        withMemoryBIO(bytes) { bio in
            while let c = PEM_read_bio_X509_CRL(bio, nil, nil, nil) { out.append(RevocationList(owning: c)) }
        }
        if out.isEmpty {
            ERR_clear_error()
            let c = bytes.withUnsafeBufferPointer { buffer -> OpaquePointer? in
                var p: UnsafePointer<UInt8>? = buffer.baseAddress
                return d2i_X509_CRL(nil, &p, buffer.count)
            }
            if let c { out.append(RevocationList(owning: c)) }
        }
        _ = OpenSSLError.drain("read CRL")
        return out
    }

    /// Issuer in RFC 2253 form.
    public var issuer: String {
        guard let n = X509_CRL_get_issuer(crl) else { return "" }
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        X509_NAME_print_ex(bio, n, 0, ivpack_xn_flag_rfc2253)
        return String(decoding: bioBytes(bio), as: UTF8.self)
    }

    /// Times of this and the next update, seconds since 1970.
    public var lastUpdate: Int64 { epochSeconds(X509_CRL_get0_lastUpdate(crl)) ?? 0 }
    public var nextUpdate: Int64? { epochSeconds(X509_CRL_get0_nextUpdate(crl)) }

    /// DER encoding.
    public var der: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_X509_CRL(crl, &out)
        guard n > 0, let out else { return [] }
        defer { ivpack_openssl_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(n)))
    }

    /// Whether the CRL's issuer name is `certificate`'s issuer name: the CRL that speaks for it.
    public func covers(_ certificate: Certificate) -> Bool {
        guard let mine = X509_CRL_get_issuer(crl), let theirs = X509_get_issuer_name(certificate.x509) else {
            return false
        }
        return X509_NAME_cmp(mine, theirs) == 0
    }

    /// Whether the CRL's issuer name is `certificate`'s subject name.
    public func isIssued(by certificate: Certificate) -> Bool {
        guard let mine = X509_CRL_get_issuer(crl), let theirs = X509_get_subject_name(certificate.x509) else {
            return false
        }
        return X509_NAME_cmp(mine, theirs) == 0
    }

    /// PEM encoding.
    public var pem: String {
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        PEM_write_bio_X509_CRL(bio, crl)
        return String(decoding: bioBytes(bio), as: UTF8.self)
    }
}
