import ArgumentParser
import IVPack

@main
struct IVPackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ivpack",
        abstract: "Build, sign, gate and verify installation bundles of AI medical-device software.",
        discussion: """
        Exit codes: 0 success; 1 a check failed; 2 bad input; 3 environment or I/O failure; \
        64 command-line usage.
        """,
        version: IVPackVersion.current,
        subcommands: [Build.self, Inspect.self, Keys.self, Sign.self, Verify.self, License.self, Check.self, Diff.self, Audit.self, SignReportCommand.self, VerifyReportCommand.self]
    )
}
