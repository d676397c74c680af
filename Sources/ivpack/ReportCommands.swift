import ArgumentParser
import Foundation
import IVPack

struct SignReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-report",
        abstract:
            "Sign an IQ report: a detached CMS signature over the report's exact bytes, written to REPORT.json.p7s.",
        discussion: """
            The report must be an IQ report as `ivpack verify --report` wrote it (canonical JSON, \
            format ivpack-iq-report/1, its conclusion agreeing with its checks); it is not changed. \
            The signature (CMS SignedData, DER, SHA-256, with the signer's certificate chain and \
            signing time) goes to REPORT.json.p7s, or --output. Sign with the installer's \
            certificate (installer certificate policy) or a code-signing certificate the site's \
            trust policy trusts. A passphrase for an encrypted key comes from \
            $IVPACK_KEY_PASSPHRASE or --passphrase-file, never from the command line.

            Example:
              ivpack sign-report iq/IQ-pulmoscan.json --key installer.key --cert installer.pem \\
                --chain intermediate-ca.pem
            """
    )

    @Argument(help: "The IQ report (JSON) to sign.")
    var report: String

    @OptionGroup var identity: SigningIdentityOptions<KeyFile>

    @Option(name: .long, help: "Where to write the signature (default: REPORT.p7s beside the report).")
    var output: String?

    @OptionGroup var outputOptions: JSONOutputOptions

    mutating func run() throws {
        try reportingErrors {
            let bytes = try InputFile.readAll(path: report, limit: IQReport.maxBytes)
            let signer = try identity.load()
            let signed = try IQReportSignature.sign(reportBytes: bytes, reportPath: report, identity: signer)
            let path = output ?? IQReportSignature.defaultSignaturePath(for: report)
            try writeOutput(path: path, bytes: signed.der).commit()
            let digest = SHA256Digest.of(bytes).hex
            if outputOptions.json {
                printJSON(
                    .object([
                        ("report", .string(report)), ("signature", .string(path)),
                        ("signer", .string(signer.certificate.subject)),
                        ("reportSHA256", .string(digest)),
                    ]))
            } else {
                print("Signed \(report): \(path)")
                print("  signer \(signer.certificate.subject)")
                print("  report sha256 \(digest)")
            }
        }
    }
}

struct VerifyReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-report",
        abstract:
            "Check a signed IQ report: its signature against the site's trust policy, and its content against the report's rules.",
        discussion: """
            Checks that the detached signature (REPORT.json.p7s, or --signature) matches the report's \
            exact bytes; that the signer's certificate chains to a root of the trust policy (its \
            intermediates and CRLs, at the current time) and carries the installer certificate policy \
            or the code-signing usage; and that the report is a canonical ivpack-iq-report/1 document \
            whose summary, problems and conclusion agree with its checks. Prints who signed, when. \
            Exit 0 when all of that holds, 1 when any does not, 2 when a file is missing or the \
            policy is invalid.

            Example:
              ivpack verify-report iq/IQ-pulmoscan.json --trust /etc/ivpack/trust-policy.yaml
            """
    )

    @Argument(help: "The IQ report (JSON).")
    var report: String

    @Option(name: .long, help: "The site's trust policy (YAML).")
    var trust: String

    @Option(name: .long, help: "The detached signature (default: REPORT.p7s beside the report).")
    var signature: String?

    @Flag(name: .long, help: "Print the outcome as JSON.")
    var json = false

    mutating func run() throws {
        try reportingErrors {
            let policy = try TrustPolicy.load(path: trust)
            let signaturePath = signature ?? IQReportSignature.defaultSignaturePath(for: report)
            let bytes = try InputFile.readAll(path: report, limit: IQReport.maxBytes)
            let der = try InputFile.readAll(path: signaturePath, limit: SignedData.maxBytes)
            let outcome = IQReportSignature.verify(
                reportBytes: bytes, signatureDER: der, reportPath: report, signaturePath: signaturePath,
                policy: policy, now: Timestamp.now())
            if json {
                printJSON(outcome.json)
            } else {
                printReportVerification(outcome)
            }
            if !outcome.passed { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }
}

func printReportVerification(_ outcome: IQReportVerification) {
    print("Report:    \(outcome.report)")
    print("Signature: \(outcome.signature)")
    if let id = outcome.reportID { print("Report ID: \(id)") }
    if let product = outcome.product { print("Object:    \(product) \(outcome.version ?? "")") }
    if let conclusion = outcome.conclusion { print("IQ conclusion: \(conclusion.uppercased())") }
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
    let when = outcome.signingTime.map { " at \(Timestamp.iso8601($0))" } ?? ""
    if outcome.passed {
        print("Result: PASS (signed by \(outcome.signer ?? "?")\(when))")
    } else {
        // The signer named by a signature that does not hold is only a claim.
        print(
            "Result: FAIL (" + (outcome.signer.map { "the signature names \($0)\(when); " } ?? "")
                + "the signature or the report does not hold)")
    }
}

/// Writes `bytes` to a temporary file beside `path`; the caller renames it into place with `commit()`.
func writeOutput(path: String, bytes: [UInt8]) throws -> AtomicOutputFile {
    let file = try AtomicOutputFile(path: path)
    try bytes.withUnsafeBytes { try file.write($0) }
    return file
}
