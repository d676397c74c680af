// What the fuzz targets share: where the fuzz folder is, the fixed clock and trust policy, a
// scratch file for entry points that read from a path, a system probe that reads nothing, and
// the check that turns a broken invariant into a crash libFuzzer records.
import CFuzzerDriver
import Foundation

@testable import IVPack

/// The target's function for one input, set once by `runFuzzer` before libFuzzer starts.
nonisolated(unsafe) private var fuzzTarget: ([UInt8]) -> Void = { _ in }

/// libFuzzer's entry point, one for every target: hands the input's bytes to the target's
/// function. (libFuzzer's library refers to the symbol, so each executable must define it.)
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    fuzzTarget(start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
    return 0
}

/// Runs libFuzzer on `target` with this process's arguments (libFuzzer's flags, corpus folders
/// or input files) and exits with its status. Called from each target's `@main`.
public func runFuzzer(_ target: @escaping ([UInt8]) -> Void) -> Never {
    fuzzTarget = target
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
}

/// The Fuzz/ folder: `IVPACK_FUZZ_DIR` when set (run.sh sets it), else found from this file's path.
public let fuzzDirectory: String = {
    if let dir = ProcessInfo.processInfo.environment["IVPACK_FUZZ_DIR"], !dir.isEmpty { return dir }
    // Fuzz/Sources/FuzzSupport/FuzzSupport.swift → Fuzz
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// The time every verification is made at: inside the validity of the committed fuzzing PKI
/// (Fuzz/pki, made by Fuzz/make-seeds.sh), so a run's results do not depend on the day.
public let fuzzNow: Int64 = {
    let file = fuzzDirectory + "/pki/now"
    guard let text = try? String(contentsOfFile: file, encoding: .utf8),
        let t = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines))
    else {
        fatalError("fuzz setup: cannot read the fixed time from \(file)")
    }
    return t
}()

/// The trust policy of the committed fuzzing PKI (certificates and CRLs only, no private keys).
public let fuzzTrustPolicy: TrustPolicy = {
    do {
        return try TrustPolicy.load(path: fuzzDirectory + "/pki/trust-policy.yaml")
    } catch {
        fatalError("fuzz setup: cannot load \(fuzzDirectory)/pki/trust-policy.yaml: \(error)")
    }
}()

/// A crash with a message when an invariant does not hold: libFuzzer saves the input.
public func fuzzCheck(
    _ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line
) {
    if !condition {
        fatalError("fuzz invariant broken: \(message())", file: file, line: line)
    }
}

/// One file in a private temporary folder of this process, rewritten with each input; removed at exit.
public final class ScratchFile: @unchecked Sendable {
    public let folder: String
    public let path: String

    public init(name: String) {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/ivpack-fuzz.XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            fatalError("fuzz setup: mkdtemp in \(base) failed: errno \(errno)")
        }
        folder = String(cString: made)
        path = folder + "/" + name
        ScratchFile.registerRemoval(folder)
    }

    /// Replaces the file's content with `bytes`.
    public func write(_ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { fatalError("fuzz setup: cannot write \(path): errno \(errno)") }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + done, bytes.count - done) }
            guard n > 0 else { fatalError("fuzz setup: cannot write \(path): errno \(errno)") }
            done += n
        }
    }

    nonisolated(unsafe) private static var folders: [String] = []

    private static func registerRemoval(_ folder: String) {
        if folders.isEmpty {
            atexit {
                for f in ScratchFile.folders { try? FileManager.default.removeItem(atPath: f) }
            }
        }
        folders.append(folder)
    }
}

/// A probe that reads nothing of this machine: fixed readings, so environment checks are
/// deterministic and cost no system calls.
public struct FixedProbe: SystemProbe {
    public init() {}
    public func processors() throws(ProbeError) -> ProcessorReading {
        ProcessorReading(count: 8, flags: ["sse4_2", "avx", "avx2", "fma"], source: "fuzz")
    }
    public func memory() throws(ProbeError) -> MemoryReading { MemoryReading(totalBytes: 32 << 30, source: "fuzz") }
    public func freeSpace(at path: String) throws(ProbeError) -> DiskReading {
        if path.contains("nospace") { throw ProbeError("fuzz: no such file system") }
        return DiskReading(measuredPath: "/", freeBytes: 100 << 30)
    }
    public func operatingSystem() throws(ProbeError) -> OSReading {
        OSReading(id: "ubuntu", versionID: "22.04", prettyName: "Ubuntu 22.04.4 LTS", source: "fuzz")
    }
    public func kernelRelease() throws(ProbeError) -> KernelReading {
        KernelReading(release: "5.15.0-105-generic", source: "fuzz")
    }
    public func gpus(vendor: String?) throws(ProbeError) -> GPUReading {
        .found(
            [
                GPUInfo(
                    vendor: "NVIDIA", name: "NVIDIA A100-SXM4-40GB", memoryBytes: 40 << 30, driverVersion: "535.161.07")
            ], source: "fuzz")
    }
    public func toolVersion(_ name: String) throws(ProbeError) -> ToolReading {
        guard name == "python3" || name == "docker" else { throw ProbeError("fuzz: \(name) is not installed") }
        return ToolReading(path: "/usr/bin/" + name, version: DottedVersion("3.10.12")!, line: "\(name) 3.10.12")
    }
}

/// Checks what a version reader says about hostile input: a message names no control character
/// (C0, DEL, C1) or invisible format character raw, since it goes to a terminal or a CI log; a
/// `byte N` location lies inside the input (the reader never looks past the bytes it was given).
public func fuzzCheckReaderError(_ error: any Error, size: Int, file: StaticString = #file, line: UInt = #line) {
    let text = "\(error)"
    fuzzCheck(!text.isEmpty, "empty error", file: file, line: line)
    fuzzCheck(
        isDisplaySafe(text), "error message holds a raw control character: \(text.debugDescription)",
        file: file, line: line)
    if let e = error as? InputError, e.kind == .versionSource, e.detail.hasPrefix("byte ") {
        let digits = e.detail.dropFirst(5).prefix { $0.isNumber }
        fuzzCheck(
            Int(digits).map { $0 >= 0 && $0 <= size } ?? false,
            "error location \(e.detail.debugDescription) is outside the \(size)-byte input",
            file: file, line: line)
    }
}

/// Whether `text` has no control character (C0, DEL, C1), bidirectional control or zero-width
/// character: nothing `Display.name` would escape.
public func isDisplaySafe(_ text: String) -> Bool {
    !text.unicodeScalars.contains(where: Display.needsEscape)
}
