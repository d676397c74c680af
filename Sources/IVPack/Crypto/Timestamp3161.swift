internal import CLibCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// A failure talking to a time-stamping authority: the environment (exit 3), since the
/// signature itself was fine.
public struct TimestampAuthorityError: IVPackError, Equatable {
    public var url: String
    public var problem: String
    public var exitStatus: ExitStatus { .environment }
    public var description: String {
        "time-stamping authority \(url): \(problem). Check the URL and that the authority is reachable, or sign without --tsa"
    }
}

/// RFC 3161 time-stamp tokens: requesting one over HTTP for a CMS signature, embedding it as
/// the signer's unsigned `id-aa-timeStampToken` attribute, and verifying it.
public enum RFC3161 {
    /// Largest response accepted from an authority.
    static let maxResponseBytes = 1 << 20
    /// Seconds to wait for an authority, by default.
    public static let defaultTimeoutSeconds = 20

    /// A DER TimeStampReq for the SHA-256 of `data`, with a random nonce and a request for the
    /// authority's certificate.
    static func request(for data: [UInt8]) throws -> (der: [UInt8], request: OpaquePointer) {
        let digest = SHA256Digest.of(data).bytes
        guard let req = TS_REQ_new(), let imprint = TS_MSG_IMPRINT_new(), let algorithm = X509_ALGOR_new() else {
            throw OpenSSLError.drain("allocate a time-stamp request")
        }
        defer { TS_MSG_IMPRINT_free(imprint) }
        TS_REQ_set_version(req, 1)
        X509_ALGOR_set0(algorithm, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, nil)
        TS_MSG_IMPRINT_set_algo(imprint, algorithm)
        X509_ALGOR_free(algorithm)
        var d = digest
        TS_MSG_IMPRINT_set_msg(imprint, &d, Int32(d.count))
        TS_REQ_set_msg_imprint(req, imprint)
        let bn = BN_new()!
        defer { BN_free(bn) }
        BN_rand(bn, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY)
        let nonce = BN_to_ASN1_INTEGER(bn, nil)
        defer { ASN1_INTEGER_free(nonce) }
        TS_REQ_set_nonce(req, nonce)
        TS_REQ_set_cert_req(req, 1)
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_TS_REQ(req, &out)
        guard n > 0, let out else {
            TS_REQ_free(req)
            throw OpenSSLError.drain("encode the time-stamp request")
        }
        defer { ivpack_openssl_free(out) }
        return (Array(UnsafeBufferPointer(start: out, count: Int(n))), req)
    }

    /// POSTs `body` to `url` (http:// or https://) and returns the response body.
    static func post(url: String, body: [UInt8], timeout: Int) throws -> [UInt8] {
        var ssl: Int32 = 0
        var host: UnsafeMutablePointer<CChar>?
        var port: UnsafeMutablePointer<CChar>?
        var path: UnsafeMutablePointer<CChar>?
        guard OSSL_HTTP_parse_url(url, &ssl, nil, &host, &port, nil, &path, nil, nil) == 1 else {
            _ = OpenSSLError.drain("parse")
            throw TimestampAuthorityError(url: url, problem: "not an http:// or https:// URL")
        }
        defer {
            ivpack_openssl_free(host)
            ivpack_openssl_free(port)
            ivpack_openssl_free(path)
        }
        return try withMemoryBIO(body) { requestBIO -> [UInt8] in
            ERR_clear_error()
            guard
                let response = OSSL_HTTP_transfer(
                    nil, host, port, path, ssl, nil, nil, nil, nil, nil, nil, 0, nil,
                    "application/timestamp-query", requestBIO, "application/timestamp-reply",
                    0, maxResponseBytes, Int32(clamping: timeout), 0)
            else {
                let e = OpenSSLError.drain("post")
                throw TimestampAuthorityError(
                    url: url, problem: "no valid reply (\(e.reasons.joined(separator: "; ")))")
            }
            defer { BIO_free(response) }
            var out: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = BIO_read(response, &buffer, Int32(buffer.count))
                if n <= 0 { break }
                out.append(contentsOf: buffer[0..<Int(n)])
                if out.count > maxResponseBytes {
                    throw TimestampAuthorityError(
                        url: url, problem: "the reply is larger than \(maxResponseBytes) bytes")
                }
            }
            return out
        }
    }

    /// Obtains a token from the authority at `url` for `signature`'s signature value and returns
    /// the signature with the token embedded.
    public static func timestamp(_ signature: SignedData, authority url: String, timeout: Int = defaultTimeoutSeconds)
        throws -> SignedData
    {
        let value = signature.signatureValue
        let (requestDER, request) = try self.request(for: value)
        defer { TS_REQ_free(request) }
        let responseDER = try post(url: url, body: requestDER, timeout: timeout)
        let response: OpaquePointer? = responseDER.withUnsafeBufferPointer { buffer in
            var p: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_TS_RESP(nil, &p, buffer.count)
        }
        guard let response else {
            _ = OpenSSLError.drain("parse")
            throw TimestampAuthorityError(url: url, problem: "the reply is not an RFC 3161 TimeStampResp")
        }
        defer { TS_RESP_free(response) }
        guard let status = TS_RESP_get_status_info(response), let code = TS_STATUS_INFO_get0_status(status),
            ASN1_INTEGER_get(code) == TS_STATUS_GRANTED || ASN1_INTEGER_get(code) == TS_STATUS_GRANTED_WITH_MODS
        else {
            throw TimestampAuthorityError(url: url, problem: "the authority refused the request")
        }
        // The reply must answer this request: version, imprint of our signature value, our nonce.
        guard let verify = TS_REQ_to_TS_VERIFY_CTX(request, nil) else {
            throw OpenSSLError.drain("check the time-stamp reply")
        }
        defer { TS_VERIFY_CTX_free(verify) }
        TS_VERIFY_CTX_set_flags(verify, Int32(ivpack_ts_vfy_response))
        guard TS_RESP_verify_response(verify, response) == 1 else {
            let e = OpenSSLError.drain("check")
            throw TimestampAuthorityError(
                url: url, problem: "the reply does not answer the request (\(e.reasons.joined(separator: "; ")))")
        }
        guard let token = TS_RESP_get_token(response) else {
            throw TimestampAuthorityError(url: url, problem: "the reply carries no token")
        }
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_PKCS7(token, &out)
        guard n > 0, let out else { throw OpenSSLError.drain("encode the time-stamp token") }
        defer { ivpack_openssl_free(out) }
        return try signature.addingTimestampToken(Array(UnsafeBufferPointer(start: out, count: Int(n))))
    }

    /// How far, by default, a token's time may be ahead of the verifier's clock before the token
    /// is refused: clocks disagree a little, a token from tomorrow is no evidence of anything.
    public static let defaultMaxClockSkewSeconds: Int64 = 300

    /// A token checked against a signature: when it was made and by whom, or why it is not usable.
    public enum TokenCheck: Sendable, Equatable {
        /// The token verifies: `time` is the authority's time (genTime), `authority` its
        /// certificate subject when the token carries it.
        case valid(time: Int64, authority: String?)
        /// The token is not usable, and why.
        case invalid(String)
    }

    /// Verifies `token` (DER ContentInfo) for the signature value `signatureValue`: the token's
    /// imprint, its signature, the authority's certificate path to one of `roots` (with the
    /// time-stamping usage) at `now` and at `securityLevel`, and that the token's time is not
    /// after `now` by more than `maxClockSkew` seconds.
    public static func check(
        token: [UInt8], signatureValue: [UInt8], roots: [Certificate], untrusted: [Certificate], now: Int64,
        maxClockSkew: Int64 = defaultMaxClockSkewSeconds, securityLevel: SecurityLevel = .minimum
    ) -> TokenCheck {
        ERR_clear_error()
        let pkcs7: UnsafeMutablePointer<PKCS7>? = token.withUnsafeBufferPointer { buffer in
            var p: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PKCS7(nil, &p, buffer.count)
        }
        guard let pkcs7 else {
            _ = OpenSSLError.drain("parse")
            return .invalid("the time-stamp token is not a DER PKCS#7 structure")
        }
        defer { PKCS7_free(pkcs7) }
        guard let info = PKCS7_to_TS_TST_INFO(pkcs7) else {
            _ = OpenSSLError.drain("parse")
            return .invalid("the time-stamp token holds no TSTInfo")
        }
        defer { TS_TST_INFO_free(info) }
        let genTime = epochSeconds(TS_TST_INFO_get_time(info))
        // The authority is the token signer; its certificate and those the token carries are judged
        // for strength here, for a message that names them (OpenSSL's auth level below would say
        // only "CA signature digest algorithm too weak").
        var authority: String?
        if let signers = PKCS7_get0_signers(pkcs7, nil, 0) {
            defer { ivpack_sk_X509_free(signers) }
            if ivpack_sk_X509_num(signers) > 0, let x = ivpack_sk_X509_value(signers, 0) {
                let signer = Certificate(retaining: x)
                authority = signer.subject
                if let weakness = signer.weakness(at: securityLevel) {
                    return .invalid("the time-stamping authority's \(weakness)")
                }
            }
        }
        ERR_clear_error()
        if let signed = pkcs7.pointee.d.sign, let carried = signed.pointee.cert {
            for i in 0..<ivpack_sk_X509_num(carried) {
                guard let x = ivpack_sk_X509_value(carried, i) else { continue }
                if let weakness = Certificate(retaining: x).weakness(at: securityLevel) {
                    return .invalid("among the certificates the time-stamp token carries, \(weakness)")
                }
            }
        }
        guard let ctx = TS_VERIFY_CTX_new(), let store = X509_STORE_new() else {
            return .invalid("OpenSSL could not allocate a verification context")
        }
        defer { TS_VERIFY_CTX_free(ctx) }
        for root in roots { X509_STORE_add_cert(store, root.x509) }
        if let param = X509_STORE_get0_param(store) {
            X509_VERIFY_PARAM_set_time(param, time_t(now))
            X509_VERIFY_PARAM_set_auth_level(param, Int32(securityLevel.rawValue))
        }
        _ = TS_VERIFY_CTX_set_store(ctx, store)
        let stack = ivpack_sk_X509_new()!
        for c in untrusted {
            X509_up_ref(c.x509)
            ivpack_sk_X509_push(stack, c.x509)
        }
        _ = TS_VERIFY_CTX_set_certs(ctx, stack)
        let digest = SHA256Digest.of(signatureValue).bytes
        let imprint = CRYPTO_malloc(digest.count, nil, 0)!.assumingMemoryBound(to: UInt8.self)
        for (i, b) in digest.enumerated() { imprint[i] = b }
        _ = TS_VERIFY_CTX_set_imprint(ctx, imprint, digest.count)
        TS_VERIFY_CTX_set_flags(ctx, Int32(ivpack_ts_vfy_token))
        guard TS_RESP_verify_token(ctx, pkcs7) == 1 else {
            let e = OpenSSLError.drain("verify")
            return .invalid("the time-stamp token does not verify (\(e.reasons.joined(separator: "; ")))")
        }
        ERR_clear_error()
        guard let genTime else { return .invalid("the token's time cannot be read") }
        // A token from the future would become the validation time and make a certificate that is
        // valid only from then pass today.
        if genTime > now + maxClockSkew {
            return .invalid(
                "the token's time \(Timestamp.iso8601(genTime)) is after this machine's clock (\(Timestamp.iso8601(now))) "
                    + "by \(genTime - now) s, more than the \(maxClockSkew) s allowed; check the clocks of the "
                    + "time-stamping authority and of this machine")
        }
        return .valid(time: genTime, authority: authority)
    }
}

extension SignedData {
    /// The signature with `token` added as the signer's unsigned id-aa-timeStampToken attribute.
    func addingTimestampToken(_ token: [UInt8]) throws -> SignedData {
        let copy = try SignedData.parse(der: der, source: "signature")
        guard let infos = CMS_get0_SignerInfos(copy.cms), let si = ivpack_sk_CMS_SignerInfo_value(infos, 0) else {
            throw OpenSSLError.drain("find the signer")
        }
        let added = token.withUnsafeBufferPointer { buffer in
            CMS_unsigned_add1_attr_by_NID(
                si, NID_id_smime_aa_timeStampToken, V_ASN1_SEQUENCE, buffer.baseAddress, Int32(buffer.count))
        }
        guard added == 1 else { throw OpenSSLError.drain("embed the time-stamp token") }
        return try SignedData.parse(der: try SignedData.encode(copy.cms), source: "signature")
    }

    /// The embedded RFC 3161 token (DER), if any.
    public var timestampToken: [UInt8]? {
        guard let infos = CMS_get0_SignerInfos(cms), let si = ivpack_sk_CMS_SignerInfo_value(infos, 0),
            let object = OBJ_nid2obj(NID_id_smime_aa_timeStampToken),
            let raw = CMS_unsigned_get0_data_by_OBJ(si, object, -3, V_ASN1_SEQUENCE)
        else {
            ERR_clear_error()
            return nil
        }
        let string = UnsafePointer(raw.assumingMemoryBound(to: ASN1_STRING.self))
        let length = ASN1_STRING_length(string)
        guard length > 0, let data = ASN1_STRING_get0_data(string) else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(length)))
    }
}
