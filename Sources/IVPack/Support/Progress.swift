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
