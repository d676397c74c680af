#if canImport(Glibc)
    import Glibc
#endif

/// Time formatting for messages, reports and file names: the one place that turns seconds since
/// 1970 into text, always in UTC (a report read in another time zone says the same).
public enum Timestamp {
    /// `2026-11-23T18:07:12Z` (ISO 8601, what JSON documents carry).
    public static func iso8601(_ seconds: Int64) -> String { format(seconds, "%Y-%m-%dT%H:%M:%SZ") }

    /// `2026-11-23 18:07:12 UTC` (for people: certificate validity in messages).
    public static func readable(_ seconds: Int64) -> String { format(seconds, "%Y-%m-%d %H:%M:%S UTC") }

    /// `20261123-180712` (report IDs and file names).
    public static func compact(_ seconds: Int64) -> String { format(seconds, "%Y%m%d-%H%M%S") }

    /// The current time, seconds since 1970.
    public static func now() -> Int64 { Int64(time(nil)) }

    /// The seconds of a `2026-11-23T18:07:12Z` text as `iso8601` writes it; nil for any other text.
    public static func parseISO8601(_ text: String) -> Int64? {
        let u = Array(text.utf8)
        let pattern = Array("dddd-dd-ddTdd:dd:ddZ".utf8)
        guard u.count == pattern.count,
            zip(u, pattern).allSatisfy({ b, p in p == UInt8(ascii: "d") ? (0x30...0x39).contains(b) : b == p })
        else { return nil }
        func number(_ range: Range<Int>) -> Int32 { u[range].reduce(0) { $0 * 10 + Int32($1 - 0x30) } }
        var parts = tm()
        parts.tm_year = number(0..<4) - 1900
        parts.tm_mon = number(5..<7) - 1
        parts.tm_mday = number(8..<10)
        parts.tm_hour = number(11..<13)
        parts.tm_min = number(14..<16)
        parts.tm_sec = number(17..<19)
        let seconds = Int64(timegm(&parts))
        // A day or time out of range (2026-02-30) comes back as another text: refused.
        return iso8601(seconds) == text ? seconds : nil
    }

    /// `seconds` as `pattern` (strftime) in UTC; a time the C library cannot break down (beyond
    /// year 2^31) is given as the number of seconds.
    static func format(_ seconds: Int64, _ pattern: String) -> String {
        var t = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&t, &parts) != nil else { return "\(seconds) s since 1970" }
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, pattern, &parts)
        return n > 0 ? buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : "\(seconds) s since 1970"
    }
}
