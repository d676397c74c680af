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

            Examples:
              ivpack check ivpack.yaml
              ivpack check out/pulmoscan-V2.4.0.1101.ivp --previous out/pulmoscan-V2.3.1.1024.ivp --format sarif > gate.sarif
              ivpack check out/pulmoscan-V2.3.1.1024.ivp --policy release/gate-policy.yaml --trust trust-policy.yaml
            """
    )

    /// Output forms.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, sarif
    }

    @Argument(help: "The release spec (.yaml, or a folder holding ivpack.yaml) or a bundle.")
    var target: String = "ivpack.yaml"

    @Option(name: .long, help: "The gate policy: a preset (nmpa, semver) or a policy file (YAML).")
    var policy: String = "nmpa"

    @Option(name: .long, help: "The previous release's bundle, for the history rules.")
    var previous: String?

    @Option(
        name: .long, help: "The release channel (market, internal, or one the policy defines); default: the policy's.")
    var channel: String?

    @Option(name: .long, help: "A trust policy to verify the approval signatures with (YAML).")
    var trust: String?

    @Option(name: .long, help: "Output: text, json or sarif (SARIF 2.1.0).")
    var format: Format = .text

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
            switch format {
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
            if !report.passed { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }
}
