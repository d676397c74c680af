import ArgumentParser
import IVPack

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check the hash-chained audit log that ivpack commands append to.",
        discussion: """
            Each ivpack command appends one event (time, operator, host, command, parameters without \
            secrets, result, duration) to the log named by $IVPACK_AUDIT_LOG. Every line \
            carries the SHA-256 of the line before it, so an edited, deleted, inserted or reordered line \
            breaks the chain. See docs/audit-log.md.

            Example:
              ivpack audit verify /var/log/ivpack/audit.jsonl
            """,
        subcommands: [VerifyLog.self, AppendTest.self]
    )

    /// For tests of concurrent appenders: appends COUNT events from this process. Not shown in help.
    struct AppendTest: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "append-test", shouldDisplay: false)
        @Option(name: .long, completion: .file()) var log: String
        @Option(name: .long) var count: Int = 1

        mutating func run() throws {
            try reportingErrors {
                for i in 0..<count {
                    _ = try AuditLog.append(
                        path: log,
                        event: AuditEvent(
                            command: "ivpack audit append-test", parameters: ["\(i)"],
                            result: 0, durationMs: 0))
                }
            }
        }
    }

    struct VerifyLog: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check that an audit log is intact, and name its first broken line.",
            discussion: """
                Exit status: 0 the log is intact; 1 it is broken (the first broken line, and whether it was \
                edited, deleted, inserted, reordered or is malformed, are printed); 2 the log cannot be read.

                The chain cannot show that the newest events were removed from the end: compare the event \
                count or the head hash with a copy kept elsewhere (the IQ report records them).

                Example:
                  ivpack audit verify /var/log/ivpack/audit.jsonl --json
                """
        )

        @Argument(help: "The audit log (JSON Lines).", completion: .file())
        var log: String

        @OptionGroup var outputOptions: JSONOutputOptions

        mutating func run() throws {
            try reportingErrors {
                let result = try AuditLog.verify(path: log)
                if outputOptions.json {
                    printJSON(result.json)
                } else if let problem = result.problem {
                    print("\(log): broken at line \(problem.line): \(problem.kind.rawValue): \(problem.message)")
                    print("\(result.intactLines) of \(result.lineCount) lines verified before the break.")
                } else if let head = result.headSHA256 {
                    print(
                        "\(log): intact, \(result.lineCount) event\(result.lineCount == 1 ? "" : "s"); head sha256 \(head)"
                    )
                } else {
                    print("\(log): intact, empty")
                }
                if !result.isIntact { throw ExitCode(ExitStatus.checkFailed.rawValue) }
            }
        }
    }
}
