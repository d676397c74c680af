internal import CLibCrypto

/// CMS SignedData with the signed content inside it (encapsulated, RFC 5652 §5.2), as the sign-offs of
/// an IQ report use it: the small statement that is signed travels in the signature file itself, so
/// `openssl cms -verify -inform DER -in FILE` prints exactly what the signer signed.
extension SignedData {
    /// Largest content `signAttached` signs and `encapsulatedContent` returns.
    public static let maxAttachedContentBytes = 256 << 10

    /// Signs `content` with it encapsulated: one signer, SHA-256, the signer certificate and `chain`,
    /// and a signing-time attribute, as `sign` does for detached content.
    public static func signAttached(content: [UInt8], certificate: Certificate, key: PrivateKey, chain: [Certificate])
        throws -> SignedData
    {
        guard content.count <= maxAttachedContentBytes else {
            throw InputError.credential(
                file: "content", problem: "the content is \(content.count) bytes, above \(maxAttachedContentBytes)",
                hint: "")
        }
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
            CMS_sign(certificate.x509, key.pkey, stack, bio, UInt32(CMS_BINARY | CMS_NOSMIMECAP))
        }
        guard let cms else { throw OpenSSLError.drain("create the CMS signature") }
        let der = try encode(cms)
        return try SignedData.parse(der: der, source: "signature")
    }

    /// The encapsulated content, or nil when the signature is detached (or the content is larger
    /// than `maxAttachedContentBytes`).
    public var encapsulatedContent: [UInt8]? {
        guard let slot = CMS_get0_content(cms), let octets = slot.pointee else { return nil }
        let length = ASN1_STRING_length(octets)
        guard length > 0, Int(length) <= Self.maxAttachedContentBytes, let data = ASN1_STRING_get0_data(octets) else {
            return nil
        }
        return Array(UnsafeBufferPointer(start: data, count: Int(length)))
    }

    /// Checks the signature's mathematics over its own encapsulated content (message digest
    /// attribute and signature value, with the carried signer certificate). Says nothing about
    /// trust in that certificate.
    public func verifyEncapsulated() -> Verification {
        guard encapsulatedContent != nil else { return .invalid(reason: "the signature carries no content") }
        ERR_clear_error()
        let ok = CMS_verify(cms, nil, nil, nil, nil, UInt32(CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY))
        if ok == 1 { return .valid }
        let reasons = OpenSSLError.drain("verify").reasons
        return .invalid(reason: reasons.isEmpty ? "the signature does not verify" : reasons.joined(separator: "; "))
    }
}

extension RFC3161 {
    /// The authority's time (genTime) written in `token` (DER), not verified: for messages right after
    /// signing. Use `check` for a time that is trusted.
    public static func genTime(ofToken token: [UInt8]) -> Int64? {
        let pkcs7: UnsafeMutablePointer<PKCS7>? = token.withUnsafeBufferPointer { buffer in
            var p: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PKCS7(nil, &p, buffer.count)
        }
        guard let pkcs7 else {
            ERR_clear_error()
            return nil
        }
        defer { PKCS7_free(pkcs7) }
        guard let info = PKCS7_to_TS_TST_INFO(pkcs7) else {
            ERR_clear_error()
            return nil
        }
        defer { TS_TST_INFO_free(info) }
        return epochSeconds(TS_TST_INFO_get_time(info))
    }
}
