import ArgumentParser
import Foundation
import IVPack
import IVPackLicense

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
            site, --license-file checks a signed offline licence file instead.

            With --report and --html, the installation-qualification (IQ) report (annex C) is \
            written as canonical JSON and as a printable HTML page, also when a check fails (the \
            report of a failed IQ is the record); the exit status is the same with or without them. \
            Sign the JSON report with `ivpack sign-report`.

            Example:
              ivpack verify out/pulmoscan-V2.3.1.1024.ivp --trust /etc/ivpack/trust-policy.yaml \\
                --license-server https://licence.vendor.example:8443 --site SITE-001 \\
                --client-cert installer.pem --client-key installer.key \\
                --report iq/IQ-pulmoscan.json --html iq/IQ-pulmoscan.html
            """
    )

    @Argument(help: "The bundle.")
    var bundle: String

    @Option(name: .long, help: "The site's trust policy (YAML).")
    var trust: String

    @Option(name: .long, help: "The vendor's licence server, https://host:port.")
    var licenseServer: String?

    @Option(name: .long, help: "A signed offline licence file (air-gapped sites).")
    var licenseFile: String?

    @Option(name: .long, help: "This site's identifier, as licensed.")
    var site: String?

    @Option(name: .long, help: "The installer's client certificate (PEM) for the licence server.")
    var clientCert: String?

    @Option(
        name: .long,
        help:
            "The installer's private key (PEM); an encrypted key's passphrase comes from $IVPACK_CLIENT_KEY_PASSPHRASE."
    )
    var clientKey: String?

    @Option(name: .long, help: "Seconds for one attempt to reach the licence server.")
    var licenseTimeout: Int64 = 10

    @Option(name: .long, help: "Attempts to reach the licence server (with backoff).")
    var licenseAttempts: Int = 3

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    @OptionGroup var progressOptions: ProgressOptions

    @Option(name: .long, help: "Write the IQ report (canonical JSON, ivpack-iq-report/1) to this file.")
    var report: String?

    @Option(name: .long, help: "Write the IQ report as a self-contained, printable HTML page to this file.")
    var html: String?

    @Option(
        name: .long,
        help: "The purpose of the IQ, for the report (default: \"Installation qualification of PRODUCT VERSION\").")
    var purpose: String?

    func validate() throws {
        if licenseServer != nil && licenseFile != nil {
            throw ValidationError("give --license-server or --license-file, not both")
        }
        if (licenseServer != nil || licenseFile != nil) && site == nil {
            throw ValidationError("the licence check needs --site")
        }
        if licenseServer != nil && (clientCert == nil || clientKey == nil) {
            throw ValidationError("--license-server needs the installer's --client-cert and --client-key")
        }
        if !(1...300).contains(licenseTimeout) || !(1...10).contains(licenseAttempts) {
            throw ValidationError("--license-timeout is 1 to 300 seconds and --license-attempts 1 to 10")
        }
        if purpose != nil && report == nil && html == nil {
            throw ValidationError("--purpose is for the IQ report: give --report or --html")
        }
        if let report, report == html { throw ValidationError("--report and --html must name different files") }
    }

    mutating func run() async throws {
        let options = self
        try await reportingErrors {
            let policy = try TrustPolicy.load(path: options.trust)
            let started = Timestamp.now()
            var license: (any LicenseAuthority)?
            if let site = options.site {
                if let server = options.licenseServer, let cert = options.clientCert, let key = options.clientKey {
                    let passphrase = ProcessInfo.processInfo.environment["IVPACK_CLIENT_KEY_PASSPHRASE"].map {
                        Array($0.utf8)
                    }
                    let client = LicenseClientOptions(
                        serverURL: server, clientCertificate: cert, clientKey: key, clientKeyPassphrase: passphrase,
                        siteID: site, timeoutSeconds: options.licenseTimeout, attempts: options.licenseAttempts)
                    license = LicenseServerAuthority(options: client, policy: policy)
                } else if let file = options.licenseFile {
                    license = LicenseFileAuthority(file: file, siteID: site, policy: policy)
                }
            }
            let report = try await BundleVerifier.verify(
                bundlePath: options.bundle, policy: policy, now: started, license: license,
                progress: options.progressOptions.progress("verify", machineOutput: options.json))
            if options.report != nil || options.html != nil {
                let context = IQReport.Context.live(
                    for: report, purpose: options.purpose, siteID: options.site, startTime: started,
                    endTime: Timestamp.now())
                let iq = IQReport(verification: report, context: context)
                // Both files are written in full before either is renamed into place.
                var outputs: [AtomicOutputFile] = []
                if let path = options.report { outputs.append(try writeOutput(path: path, bytes: iq.canonicalBytes)) }
                if let path = options.html {
                    outputs.append(try writeOutput(path: path, bytes: Array(IQReportHTML.render(iq).utf8)))
                }
                for output in outputs { try output.commit() }
            }
            if options.json {
                printJSON(report.json)
            } else {
                printReport(report)
                if let path = options.report { print("IQ report: \(path)") }
                if let path = options.html { print("IQ report (HTML): \(path)") }
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
    print(
        report.passed
            ? "Result: PASS (\(report.checks.count) checks, \(warned) warning\(warned == 1 ? "" : "s"))"
            : "Result: FAIL (\(failed) of \(report.checks.count) checks failed)")
}
