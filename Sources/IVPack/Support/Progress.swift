import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Progress of a long operation: bytes done of a known total, and the file being read (nil when
/// none, e.g. at the end). Called from a working thread, at most a few times per second.
public typealias ProgressHandler = @Sendable (_ done: Int64, _ total: Int64, _ file: String?) -> Void

/// Throttles progress calls to one per `interval` seconds (plus the final one). The reading
/// thread names the file it is on (`reading(_:)`); the hashing workers report the bytes done.
final class ProgressThrottle: @unchecked Sendable {
    private let handler: ProgressHandler?
    private let total: Int64
    private var last: Double = 0
    private let interval: Double
    private let file = Mutex<String?>(nil)

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

    /// The file now being read, for the next frames.
    func reading(_ path: String) {
        guard handler != nil else { return }
        file.withLock { $0 = path }
    }

    func update(_ done: Int64) {
        guard let handler else { return }
        let t = Self.now()
        if t - last >= interval {
            last = t
            handler(done, total, file.withLock { $0 })
        }
    }

    func finish() { handler?(total, total, nil) }
}

/// One frame of a progress line: for a terminal (`plain: false`, redrawn in place with a carriage
/// return and erase-to-end) or for TERM=dumb and logs (`plain: true`, plain text on a line of its
/// own). Rate and time left are "--" until half a second of work with bytes done: the first frame
/// once said "3099890 s left" (issue 19).
public enum ProgressLine {
    public static func render(
        label: String, done: Int64, total: Int64, seconds: Double, plain: Bool, file: String? = nil,
        width: Int? = nil
    ) -> String {
        let finished = done >= total
        let percent = total > 0 ? min(100, Int(done * 100 / total)) : 100
        let rate: Double? = seconds >= 0.5 && done > 0 ? Double(done) / seconds : nil
        var line = "\(label) \(percent)% \(size(Double(done))) of \(size(Double(total))), "
        line += rate.map { "\(size($0))/s" } ?? "-- MiB/s"
        if finished {
            line += ", done"
        } else {
            line += rate.map { ", \(Int((Double(total - done) / $0).rounded(.up))) s left" } ?? ", -- s left"
            // The file when at least a few characters of it fit (a narrow terminal shows none).
            let room = (width ?? 80) - 1 - line.count - 2
            if let file, room >= 8 { line += ": " + shortened(Display.name(file), room: room) }
        }
        return plain ? line + "\n" : "\r" + line + "\u{1B}[K" + (finished ? "\n" : "")
    }

    /// `name` in at most `room` characters: its end (the file name) kept, "…" in front. A line
    /// longer than the terminal wraps, and then the carriage return redraws only its last part.
    static func shortened(_ name: String, room: Int) -> String {
        guard name.count > room else { return name }
        guard room > 1 else { return "" }
        return "…" + String(name.suffix(room - 1))
    }

    static func size(_ bytes: Double) -> String {
        bytes >= 1_073_741_824
            ? String(format: "%.2f GiB", bytes / 1_073_741_824) : String(format: "%.1f MiB", bytes / 1_048_576)
    }
}
