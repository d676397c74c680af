#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A party that signs an IQ report off (annex A's roles; annex C.1's 评估人员 and 签发人).
public enum ReportRole: String, Sendable, CaseIterable {
    /// The vendor's installation engineer who ran the IQ (提供方安装工程师): performed.
    case installer
    /// The hospital's reviewer of the report (使用方, 审核人): reviewed.
    case hospitalReviewer = "hospital-reviewer"
    /// The vendor's issuer of the report (签发人): approved, and names the issuer and date of issue.
    case vendorIssuer = "vendor-issuer"

    /// What a sign-off in this role means unless `--meaning` says otherwise.
    public var defaultMeaning: SignOffMeaning {
        switch self {
        case .installer: return .performed
        case .hospitalReviewer: return .reviewed
        case .vendorIssuer: return .approved
        }
    }

    /// ivpack's certificate policy proving this role, used unless the trust policy defines the role
    /// itself under `roles`.
    public var certificatePolicy: String {
        switch self {
        case .installer: return WellKnownOID.roleInstaller
        case .hospitalReviewer: return WellKnownOID.roleHospitalReviewer
        case .vendorIssuer: return WellKnownOID.roleVendorIssuer
        }
    }

    /// The role in Chinese and English, as the report's signature table heads it.
    public var label: (zh: String, en: String) {
        switch self {
        case .installer: return ("安装人员", "Installer")
        case .hospitalReviewer: return ("审核人（使用方）", "Reviewer (hospital)")
        case .vendorIssuer: return ("签发人（提供方）", "Issuer (vendor)")
        }
    }
}

/// The meaning of a signature (21 CFR 11.50(a)(3), EU GMP Annex 11 §14): what the signer states by signing.
public enum SignOffMeaning: String, Sendable, CaseIterable {
    /// The signer carried out the installation qualification.
    case performed
    /// The signer reviewed the report and its evidence.
    case reviewed
    /// The signer approved and issued the report.
    case approved

    /// The meaning in Chinese and English.
    public var label: String {
        switch self {
        case .performed: return "执行 performed"
        case .reviewed: return "审核 reviewed"
        case .approved: return "批准签发 approved"
        }
    }
}

/// Why a sign-off could not be made; each case names what to do.
public enum SignOffError: IVPackError, Equatable {
    /// This certificate has signed the report in this role already (exit 1).
    case alreadySigned(path: String, role: String, signer: String)
    /// An existing sign-off is for other report bytes: the report changed after it was signed (exit 1).
    case reportChanged(path: String, signedSHA256: String, reportSHA256: String)
    /// An existing sign-off cannot be read as one (exit 2).
    case unreadable(path: String, problem: String)
    /// The printed name, position or note is not acceptable (exit 2).
    case invalidText(field: String, problem: String)
    /// Another signer added the same sign-off number meanwhile (exit 3).
    case raced(path: String)
    /// As many sign-offs as a report may hold (exit 2).
    case tooMany(Int)

    /// The documented exit status of each case.
    public var exitStatus: ExitStatus {
        switch self {
        case .alreadySigned, .reportChanged: return .checkFailed
        case .unreadable, .invalidText, .tooMany: return .badInput
        case .raced: return .environment
        }
    }

    /// What is wrong and what to do.
    public var description: String {
        switch self {
        case .alreadySigned(let path, let role, let signer):
            return
                "\(signer) has signed this report as \(role) already (\(path)); a certificate signs a report once per role"
        case .reportChanged(let path, let signed, let report):
            return
                "\(path) signs a report with SHA-256 \(signed), but this report has SHA-256 \(report): the report was changed after it was signed. Do not sign it; obtain the report as it was signed, or write a new one with `ivpack verify --report` and have every party sign that"
        case .unreadable(let path, let problem):
            return "\(path): not a sign-off ivpack can read: \(problem). Remove it only if it is not part of the record"
        case .invalidText(let field, let problem):
            return "\(field): \(problem)"
        case .raced(let path):
            return "\(path) appeared while this sign-off was made (another signer was quicker). Run sign-report again"
        case .tooMany(let n):
            return "the report has \(n) sign-offs, the most it may hold (\(ReportSignOffs.maxSignOffs))"
        }
    }
}

/// One sign-off statement (format `ivpack-iq-signoff/1`, Schemas/iq-signoff.schema.json): the
/// manifestation of one electronic signature on an IQ report. It is the content of the CMS
/// signature, so the printed name, the time, the role and the meaning are part of what is signed,
/// and it binds the report (ID and SHA-256 of its exact bytes) and the sign-offs before it (the
/// SHA-256 of the previous sign-off file), so that no sign-off can be moved to another report,
/// reordered or have one before it removed without `verify-report` saying which.
public struct SignOffStatement: Sendable, Equatable {
    /// The format name written in the statement.
    public static let format = "ivpack-iq-signoff/1"
    /// Largest statement accepted.
    public static let maxBytes = 64 << 10
    /// Largest note (problems and corrective actions, annex C), in bytes of UTF-8.
    public static let maxNoteBytes = 16 << 10
    /// Largest printed name or position, in bytes of UTF-8.
    public static let maxNameBytes = 256

    /// 1 for the first sign-off of a report, then 2, 3, ...
    public var sequence: Int
    /// The report's ID.
    public var reportID: String
    /// SHA-256 of the report's exact bytes.
    public var reportSHA256: String
    /// SHA-256 of the previous sign-off file's bytes; nil for the first.
    public var previousSHA256: String?
    /// The role signed in.
    public var role: ReportRole
    /// What the signature means.
    public var meaning: SignOffMeaning
    /// The signer's printed name (21 CFR 11.50(a)(1)).
    public var printedName: String
    /// The signer's position (职务), when given.
    public var position: String?
    /// The signer certificate's subject.
    public var signerSubject: String
    /// SHA-256 of the signer's certificate (DER).
    public var signerCertificateSHA256: String
    /// When the signer signed, by the signer's clock, seconds since 1970 (21 CFR 11.50(a)(2)).
    public var signedAt: Int64
    /// Problems found and corrective actions (annex C), when given.
    public var note: String?

    /// The date of issue (签发日期) a vendor-issuer's sign-off states: the UTC date of `signedAt`.
    public var issueDate: String? { role == .vendorIssuer ? String(Timestamp.iso8601(signedAt).prefix(10)) : nil }

    /// The statement as JSON.
    public var json: JSONValue {
        func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        let issue: JSONValue =
            role == .vendorIssuer
            ? .object([
                ("issuer", .string(printedName)), ("position", optional(position)), ("date", optional(issueDate)),
            ]) : .null
        return .object([
            ("format", .string(Self.format)), ("sequence", .integer(sequence)),
            ("report", .object([("reportID", .string(reportID)), ("sha256", .string(reportSHA256))])),
            ("previousSHA256", optional(previousSHA256)), ("role", .string(role.rawValue)),
            ("meaning", .string(meaning.rawValue)),
            (
                "signer",
                .object([
                    ("printedName", .string(printedName)), ("position", optional(position)),
                    ("subject", .string(signerSubject)), ("certificateSHA256", .string(signerCertificateSHA256)),
                ])
            ),
            ("signedAt", .string(Timestamp.iso8601(signedAt))), ("issue", issue), ("note", optional(note)),
        ])
    }

    /// The canonical JSON bytes: what is signed.
    public var canonicalBytes: [UInt8] { CanonicalJSON.encode(json) }

    /// Reads statement `bytes`; the problem in words when they are not a statement exactly as ivpack writes one.
    public static func parse(_ bytes: [UInt8]) -> Result<SignOffStatement, SignOffStatementProblem> {
        func problem(_ text: String) -> Result<SignOffStatement, SignOffStatementProblem> {
            .failure(SignOffStatementProblem(text: text))
        }
        guard bytes.count <= maxBytes else { return problem("the statement is larger than \(maxBytes) bytes") }
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes, limits: JSONLimits(maxBytes: maxBytes, maxDepth: 4))
        } catch {
            return problem("the statement is not JSON: \(error)")
        }
        guard value["format"]?.stringValue == format else {
            return problem("the statement's format is not \(format)")
        }
        func hex(_ v: JSONValue?) -> String? {
            guard let s = v?.stringValue, s.utf8.count == 64, SHA256Digest(hex: s) != nil, s == s.lowercased() else {
                return nil
            }
            return s
        }
        guard let sequence = value["sequence"]?.int64Value, (1...Int64(ReportSignOffs.maxSignOffs)).contains(sequence)
        else { return problem("/sequence is not a number from 1 to \(ReportSignOffs.maxSignOffs)") }
        guard let reportID = value["report"]?["reportID"]?.stringValue, let reportSHA = hex(value["report"]?["sha256"])
        else { return problem("/report needs reportID and sha256 (64 lower-case hex digits)") }
        let previous = value["previousSHA256"]
        guard previous == .null || hex(previous) != nil else {
            return problem("/previousSHA256 is neither null nor 64 lower-case hex digits")
        }
        guard let roleText = value["role"]?.stringValue, let role = ReportRole(rawValue: roleText) else {
            return problem("/role is not installer, hospital-reviewer or vendor-issuer")
        }
        guard let meaningText = value["meaning"]?.stringValue, let meaning = SignOffMeaning(rawValue: meaningText)
        else { return problem("/meaning is not performed, reviewed or approved") }
        let signer = value["signer"]
        guard let name = signer?["printedName"]?.stringValue, let subject = signer?["subject"]?.stringValue,
            let fingerprint = hex(signer?["certificateSHA256"])
        else { return problem("/signer needs printedName, subject and certificateSHA256") }
        guard let at = value["signedAt"]?.stringValue, let signedAt = Timestamp.parseISO8601(at) else {
            return problem("/signedAt is not a UTC time as YYYY-MM-DDThh:mm:ssZ")
        }
        let statement = SignOffStatement(
            sequence: Int(sequence), reportID: reportID, reportSHA256: reportSHA, previousSHA256: hex(previous),
            role: role, meaning: meaning, printedName: name, position: signer?["position"]?.stringValue,
            signerSubject: subject, signerCertificateSHA256: fingerprint, signedAt: signedAt,
            note: value["note"]?.stringValue)
        // Anything else (an unknown member, an issue block that does not match, whitespace) shows as a
        // difference from the canonical form ivpack writes.
        guard statement.canonicalBytes == bytes else {
            return problem(
                "the statement is not exactly as ivpack writes it (canonical JSON, members of \(format) only, an issue block on a vendor-issuer's sign-off only)"
            )
        }
        return .success(statement)
    }

    /// Checks a printed name or position: 1 to `maxNameBytes` bytes, no control characters.
    public static func checkName(_ text: String, field: String) throws {
        guard !text.trimmingSpaces.isEmpty else { throw SignOffError.invalidText(field: field, problem: "is empty") }
        guard text.utf8.count <= maxNameBytes else {
            throw SignOffError.invalidText(field: field, problem: "is longer than \(maxNameBytes) bytes")
        }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            throw SignOffError.invalidText(field: field, problem: "contains a control character")
        }
    }

    /// The note from the bytes of `--note-file`: valid UTF-8, at most `maxNoteBytes`, no control
    /// characters but tab and newline (CR LF becomes LF).
    public static func note(bytes: [UInt8], file: String) throws -> String {
        guard bytes.count <= maxNoteBytes else {
            throw SignOffError.invalidText(
                field: file, problem: "the note is \(bytes.count) bytes, more than \(maxNoteBytes); shorten it")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SignOffError.invalidText(field: file, problem: "the note is not valid UTF-8; save it as UTF-8")
        }
        let normalised = text.replacingAll("\r\n", with: "\n")
        if let bad = normalised.unicodeScalars.first(where: {
            ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || (0x7F...0x9F).contains($0.value)
        }) {
            throw SignOffError.invalidText(
                field: file, problem: "the note contains the control character U+\(String(bad.value, radix: 16))")
        }
        guard !normalised.trimmingSpaces.isEmpty else {
            throw SignOffError.invalidText(field: file, problem: "the note is empty")
        }
        return normalised
    }
}

/// Why statement bytes are not a sign-off statement.
public struct SignOffStatementProblem: Error, Sendable, Equatable {
    /// The problem in words.
    public var text: String
}

extension String {
    fileprivate var trimmingSpaces: Substring {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return Substring(scalars[first...last])
    }

    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        var out = ""
        var rest = self[...]
        while let range = rest.range(of: target) {
            out += rest[..<range.lowerBound]
            out += replacement
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}

/// What one sign-off signs in, beyond the signer's identity.
public struct SignOffRequest: Sendable {
    /// The role.
    public var role: ReportRole
    /// The meaning; nil: the role's default.
    public var meaning: SignOffMeaning?
    /// The printed name; nil: the certificate's common name.
    public var printedName: String?
    /// The position (职务), when given.
    public var position: String?
    /// The note (problems and corrective actions), already checked by `SignOffStatement.note`.
    public var note: String?
    /// The signer's clock, seconds since 1970.
    public var now: Int64
    /// An RFC 3161 time-stamping authority's URL, when the signature is to be time-stamped.
    public var timestampAuthority: String?
    /// Seconds to wait for the authority.
    public var timestampTimeout: Int

    /// A request with every value given.
    public init(
        role: ReportRole, meaning: SignOffMeaning? = nil, printedName: String? = nil, position: String? = nil,
        note: String? = nil, now: Int64, timestampAuthority: String? = nil,
        timestampTimeout: Int = RFC3161.defaultTimeoutSeconds
    ) {
        self.role = role
        self.meaning = meaning
        self.printedName = printedName
        self.position = position
        self.note = note
        self.now = now
        self.timestampAuthority = timestampAuthority
        self.timestampTimeout = timestampTimeout
    }
}

/// The sign-offs of an IQ report: each party (installer, hospital reviewer, vendor issuer) appends
/// its own, and none is ever rewritten.
///
/// Design: every sign-off is its own file beside the report, `REPORT.json.NNN-ROLE.p7s` (as bundle
/// signatures are `NNN-ROLE.p7s` entries), holding one CMS SignedData whose encapsulated content is
/// the `SignOffStatement`. Chosen over one CMS with several SignerInfos and over one file holding a
/// sequence because (1) a new file is created with `link(2)`, which fails when the name exists,
/// under an exclusive lock on the report that serialises signers, so a second signer can never
/// overwrite or lose the first, even concurrently, and no earlier signature is ever rewritten; (2) each signer signs different content (their own name, time,
/// meaning and the digest of the sign-offs before them), which parallel SignerInfos over one
/// content cannot carry without private signed attributes that other tools do not show; (3) each
/// file stands alone: `openssl cms -verify -inform DER -in FILE` checks it and prints the statement.
/// The manifestation is the statement (not signed attributes) for the same reason: it is readable
/// JSON, schema-checked, and shown as signed.
public enum ReportSignOffs {
    /// The most sign-offs a report may hold.
    public static let maxSignOffs = 64

    /// A sign-off file found beside a report.
    public struct Entry: Sendable, Equatable {
        /// The number in its name (1-based).
        public var sequence: Int
        /// The role in its name, as written.
        public var role: String
        /// Its path.
        public var path: String
    }

    /// The path of sign-off `sequence` in `role` of the report at `reportPath`.
    public static func path(for reportPath: String, sequence: Int, role: ReportRole) -> String {
        let n = String(sequence)
        return reportPath + "." + String(repeating: "0", count: max(0, 3 - n.count)) + n + "-" + role.rawValue + ".p7s"
    }

    /// The sign-off files beside the report at `reportPath`, by number: every `REPORT.NNN-ROLE.p7s`.
    public static func discover(reportPath: String) throws -> [Entry] {
        let slash = reportPath.lastIndex(of: "/")
        let folder = slash.map { $0 == reportPath.startIndex ? "/" : String(reportPath[..<$0]) } ?? "."
        let base = slash.map { String(reportPath[reportPath.index(after: $0)...]) } ?? reportPath
        guard let dir = opendir(folder) else {
            throw FileSystemError(operation: "list the report's folder", path: folder, code: errno, isInput: true)
        }
        defer { closedir(dir) }
        var found: [Entry] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            guard name.hasPrefix(base + "."), name.hasSuffix(".p7s") else { continue }
            let middle = Array(name.utf8.dropFirst(base.utf8.count + 1).dropLast(4))
            guard middle.count >= 5, middle[0..<3].allSatisfy({ (0x30...0x39).contains($0) }),
                middle[3] == UInt8(ascii: "-")
            else { continue }
            let number = Int(String(decoding: middle[0..<3], as: UTF8.self))!
            let role = String(decoding: middle[4...], as: UTF8.self)
            found.append(
                Entry(sequence: number, role: role, path: folder == "." && slash == nil ? name : folder + "/" + name))
        }
        return found.sorted { ($0.sequence, $0.path) < ($1.sequence, $1.path) }
    }

    /// What `sign` made.
    public struct Made: Sendable {
        /// The new sign-off file.
        public var path: String
        /// What it states.
        public var statement: SignOffStatement
        /// The time-stamp's time, when the signature was time-stamped.
        public var timestamp: Int64?
    }

    /// Appends a sign-off to the report at `reportPath` (whose exact bytes are `reportBytes`): checks
    /// that the report follows its rules and that every existing sign-off is for these bytes, writes
    /// the statement signed by `identity` (time-stamped when asked) as the next numbered file, and
    /// never replaces a file. Throws `InputError` (kind `.report`) for a report that breaks its rules,
    /// `SignOffError` for the cases it lists, `TimestampAuthorityError` when the authority fails.
    public static func sign(
        reportPath: String, reportBytes: [UInt8], request: SignOffRequest, identity: SigningIdentity
    ) throws -> Made {
        // The signer first, as for every signature: a weak or CA certificate is refused whatever it signs.
        try SigningIdentityCheck.require(identity.certificate, chain: identity.chain)
        let problems = IQReportRules.problems(reportBytes)
        guard problems.isEmpty else { throw InputError.report(reportPath, problems: problems) }
        // One signer at a time per report: the number, the digest of the sign-off before and the new
        // file are decided under an exclusive lock on the report, so two parties signing at the same
        // moment get 001 and 002, never two 001s. link(2) below still refuses to replace a file.
        let lock = open(reportPath, O_RDONLY | O_CLOEXEC)
        guard lock >= 0 else {
            throw FileSystemError(operation: "open the report to lock it", path: reportPath, code: errno, isInput: true)
        }
        defer { close(lock) }
        guard flock(lock, LOCK_EX) == 0 else {
            throw FileSystemError(operation: "lock the report", path: reportPath, code: errno, isInput: false)
        }
        let reportSHA = SHA256Digest.of(reportBytes).hex
        let reportID =
            (try? JSONParser.parse(reportBytes, limits: JSONLimits(maxBytes: IQReport.maxBytes, maxDepth: 8)))?[
                "reportID"]?.stringValue ?? ""
        let existing = try discover(reportPath: reportPath)
        guard existing.count < maxSignOffs else { throw SignOffError.tooMany(existing.count) }
        var previous: [UInt8]?
        for entry in existing {
            let bytes = try InputFile.readAll(path: entry.path, limit: SignedData.maxBytes)
            let signed: SignedData
            do { signed = try SignedData.parse(der: bytes, source: entry.path) } catch {
                throw SignOffError.unreadable(path: entry.path, problem: "\(error)")
            }
            guard let content = signed.encapsulatedContent else {
                throw SignOffError.unreadable(path: entry.path, problem: "the signature carries no statement")
            }
            switch SignOffStatement.parse(content) {
            case .failure(let problem):
                throw SignOffError.unreadable(path: entry.path, problem: problem.text)
            case .success(let statement):
                guard statement.reportSHA256 == reportSHA else {
                    throw SignOffError.reportChanged(
                        path: entry.path, signedSHA256: statement.reportSHA256, reportSHA256: reportSHA)
                }
                if statement.role == request.role,
                    statement.signerCertificateSHA256 == identity.certificate.fingerprint.hex
                {
                    throw SignOffError.alreadySigned(
                        path: entry.path, role: request.role.rawValue, signer: identity.certificate.subject)
                }
            }
            previous = bytes
        }
        let sequence = (existing.last?.sequence ?? 0) + 1
        guard sequence <= maxSignOffs else { throw SignOffError.tooMany(existing.count) }
        let name =
            request.printedName ?? identity.certificate.subjectValues("CN").first ?? identity.certificate.subject
        try SignOffStatement.checkName(name, field: "--name")
        if let position = request.position { try SignOffStatement.checkName(position, field: "--position") }
        let statement = SignOffStatement(
            sequence: sequence, reportID: reportID, reportSHA256: reportSHA,
            previousSHA256: previous.map { SHA256Digest.of($0).hex }, role: request.role,
            meaning: request.meaning ?? request.role.defaultMeaning, printedName: name, position: request.position,
            signerSubject: identity.certificate.subject,
            signerCertificateSHA256: identity.certificate.fingerprint.hex, signedAt: request.now, note: request.note)
        var signed = try SignedData.signAttached(
            content: statement.canonicalBytes, certificate: identity.certificate, key: identity.key,
            chain: identity.chain)
        var stamped: Int64?
        if let url = request.timestampAuthority {
            signed = try RFC3161.timestamp(signed, authority: url, timeout: request.timestampTimeout)
            if let token = signed.timestampToken { stamped = RFC3161.genTime(ofToken: token) }
        }
        let path = path(for: reportPath, sequence: sequence, role: request.role)
        Failpoint.reach("sign-report.before-link")
        try writeExclusively(signed.der, to: path)
        return Made(path: path, statement: statement, timestamp: stamped)
    }

    /// Writes `bytes` to a new file at `path`: written and flushed under a temporary name, then
    /// linked to `path`, which fails (`SignOffError.raced`) when `path` exists. Never replaces a file.
    static func writeExclusively(_ bytes: [UInt8], to path: String) throws {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        var template = Array("\(path).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FileSystemError(
                operation: "create a temporary file beside it", path: path, code: errno, isInput: false)
        }
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { unlink(temporary) }
        do {
            defer { close(fd) }
            fchmod(fd, 0o644)
            try bytes.withUnsafeBytes { try writeFully(fd, $0, path: temporary) }
            guard fsync(fd) == 0 else {
                throw FileSystemError(operation: "flush to disk", path: temporary, code: errno, isInput: false)
            }
        }
        guard link(temporary, path) == 0 else {
            if errno == EEXIST { throw SignOffError.raced(path: path) }
            throw FileSystemError(
                operation: "link the finished sign-off into place", path: path, code: errno, isInput: false)
        }
        let dfd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
