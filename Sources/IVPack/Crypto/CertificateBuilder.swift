internal import CLibCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// What a new X.509 v3 certificate says about its subject. The issuer, the public key and the
/// signature come from `CertificateAuthority.issue`.
public struct CertificateRequest: Sendable {
    /// Subject attributes in encoding order, most general first, e.g. `[("O", ...), ("OU", ...), ("CN", ...)]`
    /// (`Certificate.subject` prints them the other way round, as RFC 2253 does). Names are OpenSSL's
    /// short names (`C`, `O`, `OU`, `CN`, ...) or dotted OIDs; values are UTF-8.
    public var subject: [(String, String)]
    /// Serial number, big-endian, 1 to 20 bytes, not all zero; 16 random bytes when nil.
    public var serial: [UInt8]?
    /// Start of validity, seconds since 1970.
    public var notBefore: Int64
    /// End of validity, seconds since 1970; later than `notBefore`.
    public var notAfter: Int64
    /// Whether the certificate may issue others: basicConstraints is critical either way.
    public var isCA: Bool
    /// The path length constraint of a CA (ignored for an end entity).
    public var pathLength: Int?
    /// Key usages by OpenSSL's names (`digitalSignature`, `keyCertSign`, `cRLSign`, `keyEncipherment`, ...);
    /// the extension is critical, and left out when the list is empty.
    public var keyUsage: [String]
    /// Extended key usages as dotted OIDs (`WellKnownOID.codeSigning`, ...); left out when empty.
    public var extendedKeyUsage: [String]
    /// Whether the extended key usage extension is critical (RFC 3161 requires it of a time-stamping authority).
    public var extendedKeyUsageIsCritical: Bool
    /// Certificate policy OIDs (dotted); left out when empty.
    public var certificatePolicies: [String]
    /// Subject alternative names in OpenSSL's form: `DNS:localhost`, `IP:127.0.0.1`, `IP:::1`, `URI:...`, `email:...`.
    public var subjectAltNames: [String]
    /// A URI where the issuer's CRL is published (the CRL distribution points extension).
    public var crlDistributionPoint: String?

    /// A request; `keyUsage` defaults to `keyCertSign, cRLSign` for a CA and `digitalSignature` otherwise.
    public init(
        subject: [(String, String)], notBefore: Int64, notAfter: Int64, serial: [UInt8]? = nil,
        isCA: Bool = false, pathLength: Int? = nil, keyUsage: [String]? = nil,
        extendedKeyUsage: [String] = [], extendedKeyUsageIsCritical: Bool = false,
        certificatePolicies: [String] = [], subjectAltNames: [String] = [], crlDistributionPoint: String? = nil
    ) {
        self.subject = subject
        self.serial = serial
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.isCA = isCA
        self.pathLength = pathLength
        self.keyUsage = keyUsage ?? (isCA ? ["keyCertSign", "cRLSign"] : ["digitalSignature"])
        self.extendedKeyUsage = extendedKeyUsage
        self.extendedKeyUsageIsCritical = extendedKeyUsageIsCritical
        self.certificatePolicies = certificatePolicies
        self.subjectAltNames = subjectAltNames
        self.crlDistributionPoint = crlDistributionPoint
    }
}

/// A certificate or CRL that cannot be issued as asked: bad input (exit 2).
public enum CertificateIssueError: IVPackError, Equatable {
    /// The subject has no attribute at all.
    case emptySubject
    /// OpenSSL refused one subject attribute (unknown name, or a value too long for it).
    case invalidSubjectAttribute(name: String, value: String, reason: String)
    /// A value that should be a dotted object identifier is not one.
    case invalidObjectIdentifier(field: String, value: String)
    /// An extension value ivpack or OpenSSL cannot encode.
    case invalidExtensionValue(field: String, value: String, reason: String)
    /// The serial number is empty, zero, longer than 20 bytes, or (for a CRL entry) not hexadecimal.
    case invalidSerial(String)
    /// The validity period (or CRL update interval) is empty, reversed, or outside what X.509 can encode.
    case invalidValidity(notBefore: Int64, notAfter: Int64)
    /// The signing key is not the key of the issuing certificate.
    case issuerKeyMismatch(issuer: String)
    /// The issuing certificate is not a CA.
    case issuerNotCA(issuer: String)

    /// Always `.badInput`.
    public var exitStatus: ExitStatus { .badInput }

    /// What is wrong and what to do.
    public var description: String {
        switch self {
        case .emptySubject:
            return "the certificate subject is empty. Give at least a CN"
        case .invalidSubjectAttribute(let name, let value, let reason):
            return
                "subject attribute \(name)=\"\(value)\" is not accepted (\(reason)). Use a known short name (C, O, OU, CN) and a value of allowed length"
        case .invalidObjectIdentifier(let field, let value):
            return "\(field): \"\(value)\" is not a dotted object identifier. Write it as e.g. 1.3.6.1.5.5.7.3.3"
        case .invalidExtensionValue(let field, let value, let reason):
            return "\(field): \"\(value)\" cannot be encoded (\(reason))"
        case .invalidSerial(let serial):
            return "serial number \"\(serial)\" is not usable. Give 1 to 20 bytes (hex for a CRL entry), not zero"
        case .invalidValidity(let notBefore, let notAfter):
            return
                "the period from \(notBefore) to \(notAfter) (seconds since 1970) is empty or cannot be encoded. The end must be after the start, both between 1950 and 9999"
        case .issuerKeyMismatch(let issuer):
            return "the signing key is not the key of the issuer \(issuer). Give the issuer's own private key"
        case .issuerNotCA(let issuer):
            return
                "\(issuer) is not a CA certificate and cannot issue certificates or CRLs. Use a CA (basicConstraints CA:TRUE)"
        }
    }
}

/// Issues X.509 v3 certificates and v2 CRLs signed with ECDSA or RSA over SHA-256. Every certificate
/// carries subject and authority key identifiers, which OpenSSL's chain building and CRL matching use.
public enum CertificateAuthority {
    static let keyUsageNames: Set<String> = [
        "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement",
        "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly",
    ]
    static let subjectAltNamePrefixes = ["DNS:", "IP:", "URI:", "email:"]

    /// Issues a certificate for the public half of `subjectKey`, signed by `issuer`'s key; self-signed
    /// (issuer name = subject, signed by `subjectKey`) when `issuer` is nil.
    public static func issue(
        _ request: CertificateRequest, publicKeyOf subjectKey: PrivateKey,
        issuer: (certificate: Certificate, key: PrivateKey)?
    ) throws -> Certificate {
        try validate(request)
        if let issuer {
            guard issuer.key.matches(issuer.certificate) else {
                throw CertificateIssueError.issuerKeyMismatch(issuer: issuer.certificate.subject)
            }
            guard issuer.certificate.isCA else {
                throw CertificateIssueError.issuerNotCA(issuer: issuer.certificate.subject)
            }
        }
        ERR_clear_error()
        guard let x = X509_new() else { throw OpenSSLError.drain("allocate a certificate") }
        var owned = false
        defer { if !owned { X509_free(x) } }

        guard X509_set_version(x, 2) == 1 else { throw OpenSSLError.drain("set the certificate version") }
        try setSerial(x, request.serial ?? randomSerial())
        guard ASN1_TIME_set(X509_getm_notBefore(x), time_t(request.notBefore)) != nil,
            ASN1_TIME_set(X509_getm_notAfter(x), time_t(request.notAfter)) != nil
        else {
            _ = OpenSSLError.drain("set the validity")
            throw CertificateIssueError.invalidValidity(notBefore: request.notBefore, notAfter: request.notAfter)
        }

        guard let name = X509_NAME_new() else { throw OpenSSLError.drain("allocate a name") }
        defer { X509_NAME_free(name) }
        for (field, value) in request.subject {
            let bytes = Array(value.utf8)
            guard X509_NAME_add_entry_by_txt(name, field, ivpack_mbstring_utf8, bytes, Int32(bytes.count), -1, 0) == 1
            else {
                let reason = OpenSSLError.drain("add \(field)").reasons.joined(separator: "; ")
                throw CertificateIssueError.invalidSubjectAttribute(name: field, value: value, reason: reason)
            }
        }
        guard X509_set_subject_name(x, name) == 1,
            X509_set_issuer_name(x, issuer.map { X509_get_subject_name($0.certificate.x509) } ?? name) == 1
        else {
            throw OpenSSLError.drain("set the subject and issuer names")
        }
        guard X509_set_pubkey(x, subjectKey.pkey) == 1 else { throw OpenSSLError.drain("set the public key") }

        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, issuer?.certificate.x509 ?? x, x, nil, nil, 0)
        // certificatePolicies is parsed by a method that insists on a configuration database, even
        // when the value names no section: give it an empty one.
        guard let conf = NCONF_new(nil) else { throw OpenSSLError.drain("allocate an extension configuration") }
        defer { NCONF_free(conf) }
        X509V3_set_nconf(&ctx, conf)
        var constraints = request.isCA ? "critical,CA:TRUE" : "critical,CA:FALSE"
        if request.isCA, let pathLength = request.pathLength { constraints += ",pathlen:\(pathLength)" }
        try addExtension(x, &ctx, NID_basic_constraints, constraints, field: "basicConstraints")
        if !request.keyUsage.isEmpty {
            try addExtension(
                x, &ctx, NID_key_usage, "critical," + request.keyUsage.joined(separator: ","), field: "keyUsage")
        }
        if !request.extendedKeyUsage.isEmpty {
            let value =
                (request.extendedKeyUsageIsCritical ? "critical," : "")
                + request.extendedKeyUsage.joined(separator: ",")
            try addExtension(x, &ctx, NID_ext_key_usage, value, field: "extendedKeyUsage")
        }
        // The subject key identifier goes first: for a self-signed certificate the authority key
        // identifier is copied from it.
        try addExtension(x, &ctx, NID_subject_key_identifier, "hash", field: "subjectKeyIdentifier")
        let issuerHasKeyID = X509_get_ext_by_NID(issuer?.certificate.x509 ?? x, NID_subject_key_identifier, -1) >= 0
        try addExtension(
            x, &ctx, NID_authority_key_identifier, issuerHasKeyID ? "keyid:always" : "keyid,issuer:always",
            field: "authorityKeyIdentifier")
        if !request.certificatePolicies.isEmpty {
            try addExtension(
                x, &ctx, NID_certificate_policies, request.certificatePolicies.joined(separator: ","),
                field: "certificatePolicies")
        }
        if !request.subjectAltNames.isEmpty {
            try addExtension(
                x, &ctx, NID_subject_alt_name, request.subjectAltNames.joined(separator: ","), field: "subjectAltName")
        }
        if let uri = request.crlDistributionPoint {
            try addExtension(x, &ctx, NID_crl_distribution_points, "URI:" + uri, field: "crlDistributionPoints")
        }

        let signingKey = issuer?.key ?? subjectKey
        guard X509_sign(x, signingKey.pkey, EVP_sha256()) > 0 else { throw OpenSSLError.drain("sign the certificate") }
        owned = true
        return Certificate(owning: x)
    }

    /// Issues a v2 CRL signed by `issuer` listing `revoked` (serial numbers in hex, as
    /// `Certificate.serialHex` gives them), with a CRL number and an authority key identifier.
    public static func revocationList(
        issuer: Certificate, key: PrivateKey, revoked: [(serialHex: String, revokedAt: Int64)],
        lastUpdate: Int64, nextUpdate: Int64, number: Int
    ) throws -> RevocationList {
        guard key.matches(issuer) else { throw CertificateIssueError.issuerKeyMismatch(issuer: issuer.subject) }
        guard issuer.isCA else { throw CertificateIssueError.issuerNotCA(issuer: issuer.subject) }
        guard nextUpdate > lastUpdate else {
            throw CertificateIssueError.invalidValidity(notBefore: lastUpdate, notAfter: nextUpdate)
        }
        guard number >= 0 else {
            throw CertificateIssueError.invalidExtensionValue(
                field: "cRLNumber", value: String(number), reason: "a CRL number is not negative")
        }
        ERR_clear_error()
        guard let crl = X509_CRL_new() else { throw OpenSSLError.drain("allocate a CRL") }
        var owned = false
        defer { if !owned { X509_CRL_free(crl) } }

        guard X509_CRL_set_version(crl, 1) == 1,
            X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.x509)) == 1
        else {
            throw OpenSSLError.drain("set the CRL version and issuer")
        }
        for (time, setter) in [(lastUpdate, X509_CRL_set1_lastUpdate), (nextUpdate, X509_CRL_set1_nextUpdate)] {
            guard let t = ASN1_TIME_set(nil, time_t(time)) else {
                _ = OpenSSLError.drain("encode a time")
                throw CertificateIssueError.invalidValidity(notBefore: lastUpdate, notAfter: nextUpdate)
            }
            defer { ASN1_TIME_free(t) }
            guard setter(crl, t) == 1 else { throw OpenSSLError.drain("set the CRL update times") }
        }
        for entry in revoked {
            guard let serial = serialInteger(hex: entry.serialHex) else {
                throw CertificateIssueError.invalidSerial(entry.serialHex)
            }
            defer { ASN1_INTEGER_free(serial) }
            guard let item = X509_REVOKED_new() else { throw OpenSSLError.drain("allocate a CRL entry") }
            guard let date = ASN1_TIME_set(nil, time_t(entry.revokedAt)) else {
                X509_REVOKED_free(item)
                _ = OpenSSLError.drain("encode a revocation time")
                throw CertificateIssueError.invalidValidity(notBefore: entry.revokedAt, notAfter: entry.revokedAt)
            }
            defer { ASN1_TIME_free(date) }
            guard X509_REVOKED_set_serialNumber(item, serial) == 1, X509_REVOKED_set_revocationDate(item, date) == 1,
                X509_CRL_add0_revoked(crl, item) == 1
            else {
                X509_REVOKED_free(item)
                throw OpenSSLError.drain("add a CRL entry")
            }
        }
        guard let crlNumber = ASN1_INTEGER_new() else { throw OpenSSLError.drain("allocate the CRL number") }
        defer { ASN1_INTEGER_free(crlNumber) }
        guard ASN1_INTEGER_set(crlNumber, number) == 1, X509_CRL_add1_ext_i2d(crl, NID_crl_number, crlNumber, 0, 0) == 1
        else {
            throw OpenSSLError.drain("add the CRL number")
        }
        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, issuer.x509, nil, nil, crl, 0)
        guard let aki = X509V3_EXT_nconf_nid(nil, &ctx, NID_authority_key_identifier, "keyid:always") else {
            throw OpenSSLError.drain(
                "make the CRL's authority key identifier (the issuer needs a subject key identifier)")
        }
        defer { X509_EXTENSION_free(aki) }
        guard X509_CRL_add_ext(crl, aki, -1) == 1 else {
            throw OpenSSLError.drain("add the CRL's authority key identifier")
        }
        guard X509_CRL_sort(crl) == 1 else { throw OpenSSLError.drain("sort the CRL") }
        guard X509_CRL_sign(crl, key.pkey, EVP_sha256()) > 0 else { throw OpenSSLError.drain("sign the CRL") }
        owned = true
        return RevocationList(owning: crl)
    }

    // MARK: - Helpers

    /// Checks what OpenSSL's configuration syntax would otherwise misread: a comma inside one value
    /// would start another value, so it is refused rather than escaped.
    static func validate(_ request: CertificateRequest) throws {
        guard !request.subject.isEmpty else { throw CertificateIssueError.emptySubject }
        guard request.notAfter > request.notBefore else {
            throw CertificateIssueError.invalidValidity(notBefore: request.notBefore, notAfter: request.notAfter)
        }
        if let serial = request.serial, serial.isEmpty || serial.count > 20 || serial.allSatisfy({ $0 == 0 }) {
            throw CertificateIssueError.invalidSerial(serial.map { String($0, radix: 16) }.joined())
        }
        if let pathLength = request.pathLength, pathLength < 0 {
            throw CertificateIssueError.invalidExtensionValue(
                field: "basicConstraints", value: "pathlen:\(pathLength)", reason: "a path length is not negative")
        }
        for usage in request.keyUsage where !keyUsageNames.contains(usage) {
            throw CertificateIssueError.invalidExtensionValue(
                field: "keyUsage", value: usage,
                reason: "known usages: \(keyUsageNames.sorted().joined(separator: ", "))")
        }
        for oid in request.extendedKeyUsage where !isDottedOID(oid) {
            throw CertificateIssueError.invalidObjectIdentifier(field: "extendedKeyUsage", value: oid)
        }
        for oid in request.certificatePolicies where !isDottedOID(oid) {
            throw CertificateIssueError.invalidObjectIdentifier(field: "certificatePolicies", value: oid)
        }
        for san in request.subjectAltNames {
            guard subjectAltNamePrefixes.contains(where: { san.hasPrefix($0) && san.count > $0.count }),
                !san.contains(",")
            else {
                throw CertificateIssueError.invalidExtensionValue(
                    field: "subjectAltName", value: san,
                    reason: "write DNS:name, IP:address, URI:uri or email:address, without commas")
            }
        }
        if let uri = request.crlDistributionPoint, uri.isEmpty || uri.contains(",") {
            throw CertificateIssueError.invalidExtensionValue(
                field: "crlDistributionPoints", value: uri, reason: "give one URI without commas")
        }
    }

    /// Whether `text` is a dotted OID that OpenSSL can encode (numeric arcs, the first 0, 1 or 2).
    static func isDottedOID(_ text: String) -> Bool {
        let arcs = text.split(separator: ".", omittingEmptySubsequences: false)
        guard arcs.count >= 2, arcs.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0 >= "0" && $0 <= "9" } }),
            ["0", "1", "2"].contains(arcs[0])
        else { return false }
        guard let object = OBJ_txt2obj(text, 1) else {
            ERR_clear_error()
            return false
        }
        ASN1_OBJECT_free(object)
        return true
    }

    static func addExtension(_ x: OpaquePointer, _ ctx: inout X509V3_CTX, _ nid: Int32, _ value: String, field: String)
        throws
    {
        guard let ext = X509V3_EXT_nconf_nid(ctx.db?.assumingMemoryBound(to: CONF.self), &ctx, nid, value) else {
            let reason = OpenSSLError.drain("encode \(field)").reasons.joined(separator: "; ")
            throw CertificateIssueError.invalidExtensionValue(field: field, value: value, reason: reason)
        }
        defer { X509_EXTENSION_free(ext) }
        guard X509_add_ext(x, ext, -1) == 1 else { throw OpenSSLError.drain("add the \(field) extension") }
    }

    /// 16 random bytes, the top bit clear and the next one set so the DER integer is positive and
    /// always 16 bytes long.
    static func randomSerial() throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else {
            throw OpenSSLError.drain("draw a random serial number")
        }
        bytes[0] = (bytes[0] & 0x7F) | 0x40
        return bytes
    }

    static func setSerial(_ x: OpaquePointer, _ bytes: [UInt8]) throws {
        guard let bn = BN_bin2bn(bytes, Int32(bytes.count), nil) else {
            throw OpenSSLError.drain("encode the serial number")
        }
        defer { BN_free(bn) }
        guard let integer = BN_to_ASN1_INTEGER(bn, nil) else { throw OpenSSLError.drain("encode the serial number") }
        defer { ASN1_INTEGER_free(integer) }
        guard X509_set_serialNumber(x, integer) == 1 else { throw OpenSSLError.drain("set the serial number") }
    }

    /// A positive serial number from hex (1 to 40 digits, not zero); nil when it is not one. The caller frees it.
    static func serialInteger(hex: String) -> UnsafeMutablePointer<ASN1_INTEGER>? {
        guard (1...40).contains(hex.utf8.count), hex.allSatisfy({ $0.isHexDigit }), hex.contains(where: { $0 != "0" })
        else { return nil }
        var bn: OpaquePointer?
        guard BN_hex2bn(&bn, hex) == Int32(hex.utf8.count), let bn else {
            ERR_clear_error()
            return nil
        }
        defer { BN_free(bn) }
        return BN_to_ASN1_INTEGER(bn, nil)
    }

    /// `hex` in the form `Certificate.serialHex` gives (upper case, whole bytes), or nil when it is not a serial number.
    static func normalisedSerialHex(_ hex: String) -> String? {
        guard let integer = serialInteger(hex: hex) else { return nil }
        defer { ASN1_INTEGER_free(integer) }
        return hexString(integer)
    }
}

/// Upper-case hex of an ASN.1 integer, as `BN_bn2hex` writes it.
func hexString(_ integer: UnsafePointer<ASN1_INTEGER>?) -> String {
    guard let integer, let bn = ASN1_INTEGER_to_BN(integer, nil) else { return "" }
    defer { BN_free(bn) }
    guard let hex = BN_bn2hex(bn) else { return "" }
    defer { ivpack_openssl_free(hex) }
    return String(cString: hex)
}

extension RevocationList {
    /// One entry of a CRL.
    public struct Revoked: Sendable, Equatable {
        /// Serial number of the revoked certificate, upper-case hex as `Certificate.serialHex` gives it.
        public let serialHex: String
        /// When it was revoked, seconds since 1970.
        public let revokedAt: Int64

        /// An entry; `serialHex` is compared as given, so write it as `Certificate.serialHex` does.
        public init(serialHex: String, revokedAt: Int64) {
            self.serialHex = serialHex
            self.revokedAt = revokedAt
        }
    }

    /// The revoked certificates the CRL lists, in its order.
    public var revokedCertificates: [Revoked] {
        guard let stack = X509_CRL_get_REVOKED(crl) else { return [] }
        return (0..<ivpack_sk_X509_REVOKED_num(stack)).compactMap { i in
            guard let item = ivpack_sk_X509_REVOKED_value(stack, i) else { return nil }
            return Revoked(
                serialHex: hexString(X509_REVOKED_get0_serialNumber(item)),
                revokedAt: epochSeconds(X509_REVOKED_get0_revocationDate(item)) ?? 0)
        }
    }

    /// The CRL number extension, or nil when absent (or too large for `Int`).
    public var crlNumber: Int? {
        guard let raw = X509_CRL_get_ext_d2i(crl, NID_crl_number, nil, nil) else { return nil }
        let integer = raw.assumingMemoryBound(to: ASN1_INTEGER.self)
        defer { ASN1_INTEGER_free(integer) }
        var value: Int64 = 0
        guard ASN1_INTEGER_get_int64(&value, integer) == 1 else {
            ERR_clear_error()
            return nil
        }
        return Int(value)
    }

    /// Whether the CRL's signature verifies with `issuer`'s public key.
    public func isSigned(by issuer: Certificate) -> Bool {
        guard let key = X509_get0_pubkey(issuer.x509) else { return false }
        let ok = X509_CRL_verify(crl, key) == 1
        ERR_clear_error()
        return ok
    }
}
