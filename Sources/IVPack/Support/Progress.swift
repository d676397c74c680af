#if canImport(Glibc)
import Glibc
#endif

/// Progress of a long operation: bytes done of a known total. Called from the working thread,
/// at most a few times per second.
public typealias ProgressHandler = @Sendable (_ done: Int64, _ total: Int64) -> Void

/// Throttles progress calls to one per `interval` seconds (plus the final one).
final class ProgressThrottle {
    private let handler: ProgressHandler?
    private let total: Int64
    private var last: Double = 0
    private let interval: Double

    init(_ handler: ProgressHandler?, total: Int64, interval: Double = 0.2) {
        self.handler = handler
        self.total = total
        self.interval = interval
    }

    private static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    func update(_ done: Int64) {
        guard let handler else { return }
        let t = Self.now()
        if t - last >= interval {
            last = t
            handler(done, total)
        }
    }

    func finish() { handler?(total, total) }
}

/// Crash-test hooks: with `IVPACK_FAILPOINT=NAME` in the environment, the process stops at the
/// point named NAME, says so on standard error, and waits to be killed (tests then `kill -9` it
/// at exactly that point). Without the variable, nothing happens.
public enum Failpoint {
    public static let variable = "IVPACK_FAILPOINT"

    static func reach(_ name: String) {
        guard let value = getenv(variable), String(cString: value) == name else { return }
        let message = Array("ivpack: failpoint reached\n".utf8)
        _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        while true { pause() }
    }
}
