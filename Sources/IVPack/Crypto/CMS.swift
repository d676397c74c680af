internal import CLibCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// CMS SignedData (RFC 5652) as ivpack uses it: detached, DER, one signer, SHA-256, with the
/// signer's certificate and chain, a signing-time attribute and optionally an RFC 3161 timestamp
/// token as an unsigned attribute.
public final class SignedData: @unchecked Sendable {
    let cms: OpaquePointer
    /// The DER bytes as given or produced.
    public let der: [UInt8]

    private init(cms: OpaquePointer, der: [UInt8]) {
        self.cms = cms
        self.der = der
    }

    deinit { CMS_ContentInfo_free(cms) }

    /// Largest signature accepted.
    public static let maxBytes = 1 << 20

    /// Signs `content` (detached): the signature holds the signer certificate and `chain`.
    public static func sign(content: [UInt8], certificate: Certificate, key: PrivateKey, chain: [Certificate]) throws
        -> SignedData
    {
        guard key.matches(certificate) else {
            throw InputError.credential(
                file: key.source, problem: "the private key does not belong to the certificate \(certificate.subject)",
                hint: "Give the key that was certified, or the certificate issued for this key")
        }
        let stack = ivpack_sk_X509_new()!
        defer { ivpack_sk_X509_free(stack) }
        for c in chain where !c.sameCertificate(as: certificate) { ivpack_sk_X509_push(stack, c.x509) }
        ERR_clear_error()
        let cms: OpaquePointer? = withMemoryBIO(content) { bio in
            CMS_sign(certificate.x509, key.pkey, stack, bio, UInt32(CMS_BINARY | CMS_DETACHED | CMS_NOSMIMECAP))
        }
        guard let cms else { throw OpenSSLError.drain("create the CMS signature") }
        let der = try encode(cms)
        return SignedData(cms: cms, der: der)
    }

    static func encode(_ cms: OpaquePointer) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_CMS_ContentInfo(cms, &out)
        guard n > 0, let out else { throw OpenSSLError.drain("encode the CMS signature") }
        defer { ivpack_openssl_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(n)))
    }

    /// Parses DER SignedData; refuses anything else, and more or fewer than one signer.
    public static func parse(der: [UInt8], source: String) throws -> SignedData {
        guard der.count <= maxBytes else {
            throw InputError.credential(
                file: source, problem: "the signature is \(der.count) bytes, more than the limit of \(maxBytes)",
                hint: "")
        }
        ERR_clear_error()
        let cms = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var p: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_CMS_ContentInfo(nil, &p, buffer.count)
        }
        guard let cms else {
            let e = OpenSSLError.drain("parse")
            throw InputError.credential(
                file: source, problem: "not a DER CMS structure (\(e.reasons.joined(separator: "; ")))", hint: "")
        }
        let signed = SignedData(cms: cms, der: der)
        guard OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed else {
            throw InputError.credential(file: source, problem: "the CMS structure is not SignedData", hint: "")
        }
        guard let infos = CMS_get0_SignerInfos(cms), ivpack_sk_CMS_SignerInfo_num(infos) == 1 else {
            throw InputError.credential(file: source, problem: "the signature must have exactly one signer", hint: "")
        }
        return signed
    }

    /// Every certificate carried in the signature.
    public var certificates: [Certificate] {
        guard let stack = CMS_get1_certs(cms) else { return [] }
        defer { ivpack_sk_X509_pop_free(stack) }
        return (0..<ivpack_sk_X509_num(stack)).compactMap {
            ivpack_sk_X509_value(stack, $0).map { Certificate(retaining: $0) }
        }
    }

    private var signerInfo: OpaquePointer? {
        guard let infos = CMS_get0_SignerInfos(cms) else { return nil }
        return ivpack_sk_CMS_SignerInfo_value(infos, 0)
    }

    /// The carried certificate that the signer info identifies, if any.
    public var signerCertificate: Certificate? {
        guard let si = signerInfo else { return nil }
        return certificates.first { CMS_SignerInfo_cert_cmp(si, $0.x509) == 0 }
    }

    /// The signing-time attribute, seconds since 1970.
    public var signingTime: Int64? {
        guard let si = signerInfo, let object = OBJ_nid2obj(NID_pkcs9_signingTime) else { return nil }
        // CMS writes UTCTime before 2050 and GeneralizedTime after; the accessor wants the exact type.
        for type in [V_ASN1_UTCTIME, V_ASN1_GENERALIZEDTIME] {
            if let raw = CMS_signed_get0_data_by_OBJ(si, object, -3, Int32(type)) {
                return epochSeconds(UnsafePointer(OpaquePointer(raw)))
            }
        }
        ERR_clear_error()
        return nil
    }

    /// The outcome of checking a signature's mathematics: a value, never a throw.
    public enum Verification: Sendable, Equatable {
        case valid
        /// OpenSSL's reason.
        case invalid(reason: String)
    }

    /// Checks the signature's mathematics over `content`: message digest attribute and signature
    /// value, with the carried signer certificate. Says nothing about trust in that certificate.
    public func verifySignature(content: [UInt8]) -> Verification {
        ERR_clear_error()
        let ok = withMemoryBIO(content) { bio -> Int32 in
            // OpenSSL 3.0's CMS_verify copies a memory BIO into a private one, and leaks the copy
            // when the SignedData names no digest it can use (openssl/openssl#30471; found by
            // fuzzing, docs/fuzzing.md). A buffering filter in front is not a memory BIO: no copy.
            guard let filter = BIO_new(BIO_f_buffer()) else { return 0 }
            let chain = BIO_push(filter, bio)
            defer {
                BIO_pop(filter)
                BIO_free(filter)
            }
            return CMS_verify(cms, nil, nil, chain, nil, UInt32(CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY))
        }
        if ok == 1 { return .valid }
        let reasons = OpenSSLError.drain("verify").reasons
        return .invalid(reason: reasons.isEmpty ? "the signature does not verify" : reasons.joined(separator: "; "))
    }

    /// The DER of the signature value (what an RFC 3161 timestamp covers).
    public var signatureValue: [UInt8] {
        guard let si = signerInfo, let value = CMS_SignerInfo_get0_signature(si) else { return [] }
        let length = ASN1_STRING_length(value)
        guard length > 0, let data = ASN1_STRING_get0_data(value) else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: Int(length)))
    }
}
