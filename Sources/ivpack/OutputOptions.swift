import ArgumentParser
import IVPack

/// `--json`, as the commands whose JSON is "the result" declare it.
struct JSONOutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false
}

/// `--quiet`, for the commands that show a progress line while they read or write a bundle.
struct ProgressOptions: ParsableArguments {
    @Flag(name: .long, help: "No progress line on the terminal.")
    var quiet = false

    /// The progress line labelled `label`; nil with --quiet, with machine output or off a terminal.
    func progress(_ label: String, machineOutput: Bool) -> ProgressHandler? {
        terminalProgress(label, quiet: quiet, machineOutput: machineOutput)
    }
}
