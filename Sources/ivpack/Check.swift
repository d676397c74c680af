import ArgumentParser
import Foundation
import IVPack

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract:
            "Release gate: check a spec or bundle against a version and release-notes policy (nmpa, semver or a file).",
        discussion: """
            Checks the version name (VER-xxx), the release notes (NOTES-xxx), and, with --previous, \
            the step from the previous release: strictly greater, bump level equal to what the change \
            types require, resets, increasing build number, no version reused for other content, every \
            changed component named in the notes. On a signed bundle, every approval role the policy \
            requires must have signed (REL-006): verified against --trust, or read from the signature \
            entries with a warning. Every finding has a rule ID, severity, file and line, clause and fix. \
            Exit 1 on any blocking finding, 0 otherwise (warnings are printed). See docs/release-gate.md.

            With --attest (a bundle only), the verdict, pass or fail, is signed with --key/--cert as an \
            in-toto statement about the manifest and appended as ivpack/attestations/NNN-gate.p7s. A \
            trust policy with requireGate makes verify's gate check, and sign --trust, need a passing \
            one signed by its gate role. See docs/trust-model.md.

            Machine formats (json, sarif, codequality, junit) name files relative to the repository \
            (--sarif-root, default: the git working tree holding the release folder) and, when the \
            check cannot run (exit 2 or 3), still print a valid document that carries the error.

            Examples:
              ivpack check ivpack.yaml
              ivpack check out/pulmoscan-V2.4.0.1101.ivp \\
                --previous out/pulmoscan-V2.3.1.1024.ivp --format sarif > gate.sarif
              ivpack check out/release.ivp --format codequality > gate-codequality.json
              ivpack check out/release.ivp --format junit > gate-junit.xml
              ivpack check out/pulmoscan-V2.3.1.1024.ivp \\
                --policy release/gate-policy.yaml --trust trust-policy.yaml
              ivpack check out/pulmoscan-V2.3.1.1024.ivp --attest \\
                --key keys/signers/gate.key --cert keys/signers/gate.pem \\
                --chain keys/intermediate-ca.pem
            """
    )

    /// Output forms.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, sarif, codequality, junit
    }

    @Argument(help: "The release spec (.yaml, or a folder holding ivpack.yaml) or a bundle.", completion: .file())
    var target: String = "ivpack.yaml"

    @Option(name: .long, help: "The gate policy: a preset (nmpa, semver) or a policy file (YAML).", completion: .file())
    var policy: String = "nmpa"

    @Option(name: .long, help: "The previous release's bundle, for the history rules.", completion: .file())
    var previous: String?

    @Option(
        name: .long, help: "The release channel (market, internal, or one the policy defines); default: the policy's.")
    var channel: String?

    @Option(
        name: .long, help: "A trust policy to verify the approval signatures with (YAML).",
        completion: .file(extensions: ["yaml", "yml"]))
    var trust: String?

    @Option(
        name: .long,
        help:
            "Output: text, json, sarif (SARIF 2.1.0), codequality (GitLab Code Quality) or junit (JUnit XML).")
    var format: Format = .text

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The repository root machine formats name files relative to (SARIF %SRCROOT%).",
            discussion: "Default: the git working tree that holds the release folder, else the current directory.",
            valueName: "dir"),
        completion: .directory)
    var sarifRoot: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The folder of the spec a checked bundle was built from (SARIF RELEASEROOT).",
            discussion:
                "A bundle names its files (release notes, test reports) relative to it. Default: the spec's folder for a spec; for a bundle, the folder of the spec under the repository whose SHA-256 the manifest records, else the repository root.",
            valueName: "dir"),
        completion: .directory)
    var releaseRoot: String?

    @Flag(name: .long, help: "Print the result as JSON: the same as --format json, as every other command takes it.")
    var json = false

    @Flag(name: [.short, .long], help: "Text output: the verdict line only, with the blocking rules' IDs.")
    var quiet = false

    @Flag(name: .long, help: "Sign the verdict and append it to the bundle as a gate attestation.")
    var attest = false

    @Option(
        name: .long, help: "With --attest: the gate signer's private key (PEM, PKCS#8) or a pkcs11: URI.",
        completion: .file())
    var key: String?

    @Option(name: .long, help: "With --attest: the gate signer's certificate (PEM).", completion: .file())
    var cert: String?

    @Option(name: .long, help: "With --attest: intermediate certificates to include (PEM).", completion: .file())
    var chain: String?

    @Option(name: .long, help: "With --attest: a file whose first line is the key's passphrase.", completion: .file())
    var passphraseFile: String?

    @Option(name: .long, help: "With --attest: an RFC 3161 time-stamping authority (http:// or https://).")
    var tsa: String?

    @Option(name: .long, help: "Seconds to wait for the time-stamping authority.")
    var tsaTimeout: Int = 20

    func validate() throws {
        if json && format != .text && format != .json {
            throw ValidationError("--json and --format \(format.rawValue) ask for two outputs; give one")
        }
        if quiet && (json || format != .text) {
            throw ValidationError("--quiet is for the text output; --json and --format print the whole report")
        }
        if attest && (key == nil || cert == nil) { throw ValidationError("--attest needs --key and --cert") }
        if !attest && (key != nil || cert != nil || chain != nil || tsa != nil || passphraseFile != nil) {
            throw ValidationError("--key, --cert, --chain, --passphrase-file and --tsa go with --attest")
        }
    }

    /// A reason the check cannot run that the command finds itself.
    struct CheckInputError: IVPackError {
        let description: String
        var exitStatus: ExitStatus { .badInput }
    }

    mutating func run() throws {
        let output = json ? .json : format
        let command = self
        try reportingErrors {
            do {
                try command.check(output: output)
            } catch let error where !(error is ExitCode) && output != .text {
                // Every machine format still gets a valid document: a pipeline that keeps or
                // uploads it shows why the check could not run (the exit status stays 2 or 3).
                let status = (error as? any IVPackError)?.exitStatus ?? .environment
                command.printErrorDocument(String(describing: error), status: status.rawValue, output: output)
                throw error
            }
        }
    }

    /// The roots machine formats name files against.
    func roots(kind: ReleaseUnderCheck.Kind, specSHA256: SHA256Digest? = nil) -> GateArtifactRoots {
        GateArtifactRoots.resolve(
            target: target, kind: kind, sourceRoot: sarifRoot, releaseRoot: releaseRoot, specSHA256: specSHA256)
    }

    /// The machine format's document for a check that could not run.
    func printErrorDocument(_ message: String, status: Int32, output: Format) {
        var isFolder: ObjCBool = false
        let spec =
            target.hasSuffix(".yaml") || target.hasSuffix(".yml")
            || (FileManager.default.fileExists(atPath: target, isDirectory: &isFolder) && isFolder.boolValue)
        let roots = self.roots(kind: spec ? .spec : .bundle)
        switch output {
        case .text: break
        case .json: printJSON(GateReport.jsonError(message: message, target: target, exitCode: status))
        case .sarif:
            printJSON(
                GateReport.sarifError(
                    message: message, exitCode: status, toolVersion: IVPackVersion.current, roots: roots))
        case .codequality: printJSON(GateReport.codeQualityError(message: message, target: target, roots: roots))
        case .junit: print(GateReport.junitError(message: message, target: target, exitCode: status))
        }
    }

    func check(output: Format) throws {
        let gatePolicy = try GatePolicy.resolve(policy)
        let channelName = channel ?? gatePolicy.defaultChannel
        guard let selected = gatePolicy.channel(channelName) else {
            throw CheckInputError(
                description:
                    "--channel \(channelName): policy \(gatePolicy.name) has the channels \(gatePolicy.channels.map(\.name).joined(separator: ", "))"
            )
        }
        var release = try ReleaseUnderCheck.load(path: target)
        if previous != nil && release.kind == .spec {
            // The component diff needs the digest of every file.
            release = try ReleaseUnderCheck.loadSpec(path: release.path, hashAll: true)
        }
        let before = try previous.map { try ReleaseUnderCheck.loadBundle(path: $0) }
        let trustPolicy = try trust.map { try TrustPolicy.load(path: $0) }
        let diff = try before.map { try ReleaseDiff.compute(old: $0, new: release, policy: gatePolicy) }
        let context = try GateContext(
            policy: gatePolicy, channel: selected, release: release, previous: before, diff: diff,
            trust: trustPolicy, now: Timestamp.now())
        let report = ReleaseGate.run(context)
        var attested: GateAttestResult?
        if attest, let key, let cert {
            guard release.kind == .bundle, let digest = release.manifestDigest else {
                throw CheckInputError(
                    description:
                        "\(target): --attest attests a bundle; build the release first, then check the bundle")
            }
            let source: SigningIdentity.KeySource =
                SigningIdentity.KeySource.isPKCS11(key)
                ? .pkcs11(uri: key, pin: try readSecret(file: nil, variable: "IVPACK_PKCS11_PIN"))
                : .file(path: key, passphrase: try readPassphrase(file: passphraseFile))
            let identity = try SigningIdentity.load(
                key: source, certificateFile: cert, chainFiles: chain.map { [$0] } ?? [])
            let policyDigest =
                GatePolicy.preset(policy) == nil
                ? SHA256Digest.of(try InputFile.readAll(path: policy, limit: YAMLReader.maxBytes)) : nil
            attested = try GateAttester.attest(
                bundlePath: target, report: report, checkedDigest: digest, policyDigest: policyDigest,
                identity: identity, now: Timestamp.now(), timestampAuthority: tsa, timestampTimeout: tsaTimeout)
        }
        switch output {
        case .text where quiet:
            // The last line of the text is the verdict; a failure names its blocking rules.
            let verdict = report.text.split(separator: "\n").last.map(String.init) ?? ""
            let rules = Set(report.blockingRuleIDs).sorted().joined(separator: ", ")
            print(report.passed || rules.isEmpty ? verdict : String(verdict.dropLast()) + ": \(rules))")
        case .text:
            print(report.text)
        case .json:
            printJSON(report.json)
        case .sarif, .codequality, .junit:
            let roots = self.roots(kind: release.kind, specSHA256: release.manifest?.provenance.specSHA256)
            switch output {
            case .codequality: printJSON(report.codeQuality(roots: roots))
            case .junit: print(report.junit(roots: roots))
            default: printJSON(report.sarif(toolVersion: IVPackVersion.current, roots: roots))
            }
            if !report.passed {
                printError(
                    "check: \(report.blockingRuleIDs.count) blocking finding(s): \(Set(report.blockingRuleIDs).sorted().joined(separator: ", "))"
                )
            }
        }
        if let attested {
            printError(
                "check: attested \(attested.passed ? "PASS" : "FAIL") for manifest sha256 \(attested.manifestDigest.hex) as \(attested.entry), signed by \(attested.signer)"
            )
        }
        if !report.passed { throw ExitCode(ExitStatus.checkFailed.rawValue) }
    }
}
