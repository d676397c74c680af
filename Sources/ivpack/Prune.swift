import ArgumentParser
import Foundation
import IVPack

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove old kept releases, never the active or the previous one.",
        discussion: """
            Keeps the newest --keep releases (default 2), counting the active and the previous \
            release, which are always kept; removes the others' folders, manifests and state \
            snapshots. Each removal is recorded in the installed state and the audit log.

            Exit: 0 done (also when nothing was to remove); 2 bad input (no installation there); \
            3 environment (I/O, the root locked).

            Example:
              ivpack prune --root /opt/example-medical/pulmoscan --keep 3
            """
    )

    @OptionGroup var location: InstallRootOptions

    @Option(name: .long, help: "How many releases to keep, the active and previous ones included (at least 2).")
    var keep: Int = 2

    func validate() throws {
        if keep < 2 {
            throw ValidationError("--keep is at least 2: the active and the previous release are always kept")
        }
    }

    mutating func run() throws {
        let options = self
        try reportingErrors {
            let outcome = try Installer.prune(
                root: options.location.root, keep: options.keep, events: auditSteps(of: "prune"))
            for note in outcome.reconciled { print("Mended:  \(note)") }
            for release in outcome.removed { print("Removed: \(release.name) (\(release.version))") }
            if outcome.removed.isEmpty {
                print("Nothing to remove: \(outcome.kept.count) release(s), keep \(options.keep).")
            }
            print("Kept:    \(outcome.kept.map(\.name).joined(separator: ", "))")
        }
    }
}
