internal import CLibCrypto
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of validating one certificate path: a value, never a throw.
public struct ChainValidation: Sendable {
    /// Whether a path to a trusted root was built and every check passed.
    public var trusted: Bool
    /// The path OpenSSL built, leaf first (complete when trusted; as far as it got otherwise).
    public var chain: [Certificate]
    /// OpenSSL's reason for refusing, with the subject of the certificate concerned.
    public var problem: String?
    /// The time the path was validated at, seconds since 1970.
    public var time: Int64
}

/// X.509 path validation (RFC 5280) through OpenSSL: one validator for every trust decision in
/// ivpack, signatures and TLS peers alike.
public enum ChainValidator {
    /// Validates `leaf` at `time` against `roots`, using `untrusted` certificates to build the path
    /// and `crls` for revocation as `revocation` says.
    public static func validate(_ leaf: Certificate, untrusted: [Certificate], roots: [Certificate], crls: [RevocationList],
                                revocation: RevocationMode, at time: Int64, isPastTime: Bool = false) -> ChainValidation {
        let store = X509_STORE_new()!
        defer { X509_STORE_free(store) }
        for root in roots { X509_STORE_add_cert(store, root.x509) }
        let chainStack = ivpack_sk_X509_new()!
        defer { ivpack_sk_X509_free(chainStack) }
        for c in untrusted { ivpack_sk_X509_push(chainStack, c.x509) }
        let crlStack = ivpack_sk_X509_CRL_new()!
        defer { ivpack_sk_X509_CRL_free(crlStack) }
        for c in crls { ivpack_sk_X509_CRL_push(crlStack, c.crl) }

        let ctx = X509_STORE_CTX_new()!
        defer { X509_STORE_CTX_free(ctx) }
        ERR_clear_error()
        guard X509_STORE_CTX_init(ctx, store, leaf.x509, chainStack) == 1 else {
            return ChainValidation(trusted: false, chain: [], problem: OpenSSLError.drain("start path validation").description, time: time)
        }
        X509_STORE_CTX_set0_crls(ctx, crlStack)
        let param = X509_STORE_CTX_get0_param(ctx)!
        X509_VERIFY_PARAM_set_time(param, time_t(time))
        var flags = UInt(X509_V_FLAG_X509_STRICT)
        if revocation != .disabled { flags |= UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL) }
        X509_VERIFY_PARAM_set_flags(param, flags)
        // In if-available mode a chain element without a CRL is accepted. At a past time (a
        // time-stamped signature) a CRL issued after that time is still the current word on
        // revocation, so "CRL not yet valid" is accepted. Every other error stands.
        switch (revocation == .ifAvailable, isPastTime) {
        case (true, true):
            X509_STORE_CTX_set_verify_cb(ctx) { ok, ctx in
                guard ok == 0, let ctx else { return ok }
                let e = X509_STORE_CTX_get_error(ctx)
                return e == X509_V_ERR_UNABLE_TO_GET_CRL || e == X509_V_ERR_CRL_NOT_YET_VALID ? 1 : ok
            }
        case (true, false):
            X509_STORE_CTX_set_verify_cb(ctx) { ok, ctx in
                guard ok == 0, let ctx else { return ok }
                return X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL ? 1 : ok
            }
        case (false, true):
            X509_STORE_CTX_set_verify_cb(ctx) { ok, ctx in
                guard ok == 0, let ctx else { return ok }
                return X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CRL_NOT_YET_VALID ? 1 : ok
            }
        case (false, false):
            break
        }
        let ok = X509_verify_cert(ctx)
        var chain: [Certificate] = []
        if let built = X509_STORE_CTX_get0_chain(ctx) {
            chain = (0..<ivpack_sk_X509_num(built)).compactMap { ivpack_sk_X509_value(built, $0).map { Certificate(retaining: $0) } }
        }
        if ok == 1 {
            ERR_clear_error()
            return ChainValidation(trusted: true, chain: chain, problem: nil, time: time)
        }
        let code = X509_STORE_CTX_get_error(ctx)
        let depth = X509_STORE_CTX_get_error_depth(ctx)
        var subject = ""
        if let current = X509_STORE_CTX_get_current_cert(ctx) { subject = Certificate(retaining: current).subject }
        let reason = String(cString: X509_verify_cert_error_string(Int(code)))
        ERR_clear_error()
        return ChainValidation(trusted: false, chain: chain,
                               problem: "\(reason) (certificate \(subject.isEmpty ? "at depth \(depth)" : "\"\(subject)\""))", time: time)
    }
}
