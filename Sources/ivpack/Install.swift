import ArgumentParser
import Foundation
import IVPack

/// `--root`, shared by install, rollback and status.
struct InstallRootOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The install root: the folder holding releases/, state/, the current link and .ivpack/.",
            discussion: "The folder given to (or chosen by) `ivpack install`."), completion: .directory)
    var root: String
}

struct InstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract:
            "Install a bundle under an install root: verify while extracting, switch atomically, check health, record.",
        discussion: """
            Runs every check of `ivpack verify` on the manifest, entries and signatures first, and \
            the licence check when asked (--license-server over mutual TLS, or --license-file): \
            nothing is written if one fails. Then the payload is read once: each chunk is hashed on \
            every core and written into ROOT/releases/VERSION-DIGEST12.staging from the same buffer; \
            a file is accepted only when all its chunks match, and any mismatch removes the staging \
            folder and names the file and chunk. The release is flushed to disk and renamed into \
            place; the site's state (the release's install.state paths under ROOT/state) is \
            snapshotted; the release's preInstall and postInstall hooks run (a failure abandons the \
            install and puts the state back: exit 3); ROOT/current is switched to the release with \
            one rename(2); its healthCheck hook runs, and when it fails the previous release and \
            its state come back automatically (exit 1). The installed state (ROOT/.ivpack/state.json) \
            records every step, with who installed (the client certificate's subject when the \
            licence was asked over mTLS, else the OS user) and when.

            A version below the active one is refused unless --allow-downgrade --reason TEXT; \
            installing the bundle that is already active changes nothing. A second ivpack on the \
            same root waits up to 5 s for the first, then fails with exit 3. Without --root, the \
            release's own install.root is used.

            With --report and --html, the IQ report records the checks and every install step \
            (release folder, snapshot, hooks with their exit status and output, switch, health \
            check, automatic rollback), also when a step fails.

            Exit: 0 installed (or already active); 1 a check failed, the downgrade was refused, or \
            the health check failed (rolled back); 2 bad input; 3 environment (I/O, full disk, the \
            root locked, a hook before the switch failed).

            Example:
              ivpack install out/pulmoscan-V2.3.1.1024.ivp \\
                --trust /etc/ivpack/trust-policy.yaml \\
                --root /opt/example-medical/pulmoscan \\
                --license-server https://licence.vendor.example:8443 --site SITE-001 \\
                --client-cert installer.pem --client-key installer.key \\
                --report iq/IQ-install.json --html iq/IQ-install.html
            """
    )

    @Argument(help: "The bundle, or oci://HOST/REPOSITORY:TAG to pull it first.", completion: .file())
    var bundle: String

    @Option(
        name: .long, help: "The site's trust policy (YAML), or a trust state folder (ivpack trust update --state).",
        completion: .file(extensions: ["yaml", "yml"]))
    var trust: String

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The install root (created if absent); default: the release's install.root.",
            discussion: "A folder holding releases/, state/, the current link and .ivpack/."), completion: .directory)
    var root: String?

    @Flag(name: .long, help: "Allow a version below the active one (needs --reason).")
    var allowDowngrade = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Accept an environment requirement that cannot be checked here (e.g. gpu without nvidia-smi); needs --reason. Repeatable.",
            valueName: "requirement"))
    var acceptUnchecked: [String] = []

    @Option(
        name: .long,
        help: "Why the downgrade or the unchecked requirements are accepted; recorded in the state and the report.")
    var reason: String?

    @Flag(
        name: .long,
        help:
            "After a successful install, run the release's on-site qualification (as `ivpack qualify`); the report covers both."
    )
    var qualify = false

    @OptionGroup var licensing: LicenseOptions

    @OptionGroup var registry: RegistryAccessOptions

    @OptionGroup var keys: ContentKeyOptions

    @OptionGroup var iq: IQReportOptions

    @OptionGroup var progressOptions: ProgressOptions

    @OptionGroup var verboseOptions: VerboseOptions

    func validate() throws {
        _ = try OutputLevel(quiet: progressOptions.quiet, verbose: verboseOptions.verbose)
        if allowDowngrade && (reason ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            throw ValidationError("--allow-downgrade needs --reason TEXT: why, for the installed state's record")
        }
        try validateAcceptance(acceptUnchecked, reason: reason)
    }

    mutating func run() async throws {
        let options = self
        let level = try OutputLevel(quiet: options.progressOptions.quiet, verbose: options.verboseOptions.verbose)
        try await reportingErrors {
            let policy = try TrustPolicy.load(path: options.trust)
            try OutputFolder.prepare(options.iq.report, options.iq.html)
            let started = Timestamp.now()
            var request = InstallRequest(bundlePath: options.bundle, root: options.root, policy: policy)
            request.now = started
            request.allowDowngrade = options.allowDowngrade
            request.reason = options.reason
            request.progress = options.progressOptions.progress("install", machineOutput: false)
            request.events = auditSteps(of: "install")
            request.acceptUnchecked = options.acceptUnchecked.map {
                UncheckedAcceptance(requirement: $0, reason: options.reason ?? "")
            }
            request.contentKeys = try options.keys.sources()
            let outcome: InstallOutcome
            do {
                // An oci:// reference is pulled to a temporary file (removed after), then installed as usual.
                let prepared = request
                outcome = try await withLocalBundle(options.bundle, registry: options.registry) { path in
                    var request = prepared
                    request.bundlePath = path
                    if let authority = options.licensing.authority(policy: policy) {
                        return try await Installer.install(request, license: authority)
                    }
                    return try Installer.install(request)
                }
            } catch InstallError.verificationFailed(let report) {
                // The report of a refused install is the record too.
                try options.iq.write(report, siteID: options.licensing.site, started: started)
                throw InstallError.verificationFailed(report)
            }
            let installed = options.iq.report(
                outcome.report, siteID: options.licensing.site, started: started, manifest: outcome.manifest)
            let switched = outcome.failure == nil && !outcome.alreadyActive
            if switched {
                // Kept under the root, so that a later `ivpack qualify` reports the whole IQ.
                keepInstallReport(installed, releaseFolder: outcome.releaseFolder, release: outcome.release.name)
            }
            var qualification: QualificationOutcome?
            if options.qualify && outcome.failure == nil {
                let root = String(outcome.releaseFolder.dropLast(("/releases/" + outcome.release.name).count))
                let release = try Installer.activeRelease(root: root.isEmpty ? "/" : root)
                let q = runQualification(release, accepting: request.acceptUnchecked)
                qualification = q
                try options.iq.write(
                    IQReport.qualified(outcome.report, qualification: q, context: installedContext(installed)))
            } else {
                try options.iq.write(installed)
            }
            if level == .verdict {
                try printInstallVerdict(outcome, qualification: qualification)
                return
            }
            for note in outcome.reconciled { print("Mended:  \(note)") }
            let report = outcome.report
            let warnings = report.checks.filter { $0.status == .warn }
            print("Bundle:  \(report.bundle)")
            if let product = report.product, let version = report.version { print("Product: \(product) \(version)") }
            if let digest = report.manifestDigest { print("Manifest sha256 \(digest.hex)") }
            print(
                "Checks:  \(report.checks.count), \(report.passed ? "none" : "some") failed (\(warnings.count) warning\(warnings.count == 1 ? "" : "s")); the payload checked while extracting"
            )
            if options.licensing.site == nil {
                print("Licence: not run (no --license-server or --license-file)")
            }
            for check in level == .evidence ? report.checks : warnings {
                print("\(check.status.label)  \(check.id): \(check.title)")
                for d in check.details { print("      - \(d)") }
                if level == .evidence { for e in check.evidence { print("      \(e.key): \(e.value)") } }
            }
            options.iq.printWritten()
            if outcome.alreadyActive {
                print("Already active: \(outcome.release.name) is this manifest; nothing was changed.")
                if let qualification {
                    printQualification(qualification, level: level)
                    if !qualification.passed { throw ExitCode(ExitStatus.checkFailed.rawValue) }
                }
                return
            }
            print("Release: \(outcome.releaseFolder)")
            if let snapshot = outcome.snapshot { print("State:   snapshot \(snapshot.name): \(snapshot.summary)") }
            printHooks(outcome.hooks)
            if let failure = outcome.failure {
                printError("error: \(failure.description)")
                throw ExitCode(failure.exitStatus.rawValue)
            }
            print("Active:  \(outcome.release.name)" + (outcome.previous.map { " (previous: \($0))" } ?? ""))
            if let reason = outcome.release.downgradeReason { print("Downgrade allowed: \(reason)") }
            if let qualification {
                printQualification(qualification, level: level)
                if !qualification.passed { throw ExitCode(ExitStatus.checkFailed.rawValue) }
            }
        }
    }
}

/// `install --quiet`: one line, what is active now (or why nothing changed), and the exit code.
func printInstallVerdict(_ outcome: InstallOutcome, qualification: QualificationOutcome?) throws {
    if outcome.alreadyActive {
        print("Result: PASS (already active: \(outcome.release.name); nothing was changed)")
    } else if let failure = outcome.failure {
        printError("error: \(failure.description)")
        throw ExitCode(failure.exitStatus.rawValue)
    } else {
        print(
            "Result: PASS (active: \(outcome.release.name)\(outcome.previous.map { ", previous: \($0)" } ?? ""))")
    }
    if let qualification {
        printQualification(qualification, level: .verdict)
        if !qualification.passed { throw ExitCode(ExitStatus.checkFailed.rawValue) }
    }
}

/// The context of an install's report, to extend it with the qualification that follows.
func installedContext(_ iq: IQReport) -> IQReport.Context {
    IQReport.Context(
        purpose: iq.purpose, siteID: iq.siteID, startTime: iq.startTime, endTime: iq.endTime,
        operatorUser: iq.people.operatorUser, host: iq.people.host, operatingSystem: iq.operatingSystem,
        vendor: iq.object.vendor, bundleBytes: iq.object.bundleBytes)
}

/// Keeps the install's IQ report under the root (ROOT/.ivpack/reports/RELEASE.iq.json). A report
/// that cannot be kept is a warning: the install stands, and `ivpack qualify` then reports the
/// qualification alone.
func keepInstallReport(_ iq: IQReport, releaseFolder: String, release: String) {
    let root = String(releaseFolder.dropLast(("/releases/" + release).count))
    let path = RecordedInstallReport.path(root: root.isEmpty ? "/" : root, release: release)
    do {
        let folder = String(path[..<path.lastIndex(of: "/")!])
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try writeOutput(path: path, bytes: iq.canonicalBytes).commit()
    } catch {
        printError("warning: the install's IQ report could not be kept at \(path): \(error)")
    }
}
