#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Who runs this process and where: the effective user, the user behind sudo, the host and its
/// operating system, as the IQ report and the audit log record them.
public enum LocalIdentity {
    /// The effective user's login name from the user database, else `uid N`.
    public static func userName() -> String {
        let uid = geteuid()
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        if getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name {
            return String(cString: name)
        }
        return "uid \(uid)"
    }

    /// The user who ran sudo (`SUDO_USER`) when this process runs as root under it; nil otherwise,
    /// and when that user is root itself.
    public static func sudoUser() -> String? {
        guard geteuid() == 0, let sudo = getenv("SUDO_USER").map({ String(cString: $0) }), !sudo.isEmpty, sudo != "root"
        else {
            return nil
        }
        return sudo
    }

    /// The host name; nil when it cannot be read.
    public static func hostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// `uname`: system name, release and machine, e.g. `Linux 6.1.0-18-amd64 x86_64`; else `unknown`.
    public static func operatingSystem() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "unknown" }
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return [text(u.sysname), text(u.release), text(u.machine)].joined(separator: " ")
    }
}
