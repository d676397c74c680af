#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The machine ivpack runs on, read from the kernel's files and the tools installed on it.
///
/// With `root` other than `/`, the files `/proc/cpuinfo`, `/proc/meminfo`, `/etc/os-release` (or
/// `/usr/lib/os-release`) and `/proc/sys/kernel/osrelease` are read under that folder instead, and
/// disk space is measured at the requested path under it: a fake root lets tests describe any machine.
/// GPUs and tools are always read by running programs found on `searchPath`.
public struct LiveSystem: SystemProbe {
    /// Largest system file read (a `/proc/cpuinfo` of a 1,024-processor machine is about 2 MiB).
    static let maxSystemFileBytes = 16 << 20
    /// The search path used when `PATH` is not set.
    public static let defaultSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The folder the system files are read under; `/` for the real machine.
    public let root: String
    /// The folders searched for tools and `nvidia-smi`, separated by colons. Only absolute folders
    /// are searched.
    public let searchPath: String
    /// Seconds a tool may take to print its version before it is killed.
    public let timeoutSeconds: Int

    /// The real machine, or the system files under `root`. `searchPath` defaults to `$PATH`.
    public init(root: String = "/", searchPath: String? = nil, timeoutSeconds: Int = 10) {
        self.root = root
        self.searchPath = searchPath ?? (getenv("PATH").map { String(cString: $0) } ?? Self.defaultSearchPath)
        self.timeoutSeconds = max(1, timeoutSeconds)
    }

    private var isRealRoot: Bool { root.isEmpty || root == "/" }

    /// `absolute` under `root`.
    private func rooted(_ absolute: String) -> String {
        if isRealRoot { return absolute }
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        return absolute.hasPrefix("/") ? base + absolute : base + "/" + absolute
    }

    // MARK: Readings

    public func processors() throws(ProbeError) -> ProcessorReading {
        let path = rooted("/proc/cpuinfo")
        let reading = Self.parseCPUInfo(try Self.readText(path))
        guard reading.count > 0 else { throw ProbeError("\(path) lists no processor") }
        return ProcessorReading(count: reading.count, flags: reading.flags, source: path)
    }

    public func memory() throws(ProbeError) -> MemoryReading {
        let path = rooted("/proc/meminfo")
        guard let bytes = Self.parseMemTotal(try Self.readText(path)) else {
            throw ProbeError("\(path) has no MemTotal line")
        }
        return MemoryReading(totalBytes: bytes, source: path)
    }

    public func freeSpace(at path: String) throws(ProbeError) -> DiskReading {
        var current = rooted(path)
        while true {
            var st = stat()
            if stat(current, &st) == 0 { break }
            let code = errno
            guard code == ENOENT || code == ENOTDIR else {
                throw ProbeError("cannot examine \(current): \(ProgramRunner.errorText(code))")
            }
            guard let parent = Self.parent(of: current) else {
                throw ProbeError("cannot examine \(current): \(ProgramRunner.errorText(code))")
            }
            current = parent
        }
        var fs = statvfs()
        guard statvfs(current, &fs) == 0 else {
            throw ProbeError("cannot measure the file system of \(current): \(ProgramRunner.errorText(errno))")
        }
        let free = UInt64(fs.f_bavail).multipliedReportingOverflow(by: UInt64(fs.f_frsize))
        return DiskReading(measuredPath: current, freeBytes: free.overflow ? .max : free.partialValue)
    }

    public func operatingSystem() throws(ProbeError) -> OSReading {
        // os-release(5): /etc/os-release, falling back to /usr/lib/os-release.
        var text: String?
        var source = rooted("/etc/os-release")
        var firstError: ProbeError?
        for candidate in ["/etc/os-release", "/usr/lib/os-release"] {
            do {
                text = try Self.readText(rooted(candidate))
                source = rooted(candidate)
                break
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        guard let text else { throw firstError ?? ProbeError("cannot read \(source)") }
        let fields = Self.parseOSRelease(text)
        // ID defaults to "linux" (os-release(5)).
        return OSReading(
            id: fields["ID"] ?? "linux", versionID: fields["VERSION_ID"], prettyName: fields["PRETTY_NAME"],
            source: source)
    }

    public func kernelRelease() throws(ProbeError) -> KernelReading {
        if isRealRoot {
            var names = utsname()
            guard uname(&names) == 0 else { throw ProbeError("uname failed: \(ProgramRunner.errorText(errno))") }
            let release = withUnsafeBytes(of: &names.release) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            return KernelReading(release: release, source: "uname")
        }
        let path = rooted("/proc/sys/kernel/osrelease")
        let release = try Self.readText(path).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        guard !release.isEmpty else { throw ProbeError("\(path) is empty") }
        return KernelReading(release: release, source: path)
    }

    public func gpus(vendor: String?) throws(ProbeError) -> GPUReading {
        if let vendor, !vendor.lowercased().contains("nvidia") {
            return .notCheckable(
                reason: "ivpack reads only NVIDIA GPUs (with nvidia-smi); a \(vendor) GPU must be checked by hand")
        }
        guard let smi = findProgram("nvidia-smi") else {
            return .notCheckable(
                reason:
                    "nvidia-smi was not found on the search path (\(searchPath)), so the GPUs cannot be read; check them by hand or install the NVIDIA driver utilities"
            )
        }
        let outcome = try ProgramRunner.run(
            smi, ["--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
            timeoutSeconds: timeoutSeconds)
        let text = String(decoding: outcome.output, as: UTF8.self)
        guard outcome.status == 0 else {
            let why =
                outcome.timedOut
                ? "did not answer within \(timeoutSeconds) s"
                : outcome.status.map { "exited with status \($0)" } ?? "was killed"
            throw ProbeError("\(smi) \(why): \(Self.firstLine(text) ?? "no output"); the GPU driver is not working")
        }
        return .found(try Self.parseNvidiaSMI(text), source: smi)
    }

    public func toolVersion(_ name: String) throws(ProbeError) -> ToolReading {
        guard Self.isProgramName(name) else {
            throw ProbeError(
                "\"\(name)\" is not a program name (letters, digits, '.', '_', '+', '-'; no '/'); ivpack runs only programs found on the search path"
            )
        }
        guard let path = findProgram(name) else {
            throw ProbeError("\(name) was not found on the search path (\(searchPath))")
        }
        let outcome = try ProgramRunner.run(path, Self.versionArguments(for: name), timeoutSeconds: timeoutSeconds)
        let text = String(decoding: outcome.output, as: UTF8.self)
        let asked = "\(name) \(Self.versionArguments(for: name).joined(separator: " "))"
        if outcome.timedOut { throw ProbeError("`\(asked)` did not finish within \(timeoutSeconds) s") }
        guard let status = outcome.status else { throw ProbeError("`\(asked)` was killed by a signal") }
        guard status == 0 else {
            throw ProbeError("`\(asked)` exited with status \(status): \(Self.firstLine(text) ?? "no output")")
        }
        for line in text.split(whereSeparator: \.isNewline) {
            if let version = DottedVersion.first(in: String(line)) {
                return ToolReading(path: path, version: version, line: String(line.prefix(200)))
            }
        }
        throw ProbeError("`\(asked)` printed no version number (N.N): \(Self.firstLine(text) ?? "no output")")
    }

    // MARK: Helpers (internal for tests)

    /// The arguments that make `name` print its version.
    static func versionArguments(for name: String) -> [String] {
        name == "java" ? ["-version"] : ["--version"]
    }

    /// A plain program name: no path separators, no leading dot or dash.
    static func isProgramName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 255, first != UInt8(ascii: "."),
            first != UInt8(ascii: "-")
        else { return false }
        return name.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "+") || b == UInt8(ascii: "-")
        }
    }

    /// The first executable regular file named `name` in an absolute folder of the search path.
    func findProgram(_ name: String) -> String? {
        for folder in searchPath.split(separator: ":") where folder.hasPrefix("/") {
            let candidate = folder.hasSuffix("/") ? "\(folder)\(name)" : "\(folder)/\(name)"
            var st = stat()
            if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    static func firstLine(_ text: String) -> String? {
        text.split(whereSeparator: \.isNewline).first.map { String($0.prefix(200)) }
    }

    static func parent(of path: String) -> String? {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard p != "/", p != "." else { return nil }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }

    /// Reads a small text file to its end (files under /proc report size 0, so size is not trusted).
    static func readText(_ path: String) throws(ProbeError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ProbeError("cannot read \(path): \(ProgramRunner.errorText(errno))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ProbeError("cannot read \(path): \(ProgramRunner.errorText(errno))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
            if bytes.count > maxSystemFileBytes {
                throw ProbeError("\(path) is larger than \(maxSystemFileBytes) bytes")
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Processor count (`processor` lines) and the flags of the first processor.
    static func parseCPUInfo(_ text: String) -> (count: Int, flags: Set<String>) {
        var count = 0
        var flags: Set<String>?
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].probeTrimmed
            if key == "processor" { count += 1 }
            if flags == nil, key == "flags" || key == "Features" {
                flags = Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
            }
        }
        return (count, flags ?? [])
    }

    /// `MemTotal` of /proc/meminfo, in bytes.
    static func parseMemTotal(_ text: String) -> UInt64? {
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("MemTotal:") {
            let parts = line.dropFirst("MemTotal:".count).split(separator: " ")
            guard let value = parts.first.flatMap({ UInt64($0) }) else { return nil }
            let unit = parts.count > 1 ? parts[1] : "B"
            let factor: UInt64 = unit == "kB" ? 1024 : unit == "MB" ? 1 << 20 : unit == "GB" ? 1 << 30 : 1
            let r = value.multipliedReportingOverflow(by: factor)
            return r.overflow ? nil : r.partialValue
        }
        return nil
    }

    /// The `KEY=value` assignments of an os-release file, with shell quoting removed.
    static func parseOSRelease(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.probeTrimmed
            guard !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq])
            var value = line[line.index(after: eq)...]
            if let q = value.first, q == "\"" || q == "'", value.count >= 2, value.last == q {
                value = value.dropFirst().dropLast()
                if q == "\"" {
                    var out = ""
                    var escaped = false
                    for c in value {
                        if escaped {
                            out.append(c)
                            escaped = false
                        } else if c == "\\" {
                            escaped = true
                        } else {
                            out.append(c)
                        }
                    }
                    fields[key] = out
                    continue
                }
            }
            fields[key] = String(value)
        }
        return fields
    }

    /// Lines of `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits`
    /// (`NVIDIA A100-SXM4-80GB, 81920, 535.104.05`; memory in MiB, `[N/A]` when unknown).
    static func parseNvidiaSMI(_ text: String) throws(ProbeError) -> [GPUInfo] {
        var gpus: [GPUInfo] = []
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.probeTrimmed
            if line.isEmpty { continue }
            // The name may hold commas; memory and driver are the last two fields.
            var fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.probeTrimmed }
            guard fields.count >= 3 else {
                throw ProbeError("nvidia-smi printed an unexpected line: \(line.prefix(200))")
            }
            let driver = fields.removeLast()
            let memory = fields.removeLast()
            let name = fields.joined(separator: ",")
            let bytes = UInt64(memory).flatMap { m -> UInt64? in
                let r = m.multipliedReportingOverflow(by: 1 << 20)
                return r.overflow ? nil : r.partialValue
            }
            gpus.append(GPUInfo(vendor: "NVIDIA", name: name, memoryBytes: bytes, driverVersion: driver))
        }
        return gpus
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and carriage returns.
    fileprivate var probeTrimmed: String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let start = firstIndex(where: { !isBlank($0) }), let end = lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return String(self[start...end])
    }
}
