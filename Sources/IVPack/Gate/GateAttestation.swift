/// The release gate's verdict on one manifest as an in-toto Statement v1
/// (https://in-toto.io/Statement/v1): the subject is the manifest (its SHA-256), the predicate
/// (`https://ivpack.dev/gate/v1`) names the gate policy, ivpack's version, the verdict and every
/// rule's result. Written in canonical JSON and carried signed as the encapsulated content of a CMS
/// SignedData in `ivpack/attestations/NNN-gate.p7s` (Schemas/gate-attestation.schema.json).
public struct GateStatement: Sendable, Equatable {
    public static let statementType = "https://in-toto.io/Statement/v1"
    public static let predicateType = "https://ivpack.dev/gate/v1"
    /// Largest statement read back (a few hundred rules at most).
    public static let maxBytes = 64 << 10

    /// One rule's result: `pass`, `warn` (findings that do not block) or `fail` (a blocking finding).
    public struct RuleResult: Sendable, Equatable {
        public var id: String
        public var result: String
        public init(id: String, result: String) {
            self.id = id
            self.result = result
        }
    }

    /// The subject's name: the manifest entry of the bundle.
    public var subjectName: String
    /// SHA-256 of the manifest's bytes.
    public var manifestDigest: SHA256Digest
    /// The gate policy's name: a preset (`nmpa`, `semver`) or the policy file as named.
    public var policy: String
    /// SHA-256 of the policy file; nil for a preset (its rules are ivpack's, named by `ivpackVersion`).
    public var policyDigest: SHA256Digest?
    public var channel: String
    public var ivpackVersion: String
    /// Whether no finding blocked.
    public var passed: Bool
    public var rules: [RuleResult]
    /// When the gate ran, RFC 3339 UTC.
    public var time: String

    public init(
        subjectName: String, manifestDigest: SHA256Digest, policy: String, policyDigest: SHA256Digest?,
        channel: String, ivpackVersion: String, passed: Bool, rules: [RuleResult], time: String
    ) {
        self.subjectName = subjectName
        self.manifestDigest = manifestDigest
        self.policy = policy
        self.policyDigest = policyDigest
        self.channel = channel
        self.ivpackVersion = ivpackVersion
        self.passed = passed
        self.rules = rules
        self.time = time
    }

    /// The statement of `report`, the gate's run on the bundle whose manifest has `manifestDigest`.
    public init(report: GateReport, manifestDigest: SHA256Digest, policyDigest: SHA256Digest?, time: Int64) {
        let rules = report.rulesChecked.map { id -> RuleResult in
            let findings = report.findings.filter { $0.ruleID == id }
            let result =
                findings.contains { $0.severity == .block } ? "fail" : findings.isEmpty ? "pass" : "warn"
            return RuleResult(id: id, result: result)
        }
        self.init(
            subjectName: Manifest.entryPath, manifestDigest: manifestDigest, policy: report.policy,
            policyDigest: policyDigest, channel: report.channel, ivpackVersion: IVPackVersion.current,
            passed: report.passed, rules: rules, time: Timestamp.iso8601(time))
    }

    /// The statement's canonical JSON bytes: what is signed.
    public var bytes: [UInt8] {
        var policyMembers: [(key: String, value: JSONValue)] = [("name", .string(policy))]
        if let policyDigest { policyMembers.append(("sha256", .string(policyDigest.hex))) }
        return CanonicalJSON.encode(
            .object([
                ("_type", .string(Self.statementType)),
                (
                    "subject",
                    .array([
                        .object([
                            ("name", .string(subjectName)),
                            ("digest", .object([("sha256", .string(manifestDigest.hex))])),
                        ])
                    ])
                ),
                ("predicateType", .string(Self.predicateType)),
                (
                    "predicate",
                    .object([
                        ("policy", .object(policyMembers)), ("channel", .string(channel)),
                        ("ivpackVersion", .string(ivpackVersion)), ("result", .string(passed ? "pass" : "fail")),
                        (
                            "rules",
                            .array(rules.map { .object([("id", .string($0.id)), ("result", .string($0.result))]) })
                        ),
                        ("time", .string(time)),
                    ])
                ),
            ]))
    }

    /// Reads a statement strictly: the in-toto type, one subject with a SHA-256, this predicate
    /// type and every predicate field; unknown keys are refused. Throws a message naming the field.
    public static func parse(_ bytes: [UInt8]) throws(StatementError) -> GateStatement {
        let predicate = try StatementReader.read(bytes, predicateType: predicateType)
        let p = predicate.members
        try StatementReader.only(p, ["policy", "channel", "ivpackVersion", "result", "rules", "time"], "predicate")
        guard let policy = p["policy"]?.objectValue else { throw StatementError("predicate.policy must be an object") }
        let pm = Dictionary(policy.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        try StatementReader.only(pm, ["name", "sha256"], "predicate.policy")
        guard let name = pm["name"]?.stringValue, !name.isEmpty else {
            throw StatementError("predicate.policy.name must be a non-empty string")
        }
        var policyDigest: SHA256Digest?
        if let node = pm["sha256"] {
            guard let hex = node.stringValue, let digest = SHA256Digest(hex: hex) else {
                throw StatementError("predicate.policy.sha256 must be 64 hex digits")
            }
            policyDigest = digest
        }
        guard let channel = p["channel"]?.stringValue, let version = p["ivpackVersion"]?.stringValue,
            let time = p["time"]?.stringValue
        else { throw StatementError("predicate.channel, ivpackVersion and time must be strings") }
        guard let result = p["result"]?.stringValue, result == "pass" || result == "fail" else {
            throw StatementError("predicate.result must be \"pass\" or \"fail\"")
        }
        guard let ruleNodes = p["rules"]?.arrayValue else { throw StatementError("predicate.rules must be an array") }
        var rules: [RuleResult] = []
        for (i, node) in ruleNodes.enumerated() {
            guard let members = node.objectValue, members.count == 2,
                let id = members.first(where: { $0.key == "id" })?.value.stringValue,
                let r = members.first(where: { $0.key == "result" })?.value.stringValue,
                ["pass", "warn", "fail"].contains(r)
            else {
                throw StatementError("predicate.rules[\(i)] must be {id, result} with result pass, warn or fail")
            }
            rules.append(RuleResult(id: id, result: r))
        }
        if result == "pass" && rules.contains(where: { $0.result == "fail" }) {
            throw StatementError("predicate.result is pass but a rule failed")
        }
        return GateStatement(
            subjectName: predicate.subjectName, manifestDigest: predicate.digest, policy: name,
            policyDigest: policyDigest, channel: channel, ivpackVersion: version, passed: result == "pass",
            rules: rules, time: time)
    }
}

/// An approver's signed statement that they approve a release the gate did not pass, and why
/// (`ivpack sign --override-gate --reason`): an in-toto Statement v1 about the manifest with
/// predicate `https://ivpack.dev/gate-override/v1`, signed by the approver's own key and
/// appended as `ivpack/attestations/NNN-gate-override.p7s` just before their approval signature.
public struct GateOverrideStatement: Sendable, Equatable {
    public static let predicateType = "https://ivpack.dev/gate-override/v1"
    /// Longest reason accepted, in bytes.
    public static let maxReasonBytes = 4096

    public var manifestDigest: SHA256Digest
    /// The role of the approval the override goes with.
    public var role: String
    /// Why the release is approved without a passing gate.
    public var reason: String
    /// The approval signature entry it goes with.
    public var signatureEntry: String
    /// When, RFC 3339 UTC.
    public var time: String

    public init(manifestDigest: SHA256Digest, role: String, reason: String, signatureEntry: String, time: String) {
        self.manifestDigest = manifestDigest
        self.role = role
        self.reason = reason
        self.signatureEntry = signatureEntry
        self.time = time
    }

    /// The statement's canonical JSON bytes: what is signed.
    public var bytes: [UInt8] {
        CanonicalJSON.encode(
            .object([
                ("_type", .string(GateStatement.statementType)),
                (
                    "subject",
                    .array([
                        .object([
                            ("name", .string(Manifest.entryPath)),
                            ("digest", .object([("sha256", .string(manifestDigest.hex))])),
                        ])
                    ])
                ),
                ("predicateType", .string(Self.predicateType)),
                (
                    "predicate",
                    .object([
                        ("role", .string(role)), ("reason", .string(reason)),
                        ("signature", .string(signatureEntry)), ("time", .string(time)),
                    ])
                ),
            ]))
    }

    /// Reads an override statement strictly; throws a message naming the field.
    public static func parse(_ bytes: [UInt8]) throws(StatementError) -> GateOverrideStatement {
        let predicate = try StatementReader.read(bytes, predicateType: predicateType)
        let p = predicate.members
        try StatementReader.only(p, ["role", "reason", "signature", "time"], "predicate")
        guard let role = p["role"]?.stringValue, let reason = p["reason"]?.stringValue,
            let signature = p["signature"]?.stringValue, let time = p["time"]?.stringValue
        else { throw StatementError("predicate.role, reason, signature and time must be strings") }
        guard !reason.isEmpty else { throw StatementError("predicate.reason is empty") }
        return GateOverrideStatement(
            manifestDigest: predicate.digest, role: role, reason: reason, signatureEntry: signature, time: time)
    }
}

/// A statement that does not have the form ivpack writes.
public struct StatementError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The in-toto Statement v1 envelope common to ivpack's statements.
enum StatementReader {
    struct Predicate {
        var subjectName: String
        var digest: SHA256Digest
        var members: [String: JSONValue]
    }

    static func only(_ members: [String: JSONValue], _ allowed: Set<String>, _ field: String) throws(StatementError) {
        if let extra = members.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw StatementError("\(field) has an unknown member \"\(extra)\"")
        }
    }

    static func read(_ bytes: [UInt8], predicateType: String) throws(StatementError) -> Predicate {
        guard bytes.count <= GateStatement.maxBytes else {
            throw StatementError("the statement is \(bytes.count) bytes, above \(GateStatement.maxBytes)")
        }
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes, limits: JSONLimits(maxBytes: GateStatement.maxBytes))
        } catch {
            throw StatementError("the statement is not JSON: \(error)")
        }
        guard let top = root.objectValue else { throw StatementError("the statement is not a JSON object") }
        let m = Dictionary(top.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        try only(m, ["_type", "subject", "predicateType", "predicate"], "statement")
        guard m["_type"]?.stringValue == GateStatement.statementType else {
            throw StatementError("_type is not \(GateStatement.statementType)")
        }
        guard m["predicateType"]?.stringValue == predicateType else {
            throw StatementError(
                "predicateType is \"\(m["predicateType"]?.stringValue ?? "missing")\", expected \(predicateType)")
        }
        guard let subjects = m["subject"]?.arrayValue, subjects.count == 1, let subject = subjects[0].objectValue,
            let name = subject.first(where: { $0.key == "name" })?.value.stringValue,
            let digest = subject.first(where: { $0.key == "digest" })?.value.objectValue, digest.count == 1,
            digest[0].key == "sha256", let hex = digest[0].value.stringValue, let sha = SHA256Digest(hex: hex)
        else {
            throw StatementError("subject must be one {name, digest: {sha256}} naming the manifest")
        }
        guard let predicate = m["predicate"]?.objectValue else { throw StatementError("predicate must be an object") }
        return Predicate(
            subjectName: name, digest: sha,
            members: Dictionary(predicate.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }))
    }
}
