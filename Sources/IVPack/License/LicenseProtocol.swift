import Foundation

/// The licence protocol (Schemas/license-api.openapi.yaml): `POST /v1/activations` over mutual
/// TLS. The installer is identified by the client certificate, never by the body.
public enum LicenseProtocol {
    public static let activationsPath = "/v1/activations"
    /// Largest request body accepted by the server.
    public static let maxRequestBytes = 16 << 10
    /// Largest response accepted by the client.
    public static let maxResponseBytes = 1 << 20
    /// Length of a nonce in bytes (hex on the wire).
    public static let nonceBytes = 32
}

/// What the installer asks for.
public struct ActivationRequest: Sendable, Equatable {
    public var product: String
    public var version: String
    public var manifestSHA256: String
    public var siteID: String
    /// 64 lower-case hex digits, fresh for every request.
    public var nonce: String

    public init(product: String, version: String, manifestSHA256: String, siteID: String, nonce: String) {
        self.product = product
        self.version = version
        self.manifestSHA256 = manifestSHA256
        self.siteID = siteID
        self.nonce = nonce
    }

    public var json: JSONValue {
        .object([
            ("product", .string(product)), ("version", .string(version)), ("manifestSHA256", .string(manifestSHA256)),
            ("siteID", .string(siteID)), ("nonce", .string(nonce)),
        ])
    }

    /// Strict parsing: exactly these members, bounded strings, hex digests.
    public static func parse(_ bytes: [UInt8]) -> Result<ActivationRequest, ProtocolError> {
        let value: JSONValue
        do {
            value = try JSONParser.parse(
                bytes, limits: JSONLimits(maxBytes: LicenseProtocol.maxRequestBytes, maxDepth: 4, maxStringBytes: 1024))
        } catch {
            return .failure(ProtocolError(code: "malformed-json", message: "the body is not valid JSON: \(error)"))
        }
        guard let members = value.objectValue else {
            return .failure(ProtocolError(code: "malformed-request", message: "the body must be a JSON object"))
        }
        let allowed = ["product", "version", "manifestSHA256", "siteID", "nonce"]
        for m in members where !allowed.contains(m.key) {
            return .failure(ProtocolError(code: "unknown-field", message: "unknown field \"\(m.key)\""))
        }
        var fields: [String: String] = [:]
        for key in allowed {
            guard let s = value[key]?.stringValue, !s.isEmpty, s.utf8.count <= 256 else {
                return .failure(
                    ProtocolError(
                        code: "malformed-request",
                        message: "field \"\(key)\" must be a non-empty string of at most 256 bytes"))
            }
            fields[key] = s
        }
        guard SHA256Digest(hex: fields["manifestSHA256"]!) != nil else {
            return .failure(
                ProtocolError(code: "malformed-request", message: "manifestSHA256 must be 64 lower-case hex digits"))
        }
        guard isHex(fields["nonce"]!, bytes: LicenseProtocol.nonceBytes) else {
            return .failure(
                ProtocolError(
                    code: "malformed-request",
                    message: "nonce must be \(LicenseProtocol.nonceBytes * 2) lower-case hex digits"))
        }
        return .success(
            ActivationRequest(
                product: fields["product"]!, version: fields["version"]!, manifestSHA256: fields["manifestSHA256"]!,
                siteID: fields["siteID"]!, nonce: fields["nonce"]!))
    }

    static func isHex(_ s: String, bytes: Int) -> Bool {
        s.utf8.count == bytes * 2 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

/// A protocol-level refusal: code and message, as the server's JSON error body carries them.
public struct ProtocolError: Error, Sendable, Equatable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var json: JSONValue { .object([("error", .string(code)), ("message", .string(message))]) }
}

/// The licence grant: what the server asserts, signed (CMS, detached) by the licence-signing key.
/// The canonical JSON bytes are what the signature covers.
public struct LicenseGrant: Sendable, Equatable {
    public static let format = "ivpack-license-grant/1"

    public var licenseID: String
    public var product: String
    public var minimumVersion: String
    public var maximumVersion: String
    public var siteID: String
    public var manifestSHA256: String
    /// The request's nonce; empty for an offline licence file.
    public var nonce: String
    public var installerSubject: String
    public var installerFingerprint: String
    /// Activation number in the server's database; 0 for an offline licence file.
    public var activationID: Int64
    public var issuedAt: Int64
    /// The grant's own validity (short for online grants).
    public var notAfter: Int64
    /// The licence's validity.
    public var licenseNotAfter: Int64
    /// The bundle's content key, released with the grant: DER CMS AuthEnvelopedData (as
    /// `EnvelopedKey` writes it) wrapped to the installer's client certificate (online) or to the
    /// site's certificate (offline licence file); nil for a bundle that is not encrypted. In the
    /// JSON as `contentKey` (base64), present only when there is a key, so that the grant of a
    /// plain bundle keeps its 14 members and its bytes.
    public var contentKey: [UInt8]?

    /// Members of a grant without a content key.
    public static let memberCount = 14

    public init(
        licenseID: String, product: String, minimumVersion: String, maximumVersion: String, siteID: String,
        manifestSHA256: String,
        nonce: String, installerSubject: String, installerFingerprint: String, activationID: Int64, issuedAt: Int64,
        notAfter: Int64, licenseNotAfter: Int64, contentKey: [UInt8]? = nil
    ) {
        self.licenseID = licenseID
        self.product = product
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
        self.siteID = siteID
        self.manifestSHA256 = manifestSHA256
        self.nonce = nonce
        self.installerSubject = installerSubject
        self.installerFingerprint = installerFingerprint
        self.activationID = activationID
        self.issuedAt = issuedAt
        self.notAfter = notAfter
        self.licenseNotAfter = licenseNotAfter
        self.contentKey = contentKey
    }

    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("format", .string(Self.format)), ("licenseID", .string(licenseID)), ("product", .string(product)),
            ("minimumVersion", .string(minimumVersion)), ("maximumVersion", .string(maximumVersion)),
            ("siteID", .string(siteID)),
            ("manifestSHA256", .string(manifestSHA256)), ("nonce", .string(nonce)),
            ("installerSubject", .string(installerSubject)),
            ("installerFingerprint", .string(installerFingerprint)), ("activationID", .integer(activationID)),
            ("issuedAt", .integer(issuedAt)), ("notAfter", .integer(notAfter)),
            ("licenseNotAfter", .integer(licenseNotAfter)),
        ]
        if let contentKey { members.append(("contentKey", .string(Data(contentKey).base64EncodedString()))) }
        return .object(members)
    }

    public var canonicalBytes: [UInt8] { CanonicalJSON.encode(json) }

    /// Longest `contentKey` member (base64): an EnvelopedData for one recipient is under 1.5 KiB
    /// even for RSA-8192; this leaves room and still bounds what a grant makes the installer parse.
    public static let maxContentKeyBase64Bytes = 16 << 10

    /// Parses grant bytes strictly; they must be canonical.
    public static func parse(_ bytes: [UInt8]) -> Result<LicenseGrant, ProtocolError> {
        guard
            let value = try? JSONParser.parse(
                bytes,
                limits: JSONLimits(maxBytes: 64 << 10, maxDepth: 4, maxStringBytes: maxContentKeyBase64Bytes))
        else {
            return .failure(ProtocolError(code: "malformed-grant", message: "the grant is not valid JSON"))
        }
        func s(_ k: String) -> String? { value[k]?.stringValue }
        func i(_ k: String) -> Int64? { value[k]?.int64Value }
        guard s("format") == format, let licenseID = s("licenseID"), let product = s("product"),
            let minimum = s("minimumVersion"),
            let maximum = s("maximumVersion"), let site = s("siteID"), let manifest = s("manifestSHA256"),
            let nonce = s("nonce"),
            let subject = s("installerSubject"), let fingerprint = s("installerFingerprint"),
            let activation = i("activationID"),
            let issued = i("issuedAt"), let notAfter = i("notAfter"), let licenseNotAfter = i("licenseNotAfter"),
            value.objectValue?.count == memberCount + (value["contentKey"] == nil ? 0 : 1)
        else {
            return .failure(
                ProtocolError(code: "malformed-grant", message: "the grant lacks a member or has an unknown one"))
        }
        var contentKey: [UInt8]?
        if let member = value["contentKey"] {
            guard let text = member.stringValue, !text.isEmpty, let der = Data(base64Encoded: text) else {
                return .failure(
                    ProtocolError(code: "malformed-grant", message: "the grant's contentKey is not a base64 string"))
            }
            contentKey = [UInt8](der)
        }
        let grant = LicenseGrant(
            licenseID: licenseID, product: product, minimumVersion: minimum, maximumVersion: maximum, siteID: site,
            manifestSHA256: manifest, nonce: nonce, installerSubject: subject, installerFingerprint: fingerprint,
            activationID: activation, issuedAt: issued, notAfter: notAfter, licenseNotAfter: licenseNotAfter,
            contentKey: contentKey)
        guard grant.canonicalBytes == bytes else {
            return .failure(ProtocolError(code: "malformed-grant", message: "the grant is not in canonical form"))
        }
        return .success(grant)
    }
}
