/// The one interface through which `EnvironmentCheck` reads the machine it runs on.
///
/// `LiveSystem` reads the real machine (or the files of a fake root, for tests); a test may also
/// supply its own conforming type. Every reading either returns a value or throws a `ProbeError`
/// saying what could not be read and why; none of them changes the machine.
public protocol SystemProbe: Sendable {
    /// The logical processors and the CPU flags.
    func processors() throws(ProbeError) -> ProcessorReading
    /// The memory the kernel can use.
    func memory() throws(ProbeError) -> MemoryReading
    /// The space an unprivileged user may still write on the file system holding `path`; a path
    /// that does not exist yet is measured at its nearest existing parent.
    func freeSpace(at path: String) throws(ProbeError) -> DiskReading
    /// The operating system's identity (`/etc/os-release`).
    func operatingSystem() throws(ProbeError) -> OSReading
    /// The running kernel's release string (`uname -r`).
    func kernelRelease() throws(ProbeError) -> KernelReading
    /// The GPUs of `vendor` (any vendor when nil). `.notCheckable` when this probe cannot see GPUs of
    /// that vendor (no `nvidia-smi`), which is not the same as finding none.
    func gpus(vendor: String?) throws(ProbeError) -> GPUReading
    /// The version of the program `name`, found on the search path and asked for its version.
    func toolVersion(_ name: String) throws(ProbeError) -> ToolReading
}

/// Why a reading of the system could not be made, in words ("cannot read /proc/meminfo: ...").
public struct ProbeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What could not be read, where, and why.
    public let reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}

/// Processors as the kernel lists them.
public struct ProcessorReading: Sendable, Equatable {
    /// Logical processors (the `processor` entries of `/proc/cpuinfo`).
    public var count: Int
    /// CPU flags of the first processor (`flags` on x86, `Features` on ARM).
    public var flags: Set<String>
    /// Where the reading came from, for evidence.
    public var source: String

    public init(count: Int, flags: Set<String>, source: String) {
        self.count = count
        self.flags = flags
        self.source = source
    }
}

/// Memory as the kernel reports it.
public struct MemoryReading: Sendable, Equatable {
    /// `MemTotal` in bytes: installed memory less what firmware and the kernel reserve.
    public var totalBytes: UInt64
    /// Where the reading came from, for evidence.
    public var source: String

    public init(totalBytes: UInt64, source: String) {
        self.totalBytes = totalBytes
        self.source = source
    }
}

/// Free space on one file system.
public struct DiskReading: Sendable, Equatable {
    /// The existing folder that was measured (the requested path or its nearest existing parent).
    public var measuredPath: String
    /// Bytes an unprivileged user may still write there (`f_bavail × f_frsize`).
    public var freeBytes: UInt64

    public init(measuredPath: String, freeBytes: UInt64) {
        self.measuredPath = measuredPath
        self.freeBytes = freeBytes
    }
}

/// The operating system's identity.
public struct OSReading: Sendable, Equatable {
    /// `ID=` (`debian`).
    public var id: String
    /// `VERSION_ID=` (`12`); nil when the file has none (rolling releases).
    public var versionID: String?
    /// `PRETTY_NAME=`, for messages.
    public var prettyName: String?
    /// The file read, for evidence.
    public var source: String

    public init(id: String, versionID: String?, prettyName: String?, source: String) {
        self.id = id
        self.versionID = versionID
        self.prettyName = prettyName
        self.source = source
    }
}

/// The running kernel.
public struct KernelReading: Sendable, Equatable {
    /// The release string as the kernel reports it (`6.1.0-28-amd64`).
    public var release: String
    /// Where the reading came from, for evidence.
    public var source: String

    public init(release: String, source: String) {
        self.release = release
        self.source = source
    }
}

/// One GPU.
public struct GPUInfo: Sendable, Equatable {
    /// The vendor (`NVIDIA`).
    public var vendor: String
    /// The product name as the driver reports it (`NVIDIA A100-SXM4-80GB`).
    public var name: String
    /// Total memory in bytes; nil when the driver does not report it.
    public var memoryBytes: UInt64?
    /// The driver version (`535.104.05`).
    public var driverVersion: String

    public init(vendor: String, name: String, memoryBytes: UInt64?, driverVersion: String) {
        self.vendor = vendor
        self.name = name
        self.memoryBytes = memoryBytes
        self.driverVersion = driverVersion
    }
}

/// What a probe could tell about GPUs.
public enum GPUReading: Sendable, Equatable {
    /// The probe cannot see GPUs of the requested kind; the reason says why and what to check by hand.
    case notCheckable(reason: String)
    /// The GPUs found (possibly none), and where the reading came from.
    case found([GPUInfo], source: String)
}

/// A program's version.
public struct ToolReading: Sendable, Equatable {
    /// The program that was run.
    public var path: String
    /// The first dotted number in its output.
    public var version: DottedVersion
    /// The output line the version was read from, for evidence.
    public var line: String

    public init(path: String, version: DottedVersion, line: String) {
        self.path = path
        self.version = version
        self.line = line
    }
}
