/// What `verify-report` found about one sign-off: the manifestation it states and its check.
public struct SignOffOutcome: Sendable {
    /// The sign-off file.
    public var path: String
    /// Its number.
    public var sequence: Int
    /// The role its name claims (and its statement, when they agree).
    public var role: String
    /// The statement, when the file holds one that parses (a claim unless `check` passed).
    public var statement: SignOffStatement?
    /// The signer certificate's subject, when the signature carries it.
    public var signer: String?
    /// The time-stamp's time, when the signature carries a valid RFC 3161 token.
    public var timestamp: Int64?
    /// The check of this sign-off (`signoff.NNN`).
    public var check: Check

    /// The time to show: the time-stamp's when there is one, else the signer's own.
    public var time: (seconds: Int64, source: String)? {
        if let timestamp { return (timestamp, "time-stamp") }
        return statement.map { ($0.signedAt, "signer's clock") }
    }

    /// The outcome as JSON.
    public var json: JSONValue {
        func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        return .object([
            ("file", .string(path)), ("sequence", .integer(sequence)), ("role", .string(role)),
            ("result", .string(check.status == .fail ? "fail" : "pass")),
            ("meaning", optional(statement?.meaning.rawValue)), ("printedName", optional(statement?.printedName)),
            ("position", optional(statement?.position)), ("signer", optional(signer)),
            ("time", optional(time.map { Timestamp.iso8601($0.seconds) })), ("timeSource", optional(time?.source)),
            ("issueDate", optional(statement?.issueDate)), ("note", optional(statement?.note)),
        ])
    }
}

/// What `verify-report` found about an IQ report and all its signatures: a value, never a throw.
public struct SignedReportVerification: Sendable {
    /// The report's path, as given.
    public var report: String
    /// The report's ID, product, version and stated conclusion, when the report parses.
    public var reportID: String?
    public var product: String?
    public var version: String?
    public var conclusion: String?
    /// SHA-256 of the report's bytes.
    public var reportSHA256: String
    /// Every sign-off, in order.
    public var signOffs: [SignOffOutcome]
    /// The single detached signature of ivpack before sign-offs (`REPORT.json.p7s`), when present.
    public var legacy: IQReportVerification?
    /// Every check: one per sign-off (`signoff.NNN`), the legacy `signature`, `report`,
    /// `report.roles`, `audit` when a log was given, and `trust.development` (warning).
    public var checks: [Check]

    /// True when no check failed (warnings allowed).
    public var passed: Bool { !checks.contains { $0.status == .fail } }

    /// The outcome as JSON for `verify-report --json` (format `ivpack-iq-report-verification/2`).
    public var json: JSONValue {
        func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        return .object([
            ("format", .string("ivpack-iq-report-verification/2")), ("report", .string(report)),
            ("result", .string(passed ? "pass" : "fail")), ("reportID", optional(reportID)),
            ("reportSHA256", .string(reportSHA256)), ("product", optional(product)), ("version", optional(version)),
            ("conclusion", optional(conclusion)), ("signOffs", .array(signOffs.map(\.json))),
            (
                "legacySignature",
                legacy.map {
                    .object([
                        ("file", .string($0.signature)), ("signer", optional($0.signer)),
                        ("signingTime", optional($0.signingTime.map(Timestamp.iso8601))),
                    ])
                } ?? .null
            ),
            ("checks", .array(checks.map(\.json))),
        ])
    }
}

extension ReportSignOffs {
    /// Checks the report at `reportPath` (bytes `reportBytes`) and every signature on it: each
    /// sign-off (its CMS signature over its statement; the statement binding these report bytes, its
    /// number and the sign-off before it; the signer's path to a root of `policy`, judged at the
    /// time-stamp's time when a valid RFC 3161 token is present, else `now`; the role proven under
    /// the policy), the legacy detached signature `legacy` when given, the report's rules, that every
    /// role of `policy.reportRoles` has a valid sign-off, and, with `auditLog`, that the log still
    /// holds the events the report recorded.
    public static func verify(
        reportPath: String, reportBytes: [UInt8], signOffs entries: [Entry], legacy: (path: String, der: [UInt8])?,
        policy: TrustPolicy, now: Int64, auditLog: String? = nil
    ) -> SignedReportVerification {
        let reportSHA = SHA256Digest.of(reportBytes).hex
        var outcome = SignedReportVerification(
            report: reportPath, reportSHA256: reportSHA, signOffs: [], legacy: nil, checks: [])
        let parsed = try? JSONParser.parse(
            reportBytes, limits: JSONLimits(maxBytes: IQReport.maxBytes, maxDepth: IQReport.maxDepth))
        outcome.reportID = parsed?["reportID"]?.stringValue
        outcome.product = parsed?["object"]?["product"]?.stringValue
        outcome.version = parsed?["object"]?["version"]?.stringValue
        outcome.conclusion = parsed?["conclusion"]?["result"]?.stringValue
        var development = policy.development
        var previousBytes: [UInt8]?
        for (i, entry) in entries.enumerated() {
            let bytes = (try? InputFile.readAll(path: entry.path, limit: SignedData.maxBytes))
            let result = evaluate(
                entry: entry, position: i + 1, bytes: bytes, previous: previousBytes, reportSHA256: reportSHA,
                reportID: outcome.reportID, policy: policy, now: now)
            if result.developmentRoot { development = true }
            outcome.signOffs.append(result.outcome)
            outcome.checks.append(result.outcome.check)
            previousBytes = bytes
        }
        if let legacy {
            let old = IQReportSignature.verify(
                reportBytes: reportBytes, signatureDER: legacy.der, reportPath: reportPath, signaturePath: legacy.path,
                policy: policy, now: now)
            if var check = old.checks.first(where: { $0.id == .reportSignature }) {
                check.title =
                    "Legacy signature \(legacy.path) (one detached signature, no role, name or meaning signed)"
                check.evidence.append(
                    (
                        "migration",
                        "signed before sign-offs: it proves who signed the report's bytes, not in which role or with what meaning; have each party sign with `ivpack sign-report --role ROLE` (the old signature stays valid beside them)"
                    ))
                outcome.checks.append(check)
            }
            if old.checks.contains(where: { $0.id == .trustDevelopment }) { development = true }
            outcome.legacy = old
        }
        let problems = IQReportRules.problems(reportBytes)
        outcome.checks.append(
            Check(
                .report,
                title: "The report is an ivpack IQ report whose summary, problems and conclusion agree with its checks",
                status: problems.isEmpty ? .pass : .fail, details: problems,
                evidence: [("sha256", reportSHA), ("bytes", String(reportBytes.count))]
                    + (outcome.conclusion.map { [("conclusion", $0)] } ?? [])))
        outcome.checks.append(rolesCheck(outcome.signOffs, legacy: outcome.legacy, policy: policy))
        if let auditLog { outcome.checks.append(IQReportAudit.check(reportBytes: reportBytes, logPath: auditLog)) }
        if development {
            outcome.checks.append(
                Check(
                    .trustDevelopment, status: .warn,
                    details: [
                        "THIS TRUST POLICY OR A SIGNER'S ROOT IS A DEVELOPMENT PKI (\(policy.file)). Report signatures checked with it prove nothing about a real installation."
                    ]))
        }
        return outcome
    }

    static func rolesCheck(_ signOffs: [SignOffOutcome], legacy: IQReportVerification?, policy: TrustPolicy) -> Check {
        let valid = signOffs.filter { $0.check.status != .fail }
        var evidence: [(key: String, value: String)] = [
            (
                "required",
                policy.reportRoles.isEmpty
                    ? "none (the policy sets no reportRoles)" : policy.reportRoles.joined(separator: ", ")
            ),
            (
                "signed",
                valid.isEmpty
                    ? "none" : valid.map { "\($0.role) (\(SignOffsText.number($0.sequence)))" }.joined(separator: ", ")
            ),
        ]
        if legacy != nil { evidence.append(("legacySignature", "present; proves no role")) }
        let missing = policy.reportRoles.filter { role in !valid.contains { $0.role == role } }
        var details: [String] = missing.map { role in
            "required role \"\(role)\" has no valid sign-off: have the \(role) sign with `ivpack sign-report REPORT --role \(role)`"
        }
        if signOffs.isEmpty && legacy == nil { details.append("the report carries no signature at all") }
        return Check(.reportRoles, status: details.isEmpty ? .pass : .fail, details: details, evidence: evidence)
    }

    struct Evaluated {
        var outcome: SignOffOutcome
        var developmentRoot: Bool
    }

    static func evaluate(
        entry: Entry, position: Int, bytes: [UInt8]?, previous: [UInt8]?, reportSHA256: String, reportID: String?,
        policy: TrustPolicy, now: Int64
    ) -> Evaluated {
        let id = CheckID.signOff(entry.sequence)
        let title = "Sign-off \(entry.path) (role \(entry.role))"
        var outcome = SignOffOutcome(
            path: entry.path, sequence: entry.sequence, role: entry.role, statement: nil, signer: nil, timestamp: nil,
            check: Check(id, title: title, status: .pass))
        var evidence: [(key: String, value: String)] = []
        var developmentRoot = false
        func fail(_ detail: String) -> Evaluated {
            outcome.check = Check(id, title: title, status: .fail, details: [detail], evidence: evidence)
            return Evaluated(outcome: outcome, developmentRoot: developmentRoot)
        }
        guard let bytes else { return fail("the file cannot be read") }
        let signed: SignedData
        do { signed = try SignedData.parse(der: bytes, source: entry.path) } catch {
            return fail("not a valid CMS signature: \(error)")
        }
        guard let signer = signed.signerCertificate else {
            return fail("the signature does not carry its signer's certificate")
        }
        outcome.signer = signer.subject
        evidence += [
            ("signer", signer.subject), ("issuer", signer.issuer), ("serial", signer.serialHex),
            ("certificateSHA256", signer.fingerprint.hex),
            ("validity", "\(Timestamp.iso8601(signer.notBefore)) to \(Timestamp.iso8601(signer.notAfter))"),
        ]
        guard let content = signed.encapsulatedContent else {
            return fail("the signature carries no sign-off statement (a detached signature is not a sign-off)")
        }
        if case .invalid(let problem) = signed.verifyEncapsulated() {
            return fail("the signature does not match its statement (\(problem)): the sign-off file was changed")
        }
        let statement: SignOffStatement
        switch SignOffStatement.parse(content) {
        case .failure(let problem): return fail("the signed statement is not a sign-off: \(problem.text)")
        case .success(let s): statement = s
        }
        outcome.statement = statement
        evidence += [
            ("role", statement.role.rawValue), ("meaning", statement.meaning.rawValue),
            ("printedName", statement.printedName),
        ]
        if let position = statement.position { evidence.append(("position", position)) }
        evidence.append(("signedAt", Timestamp.iso8601(statement.signedAt) + " (the signer's clock)"))
        if let date = statement.issueDate { evidence.append(("issueDate", date)) }
        if let note = statement.note { evidence.append(("note", note)) }
        guard statement.reportSHA256 == reportSHA256 else {
            return fail(
                "the sign-off is for a report with SHA-256 \(statement.reportSHA256), but this report has SHA-256 \(reportSHA256): the report was changed after it was signed"
            )
        }
        guard statement.reportID == reportID else {
            return fail("the sign-off names report \(statement.reportID), not \(reportID ?? "(none)")")
        }
        guard statement.role.rawValue == entry.role, statement.sequence == entry.sequence else {
            return fail(
                "the file name says \(SignOffsText.number(entry.sequence))-\(entry.role) but the signed statement says \(SignOffsText.number(statement.sequence))-\(statement.role.rawValue): the file was renamed"
            )
        }
        guard statement.sequence == position else {
            return fail(
                "it is sign-off \(SignOffsText.number(statement.sequence)) but the \(SignOffsText.ordinal(position)) file: "
                    + (statement.sequence > position
                        ? "a sign-off before it is missing"
                        : "another sign-off carries number \(SignOffsText.number(statement.sequence)) too (copied in beside it); only the first counts")
            )
        }
        let expectedPrevious = previous.map { SHA256Digest.of($0).hex }
        guard statement.previousSHA256 == expectedPrevious else {
            return fail(
                expectedPrevious == nil
                    ? "the statement names a sign-off before it, but there is none: a sign-off before it was removed"
                    : "the sign-off before it (\(SignOffsText.number(position - 1))) is not the one it was signed after: that file was changed or replaced"
            )
        }
        guard statement.signerCertificateSHA256 == signer.fingerprint.hex, statement.signerSubject == signer.subject
        else {
            return fail("the statement names another certificate than the one that signed it")
        }
        // The chain is judged at a valid RFC 3161 token's time, so a sign-off outlives its
        // certificate; without one, now. As for bundle signatures (SignerTrust).
        let trust = SignerTrust(signed: signed, signer: signer, policy: policy, now: now)
        if let failure = trust.failure { return fail(failure) }
        outcome.timestamp = trust.timestamp
        evidence += trust.evidence
        let chain = trust.chain
        let root = trust.root
        developmentRoot = trust.developmentRoot
        if case .invalid(let reason, _, _) = chain {
            if signed.timestampToken == nil && signer.notAfter < now {
                return fail(
                    "the signer's certificate expired on \(Timestamp.iso8601(signer.notAfter)) and the sign-off carries no RFC 3161 time-stamp, so it is judged now: a sign-off outlives its certificate only with a time-stamp (sign-report --tsa URL). Have the \(statement.role.rawValue) sign again with a current certificate (\(reason))"
                )
            }
            return fail(
                "the signer's certificate is not trusted by the policy: \(reason)"
                    + (trust.staleRevocation.map { ": " + $0 } ?? ""))
        }
        if let stale = trust.staleRevocation {
            return fail("the signer's revocation status cannot be confirmed: \(stale)")
        }
        for freshness in trust.crlFreshness where freshness.state != .current {
            evidence.append(("crlFreshness", freshness.message(policyFile: policy.file)))
        }
        if developmentRoot && !policy.development {
            return fail(
                "the signer chains to a development root (\(root?.subject ?? "")), which this policy does not accept")
        }
        let rule = policy.reportRoleRule(statement.role)
        let how = [
            rule.certificatePolicy.map { "certificate policy \($0)" }, rule.subjectOU.map { "subject OU \"\($0)\"" },
        ].compactMap { $0 }.joined(separator: " and ")
        guard rule.matches(signer) else {
            return fail(
                "the sign-off claims role \"\(statement.role.rawValue)\" but the certificate does not prove it (needs \(how))"
            )
        }
        if let oid = rule.certificatePolicy, case .invalid(let reason, _, _) = trust.validate(requiredPolicy: oid) {
            return fail(
                "the sign-off claims role \"\(statement.role.rawValue)\"; the certificate carries its policy, but the path does not allow it: \(reason)"
            )
        }
        evidence.append(("roleProof", how))
        outcome.check = Check(id, title: title, status: .pass, evidence: evidence)
        return Evaluated(outcome: outcome, developmentRoot: developmentRoot)
    }
}

/// Numbers as sign-off file names write them.
enum SignOffsText {
    static func number(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, 3 - s.count)) + s
    }

    static func ordinal(_ n: Int) -> String {
        switch n {
        case 1: return "first"
        case 2: return "second"
        case 3: return "third"
        default: return "\(n)th"
        }
    }
}

/// The audit log's state recorded in an IQ report (`audit`: the log, its event count and the
/// SHA-256 of its last event when the report was written), and the check that the log still holds
/// those events: a log cut after the report was written (its newest events removed, which its hash
/// chain alone cannot show) is caught.
public struct IQReportAudit: Sendable, Equatable {
    /// The log's path as named by `$IVPACK_AUDIT_LOG`.
    public var log: String
    /// Intact events in the log when the report was written.
    public var events: Int
    /// SHA-256 of event number `events` (its line); nil when the log was empty.
    public var headSHA256: String?

    /// A state with every value given.
    public init(log: String, events: Int, headSHA256: String?) {
        self.log = log
        self.events = events
        self.headSHA256 = headSHA256
    }

    /// The report's `audit` member.
    public var json: JSONValue {
        .object([
            ("log", .string(log)), ("events", .integer(events)),
            ("headSHA256", headSHA256.map { .string($0) } ?? .null),
        ])
    }

    /// The state of the log at `path` now: its intact events and the hash of the last of them.
    public static func current(log path: String) throws -> IQReportAudit {
        let verification = try AuditLog.verify(path: path)
        if verification.isIntact {
            return IQReportAudit(log: path, events: verification.lineCount, headSHA256: verification.headSHA256)
        }
        let count = verification.intactLines
        return IQReportAudit(log: path, events: count, headSHA256: try lineSHA256(path: path, number: count))
    }

    /// SHA-256 of line `number` (1-based) of the log at `path`; nil for 0 or past the end.
    static func lineSHA256(path: String, number: Int) throws -> String? {
        guard number > 0 else { return nil }
        var reader = LineReader(file: try InputFile(path: path), limit: AuditLog.maxLineBytes)
        while let line = try reader.next() {
            if line.number == number { return line.tooLong ? nil : SHA256Digest.of(line.bytes).hex }
        }
        return nil
    }

    /// The `audit` check: the report's recorded state against the log at `logPath`.
    public static func check(reportBytes: [UInt8], logPath: String) -> Check {
        let title = "The audit log still holds every event the report recorded"
        let recorded = try? JSONParser.parse(
            reportBytes, limits: JSONLimits(maxBytes: IQReport.maxBytes, maxDepth: IQReport.maxDepth))["audit"]
        guard let recorded, let events = recorded["events"]?.int64Value else {
            return Check(
                .audit, title: title, status: .fail,
                details: [
                    "the report records no audit log state (it was written without $IVPACK_AUDIT_LOG, or before ivpack recorded it): nothing to compare the log with"
                ])
        }
        let head = recorded["headSHA256"]?.stringValue
        var evidence: [(key: String, value: String)] = [
            ("log", logPath), ("recordedLog", recorded["log"]?.stringValue ?? "?"), ("recordedEvents", String(events)),
            ("recordedHeadSHA256", head ?? "none (empty log)"),
        ]
        let verification: AuditVerification
        do { verification = try AuditLog.verify(path: logPath) } catch {
            return Check(
                .audit, title: title, status: .fail, details: ["the log cannot be read: \(error)"], evidence: evidence)
        }
        evidence.append(("events", String(verification.lineCount)))
        var details: [String] = []
        if let problem = verification.problem {
            details.append("the log is broken: \(problem) (ivpack audit verify \(logPath) says more)")
        }
        if Int64(verification.intactLines) < events {
            details.append(
                "the log has \(verification.intactLines) intact events, but the report recorded \(events): events were removed (the log was cut) after the report was written"
            )
        } else if let line = try? lineSHA256(path: logPath, number: Int(events)), line != head {
            details.append(
                "event \(events) of the log has SHA-256 \(line), but the report recorded \(head ?? "none"): the log was replaced or rewritten"
            )
        }
        return Check(
            .audit, title: title, status: details.isEmpty ? .pass : .fail, details: details, evidence: evidence)
    }
}
