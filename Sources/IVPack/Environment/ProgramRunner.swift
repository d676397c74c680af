#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a program with a deadline and collects what it prints (standard output and standard error
/// together). Used to ask installed tools for their version and to run a release's install hooks;
/// never through a shell.
enum ProgramRunner {
    /// Most bytes of output kept; the rest is read and dropped so that the program never blocks.
    static let maxOutputBytes = 64 << 10

    struct Outcome {
        /// Exit status, or nil when the program was killed (by the deadline or a signal).
        var status: Int32?
        var timedOut: Bool
        var output: [UInt8]
    }

    /// How the program is started, beyond its arguments.
    struct Launch {
        /// The whole environment; nil: this process's, with `LC_ALL=C`.
        var environment: [String]?
        /// The working folder; nil: this process's.
        var directory: String?
        /// At the deadline the group first gets SIGTERM and this many seconds to end, then SIGKILL.
        var graceSeconds = 0
        /// Called with the child's process ID (its process group) once it runs.
        var started: ((pid_t) -> Void)?
    }

    /// Runs `path` with `arguments` (argv[0] is `path`), standard input from /dev/null, in a new
    /// process group that is killed whole when `timeoutSeconds` pass. Throws when it cannot start.
    static func run(
        _ path: String, _ arguments: [String], timeoutSeconds: Int, launch: Launch = Launch()
    ) throws(ProbeError) -> Outcome {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw ProbeError("cannot run \(path): cannot create a pipe: \(errorText(errno))") }
        // Another thread may start a process before these flags are set and so hold the write end
        // open; the loop below therefore also stops when the child has exited.
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        defer { if fds[0] >= 0 { close(fds[0]) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        // Only standard input, output and error reach the program: a descriptor ivpack inherited
        // without close-on-exec (Foundation's Process gives its child one it watches for the
        // child's exit) kept a test waiting 60 s for a killed ivpack's leftover hook to end.
        if let addclosefrom = Self.addclosefrom { _ = addclosefrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK))

        if let directory = launch.directory {
            guard let addchdir = Self.addchdir else {
                throw ProbeError("cannot run \(path) in \(directory): this C library cannot set a child's folder")
            }
            _ = directory.withCString { addchdir(&actions, $0) }
        }
        var environment: [String] = []
        if let given = launch.environment {
            environment = given
        } else {
            // Tools print their version in the C locale; everything else is inherited.
            var entry = environ
            while let c = entry.pointee {
                let text = String(cString: c)
                if !text.hasPrefix("LC_ALL=") { environment.append(text) }
                entry += 1
            }
            environment.append("LC_ALL=C")
        }

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        // A program that was just written (or is being replaced) can be briefly busy for writing in
        // another process (ETXTBSY, e.g. a child forked by another thread before exec): try again.
        var spawned = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        var busyRetries = 0
        while spawned == ETXTBSY && busyRetries < 50 {
            busyRetries += 1
            usleep(20_000)
            spawned = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        }
        close(fds[1])
        guard spawned == 0 else { throw ProbeError("cannot run \(path): \(errorText(spawned))") }
        launch.started?(pid)

        let deadline = monotonicMilliseconds() + Int64(timeoutSeconds) * 1000
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var exited: Int32?
        var status: Int32 = 0
        var open = true
        while true {
            if exited == nil {
                let r = waitpid(pid, &status, WNOHANG)
                if r == pid { exited = status }
            }
            let remaining = deadline - monotonicMilliseconds()
            if remaining <= 0 { break }
            if !open {
                if exited != nil { break }
                usleep(5_000)
                continue
            }
            // After the child has exited, take only what is already in the pipe.
            var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, exited == nil ? Int32(min(remaining, 20)) : 0)
            if ready < 0, errno != EINTR {
                open = false
                continue
            }
            if ready <= 0 {
                if exited != nil { break }
                continue
            }
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                open = false
                continue
            }
            if n == 0 {
                open = false
                continue
            }
            if output.count < maxOutputBytes {
                output.append(contentsOf: buffer[0..<min(n, maxOutputBytes - output.count)])
            }
        }
        if let exited {
            return Outcome(status: exitStatus(exited), timedOut: false, output: output)
        }
        if launch.graceSeconds > 0 {
            kill(-pid, SIGTERM)
            let end = monotonicMilliseconds() + Int64(launch.graceSeconds) * 1000
            while monotonicMilliseconds() < end {
                if waitpid(pid, &status, WNOHANG) == pid {
                    kill(-pid, SIGKILL)
                    return Outcome(status: nil, timedOut: true, output: output)
                }
                usleep(10_000)
            }
        }
        kill(-pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        return Outcome(status: nil, timedOut: true, output: output)
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which its Swift module
    /// does not declare: looked up once; without it, programs inherit what has no close-on-exec.
    private static let addclosefrom:
        (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
            guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
            return unsafeBitCast(
                symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
        }()

    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29 and later), which its Swift module does
    /// not declare: looked up once.
    private static let addchdir:
        (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32)? = {
            guard let symbol = dlsym(nil, "posix_spawn_file_actions_addchdir_np") else { return nil }
            return unsafeBitCast(
                symbol,
                to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32)
                    .self)
        }()

    /// The exit code of a normally exited child; nil for one killed by a signal.
    private static func exitStatus(_ status: Int32) -> Int32? {
        // WIFEXITED / WEXITSTATUS are macros that do not import into Swift.
        (status & 0x7F) == 0 ? (status >> 8) & 0xFF : nil
    }

    static func monotonicMilliseconds() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Int64(t.tv_sec) * 1000 + Int64(t.tv_nsec) / 1_000_000
    }

    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}
