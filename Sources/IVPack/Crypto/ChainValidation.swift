internal import CLibCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// The outcome of validating one certificate path: a value, never a throw.
public enum ChainValidation: Sendable {
    /// A path to a trusted root was built and every check passed. `path` is leaf first, ending in
    /// the root; `time` is the moment it was validated at, seconds since 1970.
    case valid(path: [Certificate], time: Int64)
    /// The path was refused: `reason` says why, naming the certificate concerned; `path` is as far
    /// as OpenSSL got.
    case invalid(reason: String, path: [Certificate], time: Int64)

    /// Whether the path was found valid.
    public var trusted: Bool {
        if case .valid = self { return true }
        return false
    }

    /// The reason for refusing; nil when valid.
    public var problem: String? {
        if case .invalid(let reason, _, _) = self { return reason }
        return nil
    }

    /// The path OpenSSL built, leaf first (complete when valid; as far as it got otherwise).
    public var chain: [Certificate] {
        switch self {
        case .valid(let path, _), .invalid(_, let path, _): return path
        }
    }

    /// The time the path was validated at, seconds since 1970.
    public var time: Int64 {
        switch self {
        case .valid(_, let time), .invalid(_, _, let time): return time
        }
    }
}

/// X.509 path validation (RFC 5280) through OpenSSL: one validator for every trust decision in
/// ivpack, signatures and TLS peers alike.
public enum ChainValidator {
    /// The anyPolicy OID (RFC 5280 4.2.1.4): a CA carrying it passes every policy down.
    public static let anyPolicy = "2.5.29.32.0"

    /// Validates `leaf` at `time` against `roots`, using `untrusted` certificates to build the path
    /// and `crls` for revocation as `revocation` says.
    ///
    /// Beyond RFC 5280 and OpenSSL's strict checks, every path must meet `securityLevel`
    /// (OpenSSL's `auth_level`: key sizes and signature digests of every certificate but the root's
    /// self-signature), and the leaf must be an end entity: every certificate ivpack validates
    /// signs or authenticates something, none issues certificates. With `requiredPolicy` the path
    /// is validated with that certificate policy as the explicit initial policy set (RFC 5280 6.1,
    /// `X509_V_FLAG_EXPLICIT_POLICY`), so every CA below the root must carry it or anyPolicy.
    public static func validate(
        _ leaf: Certificate, untrusted: [Certificate], roots: [Certificate],
        crls: [RevocationList], revocation: RevocationMode, at time: Int64,
        isPastTime: Bool = false, securityLevel: SecurityLevel = .minimum,
        requiredPolicy: String? = nil
    ) -> ChainValidation {
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
            return .invalid(reason: OpenSSLError.drain("start path validation").description, path: [], time: time)
        }
        X509_STORE_CTX_set0_crls(ctx, crlStack)
        let param = X509_STORE_CTX_get0_param(ctx)!
        X509_VERIFY_PARAM_set_time(param, time_t(time))
        X509_VERIFY_PARAM_set_auth_level(param, Int32(securityLevel.rawValue))
        var flags = UInt(X509_V_FLAG_X509_STRICT)
        if revocation != .disabled { flags |= UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL) }
        if let requiredPolicy {
            guard let object = OBJ_txt2obj(requiredPolicy, 1) else {
                ERR_clear_error()
                return .invalid(reason: "\"\(requiredPolicy)\" is not a certificate policy OID", path: [], time: time)
            }
            X509_VERIFY_PARAM_add0_policy(param, object)
            flags |= UInt(X509_V_FLAG_POLICY_CHECK | X509_V_FLAG_EXPLICIT_POLICY)
        }
        X509_VERIFY_PARAM_set_flags(param, flags)
        // In if-available mode a chain element without a CRL, or with a CRL past its nextUpdate, is
        // accepted (a revoked entry of a stale CRL still refuses; verify warns of the stale CRL,
        // `trust.crl-freshness`). At a past time (a
        // time-stamped signature) a CRL issued after that time is still the current word on
        // revocation, so "CRL not yet valid" is accepted. Every other error stands.
        switch (revocation == .ifAvailable, isPastTime) {
        case (true, true):
            X509_STORE_CTX_set_verify_cb(ctx) { ok, ctx in
                guard ok == 0, let ctx else { return ok }
                let e = X509_STORE_CTX_get_error(ctx)
                return e == X509_V_ERR_UNABLE_TO_GET_CRL || e == X509_V_ERR_CRL_HAS_EXPIRED
                    || e == X509_V_ERR_CRL_NOT_YET_VALID ? 1 : ok
            }
        case (true, false):
            X509_STORE_CTX_set_verify_cb(ctx) { ok, ctx in
                guard ok == 0, let ctx else { return ok }
                let e = X509_STORE_CTX_get_error(ctx)
                return e == X509_V_ERR_UNABLE_TO_GET_CRL || e == X509_V_ERR_CRL_HAS_EXPIRED ? 1 : ok
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
            chain = (0..<ivpack_sk_X509_num(built)).compactMap {
                ivpack_sk_X509_value(built, $0).map { Certificate(retaining: $0) }
            }
        }
        let code = X509_STORE_CTX_get_error(ctx)
        let depth = X509_STORE_CTX_get_error_depth(ctx)
        var subject = ""
        if ok != 1, let current = X509_STORE_CTX_get_current_cert(ctx) {
            subject = Certificate(retaining: current).subject
        }
        ERR_clear_error()
        // ivpack's own reasons first: they name the certificate and what is required, where
        // OpenSSL says "CA signature digest algorithm too weak" of a leaf signed with SHA-1.
        if leaf.hasCABasicConstraint {
            let reason =
                "certificate \"\(leaf.subject)\" is a CA certificate (basicConstraints CA:TRUE); "
                + "only an end-entity certificate (CA:FALSE) may sign or authenticate"
            return .invalid(reason: reason, path: chain, time: time)
        }
        for certificate in chain.isEmpty ? [leaf] : chain {
            if let weakness = certificate.weakness(at: securityLevel) {
                return .invalid(reason: weakness, path: chain, time: time)
            }
        }
        if ok == 1 { return .valid(path: chain, time: time) }
        if let requiredPolicy, code == X509_V_ERR_NO_EXPLICIT_POLICY || code == X509_V_ERR_INVALID_POLICY_EXTENSION {
            return .invalid(reason: policyReason(requiredPolicy, path: chain, openSSL: code), path: chain, time: time)
        }
        let reason = String(cString: X509_verify_cert_error_string(Int(code)))
        return .invalid(
            reason: "\(reason) (certificate \(subject.isEmpty ? "at depth \(depth)" : "\"\(subject)\""))",
            path: chain, time: time)
    }

    /// Why `policy` does not hold along `path`: the CA nearest the root (the root itself excepted,
    /// RFC 5280 6.1 does not process a trust anchor) that carries neither it nor anyPolicy.
    static func policyReason(_ policy: String, path: [Certificate], openSSL code: Int32) -> String {
        for ca in path.dropFirst().dropLast().reversed() {
            let policies = ca.certificatePolicies
            if !policies.contains(policy) && !policies.contains(anyPolicy) {
                let carried =
                    policies.isEmpty
                    ? "no certificate policies" : "only certificate policies " + policies.joined(separator: ", ")
                return "CA certificate \"\(ca.subject)\" carries \(carried), neither \(policy) nor anyPolicy "
                    + "(\(anyPolicy)), so certificates it issues cannot prove certificate policy \(policy) "
                    + "(RFC 5280 6.1 policy processing)"
            }
        }
        let reason = String(cString: X509_verify_cert_error_string(Int(code)))
        return "certificate policy \(policy) does not hold along the path: \(reason)"
    }
}
