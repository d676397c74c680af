#if canImport(Glibc)
    import Glibc
#endif

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
