import ArgumentParser
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

            Examples:
              ivpack check ivpack.yaml
              ivpack check out/pulmoscan-V2.4.0.1101.ivp --previous out/pulmoscan-V2.3.1.1024.ivp --format sarif > gate.sarif
              ivpack check out/pulmoscan-V2.3.1.1024.ivp --policy release/gate-policy.yaml --trust trust-policy.yaml
              ivpack check out/pulmoscan-V2.3.1.1024.ivp --attest --key keys/signers/gate.key \\
                --cert keys/signers/gate.pem --chain keys/intermediate-ca.pem
            """
    )

    /// Output forms.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, sarif
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

    @Option(name: .long, help: "Output: text, json or sarif (SARIF 2.1.0).")
    var format: Format = .text

    @Flag(name: .long, help: "Print the result as JSON: the same as --format json, as every other command takes it.")
    var json = false

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
        if attest && (key == nil || cert == nil) { throw ValidationError("--attest needs --key and --cert") }
        if !attest && (key != nil || cert != nil || chain != nil || tsa != nil || passphraseFile != nil) {
            throw ValidationError("--key, --cert, --chain, --passphrase-file and --tsa go with --attest")
        }
    }

    mutating func run() throws {
        try reportingErrors {
            let gatePolicy = try GatePolicy.resolve(policy)
            let channelName = channel ?? gatePolicy.defaultChannel
            guard let selected = gatePolicy.channel(channelName) else {
                printError(
                    "error: --channel \(channelName): policy \(gatePolicy.name) has the channels \(gatePolicy.channels.map(\.name).joined(separator: ", "))"
                )
                throw ExitCode(ExitStatus.badInput.rawValue)
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
                    printError(
                        "error: \(target): --attest attests a bundle; build the release first, then check the bundle")
                    throw ExitCode(ExitStatus.badInput.rawValue)
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
            switch json ? .json : format {
            case .text:
                print(report.text)
            case .json:
                printJSON(report.json)
            case .sarif:
                printJSON(report.sarif(toolVersion: IVPackVersion.current))
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
}
