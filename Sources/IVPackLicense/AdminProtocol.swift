import IVPack

/// The licence server's admin API (Schemas/license-api.openapi.yaml, tag `admin`): licence
/// operators issue, revoke and list licences, list activations and read the audit table over the
/// same mutual TLS as installers, with a certificate that carries the operator policy
/// (`clientAuthentication.operatorPolicy`). The operator is the client certificate, never the body.
public enum AdminProtocol {
    public static let licensesPath = "/v1/admin/licenses"
    public static let activationsPath = "/v1/admin/activations"
    public static let auditPath = "/v1/admin/audit"
    /// Largest request body accepted (an issue request is under 1 KiB).
    public static let maxRequestBytes = 16 << 10
    /// Longest licence ID the API takes, in bytes; IDs are also limited to `A-Z a-z 0-9 . _ -`, so
    /// that an ID is a URL path segment as it stands.
    public static let maxLicenseIDBytes = 64
    /// Longest site, product or version string, in bytes (as `ActivationRequest`).
    public static let maxStringBytes = 256
    /// Seats and days of validity, as `ivpack license issue` takes them.
    public static let seatsRange: ClosedRange<Int64> = 1...100_000
    public static let validDaysRange: ClosedRange<Int64> = 1...36_500
    /// Most audit rows one `GET /v1/admin/audit` returns; page on with `after`.
    public static let maxAuditRows = 1000

    /// The path that revokes licence `id`.
    public static func revokePath(id: String) -> String { "\(licensesPath)/\(id)/revoke" }

    /// Whether `id` is a licence ID the API takes.
    public static func isLicenseID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= maxLicenseIDBytes
            && id.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2E
                    || $0 == 0x5F || $0 == 0x2D
            }
    }

    /// The body as JSON within the API's limits, or the 400 to answer.
    static func parseBody(_ bytes: [UInt8]) -> Result<JSONValue, ProtocolError> {
        do {
            return .success(
                try JSONParser.parse(
                    bytes, limits: JSONLimits(maxBytes: maxRequestBytes, maxDepth: 4, maxStringBytes: 1024)))
        } catch {
            return .failure(ProtocolError(code: "malformed-json", message: "the body is not valid JSON: \(error)"))
        }
    }
}

/// `POST /v1/admin/licenses`: a new licence, valid from the server's now for `validDays`.
public struct LicenseIssueRequest: Sendable, Equatable {
    public var id: String
    public var siteID: String
    public var product: String
    public var minimumVersion: String
    public var maximumVersion: String
    public var seats: Int
    public var validDays: Int

    public init(
        id: String, siteID: String, product: String, minimumVersion: String, maximumVersion: String, seats: Int,
        validDays: Int
    ) {
        self.id = id
        self.siteID = siteID
        self.product = product
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
        self.seats = seats
        self.validDays = validDays
    }

    static let members = ["id", "siteID", "product", "minimumVersion", "maximumVersion", "seats", "validDays"]

    public var json: JSONValue {
        .object([
            ("id", .string(id)), ("siteID", .string(siteID)), ("product", .string(product)),
            ("minimumVersion", .string(minimumVersion)), ("maximumVersion", .string(maximumVersion)),
            ("seats", .integer(seats)), ("validDays", .integer(validDays)),
        ])
    }

    /// Strict parsing: exactly these members, bounded strings, integers in range, numeric versions
    /// with the minimum not above the maximum; the first problem is the answer.
    public static func parse(_ bytes: [UInt8]) -> Result<LicenseIssueRequest, ProtocolError> {
        let value: JSONValue
        switch AdminProtocol.parseBody(bytes) {
        case .success(let v): value = v
        case .failure(let e): return .failure(e)
        }
        guard let object = value.objectValue else {
            return .failure(ProtocolError(code: "malformed-request", message: "the body must be a JSON object"))
        }
        for m in object where !members.contains(m.key) {
            return .failure(
                ProtocolError(
                    code: "unknown-field",
                    message: "unknown field \"\(m.key)\"; an issue request has \(members.joined(separator: ", "))"))
        }
        var strings: [String: String] = [:]
        for key in ["id", "siteID", "product", "minimumVersion", "maximumVersion"] {
            guard let s = value[key]?.stringValue, !s.isEmpty, s.utf8.count <= AdminProtocol.maxStringBytes else {
                return .failure(
                    ProtocolError(
                        code: "malformed-request",
                        message:
                            "field \"\(key)\" must be a non-empty string of at most \(AdminProtocol.maxStringBytes) bytes"
                            + (value[key].map { ", found \($0.typeName)" } ?? ", and it is missing")))
            }
            strings[key] = s
        }
        guard AdminProtocol.isLicenseID(strings["id"]!) else {
            return .failure(
                ProtocolError(
                    code: "malformed-request",
                    message:
                        "field \"id\" must be 1 to \(AdminProtocol.maxLicenseIDBytes) of A-Z a-z 0-9 . _ - (e.g. LIC-2026-0001)"
                ))
        }
        var integers: [String: Int64] = [:]
        for (key, range) in [("seats", AdminProtocol.seatsRange), ("validDays", AdminProtocol.validDaysRange)] {
            guard let n = value[key]?.int64Value, range.contains(n) else {
                return .failure(
                    ProtocolError(
                        code: "malformed-request",
                        message:
                            "field \"\(key)\" must be an integer from \(range.lowerBound) to \(range.upperBound)"
                            + (value[key].map { $0.int64Value == nil ? ", found \($0.typeName)" : "" }
                                ?? ", and it is missing")))
            }
            integers[key] = n
        }
        guard let range = VersionRange(minimum: strings["minimumVersion"]!, maximum: strings["maximumVersion"]!),
            !range.isEmpty
        else {
            return .failure(
                ProtocolError(
                    code: "malformed-request",
                    message:
                        "minimumVersion and maximumVersion must be numeric versions (V2.0.0.1), the minimum not above the maximum"
                ))
        }
        return .success(
            LicenseIssueRequest(
                id: strings["id"]!, siteID: strings["siteID"]!, product: strings["product"]!,
                minimumVersion: strings["minimumVersion"]!, maximumVersion: strings["maximumVersion"]!,
                seats: Int(integers["seats"]!), validDays: Int(integers["validDays"]!)))
    }
}

/// A licence as `ivpack license list --json` and the admin API show it: times as ISO 8601, the
/// activations counted. One encoding for the local and the remote command.
public struct LicenseListing: Sendable, Equatable {
    public var id: String
    public var siteID: String
    public var product: String
    public var minimumVersion: String
    public var maximumVersion: String
    public var notBefore: String
    public var notAfter: String
    public var seats: Int
    public var activations: Int
    /// When revoked (ISO 8601); nil while valid.
    public var revoked: String?

    public init(_ license: License, activations: Int) {
        id = license.id
        siteID = license.siteID
        product = license.product
        minimumVersion = license.minimumVersion
        maximumVersion = license.maximumVersion
        notBefore = Timestamp.iso8601(license.notBefore)
        notAfter = Timestamp.iso8601(license.notAfter)
        seats = license.seats
        self.activations = activations
        revoked = license.revokedAt.map(Timestamp.iso8601)
    }

    public var json: JSONValue {
        .object([
            ("id", .string(id)), ("site", .string(siteID)), ("product", .string(product)),
            ("minimumVersion", .string(minimumVersion)), ("maximumVersion", .string(maximumVersion)),
            ("notBefore", .string(notBefore)), ("notAfter", .string(notAfter)), ("seats", .integer(seats)),
            ("activations", .integer(activations)), ("revoked", revoked.map { .string($0) } ?? .null),
        ])
    }

    /// The line of `ivpack license list`.
    public var line: String {
        "\(id)  site \(siteID)  \(product) \(minimumVersion)..\(maximumVersion)  seats \(activations)/\(seats)  "
            + (revoked.map { "REVOKED \($0)" } ?? "valid until \(notAfter)")
    }

    /// A listing from the server's reply; nil when a member is missing or of another type.
    public static func parse(_ value: JSONValue) -> LicenseListing? {
        guard let id = value["id"]?.stringValue, let site = value["site"]?.stringValue,
            let product = value["product"]?.stringValue, let minimum = value["minimumVersion"]?.stringValue,
            let maximum = value["maximumVersion"]?.stringValue, let notBefore = value["notBefore"]?.stringValue,
            let notAfter = value["notAfter"]?.stringValue, let seats = value["seats"]?.int64Value,
            let activations = value["activations"]?.int64Value, let revoked = value["revoked"]
        else { return nil }
        var listing = LicenseListing(
            License(
                id: id, siteID: site, product: product, minimumVersion: minimum, maximumVersion: maximum, notBefore: 0,
                notAfter: 0, seats: Int(seats), createdAt: 0), activations: Int(activations))
        listing.notBefore = notBefore
        listing.notAfter = notAfter
        switch revoked {
        case .null: listing.revoked = nil
        case .string(let s): listing.revoked = s
        default: return nil
        }
        return listing
    }
}

/// An activation as `ivpack license activations --json` and the admin API show it.
public struct ActivationListing: Sendable, Equatable {
    public var id: Int64
    public var licenseID: String
    public var siteID: String
    public var manifestSHA256: String
    public var installerSubject: String
    public var installerFingerprint: String
    public var createdAt: String

    public init(_ activation: Activation) {
        id = activation.id
        licenseID = activation.licenseID
        siteID = activation.siteID
        manifestSHA256 = activation.manifestSHA256
        installerSubject = activation.installerSubject
        installerFingerprint = activation.installerFingerprint
        createdAt = Timestamp.iso8601(activation.createdAt)
    }

    public var json: JSONValue {
        .object([
            ("id", .integer(id)), ("license", .string(licenseID)), ("site", .string(siteID)),
            ("manifestSHA256", .string(manifestSHA256)), ("installerSubject", .string(installerSubject)),
            ("installerFingerprint", .string(installerFingerprint)), ("createdAt", .string(createdAt)),
        ])
    }

    /// The line of `ivpack license activations`.
    public var line: String {
        "\(id)  \(licenseID)  site \(siteID)  \(createdAt)  manifest \(manifestSHA256)  installer \(installerSubject)"
    }

    public static func parse(_ value: JSONValue) -> ActivationListing? {
        guard let id = value["id"]?.int64Value, let license = value["license"]?.stringValue,
            let site = value["site"]?.stringValue, let manifest = value["manifestSHA256"]?.stringValue,
            let subject = value["installerSubject"]?.stringValue,
            let fingerprint = value["installerFingerprint"]?.stringValue,
            let createdAt = value["createdAt"]?.stringValue
        else { return nil }
        var listing = ActivationListing(
            Activation(
                id: id, licenseID: license, siteID: site, manifestSHA256: manifest, installerSubject: subject,
                installerFingerprint: fingerprint, createdAt: 0, isNew: false))
        listing.createdAt = createdAt
        return listing
    }
}

extension AuditEntry {
    /// The row as the admin API shows it (`at` as ISO 8601 and as seconds).
    public var json: JSONValue {
        .object([
            ("id", .integer(id)), ("at", .string(Timestamp.iso8601(at))), ("atSeconds", .integer(at)),
            ("actor", .string(actor)), ("action", .string(action)), ("result", .string(result)),
            ("detail", .string(detail)),
        ])
    }
}
