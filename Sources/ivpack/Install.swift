import ArgumentParser
import Foundation
import IVPack

/// `--root`, shared by install, rollback and status.
struct InstallRootOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The install root: a folder holding releases/, the current link and .ivpack/ (created by the first install if absent).",
            discussion: "Required for now; a default root from the release spec's install: section comes later."))
    var root: String
}

struct InstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract:
            "Install a bundle under an install root: verify while extracting, switch atomically, record the state.",
        discussion: """
            Runs every check of `ivpack verify` on the manifest, entries and signatures first (nothing \
            is written if one fails), then reads the payload once: each chunk is hashed on every core \
            and written into ROOT/releases/VERSION-DIGEST12.staging from the same buffer; a file is \
            accepted only when all its chunks match, and any mismatch removes the staging folder and \
            names the file and chunk. The finished release is flushed to disk, renamed into place, \
            and ROOT/current is switched to it with one rename(2). The installed state \
            (ROOT/.ivpack/state.json) records it, with who installed it and when.

            A version below the active one is refused unless --allow-downgrade --reason TEXT; \
            installing the bundle that is already active changes nothing. A second ivpack on the \
            same root waits up to 5 s for the first, then fails with exit 3. --root is required for \
            now (the default root of the spec's install: section comes later).

            Exit: 0 installed (or already active); 1 a check failed or the downgrade was refused; \
            2 bad input; 3 environment (I/O, full disk, the root locked).

            Example:
              ivpack install out/pulmoscan-V2.3.1.1024.ivp \\
                --trust /etc/ivpack/trust-policy.yaml --root /opt/example-medical/pulmoscan
            """
    )

    @Argument(help: "The bundle.")
    var bundle: String

    @Option(name: .long, help: "The site's trust policy (YAML).")
    var trust: String

    @OptionGroup var location: InstallRootOptions

    @Flag(name: .long, help: "Allow a version below the active one (needs --reason).")
    var allowDowngrade = false

    @Option(name: .long, help: "Why the downgrade is allowed; recorded in the installed state.")
    var reason: String?

    @OptionGroup var progressOptions: ProgressOptions

    func validate() throws {
        if allowDowngrade && (reason ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            throw ValidationError("--allow-downgrade needs --reason TEXT: why, for the installed state's record")
        }
    }

    mutating func run() throws {
        let options = self
        try reportingErrors {
            let policy = try TrustPolicy.load(path: options.trust)
            var request = InstallRequest(bundlePath: options.bundle, root: options.location.root, policy: policy)
            request.allowDowngrade = options.allowDowngrade
            request.reason = options.reason
            request.progress = options.progressOptions.progress("install", machineOutput: false)
            let outcome = try Installer.install(request)
            for note in outcome.reconciled { print("Mended:  \(note)") }
            let report = outcome.report
            let warnings = report.checks.filter { $0.status == .warn }
            print("Bundle:  \(report.bundle)")
            if let product = report.product, let version = report.version { print("Product: \(product) \(version)") }
            if let digest = report.manifestDigest { print("Manifest sha256 \(digest.hex)") }
            print(
                "Checks:  \(report.checks.count), none failed (\(warnings.count) warning\(warnings.count == 1 ? "" : "s")); the payload checked while extracting"
            )
            for check in warnings {
                print("WARN  \(check.id): \(check.title)")
                for d in check.details { print("      - \(d)") }
            }
            if outcome.alreadyActive {
                print("Already active: \(outcome.release.name) is this manifest; nothing was changed.")
                return
            }
            print("Release: \(outcome.releaseFolder)")
            print("Active:  \(outcome.release.name)" + (outcome.previous.map { " (previous: \($0))" } ?? ""))
            if let reason = outcome.release.downgradeReason { print("Downgrade allowed: \(reason)") }
        }
    }
}
