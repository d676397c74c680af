import ArgumentParser
import Foundation
import IVPack
import IVPackLicense

struct TrustCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Maintain a site's trust policy: fetch its current CRLs.",
        discussion: """
            Example:
              ivpack trust refresh --policy /etc/ivpack/trust-policy.yaml
            """,
        subcommands: [Refresh.self]
    )
}

extension TrustCommand {
    struct Refresh: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "refresh",
            abstract: "Fetch the policy's CRLs over HTTP, check their signatures and install them.",
            discussion: """
                Fetches a CRL from every http:// CRL distribution point of the policy's trusted roots \
                and intermediates and from the url of every crls entry that names one; checks it is \
                signed by its issuer in the policy, that thisUpdate is not in the future, that \
                nextUpdate is after now and that its CRL number is above the installed one; and \
                replaces the policy's CRL file for that issuer atomically. Prints one line per \
                distribution point: UPDATED, UNCHANGED, REFUSED (why) or UNREACHABLE.

                Exit codes: 0 every CRL current; 1 a CRL refused, or one still past its next update; \
                3 a distribution point unreachable or a CRL file not writable.

                Example:
                  ivpack trust refresh --policy /etc/ivpack/trust-policy.yaml --timeout 20
                """
        )

        @Option(
            name: .long, help: "The trust policy (YAML) whose CRLs are refreshed.",
            completion: .file(extensions: ["yaml", "yml"]))
        var policy: String

        @Option(name: .long, help: "Seconds to wait for each distribution point (1-300).")
        var timeout: Int = 30

        @OptionGroup var outputOptions: JSONOutputOptions

        func validate() throws {
            guard (1...300).contains(timeout) else { throw ValidationError("--timeout must be between 1 and 300") }
        }

        mutating func run() throws {
            var code: Int32 = 0
            try reportingErrors {
                let trust = try TrustPolicy.load(path: policy)
                let report = CRLRefresh.refresh(
                    policy: trust, prober: NIOHTTPProber(), timeoutMilliseconds: Int64(timeout) * 1000,
                    now: Int64(Date().timeIntervalSince1970))
                if outputOptions.json {
                    printJSON(
                        .object([
                            ("policy", .string(policy)), ("exitCode", .integer(Int64(report.exitCode))),
                            (
                                "crls",
                                .array(
                                    report.outcomes.map { o in
                                        var members: [(key: String, value: JSONValue)] = [
                                            ("url", .string(o.url)), ("result", .string(o.result.word)),
                                        ]
                                        if let file = o.file { members.append(("file", .string(file))) }
                                        if let issuer = o.issuer { members.append(("issuer", .string(issuer))) }
                                        if case .refused(let why) = o.result {
                                            members.append(("reason", .string(why)))
                                        }
                                        if case .unreachable(let why) = o.result {
                                            members.append(("reason", .string(why)))
                                        }
                                        if case .notWritten(let why) = o.result {
                                            members.append(("reason", .string(why)))
                                        }
                                        if let next = o.nextUpdate {
                                            members.append(("nextUpdate", .string(Timestamp.iso8601(next))))
                                        }
                                        return .object(members)
                                    })
                            ),
                            ("stale", .array(report.stale.map { .string($0.message(policyFile: policy)) })),
                        ]))
                } else {
                    if report.outcomes.isEmpty {
                        print(
                            "No CRL distribution point: the policy's CA certificates carry none and no crls entry names a url."
                        )
                    }
                    for outcome in report.outcomes { print(outcome.line) }
                    for stale in report.stale { print("STALE  " + stale.message(policyFile: policy)) }
                }
                code = report.exitCode
            }
            if code != 0 { throw ExitCode(code) }
        }
    }
}
