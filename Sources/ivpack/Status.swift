import ArgumentParser
import IVPack

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what is installed under a root: active, previous and kept releases; --check for drift.",
        discussion: """
            Reads the installed state (ROOT/.ivpack/state.json) and the ROOT/current link without \
            changing anything. With --check, every file of the active release is hashed again \
            against the manifest kept beside it, on every core, and every file changed (to the \
            chunk), added or missing since install is named; exit 1 on any drift. --root is \
            required for now.

            Exit: 0 shown (and no drift); 1 drift found; 2 bad input (no installation there); \
            3 environment.

            Example:
              ivpack status --root /opt/example-medical/pulmoscan --check
            """
    )

    @OptionGroup var location: InstallRootOptions

    @Flag(name: .long, help: "Print the status as JSON.")
    var json = false

    @Flag(name: .long, help: "Hash the active release's files against its manifest and name any drift.")
    var check = false

    mutating func run() throws {
        let options = self
        try reportingErrors {
            let status = try Installer.status(root: options.location.root, check: options.check)
            if options.json {
                printJSON(status.json)
            } else {
                options.printStatus(status)
            }
            if let drift = status.drift, !drift.clean { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }

    func printStatus(_ status: InstallStatus) {
        let state = status.state
        print("Install root: \(status.root)")
        func line(_ r: InstalledState.Release) -> String {
            "\(r.name)  \(r.product) \(r.version), installed \(r.installedAt) by \(r.installedBy)"
                + (r.downgradeReason.map { " (downgrade: \($0))" } ?? "")
        }
        if let active = state.activeRelease {
            print("Active:   \(line(active))")
        } else {
            print("Active:   none (nothing installed)")
        }
        if let previous = state.previousRelease { print("Previous: \(line(previous))") }
        let kept = state.releases.filter { $0.name != state.active && $0.name != state.previous }
        for r in kept { print("Kept:     \(line(r))") }
        if let active = state.active {
            let check = state.history.last { $0.action == "health-check" && $0.release == active }
            print(
                "Health:   "
                    + (check.map { "\($0.result ?? "?") at \($0.at): \($0.reason ?? "")" }
                        ?? "not run for the active release (it has no health check, or a run was interrupted)"))
        }
        if let pending = state.pending {
            print(
                "Pending:  an interrupted \(pending.action) of \(pending.release): the next install, rollback or prune finishes or undoes it"
            )
        }
        if let last = state.history.last {
            print(
                "Last:     \(last.action) of \(last.release) at \(last.at) by \(last.by)"
                    + (last.reason.map { ": \($0)" } ?? ""))
        }
        for note in status.notes { print("Note:     \(note)") }
        guard let drift = status.drift else { return }
        print("")
        if drift.clean {
            print("Check:    \(drift.files) files of \(drift.release) match its manifest: no drift")
            return
        }
        print("Check:    DRIFT in \(drift.release) (\(drift.files) files in its manifest)")
        for c in drift.changed { print("  changed: \(c)") }
        for a in drift.added { print("  added:   \(a)") }
        for m in drift.missing { print("  missing: \(m)") }
    }
}
