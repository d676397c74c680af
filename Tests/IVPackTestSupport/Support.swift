import Foundation
import IVPack

/// A fresh folder under the system temporary folder, removed when the value is released.
public final class TemporaryFolder: @unchecked Sendable {
    public let path: String

    public init(_ label: String = "ivpack-test") {
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-XXXXXX").path
        var bytes = Array(template.utf8CString)
        guard bytes.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            fatalError("mkdtemp failed for \(template)")
        }
        path = bytes.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// `path` + "/" + `relative`.
    public func url(_ relative: String) -> String { path + "/" + relative }

    /// Writes `bytes` to `relative`, creating folders as needed.
    @discardableResult
    public func write(_ relative: String, _ bytes: [UInt8], mode: Int = 0o644) -> String {
        let full = url(relative)
        let dir = (full as NSString).deletingLastPathComponent
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: full, contents: Data(bytes), attributes: [.posixPermissions: mode])
        return full
    }

    /// Writes UTF-8 text to `relative`.
    @discardableResult
    public func write(_ relative: String, _ text: String, mode: Int = 0o644) -> String {
        write(relative, Array(text.utf8), mode: mode)
    }

    /// The bytes of `relative`.
    public func read(_ relative: String) -> [UInt8] {
        Array(FileManager.default.contents(atPath: url(relative)) ?? Data())
    }

    public func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: url(relative)) }
}

/// The result of running a program.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program to completion with the given environment additions; standard input is empty.
@discardableResult
public func run(
    _ executable: String, _ arguments: [String], in directory: String? = nil,
    environment: [String: String] = [:]
) -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try! process.run()
    // Read both pipes before waiting so that a chatty child cannot block on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async {
        outData = out.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    group.wait()
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs `git` in `directory` with an isolated configuration (no user or system config).
@discardableResult
public func git(_ arguments: [String], in directory: String) -> ProcessResult {
    let result = run(
        "/usr/bin/git", arguments, in: directory,
        environment: [
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": directory,
            "GIT_AUTHOR_NAME": "Release Manager", "GIT_AUTHOR_EMAIL": "rm@example.invalid",
            "GIT_COMMITTER_NAME": "Release Manager", "GIT_COMMITTER_EMAIL": "rm@example.invalid",
            "GIT_AUTHOR_DATE": "2026-11-01T10:00:00Z", "GIT_COMMITTER_DATE": "2026-11-01T10:00:00Z",
        ])
    precondition(
        result.status == 0 || arguments.first == "status",
        "git \(arguments.joined(separator: " ")) failed: \(result.stderr)")
    return result
}

/// The built `ivpack` executable, next to the test binary.
public var ivpackExecutable: String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = (exe as NSString).deletingLastPathComponent
    // The test binary lives in <build>/debug/ivpackPackageTests.xctest (a file on Linux).
    while !FileManager.default.isExecutableFile(atPath: dir + "/ivpack"), dir != "/" {
        dir = (dir as NSString).deletingLastPathComponent
    }
    return dir + "/ivpack"
}

/// Runs the built `ivpack` with `arguments`.
@discardableResult
public func ivpack(_ arguments: [String], in directory: String? = nil, environment: [String: String] = [:])
    -> ProcessResult
{
    run(ivpackExecutable, arguments, in: directory, environment: environment)
}

/// `run` for async tests: the child is waited for on a Dispatch thread, never on the cooperative
/// pool (which a server under test may need to answer that very child).
public func runDetached(
    _ executable: String, _ arguments: [String], in directory: String? = nil,
    environment: [String: String] = [:]
) async -> ProcessResult {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(returning: run(executable, arguments, in: directory, environment: environment))
        }
    }
}

/// Runs a program with its output discarded and returns its exit status once the program itself
/// has exited (grandchildren holding no pipe of ours cannot delay it). Off the cooperative pool.
public func runForStatus(_ executable: String, _ arguments: [String]) async -> Int32 {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            do {
                try process.run()
                process.waitUntilExit()
                continuation.resume(returning: process.terminationStatus)
            } catch {
                continuation.resume(returning: -1)
            }
        }
    }
}

/// Runs the built `ivpack` with `IVPACK_FAILPOINT=failpoint` until it stops at that point, then
/// kills it with SIGKILL, for crash tests. Returns what it wrote to standard error before the kill
/// (it says "failpoint reached") and whether it died of the signal.
public func ivpackKilledAtFailpoint(_ arguments: [String], failpoint: String) throws -> (
    stderr: String, killedBySignal: Bool
) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ivpackExecutable)
    process.arguments = arguments
    process.environment = [Failpoint.variable: failpoint, "PATH": "/usr/bin:/bin"]
    let err = Pipe()
    process.standardError = err
    try process.run()
    // The first thing it writes is the failpoint line (or an error, if it never got there).
    let line = err.fileHandleForReading.availableData
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    return (String(decoding: line, as: UTF8.self), process.terminationReason == .uncaughtSignal)
}

/// Verifies the bundle at `path` against `policy` twice at one time, with one hashing worker and
/// with eight: for the tests that the verdict does not depend on the number of workers.
public func verifyWithOneAndEightWorkers(_ path: String, policy: TrustPolicy) throws -> (
    one: VerifyReport, many: VerifyReport
) {
    let now = Timestamp.now()
    return (
        try BundleVerifier.verify(bundlePath: path, policy: policy, now: now, hashWorkers: 1),
        try BundleVerifier.verify(bundlePath: path, policy: policy, now: now, hashWorkers: 8)
    )
}
