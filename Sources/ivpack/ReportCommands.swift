import ArgumentParser
import Foundation
import IVPack

#if canImport(Glibc)
    import Glibc
#endif

struct SignReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-report",
        abstract: "Sign an IQ report off in a role: appends REPORT.json.NNN-ROLE.p7s, never replacing a signature.",
        discussion: """
            The report must be an IQ report as `ivpack verify --report` wrote it (canonical JSON, \
            format ivpack-iq-report/1, its conclusion agreeing with its checks); it is not changed. \
            Each party signs in turn, in its role: installer (meaning: performed), hospital-reviewer \
            (reviewed), vendor-issuer (approved; names the issuer and the date of issue). The \
            sign-off is a statement (format ivpack-iq-signoff/1) binding the report's SHA-256 and ID, \
            the role, the meaning, the signer's printed name (--name, default the certificate's \
            common name), the time and the sign-off before it, signed as CMS with the statement \
            inside, written as the next REPORT.json.NNN-ROLE.p7s. With --note-file, the problems \
            found and corrective actions (annex C) are part of the statement. With --tsa, an RFC 3161 \
            time-stamp keeps the sign-off verifiable after the certificate expires. A passphrase for \
            an encrypted key comes from $IVPACK_KEY_PASSPHRASE or --passphrase-file. Exit 1 when \
            this certificate signed in this role already or the report changed since the first \
            sign-off, 2 for a report or note that is not valid, 3 when the time-stamping authority fails.

            Example:
              ivpack sign-report iq/IQ-pulmoscan.json --role installer \\
                --key installer.key --cert installer.pem --chain intermediate-ca.pem
              ivpack sign-report iq/IQ-pulmoscan.json --role vendor-issuer \\
                --name "Zhang Wei" --position "Quality Manager" --key issuer.key \\
                --cert issuer.pem --tsa http://tsa.example/
            """
    )

    @Argument(help: "The IQ report (JSON) to sign.", completion: .file())
    var report: String

    @OptionGroup var identity: SigningIdentityOptions<KeyFile>

    @Option(name: .long, help: "The role signed in: installer, hospital-reviewer or vendor-issuer.")
    var role: String

    @Option(name: .long, help: "What the signature means: performed, reviewed or approved (default: by role).")
    var meaning: String?

    @Option(name: .long, help: "The signer's printed name (default: the certificate's common name).")
    var name: String?

    @Option(name: .long, help: "The signer's position (职务), shown with the name.")
    var position: String?

    @Option(
        name: .long, help: "A UTF-8 text file of problems found and corrective actions, signed with the sign-off.",
        completion: .file())
    var noteFile: String?

    @Option(name: .long, help: "An RFC 3161 time-stamping authority (http:// or https://) to time-stamp the signature.")
    var tsa: String?

    @Option(name: .long, help: "Seconds to wait for the time-stamping authority.")
    var tsaTimeout: Int = 20

    @OptionGroup var outputOptions: JSONOutputOptions

    func validate() throws {
        guard ReportRole(rawValue: role) != nil else {
            throw ValidationError("--role must be one of: installer, hospital-reviewer, vendor-issuer")
        }
        if let meaning, SignOffMeaning(rawValue: meaning) == nil {
            throw ValidationError("--meaning must be one of: performed, reviewed, approved")
        }
    }

    mutating func run() throws {
        try reportingErrors {
            let bytes = try InputFile.readAll(path: report, limit: IQReport.maxBytes)
            let note = try noteFile.map {
                try SignOffStatement.note(
                    bytes: try InputFile.readAll(path: $0, limit: SignOffStatement.maxNoteBytes + 1), file: $0)
            }
            let signer = try identity.load()
            let made = try ReportSignOffs.sign(
                reportPath: report, reportBytes: bytes,
                request: SignOffRequest(
                    role: ReportRole(rawValue: role)!, meaning: meaning.flatMap(SignOffMeaning.init(rawValue:)),
                    printedName: name, position: position, note: note, now: Timestamp.now(),
                    timestampAuthority: tsa, timestampTimeout: tsaTimeout),
                identity: signer)
            let s = made.statement
            if outputOptions.json {
                printJSON(
                    .object([
                        ("report", .string(report)), ("signOff", .string(made.path)),
                        ("statement", s.json),
                        ("timestamp", made.timestamp.map { .string(Timestamp.iso8601($0)) } ?? .null),
                    ]))
            } else {
                print("Signed off \(report) as \(s.role.rawValue) (\(s.meaning.rawValue)): \(made.path)")
                print("  name    \(s.printedName)\(s.position.map { ", \($0)" } ?? "")")
                print("  signer  \(s.signerSubject)")
                print(
                    "  time    \(Timestamp.iso8601(s.signedAt))"
                        + (made.timestamp.map { " (time-stamp \(Timestamp.iso8601($0)))" } ?? ""))
                if let date = s.issueDate { print("  issued  \(date) by \(s.printedName)") }
                if s.note != nil { print("  note    \(noteFile ?? "")") }
                print("  report  sha256 \(s.reportSHA256), sign-off \(s.sequence)")
            }
        }
    }
}

struct VerifyReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-report",
        abstract:
            "Check a signed IQ report: every sign-off against the site's trust policy, the roles it requires, and the report's rules.",
        discussion: """
            Finds every sign-off beside the report (REPORT.json.NNN-ROLE.p7s) and the single \
            signature of earlier ivpack versions (REPORT.json.p7s, or --signature), and lists each \
            with its role, printed name, signer, meaning and time (the time-stamp's when present). \
            Each sign-off must match its signed statement, bind this report's exact bytes and the \
            sign-off before it, chain to a root of the trust policy (at the time-stamp's time when \
            present, else now) and prove its role (the policy's rule for the role under roles, else \
            ivpack's certificate policy for it). Every role of the policy's reportRoles needs a valid \
            sign-off. With --audit-log, the log must still hold the events the report recorded. With \
            --html, the report's page is written with the verified sign-off table. Exit 0 when all \
            holds, 1 when any does not, 2 when the report has no signature, a file is missing or the \
            policy is invalid.

            Example:
              ivpack verify-report iq/IQ-pulmoscan.json \\
                --trust /etc/ivpack/trust-policy.yaml \\
                --audit-log /var/log/ivpack/audit.jsonl \\
                --html iq/IQ-pulmoscan-signed.html
            """
    )

    @Argument(help: "The IQ report (JSON).", completion: .file())
    var report: String

    @Option(name: .long, help: "The site's trust policy (YAML).", completion: .file(extensions: ["yaml", "yml"]))
    var trust: String

    @Option(
        name: .long, help: "A single detached signature of an earlier ivpack (default: REPORT.p7s, if present).",
        completion: .file())
    var signature: String?

    @Option(
        name: .long, help: "The audit log to hold against the event count and head hash the report recorded.",
        completion: .file())
    var auditLog: String?

    @Option(
        name: .long, help: "Write the report's HTML page, with the verified sign-off table, to this file.",
        completion: .file())
    var html: String?

    @Flag(name: .long, help: "Print the outcome as JSON.")
    var json = false

    mutating func run() throws {
        try reportingErrors {
            let policy = try TrustPolicy.load(path: trust)
            let bytes = try InputFile.readAll(path: report, limit: IQReport.maxBytes)
            let entries = try ReportSignOffs.discover(reportPath: report)
            var legacy: (path: String, der: [UInt8])?
            let legacyPath = signature ?? IQReportSignature.defaultSignaturePath(for: report)
            if signature != nil || access(legacyPath, F_OK) == 0 {
                legacy = (legacyPath, try InputFile.readAll(path: legacyPath, limit: SignedData.maxBytes))
            }
            guard !entries.isEmpty || legacy != nil else {
                throw InputError(
                    .report,
                    Diagnostic(
                        file: report,
                        problem: "carries no signature: no sign-off \(report).NNN-ROLE.p7s and no \(legacyPath)",
                        hint: "Have each party sign it with `ivpack sign-report \(report) --role ROLE`"))
            }
            let outcome = ReportSignOffs.verify(
                reportPath: report, reportBytes: bytes, signOffs: entries, legacy: legacy, policy: policy,
                now: Timestamp.now(), auditLog: auditLog)
            // A page is made only of a report that keeps its rules; otherwise the `report` check
            // has failed already and says why.
            let page = html.flatMap { _ in IQReportHTML.render(reportBytes: bytes, verification: outcome) }
            if let html, let page { try writeOutput(path: html, bytes: Array(page.utf8)).commit() }
            if json {
                printJSON(outcome.json)
            } else {
                printReportVerification(outcome)
                if let html {
                    print(page == nil ? "HTML:      not written: the report breaks its rules" : "HTML:      \(html)")
                }
            }
            if !outcome.passed { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }
}

func printReportVerification(_ outcome: SignedReportVerification) {
    print("Report:    \(outcome.report)")
    if let id = outcome.reportID { print("Report ID: \(id)") }
    if let product = outcome.product { print("Object:    \(product) \(outcome.version ?? "")") }
    print("SHA-256:   \(outcome.reportSHA256)")
    if let conclusion = outcome.conclusion { print("IQ conclusion: \(conclusion.uppercased())") }
    print("")
    print("Signatures:")
    for s in outcome.signOffs {
        let status = s.check.status == .fail ? "FAIL" : "ok  "
        let time = s.time.map { "\(Timestamp.iso8601($0.seconds)) (\($0.source))" } ?? "?"
        print(
            "  \(status) \(String(format: "%03d", s.sequence)) \(s.role), \(s.statement?.meaning.rawValue ?? "?"): \(s.statement?.printedName ?? "?")\(s.statement?.position.map { ", \($0)" } ?? "")"
        )
        print("         signer \(s.signer ?? "?")")
        print("         time   \(time)")
        if let date = s.statement?.issueDate { print("         issued \(date) by \(s.statement?.printedName ?? "?")") }
    }
    if let legacy = outcome.legacy {
        let ok = legacy.checks.first { $0.id == .reportSignature }?.status == .pass
        print("  \(ok ? "ok  " : "FAIL") legacy \(legacy.signature): no role, name or meaning signed")
        print("         signer \(legacy.signer ?? "?")")
        print("         time   \(legacy.signingTime.map { "\(Timestamp.iso8601($0)) (signer's clock)" } ?? "?")")
    }
    print("")
    for check in outcome.checks {
        let label: String
        switch check.status {
        case .pass: label = "PASS"
        case .fail: label = "FAIL"
        case .warn: label = "WARN"
        }
        print("\(label)  \(check.id): \(check.title)")
        for d in check.details { print("      - \(d)") }
        for e in check.evidence { print("      \(e.key): \(e.value)") }
    }
    print("")
    var signed = outcome.signOffs.filter { $0.check.status != .fail }.map { s in
        "\(s.signer ?? "?") as \(s.role)" + (s.time.map { " at \(Timestamp.iso8601($0.seconds))" } ?? "")
    }
    if let legacy = outcome.legacy, outcome.checks.contains(where: { $0.id == .reportSignature && $0.status == .pass })
    {
        signed.append(
            "\(legacy.signer ?? "?")" + (legacy.signingTime.map { " at \(Timestamp.iso8601($0))" } ?? "")
                + " (legacy signature)")
    }
    if outcome.passed {
        print("Result: PASS (signed by \(signed.joined(separator: "; ")))")
    } else {
        let failed = outcome.checks.filter { $0.status == .fail }.map(\.id.rawValue)
        // A signer named by a signature that does not hold is only a claim: named only when valid.
        print("Result: FAIL (\(failed.joined(separator: ", ")) failed)")
    }
}

/// Writes `bytes` to a temporary file beside `path`; the caller renames it into place with `commit()`.
func writeOutput(path: String, bytes: [UInt8]) throws -> AtomicOutputFile {
    let file = try AtomicOutputFile(path: path)
    try bytes.withUnsafeBytes { try file.write($0) }
    return file
}
