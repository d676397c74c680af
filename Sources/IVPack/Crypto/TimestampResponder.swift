internal import CLibCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// An RFC 3161 time-stamping responder on OpenSSL's TS API: turns a DER TimeStampReq into a
/// DER TimeStampResp signed by the authority's key. Used by the development authority and tests.
public final class TimestampResponder: @unchecked Sendable {
    private let certificate: Certificate
    private let key: PrivateKey
    private let chain: [Certificate]
    private let policy: String
    /// When set, the authority's clock: every token carries this time.
    public let fixedTime: Int64?

    /// `certificate` must carry the critical time-stamping extended key usage.
    public init(
        certificate: Certificate, key: PrivateKey, chain: [Certificate], policyOID: String, fixedTime: Int64? = nil
    ) throws {
        guard key.matches(certificate) else {
            throw InputError.credential(
                file: key.source, problem: "the key does not belong to the time-stamping certificate", hint: "")
        }
        self.certificate = certificate
        self.key = key
        self.chain = chain
        self.policy = policyOID
        self.fixedTime = fixedTime
    }

    /// The reply to one request; a malformed request gets a rejection reply, as RFC 3161 says.
    public func respond(to request: [UInt8]) throws -> [UInt8] {
        guard let ctx = TS_RESP_CTX_new() else { throw OpenSSLError.drain("allocate a time-stamp responder") }
        defer { TS_RESP_CTX_free(ctx) }
        guard TS_RESP_CTX_set_signer_cert(ctx, certificate.x509) == 1, TS_RESP_CTX_set_signer_key(ctx, key.pkey) == 1
        else {
            throw OpenSSLError.drain("set the time-stamping identity")
        }
        let stack = ivpack_sk_X509_new()!
        defer { ivpack_sk_X509_free(stack) }
        for c in chain { ivpack_sk_X509_push(stack, c.x509) }
        TS_RESP_CTX_set_certs(ctx, stack)
        guard let policyObject = OBJ_txt2obj(policy, 1) else {
            throw OpenSSLError.drain("parse the policy OID \(policy)")
        }
        defer { ASN1_OBJECT_free(policyObject) }
        TS_RESP_CTX_set_def_policy(ctx, policyObject)
        TS_RESP_CTX_add_md(ctx, EVP_sha256())
        TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256())
        TS_RESP_CTX_set_accuracy(ctx, 1, 0, 0)
        ivpack_ts_set_random_serials(ctx)
        let clock = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        defer { clock.deallocate() }
        if let fixedTime {
            clock.pointee = Int(fixedTime)
            ivpack_ts_set_fixed_time(ctx, clock)
        }
        let response: OpaquePointer? = withMemoryBIO(request) { bio in TS_RESP_create_response(ctx, bio) }
        guard let response else { throw OpenSSLError.drain("create the time-stamp response") }
        defer { TS_RESP_free(response) }
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_TS_RESP(response, &out)
        guard n > 0, let out else { throw OpenSSLError.drain("encode the time-stamp response") }
        defer { ivpack_openssl_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(n)))
    }
}
