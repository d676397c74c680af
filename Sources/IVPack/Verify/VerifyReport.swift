/// The result of one check of `verify`: a value with its evidence, never a throw.
public struct Check: Sendable, Equatable {
    public enum Status: String, Sendable {
        case pass, fail, warn
    }

    /// Stable identifier from `VerifyCheckCatalog`, e.g. `entries`, `payload`, `signature.001`.
    public var id: CheckID
    /// What was checked, in words.
    public var title: String
    public var status: Status
    /// Findings, one per line: what failed and where, or what passed.
    public var details: [String]
    /// Facts behind the result (signer subject, roles, times, digests), in a stable order.
    public var evidence: [(key: String, value: String)]

    /// A check with the catalogue's title for `id` unless `title` is given (signature and
    /// environment checks name their subject).
    public init(
        _ id: CheckID, title: String? = nil, status: Status, details: [String] = [],
        evidence: [(key: String, value: String)] = []
    ) {
        self.id = id
        self.title = title ?? VerifyCheckCatalog.title(id)
        self.status = status
        self.details = details
        self.evidence = evidence
    }

    public static func == (a: Check, b: Check) -> Bool {
        a.id == b.id && a.title == b.title && a.status == b.status && a.details == b.details
            && a.evidence.map(\.key) == b.evidence.map(\.key) && a.evidence.map(\.value) == b.evidence.map(\.value)
    }

    var json: JSONValue {
        .object([
            ("id", .string(id.rawValue)), ("title", .string(title)), ("status", .string(status.rawValue)),
            ("details", .array(details.map { .string($0) })),
            ("evidence", .object(evidence.map { ($0.key, .string($0.value)) })),
        ])
    }
}

/// Everything `verify` found about one bundle.
public struct VerifyReport: Sendable {
    public var bundle: String
    public var manifestDigest: SHA256Digest?
    public var product: String?
    public var version: String?
    public var checks: [Check]
    /// Seconds since 1970 when verification started.
    public var time: Int64

    /// True when no check failed (warnings allowed).
    public var passed: Bool { !checks.contains { $0.status == .fail } }

    /// The report as JSON (see Schemas/verify-report.schema.json).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("format", .string("ivpack-verify-report/1")),
            ("bundle", .string(bundle)), ("time", .string(Timestamp.iso8601(time))),
            ("result", .string(passed ? "pass" : "fail")),
            ("checks", .array(checks.map(\.json))),
        ]
        if let manifestDigest { members.append(("manifestSHA256", .string(manifestDigest.hex))) }
        if let product { members.append(("product", .string(product))) }
        if let version { members.append(("version", .string(version))) }
        return .object(members)
    }
}
