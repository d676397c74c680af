import ArgumentParser
import Foundation
import IVPack
import IVPackLicense

struct QualifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qualify",
        abstract:
            "Run the active release's on-site qualification: function checks, latency, concurrency, accuracy, resources.",
        discussion: """
            Runs the qualification the vendor signed into the release's manifest (the spec's \
            qualification: section, docs/qualification.md) against the active release of the \
            install root. First the reference dataset and every probe input are checked against the \
            manifest's SHA-256: a file that is not the vendor's stops the run before any case. Then \
            the release's service is started on a free loopback port ({port}), in the release \
            folder, with a clean environment; each function case runs (an HTTP(S) probe with its \
            expected status, JSON values, regular expression or digest, or a command of the \
            release with its exit status); the reference cases are sent one at a time (latency \
            p50/p95 and accuracy against the labels), then by several clients at once (success \
            rate); the service's memory and CPU and the machine's CPU, memory and disk are sampled \
            throughout; the service is stopped (SIGTERM, 5 s, SIGKILL).

            With --report and --html, the IQ report covers the whole IQ when the install of the \
            active release kept its report (ROOT/.ivpack/reports/RELEASE.iq.json): verification, \
            installation and qualification, from the install's start to now; its conclusion is \
            PASS only when all three ran and passed. Every measured value, each threshold's \
            verdict and the failing cases are in the report and the audit log.

            Exit: 0 every qualification check passed; 1 one failed; 2 bad input (no release \
            installed); 3 environment (the root locked or unreadable).

            Example:
              ivpack qualify --root /opt/example-medical/pulmoscan \\
                --report iq/IQ-pulmoscan.json --html iq/IQ-pulmoscan.html
            """
    )

    @OptionGroup var rootOptions: InstallRootOptions

    @OptionGroup var iq: IQReportOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Accept a threshold this machine cannot measure (gpu-memory without nvidia-smi); needs --reason. Repeatable.",
            valueName: "requirement"))
    var acceptUnchecked: [String] = []

    @Option(name: .long, help: "Why the unchecked thresholds are accepted; recorded in the report.")
    var reason: String?

    @Flag(name: .long, help: "Print the checks and measurements as JSON.")
    var json = false

    @OptionGroup var progressOptions: ProgressOptions

    @OptionGroup var verboseOptions: VerboseOptions

    func validate() throws {
        try validateAcceptance(acceptUnchecked, reason: reason)
        _ = try OutputLevel(quiet: progressOptions.quiet, verbose: verboseOptions.verbose)
    }

    mutating func run() throws {
        let options = self
        let level = try OutputLevel(quiet: options.progressOptions.quiet, verbose: options.verboseOptions.verbose)
        try reportingErrors {
            let release = try Installer.activeRelease(root: options.rootOptions.root)
            try OutputFolder.prepare(options.iq.report, options.iq.html)
            let outcome = runQualification(
                release,
                accepting: options.acceptUnchecked.map {
                    UncheckedAcceptance(requirement: $0, reason: options.reason ?? "")
                })
            let report = qualifiedReport(release: release, outcome: outcome, purpose: options.iq.purpose)
            try options.iq.write(report)
            if options.json {
                printJSON(
                    .object([
                        ("release", .string(release.name)), ("passed", .bool(outcome.passed)),
                        ("checks", .array(outcome.checks.map(\.jsonValue))),
                        ("measurements", outcome.measurements.json),
                        ("conclusion", .string(report.conclusion.rawValue)),
                    ]))
            } else if level == .verdict {
                printQualification(outcome, level: .verdict)
            } else {
                print("Release: \(release.name) (\(release.manifest.product.name) \(release.manifest.version))")
                printQualification(outcome, level: level)
                options.iq.printWritten()
                print("IQ conclusion: \(report.conclusionStatement)")
            }
            if !outcome.passed { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }
}

/// Runs the release's qualification, each check also an audit event (`ivpack qualify check`).
func runQualification(_ release: ActiveRelease, accepting: [UncheckedAcceptance]) -> QualificationOutcome {
    var qualifier = Qualifier(release: release, prober: NIOHTTPProber())
    qualifier.acceptUnchecked = accepting
    let outcome = qualifier.run()
    if let path = ProcessInfo.processInfo.environment["IVPACK_AUDIT_LOG"], !path.isEmpty {
        for check in outcome.checks {
            var parameters = [
                "release=\(release.name)", "check=\(check.id.rawValue)", "status=\(check.status.rawValue)",
            ]
            parameters += check.evidence.map { "\($0.key)=\($0.value)" }
            do {
                _ = try AuditLog.append(
                    path: path,
                    event: AuditEvent(
                        command: "ivpack qualify check", parameters: AuditLog.redact(parameters),
                        result: check.status == .fail ? 1 : 0, durationMs: 0))
            } catch {
                printError("warning: the audit log \(path) could not be appended to: \(error)")
                break
            }
        }
    }
    return outcome
}

/// The IQ report of a qualification: with the install's own report when the root kept it.
func qualifiedReport(release: ActiveRelease, outcome: QualificationOutcome, purpose: String?) -> IQReport {
    guard let recorded = RecordedInstallReport.load(root: release.root, release: release) else {
        return IQReport.qualificationOnly(release: release, qualification: outcome, purpose: purpose, siteID: nil)
    }
    let context = IQReport.Context(
        purpose: purpose ?? recorded.purpose, siteID: recorded.siteID, startTime: recorded.startTime,
        endTime: Timestamp.now(), operatorUser: LocalIdentity.userName(),
        host: LocalIdentity.hostName() ?? "unknown host", operatingSystem: LocalIdentity.operatingSystem(),
        vendor: recorded.vendor, bundleBytes: recorded.bundleBytes)
    return IQReport.qualified(recorded.verification, qualification: outcome, context: context)
}

/// One line a check, its findings under it (and with `.evidence` the measured values); then the
/// count. `.verdict`: the count only, with the failed checks' names.
func printQualification(_ outcome: QualificationOutcome, level: OutputLevel = .checks) {
    let failed = outcome.checks.filter { $0.status == .fail }
    if level != .verdict {
        for check in outcome.checks {
            print("\(check.status.label)  \(check.id): \(check.title)")
            for d in check.details { print("      - \(d)") }
            if level == .evidence { for e in check.evidence { print("      \(e.key): \(e.value)") } }
        }
    }
    print(
        "Qualification: \(outcome.checks.count) checks, "
            + (failed.isEmpty
                ? "all passed" : "\(failed.count) failed: \(failed.map(\.id.rawValue).joined(separator: ", "))"))
}

extension Check {
    /// The check as JSON, for --json output.
    var jsonValue: JSONValue {
        .object([
            ("id", .string(id.rawValue)), ("title", .string(title)), ("status", .string(status.rawValue)),
            ("details", .array(details.map { .string($0) })),
            ("evidence", .object(evidence.map { ($0.key, .string($0.value)) })),
        ])
    }
}
