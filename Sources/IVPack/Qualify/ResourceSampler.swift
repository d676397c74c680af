import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Samples, while qualification runs, the service's processes (every process of its process
/// group: resident memory and CPU time from /proc/PID/stat) and the machine (CPU busy share from
/// /proc/stat, available memory from /proc/meminfo, free space under the install root): clause
/// 5.3.1 asks that resource use be watched during the IQ, and 4.3.2 for the service's own use.
///
/// One sample every `intervalMilliseconds` (100 by default: a 20-case run at ~5 ms a case still
/// gets samples, and reading /proc for a handful of processes costs ~0.1 ms).
public final class ResourceSampler: @unchecked Sendable {
    /// What the samples showed.
    public struct Summary: Sendable, Equatable {
        public var samples: Int
        public var seconds: Double
        /// Peak resident memory of the service's processes together, bytes; nil without a service.
        public var servicePeakRSSBytes: Int64?
        /// Peak CPU of the service's processes over one interval, percent of one core.
        public var servicePeakCPUPercent: Int?
        /// Mean CPU of the service's processes over the whole run, percent of one core.
        public var serviceMeanCPUPercent: Int?
        /// The machine's CPU busy share over the run: mean and peak interval, percent of all cores.
        public var machineCPUMeanPercent: Int?
        public var machineCPUPeakPercent: Int?
        /// Least available memory seen, bytes, and the machine's total.
        public var machineMemoryAvailableMinBytes: Int64?
        public var machineMemoryTotalBytes: Int64?
        /// Least free space seen under the install root, bytes.
        public var diskFreeMinBytes: Int64?
        /// Peak GPU memory of the service's processes (nvidia-smi), bytes; nil when not sampled.
        public var serviceGPUPeakBytes: Int64?
        /// How many GPU readings were taken, and the last reading's problem, if any.
        public var gpuSamples: Int = 0
        public var gpuProblem: String?
    }

    private let lock = NSLock()
    /// Held while a sample is taken: the periodic thread and `sampleNow` never overlap.
    private let sampleLock = NSLock()
    private var servicePGID: pid_t?
    private let diskPath: String
    private let interval: Int64
    private var running = true
    private var thread: Thread?
    private var summary = Summary(samples: 0, seconds: 0)
    private var cpuSum = (busy: Int64(0), total: Int64(0))
    private let started = ProgramRunner.monotonicMilliseconds()
    private var serviceTicksFirst: Int64?
    private var serviceTicksLast: Int64 = 0

    /// `nvidia-smi`, when GPU memory is to be sampled (at most once a second: one reading costs
    /// tens of milliseconds of the driver's time).
    private let gpuProgram: String?
    private var lastGPUSample: Int64?

    public init(diskPath: String, intervalMilliseconds: Int64 = 100, gpuProgram: String? = nil) {
        self.diskPath = diskPath
        self.interval = intervalMilliseconds
        self.gpuProgram = gpuProgram
    }

    /// Starts sampling on a thread of its own.
    public func start() {
        let t = Thread { [self] in loop() }
        t.name = "ivpack-sampler"
        thread = t
        t.start()
    }

    /// From now on, also samples the process group `pgid` (the service), starting at once.
    public func watch(processGroup pgid: pid_t) {
        lock.lock()
        servicePGID = pgid
        lock.unlock()
        sampleNow()
    }

    /// Takes a sample now, besides the periodic ones: when the service starts and just before it
    /// is stopped, so that a run shorter than the interval is still measured.
    public func sampleNow() {
        sampleLock.lock()
        defer { sampleLock.unlock() }
        sample(previous: &previous)
    }

    /// Stops sampling (after one last sample) and returns what was seen.
    public func stop() -> Summary {
        lock.lock()
        running = false
        lock.unlock()
        while thread?.isFinished == false { usleep(5_000) }
        lock.lock()
        defer { lock.unlock() }
        summary.seconds = Double(ProgramRunner.monotonicMilliseconds() - started) / 1000
        if let first = serviceTicksFirst, summary.seconds > 0 {
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            summary.serviceMeanCPUPercent = Int(
                (Double(serviceTicksLast - first) / ticks / summary.seconds * 100).rounded())
        }
        if cpuSum.total > 0 { summary.machineCPUMeanPercent = Int(cpuSum.busy * 100 / cpuSum.total) }
        return summary
    }

    private struct Previous {
        var machine: (busy: Int64, total: Int64)?
        var service: (ticks: Int64, at: Int64)?
    }
    private var previous = Previous()

    private func loop() {
        while true {
            lock.lock()
            let go = running
            lock.unlock()
            if !go { return }
            sampleNow()
            usleep(UInt32(interval * 1000))
        }
    }

    private func sample(previous: inout Previous) {
        let now = ProgramRunner.monotonicMilliseconds()
        lock.lock()
        let pgid = servicePGID
        lock.unlock()
        var update: [(inout Summary) -> Void] = []
        if let cpu = Self.machineCPU() {
            if let last = previous.machine, cpu.total > last.total {
                let busy = cpu.busy - last.busy
                let total = cpu.total - last.total
                let percent = Int(busy * 100 / total)
                cpuSum.busy += busy
                cpuSum.total += total
                update.append { $0.machineCPUPeakPercent = max($0.machineCPUPeakPercent ?? 0, percent) }
            }
            previous.machine = cpu
        }
        if let (available, total) = Self.memory() {
            update.append {
                $0.machineMemoryAvailableMinBytes = min($0.machineMemoryAvailableMinBytes ?? .max, available)
                $0.machineMemoryTotalBytes = total
            }
        }
        var fs = statvfs()
        if statvfs(diskPath, &fs) == 0 {
            let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
            update.append { $0.diskFreeMinBytes = min($0.diskFreeMinBytes ?? .max, free) }
        }
        if let pgid, let group = Self.processGroup(pgid) {
            if serviceTicksFirst == nil { serviceTicksFirst = group.ticks }
            serviceTicksLast = max(serviceTicksLast, group.ticks)
            if let last = previous.service, now > last.at {
                let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
                let percent = Int(
                    (Double(max(0, group.ticks - last.ticks)) / ticks / (Double(now - last.at) / 1000) * 100).rounded())
                update.append { $0.servicePeakCPUPercent = max($0.servicePeakCPUPercent ?? 0, percent) }
            }
            previous.service = (group.ticks, now)
            update.append { $0.servicePeakRSSBytes = max($0.servicePeakRSSBytes ?? 0, group.rss) }
            if let smi = gpuProgram, now - (lastGPUSample ?? now - 1000) >= 1000 {
                lastGPUSample = now
                switch Self.gpuMemory(smi, of: group.pids) {
                case .success(let bytes):
                    update.append {
                        $0.gpuSamples += 1
                        $0.serviceGPUPeakBytes = max($0.serviceGPUPeakBytes ?? 0, bytes)
                    }
                case .failure(let problem):
                    update.append { $0.gpuProblem = problem.reason }
                }
            }
        }
        lock.lock()
        summary.samples += 1
        for u in update { u(&summary) }
        lock.unlock()
    }

    /// Busy and total jiffies of all CPUs (`cpu` line of /proc/stat; idle and iowait are not busy).
    static func machineCPU() -> (busy: Int64, total: Int64)? {
        guard let text = readSmall("/proc/stat"), let line = text.split(separator: "\n").first,
            line.hasPrefix("cpu ")
        else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { Int64($0) }
        guard values.count >= 5 else { return nil }
        let total = values.prefix(8).reduce(0, +)
        return (total - values[3] - values[4], total)
    }

    /// MemAvailable and MemTotal of /proc/meminfo, bytes.
    static func memory() -> (available: Int64, total: Int64)? {
        guard let text = readSmall("/proc/meminfo") else { return nil }
        var available: Int64?
        var total: Int64?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kib = Int64(parts[1]) else { continue }
            if parts[0] == "MemAvailable:" { available = kib * 1024 }
            if parts[0] == "MemTotal:" { total = kib * 1024 }
        }
        guard let available, let total else { return nil }
        return (available, total)
    }

    /// Summed resident bytes and CPU ticks (user + system) of every process in group `pgid`; nil
    /// when none is left.
    static func processGroup(_ pgid: pid_t) -> (rss: Int64, ticks: Int64, pids: Set<Int32>)? {
        guard let dir = opendir("/proc") else { return nil }
        defer { closedir(dir) }
        let page = Int64(sysconf(Int32(_SC_PAGESIZE)))
        var rss: Int64 = 0
        var ticks: Int64 = 0
        var pids = Set<Int32>()
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = Int32(name), let stat = readSmall("/proc/\(pid)/stat"),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // Fields after the command name (which may hold spaces): state is field 3.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 21, let group = Int32(fields[2]), group == pgid,
                let utime = Int64(fields[11]), let stime = Int64(fields[12]), let pages = Int64(fields[21])
            else { continue }
            pids.insert(pid)
            ticks += utime + stime
            rss += pages * page
        }
        return pids.isEmpty ? nil : (rss, ticks, pids)
    }

    /// The GPU memory used by `pids`, from `nvidia-smi --query-compute-apps=pid,used_memory`
    /// (MiB per process).
    static func gpuMemory(_ smi: String, of pids: Set<Int32>) -> Result<Int64, ProbeError> {
        do throws(ProbeError) {
            let outcome = try ProgramRunner.run(
                smi, ["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"], timeoutSeconds: 5)
            guard outcome.status == 0 else {
                return .failure(
                    ProbeError(
                        "\(smi) \(outcome.timedOut ? "did not answer within 5 s" : "failed"): \(LiveSystem.firstLine(String(decoding: outcome.output, as: UTF8.self)) ?? "no output")"
                    ))
            }
            var mib: Int64 = 0
            for line in String(decoding: outcome.output, as: UTF8.self).split(whereSeparator: \.isNewline) {
                let parts = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count >= 2, let pid = Int32(parts[0]), let used = Int64(parts[1]) else { continue }
                if pids.contains(pid) { mib += used }
            }
            return .success(mib << 20)
        } catch {
            return .failure(error)
        }
    }

    static func readSmall(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 16384)
        var n = 0
        while n < bytes.count {
            let r = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + n, $0.count - n) }
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { break }
            n += r
        }
        return String(decoding: bytes[0..<n], as: UTF8.self)
    }
}
