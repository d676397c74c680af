internal import CLibCrypto

/// The least cryptographic strength ivpack accepts of a certificate it judges: OpenSSL's security
/// levels (`SSL_CTX_set_security_level(3)`), never below 2. Level 2 refuses SHA-1 (and weaker)
/// signatures and RSA keys under 2048 bits; ivpack also asks for an EC key on P-256 or stronger,
/// where OpenSSL would still take P-224.
public struct SecurityLevel: Sendable, Equatable, Comparable, CustomStringConvertible {
    /// 2 to 5.
    public let rawValue: Int

    /// The levels a policy may name.
    public static let allowed = 2...5
    /// The level used when a policy names none, and the floor: level 2.
    public static let minimum = SecurityLevel(checked: 2)

    private init(checked rawValue: Int) { self.rawValue = rawValue }

    /// The level `rawValue`, or nil when it is outside 2...5.
    public init?(_ rawValue: Int) {
        guard Self.allowed.contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// Bits of security the level asks for (NIST SP 800-57 as OpenSSL counts them).
    public var bits: Int { [2: 112, 3: 128, 4: 192, 5: 256][rawValue] ?? 112 }
    /// The smallest RSA (or DSA) modulus accepted.
    public var minimumRSABits: Int { [2: 2048, 3: 3072, 4: 7680, 5: 15360][rawValue] ?? 2048 }
    /// The smallest elliptic curve accepted, in bits of its order (P-256 = 256).
    public var minimumECBits: Int { [2: 256, 3: 256, 4: 384, 5: 512][rawValue] ?? 256 }
    /// The weakest digest accepted in a certificate's signature.
    var minimumDigest: String { [2: "SHA-256", 3: "SHA-256", 4: "SHA-384", 5: "SHA-512"][rawValue] ?? "SHA-256" }

    /// What the level asks, in one phrase for messages.
    public var requirement: String {
        let curve = minimumECBits == 512 ? 521 : minimumECBits
        return "security level \(rawValue) requires RSA keys of at least \(minimumRSABits) bits or EC keys of at least "
            + "\(minimumECBits) bits (P-\(curve)), signed with \(minimumDigest) or stronger"
    }

    public var description: String { String(rawValue) }

    public static func < (a: SecurityLevel, b: SecurityLevel) -> Bool { a.rawValue < b.rawValue }
}

extension Certificate {
    /// The subject public key as a reader would name it: `RSA 2048-bit`, `EC P-256`, `ED25519`.
    public var publicKeyDescription: String {
        guard let key = X509_get0_pubkey(x509) else { return "unreadable key" }
        let bits = Int(EVP_PKEY_get_bits(key))
        switch EVP_PKEY_get_base_id(key) {
        case NID_rsaEncryption, NID_rsassaPss: return "RSA \(bits)-bit"
        case NID_dsa: return "DSA \(bits)-bit"
        case NID_X9_62_id_ecPublicKey:
            var buffer = [CChar](repeating: 0, count: 64)
            var length = 0
            if EVP_PKEY_get_group_name(key, &buffer, buffer.count, &length) == 1 {
                let name = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                let nist = [
                    "prime256v1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp224r1": "P-224",
                    "prime192v1": "P-192",
                ][name]
                return "EC \(nist ?? name) (\(bits)-bit)"
            }
            ERR_clear_error()
            return "EC \(bits)-bit"
        case let id:
            return OBJ_nid2sn(id).map { String(cString: $0) } ?? "unknown key type"
        }
    }

    /// The name of the algorithm the issuer signed the certificate with, e.g. `ecdsa-with-SHA256`.
    public var signatureAlgorithm: String {
        OBJ_nid2ln(X509_get_signature_nid(x509)).map { String(cString: $0) } ?? "unknown algorithm"
    }

    /// Whether basicConstraints says CA:TRUE (an end entity says CA:FALSE or has no basicConstraints).
    public var hasCABasicConstraint: Bool { X509_get_extension_flags(x509) & UInt32(EXFLAG_CA) != 0 }

    /// Why the key or the signature of this certificate is too weak for `level`; nil when it is
    /// strong enough. The signature of a self-signed certificate is not judged: a trust anchor is
    /// trusted for its key, and its self-signature proves nothing.
    public func weakness(at level: SecurityLevel) -> String? {
        guard let key = X509_get0_pubkey(x509) else {
            return "certificate \"\(subject)\" has a public key OpenSSL cannot read"
        }
        let bits = Int(EVP_PKEY_get_bits(key))
        let keyStrongEnough: Bool
        switch EVP_PKEY_get_base_id(key) {
        case NID_rsaEncryption, NID_rsassaPss, NID_dsa: keyStrongEnough = bits >= level.minimumRSABits
        case NID_X9_62_id_ecPublicKey: keyStrongEnough = bits >= level.minimumECBits
        default: keyStrongEnough = Int(EVP_PKEY_get_security_bits(key)) >= level.bits
        }
        if !keyStrongEnough {
            let securityBits = EVP_PKEY_get_security_bits(key)
            return "certificate \"\(subject)\" has a weak key, \(publicKeyDescription) (\(securityBits)-bit security): "
                + level.requirement
        }
        if isSelfSigned { return nil }
        var digest: Int32 = 0
        var securityBits: Int32 = 0
        guard X509_get_signature_info(x509, &digest, nil, &securityBits, nil) == 1 else {
            ERR_clear_error()
            return
                "certificate \"\(subject)\" is signed with \(signatureAlgorithm), whose strength OpenSSL cannot tell: "
                + level.requirement
        }
        if Int(securityBits) < level.bits {
            let digestName = OBJ_nid2sn(digest).map { " (\(String(cString: $0)))" } ?? ""
            return "certificate \"\(subject)\" is signed with a weak algorithm, \(signatureAlgorithm)\(digestName), "
                + "\(securityBits)-bit security: \(level.requirement)"
        }
        return nil
    }
}

/// The checks `sign`, `sign-report` and the licence server make of their own signing identity
/// before using it: what can be told without a trust policy.
public enum SigningIdentityCheck {
    /// Throws `InputError` (kind `.credential`) (exit 2) when `certificate` is a CA certificate, or when it or a
    /// certificate of `chain` is too weak for `level`. `what` names the identity in the message
    /// ("signing certificate", "licence server certificate").
    public static func require(
        _ certificate: Certificate, chain: [Certificate], level: SecurityLevel = .minimum,
        what: String = "signing certificate"
    ) throws {
        if certificate.hasCABasicConstraint {
            throw InputError.credential(
                file: "\(what) \"\(certificate.subject)\"",
                problem: "is a CA certificate (basicConstraints CA:TRUE), not an end entity",
                hint: "Sign with an end-entity certificate (CA:FALSE) issued for this purpose")
        }
        for c in [certificate] + chain {
            if let weakness = c.weakness(at: level) {
                throw InputError.credential(
                    file: what, problem: weakness,
                    hint: "Have the CA issue a certificate with a P-256 key (or RSA of 2048 bits or more), "
                        + "signed with SHA-256")
            }
        }
    }
}
