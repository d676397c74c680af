import ArgumentParser
import Foundation
import IVPack

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Check a bundle on site: entries, digests, signatures and chains against the site's trust policy, roles, versions.",
        discussion: """
            Reads the bundle once, front to back, with memory that does not depend on its size. \
            Every check is listed with its evidence; the exit status is 0 only when none failed \
            (warnings, such as a development trust policy, are printed but do not fail).

            With --license-server, the installation must also be licensed: ivpack asks the vendor's \
            licence server over mutual TLS (the installer's certificate and key, the server's \
            certificate judged by the trust policy) and verifies the signed grant; for an air-gapped \
            site, --license-file checks a signed offline licence file instead. Repeat \
            --license-server for several instances: the next is asked only when one does not \
            answer (refused, silent past --license-timeout, a 5xx); a refusal is final.

            With --report and --html, the installation-qualification (IQ) report (annex C) is \
            written as canonical JSON and as a printable HTML page, also when a check fails (the \
            report of a failed IQ is the record); the exit status is the same with or without them. \
            Sign the JSON report with `ivpack sign-report`.

            Example:
              ivpack verify out/pulmoscan-V2.3.1.1024.ivp \\
                --trust /etc/ivpack/trust-policy.yaml \\
                --license-server https://licence.vendor.example:8443 --site SITE-001 \\
                --client-cert installer.pem --client-key installer.key \\
                --report iq/IQ-pulmoscan.json --html iq/IQ-pulmoscan.html
            """
    )

    @Argument(help: "The bundle, or oci://HOST/REPOSITORY:TAG to pull it first.", completion: .file())
    var bundle: String

    @Option(
        name: .long, help: "The site's trust policy (YAML), or a trust state folder (ivpack trust update --state).",
        completion: .file(extensions: ["yaml", "yml"]))
    var trust: String

    @OptionGroup var licensing: LicenseOptions

    @OptionGroup var registry: RegistryAccessOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Accept an environment requirement that cannot be checked here (e.g. gpu without nvidia-smi); needs --reason. Repeatable.",
            valueName: "requirement"))
    var acceptUnchecked: [String] = []

    @Option(name: .long, help: "Why the requirements given to --accept-unchecked are accepted; shown in the report.")
    var reason: String?

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    @OptionGroup var progressOptions: ProgressOptions

    @OptionGroup var verboseOptions: VerboseOptions

    @OptionGroup var iq: IQReportOptions

    func validate() throws {
        try validateAcceptance(acceptUnchecked, reason: reason)
        _ = try OutputLevel(quiet: progressOptions.quiet, verbose: verboseOptions.verbose)
    }

    mutating func run() async throws {
        let options = self
        let level = try OutputLevel(quiet: options.progressOptions.quiet, verbose: options.verboseOptions.verbose)
        try await reportingErrors {
            let policy = try TrustPolicy.load(path: options.trust)
            try OutputFolder.prepare(options.iq.report, options.iq.html)
            let started = Timestamp.now()
            // An oci:// reference is pulled to a temporary file (removed after) and verified as usual.
            let report = try await withLocalBundle(options.bundle, registry: options.registry) { path in
                try await BundleVerifier.verify(
                    bundlePath: path, policy: policy, now: started,
                    license: options.licensing.authority(policy: policy),
                    accepting: options.acceptUnchecked.map {
                        UncheckedAcceptance(requirement: $0, reason: options.reason ?? "")
                    },
                    progress: options.progressOptions.progress("verify", machineOutput: options.json))
            }
            if let unmatched = UnmatchedAcceptance.find(
                options.acceptUnchecked.map { UncheckedAcceptance(requirement: $0, reason: "") }, in: report.checks)
            {
                throw unmatched
            }
            // The verdict first: a report that cannot be written then loses no result.
            if options.json {
                printJSON(report.json)
            } else {
                printReport(report, level: level)
            }
            try options.iq.write(report, siteID: options.licensing.site, started: started)
            if !options.json && level != .verdict { options.iq.printWritten() }
            if !report.passed { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }
}

/// Prints a verification: at `.verdict` the result line only (with the failed checks' names), at
/// `.checks` a line per check with its findings, at `.evidence` also what each check saw. The
/// evidence is the bulk (17 checks gave ~90 lines with it, ~25 without): the report keeps it.
func printReport(_ report: VerifyReport, level: OutputLevel = .checks) {
    let failed = report.checks.filter { $0.status == .fail }
    let warned = report.checks.filter { $0.status == .warn }.count
    let verdict =
        report.passed
        ? "Result: PASS (\(report.checks.count) checks, \(warned) warning\(warned == 1 ? "" : "s"))"
        : "Result: FAIL (\(failed.count) of \(report.checks.count) checks failed: \(failed.map(\.id.rawValue).joined(separator: ", ")))"
    guard level != .verdict else {
        print(verdict)
        return
    }
    print("Bundle:  \(report.bundle)")
    if let product = report.product, let version = report.version { print("Product: \(product) \(version)") }
    if let digest = report.manifestDigest { print("Manifest sha256 \(digest.hex)") }
    print("")
    for check in report.checks {
        print("\(check.status.label)  \(check.id): \(check.title)")
        for d in check.details { print("      - \(d)") }
        if level == .evidence { for e in check.evidence { print("      \(e.key): \(e.value)") } }
    }
    print("")
    print(verdict)
}

extension Check.Status {
    /// The four-letter label of the text output.
    var label: String {
        switch self {
        case .pass: "PASS"
        case .fail: "FAIL"
        case .warn: "WARN"
        }
    }
}
