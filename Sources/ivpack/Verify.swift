import ArgumentParser
import IVPack

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a bundle on site: entries, digests, signatures and chains against the site's trust policy, roles, versions.",
        discussion: """
        Reads the bundle once, front to back, with memory that does not depend on its size. \
        Every check is listed with its evidence; the exit status is 0 only when none failed \
        (warnings, such as a development trust policy, are printed but do not fail).

        Example:
          ivpack verify out/pulmoscan-V2.3.1.1024.ivp --trust /etc/ivpack/trust-policy.yaml
        """
    )

    @Argument(help: "The bundle.")
    var bundle: String

    @Option(name: .long, help: "The site's trust policy (YAML).")
    var trust: String

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    mutating func run() throws {
        try reportingErrors {
            let policy = try TrustPolicy.load(path: trust)
            let report = try BundleVerifier.verify(bundlePath: bundle, policy: policy, now: Timestamp.now())
            if json {
                printJSON(report.json)
            } else {
                printReport(report)
            }
            if !report.passed { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }
}

func printReport(_ report: VerifyReport) {
    print("Bundle:  \(report.bundle)")
    if let product = report.product, let version = report.version { print("Product: \(product) \(version)") }
    if let digest = report.manifestDigest { print("Manifest sha256 \(digest.hex)") }
    print("")
    for check in report.checks {
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
    let failed = report.checks.filter { $0.status == .fail }.count
    let warned = report.checks.filter { $0.status == .warn }.count
    print("")
    print(report.passed ? "Result: PASS (\(report.checks.count) checks, \(warned) warning\(warned == 1 ? "" : "s"))"
                        : "Result: FAIL (\(failed) of \(report.checks.count) checks failed)")
}
