import ArgumentParser
import IVPack

#if canImport(Glibc)
    import Glibc
#endif

@main
struct IVPackCommand: AsyncParsableCommand {
    static func main() async {
        // Over a file-size limit (ulimit -f) a write fails with EFBIG and is reported like a full
        // disk, instead of the process being killed by SIGXFSZ with its output half written.
        signal(SIGXFSZ, SIG_IGN)
        await Self.mainEntry()
    }

    static func mainEntry() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "ivpack",
        abstract: "Build, sign, gate and verify installation bundles of AI medical-device software.",
        discussion: """
            Exit codes: 0 success; 1 a check failed; 2 bad input; 3 environment or I/O failure; \
            64 command-line usage.
            """,
        version: BuildInfo.current.versionText,
        subcommands: [
            BuildCommand.self, InspectCommand.self, KeysCommand.self, SignCommand.self, RecipientsCommand.self,
            VerifyCommand.self,
            InstallCommand.self, QualifyCommand.self, PushCommand.self, PullCommand.self,
            RollbackCommand.self, StatusCommand.self, PruneCommand.self, LicenseCommand.self, CheckCommand.self,
            DiffCommand.self,
            AuditCommand.self,
            SignReportCommand.self, VerifyReportCommand.self, TrustCommand.self, InitCommand.self, NotesCommand.self,
        ]
    )
}
