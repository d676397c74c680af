#if canImport(Glibc)
    import Glibc
#endif

// The qualification half of the IQ report: `ivpack install --qualify` appends the qualification
// checks to the install's own; `ivpack qualify` (later, e.g. once the site is configured) reads
// the report the install of the active release kept (ROOT/.ivpack/reports/RELEASE.iq.json) and
// writes one report covering verification, installation and qualification, from the install's
// start to the qualification's end. Without that kept report it writes one with the
// qualification alone, which concludes INCOMPLETE (not verified, not installed in this report).

/// The report of an install, as kept under the install root, read back for `ivpack qualify`.
public struct RecordedInstallReport: Sendable {
    /// The install's checks and object, as a verification.
    public var verification: VerifyReport
    public var purpose: String
    public var siteID: String?
    public var startTime: Int64
    public var vendor: String?
    public var bundleBytes: Int64?

    /// Where `install` keeps the IQ report of release `name` under `root`.
    public static func path(root: String, release name: String) -> String {
        (root == "/" ? "" : root) + "/.ivpack/reports/" + name + ".iq.json"
    }

    /// Reads a kept report with the one report reader (`IQReport(reportBytes:)`, which checks
    /// the report's rules); nil when there is none, it is not a report or it is about another
    /// manifest.
    public static func load(root: String, release: ActiveRelease) -> RecordedInstallReport? {
        guard
            let bytes = try? InputFile.readAll(path: path(root: root, release: release.name), limit: IQReport.maxBytes),
            let kept = IQReport(reportBytes: bytes), kept.object.manifestSHA256 == release.manifestSHA256.hex
        else { return nil }
        return RecordedInstallReport(
            verification: VerifyReport(
                bundle: kept.object.bundleFile, manifestDigest: release.manifestSHA256, product: kept.object.product,
                version: kept.object.version, checks: kept.checks, time: kept.startTime),
            purpose: kept.purpose, siteID: kept.siteID, startTime: kept.startTime, vendor: kept.object.vendor,
            bundleBytes: kept.object.bundleBytes)
    }
}

extension IQReport {
    /// The report of an install (its verification with the install steps) followed by a
    /// qualification: one IQ from the install's start to the qualification's end.
    public static func qualified(
        _ verification: VerifyReport, qualification: QualificationOutcome, context: Context
    ) -> IQReport {
        var v = verification
        v.checks += qualification.checks
        var c = context
        c.endTime = max(c.endTime, qualification.measurements.endTime)
        var report = IQReport(verification: v, context: c)
        report.qualification = qualification.measurements
        return report
    }

    /// A qualification run with no kept install report: the active release as the object.
    public static func qualificationOnly(
        release: ActiveRelease, qualification: QualificationOutcome, purpose: String?, siteID: String?
    ) -> IQReport {
        let verification = VerifyReport(
            bundle: release.name, manifestDigest: release.manifestSHA256, product: release.manifest.product.name,
            version: release.manifest.version, checks: [], time: qualification.measurements.startTime)
        let context = Context(
            purpose: purpose, siteID: siteID, startTime: qualification.measurements.startTime,
            endTime: qualification.measurements.endTime, operatorUser: LocalIdentity.userName(),
            host: LocalIdentity.hostName() ?? "unknown host", operatingSystem: LocalIdentity.operatingSystem(),
            vendor: release.manifest.product.vendor, bundleBytes: nil)
        return qualified(verification, qualification: qualification, context: context)
    }
}

extension QualificationMeasurements {
    /// The report's `qualification` member (Schemas/iq-report.schema.json): every case's answer
    /// and time, the percentiles, the concurrency run and the resources sampled.
    public var json: JSONValue {
        func optional(_ i: Int64?) -> JSONValue { i.map { .integer($0) } ?? .null }
        func optional(_ i: Int?) -> JSONValue { i.map { .integer($0) } ?? .null }
        var members: [(key: String, value: JSONValue)] = [
            ("start", .string(Timestamp.iso8601(startTime))), ("end", .string(Timestamp.iso8601(endTime))),
            (
                "cases",
                .array(
                    cases.map { c in
                        .object([
                            ("id", .string(c.id)), ("expected", c.expected), ("answer", c.answer ?? .null),
                            ("correct", .bool(c.correct)), ("status", optional(c.status)),
                            ("error", c.error.map { .string($0) } ?? .null), ("microseconds", .integer(c.microseconds)),
                        ])
                    })
            ),
            ("p50Microseconds", optional(p50Microseconds)), ("p95Microseconds", optional(p95Microseconds)),
        ]
        if let c = concurrency {
            members.append(
                (
                    "concurrency",
                    .object([
                        ("clients", .integer(c.clients)), ("requests", .integer(c.requests)),
                        ("succeeded", .integer(c.succeeded)),
                        ("errors", .object(c.errors.sorted { $0.key < $1.key }.map { ($0.key, .integer($0.value)) })),
                    ])
                ))
        } else {
            members.append(("concurrency", .null))
        }
        if let r = resources {
            members.append(
                (
                    "resources",
                    .object([
                        ("samples", .integer(r.samples)),
                        ("milliseconds", .integer(Int64((r.seconds * 1000).rounded()))),
                        ("servicePeakRSSBytes", optional(r.servicePeakRSSBytes)),
                        ("servicePeakCPUPercent", optional(r.servicePeakCPUPercent)),
                        ("serviceMeanCPUPercent", optional(r.serviceMeanCPUPercent)),
                        ("machineCPUMeanPercent", optional(r.machineCPUMeanPercent)),
                        ("machineCPUPeakPercent", optional(r.machineCPUPeakPercent)),
                        ("machineMemoryAvailableMinBytes", optional(r.machineMemoryAvailableMinBytes)),
                        ("machineMemoryTotalBytes", optional(r.machineMemoryTotalBytes)),
                        ("diskFreeMinBytes", optional(r.diskFreeMinBytes)),
                        ("serviceGPUPeakBytes", optional(r.serviceGPUPeakBytes)),
                        ("gpuSamples", .integer(r.gpuSamples)),
                    ])
                ))
        } else {
            members.append(("resources", .null))
        }
        return .object(members)
    }
}

extension QualificationMeasurements {
    /// The measurements a report's `qualification` member records (`json`), for rendering the
    /// report again; nil when the member is not that.
    init?(json v: JSONValue) {
        guard let start = v["start"]?.stringValue.flatMap(Timestamp.parseISO8601),
            let end = v["end"]?.stringValue.flatMap(Timestamp.parseISO8601), let caseValues = v["cases"]?.arrayValue
        else { return nil }
        self.init()
        startTime = start
        endTime = end
        for c in caseValues {
            guard let id = c["id"]?.stringValue, let expected = c["expected"], let us = c["microseconds"]?.int64Value
            else { return nil }
            let answer = c["answer"].flatMap { $0 == .null ? nil : $0 }
            cases.append(
                CaseResult(
                    id: id, expected: expected, answer: answer, status: c["status"]?.int64Value.map { Int($0) },
                    error: c["error"]?.stringValue, microseconds: us))
        }
        p50Microseconds = v["p50Microseconds"]?.int64Value
        p95Microseconds = v["p95Microseconds"]?.int64Value
        if let c = v["concurrency"], let clients = c["clients"]?.int64Value, let requests = c["requests"]?.int64Value,
            let succeeded = c["succeeded"]?.int64Value
        {
            var errors: [String: Int] = [:]
            for e in c["errors"]?.objectValue ?? [] { errors[e.key] = e.value.int64Value.map { Int($0) } ?? 0 }
            concurrency = (Int(clients), Int(requests), Int(succeeded), errors)
        }
        if let r = v["resources"], let samples = r["samples"]?.int64Value {
            func int(_ key: String) -> Int? { r[key]?.int64Value.map { Int($0) } }
            resources = ResourceSampler.Summary(
                samples: Int(samples), seconds: Double(r["milliseconds"]?.int64Value ?? 0) / 1000,
                servicePeakRSSBytes: r["servicePeakRSSBytes"]?.int64Value,
                servicePeakCPUPercent: int("servicePeakCPUPercent"),
                serviceMeanCPUPercent: int("serviceMeanCPUPercent"),
                machineCPUMeanPercent: int("machineCPUMeanPercent"),
                machineCPUPeakPercent: int("machineCPUPeakPercent"),
                machineMemoryAvailableMinBytes: r["machineMemoryAvailableMinBytes"]?.int64Value,
                machineMemoryTotalBytes: r["machineMemoryTotalBytes"]?.int64Value,
                diskFreeMinBytes: r["diskFreeMinBytes"]?.int64Value,
                serviceGPUPeakBytes: r["serviceGPUPeakBytes"]?.int64Value, gpuSamples: int("gpuSamples") ?? 0,
                gpuProblem: nil)
        }
    }
}
