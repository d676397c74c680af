import ArgumentParser
import Foundation
import IVPack

struct RollbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Make a kept release active again: one step back, or --to a kept version.",
        discussion: """
            Switches ROOT/current back to the previous release (or, with --to, to the most recently \
            installed kept release of that version) with one rename(2): a switch, not a copy, so it \
            takes the same time whatever the release's size. The site's state (ROOT/state) is \
            snapshotted as the active release leaves it and put back as the target release left it. \
            Hooks: the active release's preRollback first (its failure abandons the rollback, exit 3), \
            the target's postRollback and healthCheck after the switch (a failure: exit 1; the \
            rollback stands). The reason is recorded in the installed state with who rolled back and \
            when. Rolling back twice returns to where you started.

            Exit: 0 rolled back; 1 nothing to roll back to, or the target's health check failed; \
            2 bad input (no installation there); 3 environment (I/O, the root locked, preRollback failed).

            Example:
              ivpack rollback --root /opt/example-medical/pulmoscan \\
                --reason "CR-2026-118: V2.4.0.1101 rejects the site's PACS certificates"
            """
    )

    @OptionGroup var location: InstallRootOptions

    @Option(name: .long, help: "The version of a kept release to activate (default: the previous release).")
    var to: String?

    @Option(name: .long, help: "Why; recorded in the installed state.")
    var reason: String

    func validate() throws {
        if reason.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--reason must say why") }
    }

    mutating func run() throws {
        let options = self
        try reportingErrors {
            let outcome = try Installer.rollback(
                root: options.location.root, toVersion: options.to, reason: options.reason,
                events: auditSteps(of: "rollback"))
            for note in outcome.reconciled { print("Mended:  \(note)") }
            if case .hook(let run) = outcome.failure {
                printHooks(outcome.hooks)
                printError("error: \(InstallFailure.hook(run).description)")
                throw ExitCode(ExitStatus.environment.rawValue)
            }
            print("Rolled back: \(outcome.from.name) -> \(outcome.to.name)")
            print("Active:  \(outcome.to.name) (\(outcome.to.product) \(outcome.to.version))")
            print("Reason:  \(options.reason)")
            if let state = outcome.state { print("State:   \(state)") }
            printHooks(outcome.hooks)
            if let failure = outcome.failure {
                printError("error: \(failure.description)")
                throw ExitCode(failure.exitStatus.rawValue)
            }
        }
    }
}
