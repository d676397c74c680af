import ArgumentParser
import IVPack

/// `--json`, as the commands whose JSON is "the result" declare it.
struct JSONOutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false
}

/// `-q/--quiet`, for the commands that show a progress line while they read or write a bundle:
/// no progress line, and for the commands that judge (verify, install, qualify) the verdict only.
struct ProgressOptions: ParsableArguments {
    @Flag(name: [.short, .long], help: "No progress line; verify, install and qualify print the verdict only.")
    var quiet = false

    /// The progress line labelled `label`; nil with --quiet, with machine output or off a terminal.
    func progress(_ label: String, machineOutput: Bool) -> ProgressHandler? {
        terminalProgress(label, quiet: quiet, machineOutput: machineOutput)
    }
}

/// `-v/--verbose`, for the commands that print checks: each check's evidence too (the signer,
/// the digests, the measured values), which the default leaves to the report.
struct VerboseOptions: ParsableArguments {
    @Flag(name: [.short, .long], help: "Print each check's evidence too (signers, digests, measured values).")
    var verbose = false
}

/// How much a judging command prints: the verdict only, the checks, or the checks with evidence.
enum OutputLevel {
    case verdict, checks, evidence

    init(quiet: Bool, verbose: Bool) throws {
        if quiet && verbose {
            throw ValidationError("--quiet and --verbose ask for two amounts of output; give one")
        }
        self = quiet ? .verdict : verbose ? .evidence : .checks
    }
}
