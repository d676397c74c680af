internal import CLibCrypto

/// A bundle's content key wrapped for its recipients: CMS AuthEnvelopedData (RFC 5083), DER, with
/// the key as the content, encrypted with AES-256-GCM under a one-time key that each recipient
/// can unwrap: RSA certificates by RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8017, RFC 4055),
/// EC certificates by ephemeral-static ECDH with the X9.63 KDF over SHA-256 and AES-256 key wrap
/// (`dhSinglePass-stdDH-sha256kdf-scheme`, RFC 5753). `openssl cms -decrypt` (OpenSSL 3.0 or
/// later) recovers the key with a recipient's certificate and private key (docs/encryption.md).
public final class EnvelopedKey: @unchecked Sendable {
    let cms: OpaquePointer
    /// The DER bytes as given or produced.
    public let der: [UInt8]

    private init(cms: OpaquePointer, der: [UInt8]) {
        self.cms = cms
        self.der = der
    }

    deinit { CMS_ContentInfo_free(cms) }

    /// Largest EnvelopedData accepted.
    public static let maxBytes = 1 << 20
    /// Most recipients in one EnvelopedData.
    public static let maxRecipients = 1000

    /// One recipient as the EnvelopedData names it: by issuer and serial number (how OpenSSL
    /// identifies recipient certificates), or by subject key identifier.
    public struct Recipient: Sendable, Equatable, CustomStringConvertible {
        /// How the content-encryption key reaches this recipient.
        public enum Method: String, Sendable, Equatable {
            /// RSA-OAEP key transport.
            case keyTransport = "RSA-OAEP key transport"
            /// ECDH key agreement.
            case keyAgreement = "ECDH key agreement"
            /// Anything else (a password or a pre-shared key): ivpack never writes one.
            case other
        }
        public var method: Method
        /// The certificate issuer's name (RFC 2253), empty when identified by key identifier.
        public var issuer: String
        /// The certificate's serial number, upper-case hex, empty when identified by key identifier.
        public var serialHex: String
        /// The subject key identifier, lower-case hex, when the recipient is identified by it.
        public var keyIdentifier: String?

        public var description: String {
            if let keyIdentifier { return "key identifier \(keyIdentifier) (\(method.rawValue))" }
            return "issuer \"\(issuer)\" serial \(serialHex) (\(method.rawValue))"
        }
    }

    /// Wraps `key` for every certificate in `recipients` (at least one), each checked by
    /// `checkRecipient(_:)` first. The licence server's escrow certificate is a recipient like any other.
    public static func wrap(_ key: ContentKey, to recipients: [Certificate]) throws -> EnvelopedKey {
        guard !recipients.isEmpty else { throw EnvelopedKeyError.noRecipients }
        guard recipients.count <= maxRecipients else {
            throw EnvelopedKeyError.tooManyRecipients(count: recipients.count, limit: maxRecipients)
        }
        for certificate in recipients { try checkRecipient(certificate) }
        ERR_clear_error()
        let cms = try key.withUnsafeBytes { bytes -> OpaquePointer in
            // A read-only memory BIO over the key's own storage: OpenSSL reads the key from there.
            guard let input = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else {
                throw OpenSSLError.drain("wrap the content key")
            }
            defer { BIO_free(input) }
            // An AEAD cipher makes CMS_encrypt create AuthEnvelopedData; CMS_PARTIAL leaves it open
            // for the recipients, added with their key parameters set before CMS_final.
            guard let cms = CMS_encrypt(nil, input, EVP_aes_256_gcm(), UInt32(CMS_BINARY | CMS_PARTIAL)) else {
                throw OpenSSLError.drain("create the EnvelopedData")
            }
            do {
                for certificate in recipients { try addRecipient(certificate, to: cms) }
                guard CMS_final(cms, input, nil, UInt32(CMS_BINARY)) == 1 else {
                    throw OpenSSLError.drain("encrypt the content key for its recipients")
                }
            } catch {
                CMS_ContentInfo_free(cms)
                throw error
            }
            return cms
        }
        var out: UnsafeMutablePointer<UInt8>?
        let n = i2d_CMS_ContentInfo(cms, &out)
        guard n > 0, let out else {
            CMS_ContentInfo_free(cms)
            throw OpenSSLError.drain("encode the EnvelopedData")
        }
        defer { ivpack_openssl_free(out) }
        return EnvelopedKey(cms: cms, der: Array(UnsafeBufferPointer(start: out, count: Int(n))))
    }

    private static func addRecipient(_ certificate: Certificate, to cms: OpaquePointer) throws {
        guard let info = CMS_add1_recipient_cert(cms, certificate.x509, UInt32(CMS_KEY_PARAM)),
            let context = CMS_RecipientInfo_get0_pkey_ctx(info)
        else { throw OpenSSLError.drain("add the recipient \(certificate.subject)") }
        let ok: Bool
        switch CMS_RecipientInfo_type(info) {
        case CMS_RECIPINFO_TRANS:
            // OpenSSL's default for RSA is PKCS#1 v1.5 padding, open to Bleichenbacher-style attacks.
            ok =
                EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING) == 1
                && EVP_PKEY_CTX_set_rsa_oaep_md(context, EVP_sha256()) == 1
                && EVP_PKEY_CTX_set_rsa_mgf1_md(context, EVP_sha256()) == 1
        case CMS_RECIPINFO_AGREE:
            // OpenSSL's default KDF digest for ECDH in CMS is SHA-1.
            ok = EVP_PKEY_CTX_set_ecdh_kdf_md(context, EVP_sha256()) == 1
        default:
            ok = false
        }
        guard ok else { throw OpenSSLError.drain("set the key parameters for the recipient \(certificate.subject)") }
    }

    /// Refuses a certificate that cannot or may not receive a key: a public key other than RSA or
    /// EC, a key usage extension without keyEncipherment (RSA) or keyAgreement (EC), or a key too
    /// weak for ivpack's minimum security level. A certificate without a key usage extension is
    /// unrestricted (RFC 5280, 4.2.1.3) and accepted.
    public static func checkRecipient(_ certificate: Certificate) throws {
        func refuse(_ reason: String) -> EnvelopedKeyError {
            .unsuitableRecipient(certificate: certificate.subject, reason: reason)
        }
        guard let publicKey = X509_get0_pubkey(certificate.x509) else {
            ERR_clear_error()
            throw refuse("OpenSSL cannot read its public key")
        }
        let hasKeyUsage = X509_get_extension_flags(certificate.x509) & UInt32(EXFLAG_KUSAGE) != 0
        let usage = X509_get_key_usage(certificate.x509)
        switch EVP_PKEY_get_base_id(publicKey) {
        case NID_rsaEncryption:
            if hasKeyUsage && usage & UInt32(KU_KEY_ENCIPHERMENT) == 0 {
                throw refuse("its key usage does not include keyEncipherment, which RSA key transport needs")
            }
        case NID_X9_62_id_ecPublicKey:
            if hasKeyUsage && usage & UInt32(KU_KEY_AGREEMENT) == 0 {
                throw refuse("its key usage does not include keyAgreement, which ECDH key agreement needs")
            }
        default:
            throw refuse("its \(certificate.publicKeyDescription) key can take no key: give an RSA or EC certificate")
        }
        if let weakness = certificate.weakness(at: .minimum) { throw refuse(weakness) }
    }

    /// Parses DER; refuses anything but AuthEnvelopedData with one to `maxRecipients` recipients.
    public static func parse(der: [UInt8], source: String) throws -> EnvelopedKey {
        guard der.count <= maxBytes else {
            throw EnvelopedKeyError.malformed(
                source: source, problem: "\(der.count) bytes, more than the limit of \(maxBytes)")
        }
        ERR_clear_error()
        let cms = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var p: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_CMS_ContentInfo(nil, &p, buffer.count)
        }
        guard let cms else {
            let reasons = OpenSSLError.drain("parse").reasons.joined(separator: "; ")
            throw EnvelopedKeyError.malformed(source: source, problem: "not a DER CMS structure (\(reasons))")
        }
        let key = EnvelopedKey(cms: cms, der: der)
        guard OBJ_obj2nid(CMS_get0_type(cms)) == NID_id_smime_ct_authEnvelopedData else {
            throw EnvelopedKeyError.malformed(
                source: source, problem: "the CMS structure is not AuthEnvelopedData (RFC 5083)")
        }
        let count = key.recipients.count
        guard (1...maxRecipients).contains(count) else {
            throw EnvelopedKeyError.malformed(
                source: source, problem: "\(count) recipients; between 1 and \(maxRecipients) are accepted")
        }
        return key
    }

    private var recipientInfos: [OpaquePointer] {
        guard let infos = CMS_get0_RecipientInfos(cms) else { return [] }
        return (0..<ivpack_sk_CMS_RecipientInfo_num(infos)).compactMap { ivpack_sk_CMS_RecipientInfo_value(infos, $0) }
    }

    private static func encryptedKeys(_ info: OpaquePointer) -> [OpaquePointer] {
        guard let keys = CMS_RecipientInfo_kari_get0_reks(info) else { return [] }
        return (0..<ivpack_sk_CMS_RecipientEncryptedKey_num(keys)).compactMap {
            ivpack_sk_CMS_RecipientEncryptedKey_value(keys, $0)
        }
    }

    /// Every recipient, in the order of the DER: RecipientInfos is a SET OF, which DER sorts by
    /// encoding, so not necessarily the order given to `wrap(_:to:)`.
    public var recipients: [Recipient] {
        var out: [Recipient] = []
        for info in recipientInfos {
            var keyID: UnsafeMutablePointer<ASN1_OCTET_STRING>?
            var issuer: OpaquePointer?
            var serial: UnsafeMutablePointer<ASN1_INTEGER>?
            switch CMS_RecipientInfo_type(info) {
            case CMS_RECIPINFO_TRANS:
                guard CMS_RecipientInfo_ktri_get0_signer_id(info, &keyID, &issuer, &serial) == 1 else { continue }
                out.append(Self.recipient(.keyTransport, keyID, issuer, serial))
            case CMS_RECIPINFO_AGREE:
                for key in Self.encryptedKeys(info) {
                    guard CMS_RecipientEncryptedKey_get0_id(key, &keyID, nil, nil, &issuer, &serial) == 1 else {
                        continue
                    }
                    out.append(Self.recipient(.keyAgreement, keyID, issuer, serial))
                }
            default:
                out.append(Recipient(method: .other, issuer: "", serialHex: "", keyIdentifier: nil))
            }
        }
        ERR_clear_error()
        return out
    }

    private static func recipient(
        _ method: Recipient.Method, _ keyID: UnsafeMutablePointer<ASN1_OCTET_STRING>?, _ issuer: OpaquePointer?,
        _ serial: UnsafeMutablePointer<ASN1_INTEGER>?
    ) -> Recipient {
        if let keyID, let data = ASN1_STRING_get0_data(keyID) {
            let bytes = UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(keyID)))
            let digits = Array("0123456789abcdef")
            let hex = String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
            return Recipient(method: method, issuer: "", serialHex: "", keyIdentifier: hex)
        }
        return Recipient(
            method: method, issuer: Certificate.name(issuer), serialHex: hexString(serial), keyIdentifier: nil)
    }

    /// Whether `certificate` is one of the recipients.
    public func isRecipient(_ certificate: Certificate) -> Bool {
        defer { ERR_clear_error() }
        for info in recipientInfos {
            switch CMS_RecipientInfo_type(info) {
            case CMS_RECIPINFO_TRANS:
                if CMS_RecipientInfo_ktri_cert_cmp(info, certificate.x509) == 0 { return true }
            case CMS_RECIPINFO_AGREE:
                for key in Self.encryptedKeys(info) where CMS_RecipientEncryptedKey_cert_cmp(key, certificate.x509) == 0
                {
                    return true
                }
            default:
                continue
            }
        }
        return false
    }

    /// Recovers the content key with a recipient's certificate and private key (a key file or a
    /// key inside an HSM). Throws `EnvelopedKeyError.notARecipient` when `certificate` is not one
    /// of the recipients, `.keyDoesNotMatchCertificate` when `key` is not its key, and
    /// `.unwrapFailed` when the EnvelopedData does not decrypt (damaged or altered). The key's
    /// bytes pass only through OpenSSL's secure memory BIO, cleansed when freed.
    public func unwrap(with key: PrivateKey, certificate: Certificate) throws -> ContentKey {
        guard key.matches(certificate) else {
            throw EnvelopedKeyError.keyDoesNotMatchCertificate(key: key.source, certificate: certificate.subject)
        }
        guard isRecipient(certificate) else {
            throw EnvelopedKeyError.notARecipient(
                certificate: certificate.subject, serialHex: certificate.serialHex, recipients: recipients)
        }
        ERR_clear_error()
        // Secure-heap memory BIO: its buffer is cleansed when freed.
        guard let output = BIO_new(BIO_s_secmem()) else { throw OpenSSLError.drain("unwrap the content key") }
        defer { BIO_free(output) }
        guard CMS_decrypt(cms, key.pkey, certificate.x509, nil, output, UInt32(CMS_BINARY)) == 1 else {
            throw EnvelopedKeyError.unwrapFailed(
                certificate: certificate.subject, reasons: OpenSSLError.drain("unwrap").reasons)
        }
        var pointer: UnsafeMutablePointer<CChar>?
        let length = ivpack_BIO_get_mem_data(output, &pointer)
        guard length == ContentKey.byteCount, let pointer else {
            throw EnvelopedKeyError.unwrapFailed(
                certificate: certificate.subject,
                reasons: ["the content is \(length) bytes, not a \(ContentKey.byteCount)-byte content key"])
        }
        return ContentKey(origin: .unwrapped) { bytes in
            bytes.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: ContentKey.byteCount))
        }
    }
}

/// Why a content key could not be wrapped or unwrapped. No case ever carries key material.
public enum EnvelopedKeyError: IVPackError, Equatable {
    /// Wrapping needs at least one recipient.
    case noRecipients
    /// More recipients than `EnvelopedKey.maxRecipients`.
    case tooManyRecipients(count: Int, limit: Int)
    /// A certificate that cannot or may not receive the key.
    case unsuitableRecipient(certificate: String, reason: String)
    /// The certificate given to unwrap is not among the EnvelopedData's recipients.
    case notARecipient(certificate: String, serialHex: String, recipients: [EnvelopedKey.Recipient])
    /// The private key given is not the certificate's.
    case keyDoesNotMatchCertificate(key: String, certificate: String)
    /// The EnvelopedData did not decrypt for a listed recipient: damaged, altered, or the HSM refused.
    case unwrapFailed(certificate: String, reasons: [String])
    /// Not an EnvelopedData ivpack accepts.
    case malformed(source: String, problem: String)

    public var exitStatus: ExitStatus {
        switch self {
        case .unwrapFailed: return .checkFailed
        default: return .badInput
        }
    }

    public var description: String {
        switch self {
        case .noRecipients:
            return "the content key needs at least one recipient certificate"
        case .tooManyRecipients(let count, let limit):
            return "\(count) recipient certificates, more than the limit of \(limit)"
        case .unsuitableRecipient(let certificate, let reason):
            return "certificate \"\(certificate)\" cannot be a recipient of the content key: \(reason)"
        case .notARecipient(let certificate, let serial, let recipients):
            return
                "this key is not one of the bundle's recipients: certificate \"\(certificate)\" (serial \(serial)); "
                + "the content key is wrapped for: \(recipients.map(\.description).joined(separator: "; "))"
        case .keyDoesNotMatchCertificate(let key, let certificate):
            return "\(key): the private key does not belong to the certificate \"\(certificate)\""
        case .unwrapFailed(let certificate, let reasons):
            let why = reasons.isEmpty ? "" : " (\(reasons.joined(separator: "; ")))"
            return
                "the content key could not be unwrapped for \"\(certificate)\"\(why): "
                + "the wrapped key is damaged or altered, or the HSM refused the operation"
        case .malformed(let source, let problem):
            return "\(source): not a wrapped content key: \(problem)"
        }
    }
}
