#if canImport(Glibc)
    import Glibc
#endif

/// What a hook is told: the operation and both releases, as environment variables.
struct HookContext: Sendable {
    /// `install` or `rollback`.
    var action: String
    var product: String
    /// The release being made active.
    var version: String
    var release: String
    var releaseFolder: String
    /// The release active before, if any.
    var previousVersion: String?
    var previousFolder: String?
    var root: String
    var stateFolder: String

    /// The hook's whole environment: nothing of ivpack's own is inherited (no passphrase, no
    /// proxy setting, no failpoint), only a fixed PATH, the locale, HOME, and the IVPACK_ values.
    func environment(hook: InstallSpec.HookName) -> [String] {
        var values = [
            "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
            "HOME=\(getenv("HOME").map { String(cString: $0) } ?? "/")",
            "IVPACK_ACTION=\(action)", "IVPACK_HOOK=\(hook.rawValue)", "IVPACK_PRODUCT=\(product)",
            "IVPACK_VERSION=\(version)", "IVPACK_RELEASE=\(release)", "IVPACK_RELEASE_DIR=\(releaseFolder)",
            "IVPACK_ROOT=\(root)", "IVPACK_STATE_DIR=\(stateFolder)",
        ]
        if let previousVersion { values.append("IVPACK_PREVIOUS_VERSION=\(previousVersion)") }
        if let previousFolder { values.append("IVPACK_PREVIOUS_RELEASE_DIR=\(previousFolder)") }
        return values
    }
}

/// How one hook ran: what the report, the audit log and the state record say about it.
public struct HookRun: Sendable, Equatable {
    public var hook: InstallSpec.HookName
    /// The release the program came from.
    public var release: String
    /// `run` as the manifest gives it.
    public var command: [String]
    /// Exit status; nil when killed (timeout or signal) or never started.
    public var status: Int32?
    public var timedOut: Bool
    /// Why it could not start, if it did not.
    public var startFailure: String?
    public var milliseconds: Int64
    public var timeoutSeconds: Int
    /// The last lines it printed (standard output and error together), at most 20 lines of 200
    /// characters each, control characters replaced.
    public var excerpt: [String]

    public var passed: Bool { status == 0 && !timedOut && startFailure == nil }

    /// "exit 0 in 1.2 s", "timed out after 30 s", "killed by a signal", "could not start: ...".
    public var outcome: String {
        if let startFailure { return "could not start: \(startFailure)" }
        if timedOut { return "timed out after \(timeoutSeconds) s (its process group was stopped)" }
        guard let status else { return "killed by a signal after \(Self.seconds(milliseconds))" }
        return "exit \(status) in \(Self.seconds(milliseconds))"
    }

    static func seconds(_ ms: Int64) -> String {
        "\(ms / 1000).\(String(format: "%01d", (ms % 1000) / 100)) s"
    }
}

/// Runs a release's install hooks (`install.hooks` of its manifest): the program is a file of the
/// release itself (checked when the manifest was read: a payload file of mode 0755), run from
/// where it is installed (its component's destination applied), without a shell, in the
/// release's folder, in its own process group, with a clean environment and the manifest's
/// timeout (SIGTERM, 5 s, then SIGKILL to the whole group).
enum Hooks {
    static let graceSeconds = 5
    static let excerptLines = 20

    /// Runs `name` of `manifest`'s install section from `releaseFolder`; nil when the release
    /// has no such hook. `started` is told the process ID once the program runs (the crash record).
    static func run(
        _ name: InstallSpec.HookName, of manifest: Manifest?, release: String, releaseFolder: String,
        context: HookContext, started: @escaping (pid_t) -> Void
    ) -> HookRun? {
        guard let manifest, let hook = manifest.install?.hooks[name] else { return nil }
        var run = HookRun(
            hook: name, release: release, command: hook.run, status: nil, timedOut: false, startFailure: nil,
            milliseconds: 0, timeoutSeconds: hook.timeoutSeconds, excerpt: [])
        // The manifest was read with its program among the files; the fallback is never taken.
        let program = releaseFolder + "/" + (manifest.installedPath(ofPayloadPath: hook.program) ?? hook.program)
        var st = stat()
        guard lstat(program, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            run.startFailure = "\(program) is missing or not a regular file (the release was changed after install?)"
            return run
        }
        let began = ProgramRunner.monotonicMilliseconds()
        do throws(ProbeError) {
            let outcome = try ProgramRunner.run(
                program, hook.arguments, timeoutSeconds: hook.timeoutSeconds,
                launch: .init(
                    environment: context.environment(hook: name), directory: releaseFolder,
                    graceSeconds: graceSeconds, started: started))
            run.status = outcome.status
            run.timedOut = outcome.timedOut
            run.excerpt = excerpt(outcome.output)
        } catch {
            run.startFailure = error.reason
        }
        run.milliseconds = ProgramRunner.monotonicMilliseconds() - began
        return run
    }

    /// The last lines of `output`, printable.
    static func excerpt(_ output: [UInt8]) -> [String] {
        let text = String(decoding: output, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).suffix(excerptLines)
        return lines.map { line in
            let clean = String(
                String.UnicodeScalarView(
                    line.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
            return clean.count > 200 ? String(clean.prefix(200)) + "..." : clean
        }
    }

    /// The start time of process `pid` in clock ticks after boot (`/proc/PID/stat` field 22), or
    /// nil when there is no such process.
    static func startTime(of pid: pid_t) -> Int64? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
        guard let close = buffer[0..<n].lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = buffer[(close + 1)..<n].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state); field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return Int64(String(decoding: fields[19], as: UTF8.self))
    }

    /// Stops the process group of a hook left running by an interrupted ivpack, if that very
    /// process (same ID, same start time) still runs. Says whether it did.
    static func stopLeftover(pid: Int32, started: Int64?) -> Bool {
        guard pid > 1, let started, startTime(of: pid) == started else { return false }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        // Not our child (its parent died): wait until /proc says it is gone, briefly.
        for _ in 0..<100 where startTime(of: pid) == started {
            usleep(10_000)
        }
        return true
    }
}
