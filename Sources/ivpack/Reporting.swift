import ArgumentParser
import Foundation
import IVPack
import Synchronization

/// Runs a command body, printing ivpack errors to standard error and turning them into the
/// documented exit codes; the command's event goes to the audit log either way. Anything
/// unexpected is an environment failure (3), never a crash. The async twin below differs only in
/// `await`; both leave the outcome to `CommandRun` (Swift has no `reasync` to make them one).
func reportingErrors(_ body: () throws -> Void) throws {
    let run = CommandRun()
    do { try body() } catch { throw run.failed(error) }
    run.succeeded()
}

/// `reportingErrors` for async command bodies.
func reportingErrors(_ body: () async throws -> Void) async throws {
    let run = CommandRun()
    do { try await body() } catch { throw run.failed(error) }
    run.succeeded()
}

/// One run of a command body: how it ended becomes the exit code and the audit log's event.
private struct CommandRun {
    let started = DispatchTime.now().uptimeNanoseconds

    func succeeded() {
        audit(status: ExitStatus.success.rawValue, started: started)
    }

    /// Prints `error` (an `ExitCode` was printed by whoever threw it) and returns its exit code:
    /// an ivpack error's own status, anything else 3.
    func failed(_ error: any Error) -> ExitCode {
        let code: ExitCode
        switch error {
        case let error as any IVPackError:
            printError("error: \(error)")
            code = ExitCode(error.exitStatus.rawValue)
        case let error as ExitCode:
            code = error
        default:
            printError("error: \(error)")
            code = ExitCode(ExitStatus.environment.rawValue)
        }
        audit(status: code.rawValue, started: started)
        return code
    }
}

/// Appends this command's event to the audit log named by $IVPACK_AUDIT_LOG, if any: the command
/// words, its parameters with secrets redacted, the exit status and the duration. A log that
/// cannot be written is reported on standard error (the command's own result stands).
func audit(status: Int32, started: UInt64) {
    guard let path = ProcessInfo.processInfo.environment["IVPACK_AUDIT_LOG"], !path.isEmpty else { return }
    let arguments = Array(CommandLine.arguments.dropFirst())
    // The command path: the subcommand names as declared (never a positional argument).
    var words: [String] = []
    var level: [any ParsableCommand.Type] = IVPackCommand.configuration.subcommands
    for argument in arguments {
        guard let match = level.first(where: { $0._commandName == argument }) else { break }
        words.append(argument)
        level = match.configuration.subcommands
    }
    let command = (["ivpack"] + words).joined(separator: " ")
    let elapsed = Int64((DispatchTime.now().uptimeNanoseconds - started) / 1_000_000)
    do {
        _ = try AuditLog.append(
            path: path,
            event: AuditEvent(
                command: command, parameters: AuditLog.redact(arguments),
                result: status, durationMs: elapsed))
    } catch {
        printError("warning: the audit log \(path) could not be appended to: \(error)")
    }
}

func printError(_ text: String) {
    var line = text
    if !line.hasSuffix("\n") { line += "\n" }
    FileHandle.standardError.write(Data(line.utf8))
}

/// Writes a JSON value for machines: pretty-printed, keys sorted.
func printJSON(_ value: JSONValue) {
    print(PrettyJSON.render(value))
}

/// A progress line on standard error (bytes done, rate, time left), only on a terminal and never
/// with --quiet or machine output; nil otherwise.
func terminalProgress(_ label: String, quiet: Bool, machineOutput: Bool) -> ProgressHandler? {
    guard !quiet, !machineOutput, isatty(2) == 1 else { return nil }
    let started = DispatchTime.now().uptimeNanoseconds
    // TERM=dumb (an editor's shell, a CI log): plain lines, one per tenth of the work.
    let plain = ProcessInfo.processInfo.environment["TERM"] == "dumb"
    let shown = Mutex<Int>(-1)
    // The line must fit the terminal: a wrapped line is redrawn only in part by "\r".
    var size = winsize()
    let width = ioctl(2, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 20 ? Int(size.ws_col) : 80
    return { done, total, file in
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        if plain {
            let tenth = total > 0 ? Int(min(done, total) * 10 / total) : 10
            let due = shown.withLock { last in
                guard tenth > last else { return false }
                last = tenth
                return true
            }
            guard due else { return }
        }
        let line = ProgressLine.render(
            label: label, done: done, total: total, seconds: seconds, plain: plain, file: file, width: width)
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// The audit log's sink for the steps of an install, rollback or prune: each step is its own
/// event (`ivpack install switch`, `ivpack rollback hook`, ...), appended as it happens, so that a
/// crash later still leaves the steps before it recorded. Nil without $IVPACK_AUDIT_LOG.
func auditSteps(of command: String) -> InstallEventSink? {
    guard let path = ProcessInfo.processInfo.environment["IVPACK_AUDIT_LOG"], !path.isEmpty else { return nil }
    return { step in
        do {
            _ = try AuditLog.append(
                path: path,
                event: AuditEvent(
                    command: "ivpack \(command) \(step.action)", parameters: AuditLog.redact(step.parameters),
                    result: step.result, durationMs: 0))
        } catch {
            printError("warning: the audit log \(path) could not be appended to: \(error)")
        }
    }
}

/// Prints the hooks an install or rollback ran, with the last lines of a failed one's output.
func printHooks(_ hooks: [HookRun]) {
    for run in hooks {
        print("Hook:    \(run.hook.rawValue) (\(run.release)): \(run.command.joined(separator: " ")): \(run.outcome)")
        if !run.passed { for line in run.excerpt { print("         | \(line)") } }
    }
}
