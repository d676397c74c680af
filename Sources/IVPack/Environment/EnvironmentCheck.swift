/// Checks a release's environment requirements (IQ protocol, clause 4.1.1; manifest `requirements`)
/// against the machine, through one `SystemProbe`.
///
/// One `Check` per requirement kind, in a fixed order: `environment.cpu`, `environment.memory`,
/// `environment.disk`, `environment.os`, `environment.kernel`, `environment.gpu`, then
/// `environment.tool.NAME` per tool in the order declared. Each check fails when a minimum is not
/// met, an exact version differs, or the machine could not be read (a GPU requirement without
/// nvidia-smi included), unless the site accepted that requirement unchecked with a reason; it
/// warns when only a recommended value is not met. Evidence holds
/// each requirement as `required.FIELD` (as in the manifest) and each reading as `found.WHAT`.
public enum EnvironmentCheck {
    /// The requirement kinds this version of ivpack can check, in the order of the checks.
    public static var kinds: [String] { EnvironmentRequirements.kinds }

    /// The checks of `requirements` (the manifest's `requirements`) on the machine `probe` reads.
    /// No requirements (nil or an empty object) give no checks; a requirement kind this version
    /// does not know gives a failed check naming it.
    ///
    /// A requirement that cannot be checked (the machine cannot be read, a GPU without
    /// nvidia-smi) fails: it is not shown to be met. The site may accept it unchecked, by name,
    /// with a reason (`accepting`): the check then warns and says who accepted what and why.
    public static func evaluate(
        requirements: EnvironmentRequirements?, probe: SystemProbe, accepting: [UncheckedAcceptance] = []
    ) -> [Check] {
        evaluateAll(requirements: requirements, probe: probe).map { check in
            guard check.status == .fail, check.evidence.contains(where: { $0.key == "unchecked" }),
                let acceptance = accepting.first(where: { $0.matches(check.id) })
            else { return check }
            var accepted = check
            accepted.status = .warn
            accepted.details.append(
                "accepted unchecked by the site (--accept-unchecked \(acceptance.requirement)): \(acceptance.reason)")
            accepted.evidence.append(("accepted.unchecked", acceptance.reason))
            return accepted
        }
    }

    private static func evaluateAll(requirements: EnvironmentRequirements?, probe: SystemProbe) -> [Check] {
        guard let requirements else { return [] }
        if let typeName = requirements.notAnObject {
            return [
                Check(
                    .environment, status: .fail,
                    details: [
                        "the manifest's requirements are \(typeName), not an object; the bundle is damaged or was not made by ivpack"
                    ])
            ]
        }
        var checks: [Check] = []
        if let r = requirements.cpu { checks.append(cpu(r, probe)) }
        if let r = requirements.memory { checks.append(memory(r, probe)) }
        if let r = requirements.disk { checks.append(disk(r, probe)) }
        if let r = requirements.os { checks.append(os(r, probe)) }
        if let r = requirements.kernel { checks.append(kernel(r, probe)) }
        if let r = requirements.gpu { checks.append(gpu(r, probe)) }
        if let t = requirements.tools { checks.append(contentsOf: tools(t, probe)) }
        for kind in requirements.unknownKinds {
            checks.append(
                Check(
                    .environment(kind), title: "Requirement \(kind)", status: .fail,
                    details: [
                        "this version of ivpack cannot check the requirement \"\(kind)\"; verify with the ivpack version the release names, or check it by hand"
                    ]))
        }
        return checks
    }

    // MARK: Kinds

    private static func cpu(_ r: EnvironmentRequirements.Requirement<EnvironmentRequirements.CPU>, _ probe: SystemProbe)
        -> Check
    {
        var c = Builder(id: .environment("cpu"), title: "Processors and CPU flags", problems: r.problems)
        let (minCores, recommended, flags) = (r.value.minCores, r.value.recommendedCores, r.value.flags)
        if let minCores { c.required("minCores", String(minCores)) }
        if let recommended { c.required("recommendedCores", String(recommended)) }
        if let flags { c.required("flags", flags.joined(separator: " ")) }
        guard c.readable else { return c.check }
        let reading: ProcessorReading
        do { reading = try probe.processors() } catch { return c.unreadable(error) }
        c.found("cores", String(reading.count))
        c.source(reading.source)
        if let minCores, reading.count < minCores {
            c.fail("\(reading.count) processors, at least \(minCores) required")
        } else if let recommended, reading.count < recommended {
            c.warn("\(reading.count) processors, \(recommended) recommended (the minimum is met)")
        } else {
            c.pass("\(reading.count) processors" + (minCores.map { ", at least \($0) required" } ?? ""))
        }
        if let flags {
            let missing = flags.filter { !reading.flags.contains($0) }
            c.found("missingFlags", missing.isEmpty ? "none" : missing.joined(separator: " "))
            if missing.isEmpty {
                c.pass("CPU flags present: \(flags.joined(separator: " "))")
            } else {
                c.fail(
                    "CPU flag\(missing.count == 1 ? "" : "s") missing from \(reading.source): \(missing.joined(separator: " ")); this processor cannot run the release"
                )
            }
        }
        return c.check
    }

    private static func memory(
        _ r: EnvironmentRequirements.Requirement<EnvironmentRequirements.Memory>, _ probe: SystemProbe
    ) -> Check {
        var c = Builder(id: .environment("memory"), title: "Memory", problems: r.problems)
        let (minimum, recommended) = (r.value.minimum, r.value.recommended)
        if let minimum { c.required("minimum", bytes(minimum)) }
        if let recommended { c.required("recommended", bytes(recommended)) }
        guard c.readable else { return c.check }
        let reading: MemoryReading
        do { reading = try probe.memory() } catch { return c.unreadable(error) }
        c.found("memTotal", bytes(reading.totalBytes))
        c.source(reading.source)
        let total = reading.totalBytes
        if let minimum, total < UInt64(minimum) {
            c.fail(
                "\(size(total)) of memory (MemTotal), at least \(size(minimum)) required. MemTotal excludes what firmware and the kernel reserve, usually 1-3% of the installed memory"
            )
        } else if let recommended, total < UInt64(recommended) {
            c.warn("\(size(total)) of memory (MemTotal), \(size(recommended)) recommended (the minimum is met)")
        } else {
            c.pass("\(size(total)) of memory (MemTotal)" + (minimum.map { ", at least \(size($0)) required" } ?? ""))
        }
        return c.check
    }

    private static func disk(
        _ r: EnvironmentRequirements.Requirement<EnvironmentRequirements.Disk>, _ probe: SystemProbe
    ) -> Check {
        var c = Builder(id: .environment("disk"), title: "Free disk space", problems: r.problems)
        let (path, minimum, recommended) = (r.value.path, r.value.minimumFree, r.value.recommendedFree)
        if let path {
            c.required("path", path)
            c.check.title = "Free disk space at \(path)"
        }
        if let minimum { c.required("minimumFree", bytes(minimum)) }
        if let recommended { c.required("recommendedFree", bytes(recommended)) }
        guard c.readable, let path else { return c.check }
        let reading: DiskReading
        do { reading = try probe.freeSpace(at: path) } catch { return c.unreadable(error) }
        c.found("free", bytes(reading.freeBytes))
        c.found("measuredAt", reading.measuredPath)
        let at = reading.measuredPath == path ? path : "\(reading.measuredPath) (nearest existing folder of \(path))"
        let free = reading.freeBytes
        if let minimum, free < UInt64(minimum) {
            c.fail(
                "\(size(free)) free at \(at), at least \(size(minimum)) required; free space on that file system or install elsewhere"
            )
        } else if let recommended, free < UInt64(recommended) {
            c.warn("\(size(free)) free at \(at), \(size(recommended)) recommended (the minimum is met)")
        } else {
            c.pass("\(size(free)) free at \(at)" + (minimum.map { ", at least \(size($0)) required" } ?? ""))
        }
        return c.check
    }

    private static func os(
        _ r: EnvironmentRequirements.Requirement<EnvironmentRequirements.OperatingSystem>, _ probe: SystemProbe
    ) -> Check {
        var c = Builder(id: .environment("os"), title: "Operating system", problems: r.problems)
        let (id, versions) = (r.value.id, r.value.versions)
        if let id { c.required("id", id) }
        if let versions { c.required("versions", versions.joined(separator: " ")) }
        guard c.readable, let id else { return c.check }
        let reading: OSReading
        do { reading = try probe.operatingSystem() } catch { return c.unreadable(error) }
        c.found("id", reading.id)
        c.found("versionID", reading.versionID ?? "(none)")
        if let p = reading.prettyName { c.found("prettyName", p) }
        c.source(reading.source)
        let name = reading.prettyName ?? "\(reading.id) \(reading.versionID ?? "")"
        if reading.id != id {
            c.fail("operating system is \(name) (ID=\(reading.id) in \(reading.source)), \(id) required")
        } else if let versions, !versions.contains(reading.versionID ?? "") {
            c.fail(
                "operating system is \(name) (VERSION_ID=\(reading.versionID ?? "none") in \(reading.source)), \(id) \(versions.joined(separator: " or ")) required"
            )
        } else {
            c.pass("operating system is \(name)")
        }
        return c.check
    }

    private static func kernel(
        _ r: EnvironmentRequirements.Requirement<EnvironmentRequirements.Kernel>, _ probe: SystemProbe
    ) -> Check {
        var c = Builder(id: .environment("kernel"), title: "Kernel version", problems: r.problems)
        let minimum = r.value.minimum
        if let minimum { c.required("minimum", minimum.description) }
        guard c.readable, let minimum else { return c.check }
        let reading: KernelReading
        do { reading = try probe.kernelRelease() } catch { return c.unreadable(error) }
        c.found("release", reading.release)
        c.source(reading.source)
        guard let version = DottedVersion.leading(in: reading.release) else {
            c.fail("kernel release \"\(reading.release)\" does not start with a version number")
            return c.check
        }
        if version < minimum {
            c.fail("kernel \(reading.release) (version \(version)), at least \(minimum) required")
        } else {
            c.pass("kernel \(reading.release), at least \(minimum) required")
        }
        return c.check
    }

    private static func gpu(_ r: EnvironmentRequirements.Requirement<EnvironmentRequirements.GPU>, _ probe: SystemProbe)
        -> Check
    {
        var c = Builder(id: .environment("gpu"), title: "GPU", problems: r.problems)
        let (vendor, model, minCount, minMemory, minDriver) = (
            r.value.vendor, r.value.model, r.value.minCount, r.value.minMemory, r.value.minDriver
        )
        if let vendor { c.required("vendor", vendor) }
        if let model { c.required("model", model) }
        if let minCount { c.required("minCount", String(minCount)) }
        if let minMemory { c.required("minMemory", bytes(minMemory)) }
        if let minDriver { c.required("minDriver", minDriver.description) }
        guard c.readable else { return c.check }
        let wanted = [vendor, model].compactMap { $0 }.joined(separator: " ")
        let count = minCount ?? 1
        let described =
            "\(count) \(wanted.isEmpty ? "GPU" : wanted)\(count == 1 ? "" : "s")"
            + (minMemory.map { " with at least \(size($0)) each" } ?? "")
        let reading: GPUReading
        do { reading = try probe.gpus(vendor: vendor) } catch { return c.unreadable(error) }
        switch reading {
        case .notCheckable(let reason):
            c.found("gpus", "not checkable")
            c.notCheckable(
                "GPU not checkable: \(reason) (required: \(described)); the requirement is not shown to be met. Install the vendor's tool (nvidia-smi), or accept it unchecked with --accept-unchecked gpu --reason TEXT"
            )
            return c.check
        case .found(let gpus, let source):
            c.source(source)
            c.found(
                "gpus",
                gpus.isEmpty
                    ? "none"
                    : gpus.map { g in
                        "\(g.name) (\(g.memoryBytes.map(size) ?? "memory unknown"), driver \(g.driverVersion))"
                    }.joined(separator: "; "))
            let ofKind = gpus.filter { g in
                (vendor.map {
                    g.vendor.lowercased().contains($0.lowercased()) || g.name.lowercased().contains($0.lowercased())
                } ?? true)
                    && (model.map { g.name.lowercased().contains($0.lowercased()) } ?? true)
            }
            let fitting = ofKind.filter { g in minMemory.map { m in (g.memoryBytes ?? 0) >= UInt64(m) } ?? true }
            if fitting.count < count {
                var why = "\(fitting.count) of \(gpus.count) GPUs found fit, \(described) required"
                let small = ofKind.count - fitting.count
                if small > 0 {
                    why += "; \(small) matching GPU\(small == 1 ? " has" : "s have") less memory or none reported"
                }
                c.fail(why)
            } else {
                c.pass("\(fitting.count) GPU\(fitting.count == 1 ? "" : "s") fit: \(described) required")
            }
            if let minDriver {
                let drivers = Set((fitting.isEmpty ? gpus : fitting).map(\.driverVersion))
                c.found("driver", drivers.isEmpty ? "none" : drivers.sorted().joined(separator: " "))
                let old = drivers.filter { d in DottedVersion.leading(in: d).map { $0 < minDriver } ?? true }
                if drivers.isEmpty {
                    c.fail("no GPU driver found, \(minDriver) or later required")
                } else if !old.isEmpty {
                    c.fail("GPU driver \(old.sorted().joined(separator: ", ")), at least \(minDriver) required")
                } else {
                    c.pass("GPU driver \(drivers.sorted().joined(separator: ", ")), at least \(minDriver) required")
                }
            }
        }
        return c.check
    }

    private static func tools(_ tools: EnvironmentRequirements.Tools, _ probe: SystemProbe) -> [Check] {
        let items: [EnvironmentRequirements.Requirement<EnvironmentRequirements.Tool>]
        switch tools {
        case .list(let list): items = list
        case .notAnArray(let typeName):
            return [
                Check(
                    .environment("tools"), title: "Tools", status: .fail,
                    details: ["requirements.tools in the manifest is \(typeName), not an array"])
            ]
        }
        var checks: [Check] = []
        var seen: [String: Int] = [:]
        for item in items {
            let name = item.value.displayName
            seen[name, default: 0] += 1
            let id = CheckID.environment("tool.\(name)" + (seen[name]! > 1 ? ".\(seen[name]!)" : ""))
            var c = Builder(id: id, title: "Tool \(name)", problems: item.problems)
            let (exact, minimum) = (item.value.exact, item.value.minimum)
            if let exact { c.required("exact", exact.description) }
            if let minimum { c.required("minimum", minimum.description) }
            guard c.readable, exact != nil || minimum != nil else {
                checks.append(c.check)
                continue
            }
            let wanted = exact.map { "version \($0)" } ?? minimum.map { "version \($0) or later" } ?? ""
            let reading: ToolReading
            do {
                reading = try probe.toolVersion(name)
            } catch {
                c.found("version", "not found")
                c.fail("\(error); install \(name) \(wanted), or put it on the PATH of the installing user")
                checks.append(c.check)
                continue
            }
            c.found("version", reading.version.description)
            c.found("path", reading.path)
            c.found("output", reading.line)
            if let exact {
                if reading.version.matches(exact: exact) {
                    c.pass("\(name) \(reading.version) (\(reading.path)) is \(wanted)")
                } else {
                    c.fail(
                        "\(name) \(reading.version) (\(reading.path)), exactly \(exact) required: install the version the release was validated with"
                    )
                }
            } else if let minimum {
                if reading.version < minimum {
                    c.fail("\(name) \(reading.version) (\(reading.path)), \(wanted) required")
                } else {
                    c.pass("\(name) \(reading.version) (\(reading.path)), \(wanted) required")
                }
            }
            checks.append(c.check)
        }
        return checks
    }

    // MARK: Formatting

    /// `17179869184 (16.0 GiB)`.
    static func bytes<I: BinaryInteger>(_ n: I) -> String { "\(n) (\(size(n)))" }

    /// `16.0 GiB`, `512 bytes`.
    static func size<I: BinaryInteger>(_ n: I) -> String {
        let value = UInt64(clamping: n)
        let units: [(String, UInt64)] = [
            ("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
        ]
        for (name, unit) in units where value >= unit {
            let tenths = value / (unit / 10)
            return "\(tenths / 10).\(tenths % 10) \(name)"
        }
        return "\(value) bytes"
    }

    /// Builds one check from a requirement read by `EnvironmentRequirements`: its problems fail
    /// the check (and keep the machine from being read); evidence and findings are collected, and
    /// the status is the worst finding.
    private struct Builder {
        var check: Check
        /// False when the requirement itself is malformed, so the machine is not read.
        let readable: Bool

        init(id: CheckID, title: String, problems: [String]) {
            check = Check(id, title: title, status: problems.isEmpty ? .pass : .fail, details: problems)
            readable = problems.isEmpty
        }

        mutating func required(_ key: String, _ value: String) { check.evidence.append(("required.\(key)", value)) }
        mutating func found(_ key: String, _ value: String) { check.evidence.append(("found.\(key)", value)) }
        mutating func source(_ value: String) { check.evidence.append(("source", value)) }

        mutating func pass(_ detail: String) { check.details.append(detail) }
        mutating func warn(_ detail: String) {
            check.details.append(detail)
            if check.status == .pass { check.status = .warn }
        }
        mutating func fail(_ detail: String) {
            check.details.append(detail)
            check.status = .fail
        }

        /// The check when the machine could not be read: a failure, since the requirement is not shown to be met.
        mutating func unreadable(_ error: ProbeError) -> Check {
            notCheckable("cannot be checked: \(error)")
            return check
        }

        /// A failure because the requirement could not be checked at all (not because it is not
        /// met): marked `unchecked` in the evidence, so that the site can accept it by name.
        mutating func notCheckable(_ detail: String) {
            fail(detail)
            check.evidence.append(("unchecked", detail))
        }
    }
}

/// A requirement the site accepts without its check (`--accept-unchecked ID --reason TEXT`): the
/// requirement's kind or check ID (`gpu`, `environment.gpu`, `disk`) and why.
public struct UncheckedAcceptance: Sendable, Equatable {
    public var requirement: String
    public var reason: String

    public init(requirement: String, reason: String) {
        self.requirement = requirement
        self.reason = reason
    }

    /// Whether this acceptance names the check `id`.
    public func matches(_ id: CheckID) -> Bool {
        id.rawValue == requirement || id.rawValue == "environment." + requirement
    }
}

/// `--accept-unchecked` IDs that name none of the release's requirement checks (a typo, or a
/// requirement the release does not have). Bad input: an acceptance that matches nothing would
/// otherwise be ignored without a word, and the site would believe it had accepted something.
public struct UnmatchedAcceptance: IVPackError, Equatable {
    /// The IDs given that name no check, in the order given.
    public var unmatched: [String]
    /// The release's requirement checks (`environment.*`), each of which an acceptance may name.
    public var known: [String]

    public var exitStatus: ExitStatus { .badInput }

    public var description: String {
        let given = unmatched.map { "--accept-unchecked \($0)" }.joined(separator: ", ")
        guard !known.isEmpty else {
            return "\(given): this release has no environment requirements, so there is nothing to accept unchecked"
        }
        return "\(given): names no requirement of this release. Name one of its checks: "
            + known.joined(separator: ", ")
            + " (or its kind without environment., e.g. \(known[0].dropFirst("environment.".count)))"
    }

    /// The acceptances among `accepting` that name none of the environment checks in `checks`;
    /// nil when each names one.
    public static func find(_ accepting: [UncheckedAcceptance], in checks: [Check]) -> UnmatchedAcceptance? {
        let environment = checks.map(\.id).filter { $0.rawValue.hasPrefix("environment.") }
        let unmatched = accepting.filter { a in !environment.contains { a.matches($0) } }.map(\.requirement)
        guard !unmatched.isEmpty else { return nil }
        return UnmatchedAcceptance(unmatched: unmatched, known: environment.map(\.rawValue))
    }
}
