import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The active release of an install root, as qualification needs it: its manifest (the kept copy,
/// checked against the installed state's digest) and its folders.
public struct ActiveRelease: Sendable {
    public var root: String
    public var name: String
    public var manifest: Manifest
    public var manifestSHA256: SHA256Digest
    public var folder: String
    public var stateFolder: String

    /// Where the payload path `path` (no `payload/`) of the manifest is installed: under its
    /// component's `install.destinations` folder, if any.
    public func installedPath(_ path: String) -> String {
        folder + "/" + (manifest.installedPath(ofPayloadPath: path) ?? path)
    }
}

extension Installer {
    /// The active release of `root`, read under a shared lock; `.notInstalled` when there is none.
    public static func activeRelease(root path: String) throws(InstallError) -> ActiveRelease {
        let root = try InstallRoot(path: path, create: false, exclusive: false)
        guard let name = try root.currentName(), let release = root.state.release(named: name) else {
            throw .notInstalled(root: path)
        }
        let manifestPath = root.releases.child(name + InstallRoot.manifestSuffix)
        let bytes = try InstallError.mapping { try InputFile.readAll(path: manifestPath, limit: Manifest.maxBytes) }
        guard SHA256Digest.of(bytes) == release.manifestSHA256 else {
            throw .inconsistent(
                root: path,
                problem:
                    "\(manifestPath): the kept manifest is not the one installed (its SHA-256 differs from the state's)"
            )
        }
        let manifest = try InstallError.mapping { try Manifest.decode(bytes, source: manifestPath) }
        return ActiveRelease(
            root: path, name: name, manifest: manifest, manifestSHA256: release.manifestSHA256,
            folder: root.releases.child(name), stateFolder: root.root.child(StateStore.stateFolder))
    }
}

/// What qualification measured, beyond the checks' verdicts: the report's qualification section
/// (annex C.3-C.5) and its latency chart.
public struct QualificationMeasurements: Sendable, Equatable {
    /// One reference case sent on its own (the latency and accuracy pass).
    public struct CaseResult: Sendable, Equatable {
        public var id: String
        public var expected: JSONValue
        /// The answer at the metric's JSON path; nil when there was none.
        public var answer: JSONValue?
        public var status: Int?
        /// Why there is no answer (refused, timed out, not JSON...).
        public var error: String?
        public var microseconds: Int64
        public var correct: Bool { answer != nil && answer == expected }
    }

    public var cases: [CaseResult] = []
    public var p50Microseconds: Int64?
    public var p95Microseconds: Int64?
    public var concurrency: (clients: Int, requests: Int, succeeded: Int, errors: [String: Int])?
    public var resources: ResourceSampler.Summary?
    public var startTime: Int64 = 0
    public var endTime: Int64 = 0

    public init() {}

    public static func == (a: Self, b: Self) -> Bool {
        a.cases == b.cases && a.p50Microseconds == b.p50Microseconds && a.p95Microseconds == b.p95Microseconds
            && a.concurrency?.clients == b.concurrency?.clients && a.concurrency?.requests == b.concurrency?.requests
            && a.concurrency?.succeeded == b.concurrency?.succeeded && a.concurrency?.errors == b.concurrency?.errors
            && a.resources == b.resources && a.startTime == b.startTime && a.endTime == b.endTime
    }
}

/// The outcome of a qualification run: checks for the IQ report, and what was measured.
public struct QualificationOutcome: Sendable {
    public var checks: [Check]
    public var measurements: QualificationMeasurements
    public var passed: Bool { !checks.contains { $0.status == .fail } }
}

/// Runs a release's qualification (its manifest's `qualification` member) against the installed
/// release: checks the reference dataset against the manifest's digests before any case runs,
/// starts the release's service on a free loopback port, runs every function case, then the
/// baseline metrics (latency and accuracy over the dataset one case at a time, then success under
/// concurrency), samples the service's and the machine's resources throughout, and stops the
/// service (SIGTERM, 5 s, SIGKILL to its process group). Never throws: what went wrong is a
/// failed check with its evidence.
public struct Qualifier: Sendable {
    public var release: ActiveRelease
    public var prober: any HTTPProber
    /// Sampling interval of the resource sampler.
    public var sampleMilliseconds: Int64 = 100
    /// Where `nvidia-smi` is looked for (colon-separated); default `$PATH`.
    public var searchPath: String?
    /// Requirements the site accepts unchecked (`gpu-memory`): what this machine cannot measure.
    public var acceptUnchecked: [UncheckedAcceptance] = []

    public init(release: ActiveRelease, prober: any HTTPProber) {
        self.release = release
        self.prober = prober
    }

    static let graceSeconds = 5

    public func run() async -> QualificationOutcome {
        var measurements = QualificationMeasurements()
        measurements.startTime = Timestamp.now()
        defer {}
        guard let spec = release.manifest.qualification else {
            measurements.endTime = Timestamp.now()
            return QualificationOutcome(
                checks: [
                    Check(
                        .qualificationSpec, status: .fail,
                        details: [
                            "the release \(release.manifest.version) states no qualification: its manifest has no qualification member, so there is nothing to run",
                            "Ask the vendor for the release's qualification protocol, or run the site's own and record it outside ivpack",
                        ])
                ], measurements: measurements)
        }
        if let reason = spec.notApplicable {
            measurements.endTime = Timestamp.now()
            return QualificationOutcome(
                checks: [
                    Check(
                        .qualificationNotApplicable, status: .pass,
                        details: ["the vendor declares on-site qualification not applicable: \(reason)"],
                        evidence: [("reason", reason)])
                ], measurements: measurements)
        }
        var checks: [Check] = []
        // 1. The dataset and every file a probe sends, against the manifest, before anything runs.
        var labels: ReferenceLabels?
        var inputs: [String: [UInt8]] = [:]
        switch loadInputs(spec) {
        case .success(let loaded):
            labels = loaded.labels
            inputs = loaded.files
            if let labels, let dataset = spec.dataset {
                checks.append(
                    Check(
                        .qualificationDataset, status: .pass,
                        details: [
                            "\(labels.cases.count) reference cases of \(dataset.component) and their labels match the manifest's SHA-256"
                        ],
                        evidence: [
                            ("component", dataset.component), ("labels", dataset.labels),
                            ("cases", String(labels.cases.count)),
                            ("files", String(inputs.count)),
                        ]))
            }
        case .failure(let problems):
            checks.append(
                Check(
                    .qualificationDataset, status: .fail,
                    details: problems.lines + [
                        "no case ran: a reference file that is not the vendor's gives no evidence"
                    ],
                    evidence: [("component", spec.dataset?.component ?? "")]))
            measurements.endTime = Timestamp.now()
            return QualificationOutcome(checks: checks, measurements: measurements)
        }

        let smi =
            spec.metrics?.maxGPUMemoryBytes == nil ? nil : LiveSystem(searchPath: searchPath).findProgram("nvidia-smi")
        let sampler = ResourceSampler(diskPath: release.root, intervalMilliseconds: sampleMilliseconds, gpuProgram: smi)
        sampler.start()
        // 2. The service.
        var service: RunningService?
        var port: Int?
        if let s = spec.service {
            let started = await startService(s) { sampler.watch(processGroup: $0) }
            checks.append(started.check)
            service = started.service
            port = started.service?.port
            if started.service == nil || started.check.status == .fail {
                started.service?.stop(grace: Self.graceSeconds)
                measurements.resources = sampler.stop()
                checks.append(machineCheck(measurements.resources!))
                measurements.endTime = Timestamp.now()
                return QualificationOutcome(checks: checks, measurements: measurements)
            }
        }
        // 3. Function cases.
        for c in spec.cases {
            checks.append(await runCase(c, port: port, inputs: inputs))
        }
        // 4. Baseline metrics over the dataset.
        if let metrics = spec.metrics, let labels {
            checks += await runMetrics(metrics, labels: labels, inputs: inputs, port: port, into: &measurements)
        }
        // The last sample while the service still runs.
        sampler.sampleNow()
        service?.stop(grace: Self.graceSeconds)
        let summary = sampler.stop()
        measurements.resources = summary
        if let metrics = spec.metrics, metrics.hasResourceLimits {
            checks.append(resourceCheck(metrics, summary))
        }
        checks.append(machineCheck(summary))
        measurements.endTime = Timestamp.now()
        return QualificationOutcome(checks: checks, measurements: measurements)
    }

    // MARK: Dataset

    /// Reads the labels, every case input and every body file, each checked against the manifest's
    /// SHA-256 of that file; the problems, one per file, when any is not the vendor's.
    /// The files that are not the vendor's, one line each.
    struct DatasetProblems: Error {
        var lines: [String]
    }

    func loadInputs(_ spec: QualificationSpec) -> Result<
        (labels: ReferenceLabels?, files: [String: [UInt8]]), DatasetProblems
    > {
        let byPath = Dictionary(
            release.manifest.allFiles.map { (String($0.path.dropFirst(Manifest.payloadPrefix.count)), $0) },
            uniquingKeysWith: { a, _ in a })
        var files: [String: [UInt8]] = [:]
        var problems: [String] = []
        func load(_ path: String) -> [UInt8]? {
            if let bytes = files[path] { return bytes }
            guard let entry = byPath[path] else {
                problems.append("\(Display.name(path)): not a file of the release's manifest")
                return nil
            }
            let installed = release.installedPath(path)
            guard entry.size <= 256 << 20 else {
                problems.append("\(Display.name(path)): \(entry.size) bytes; a probe input is at most 256 MiB")
                return nil
            }
            do {
                let bytes = try InputFile.readAll(path: installed, limit: Int(entry.size) + 1)
                let digest = SHA256Digest.of(bytes)
                guard Int64(bytes.count) == entry.size, digest == entry.sha256 else {
                    problems.append(
                        "\(Display.name(installed)): SHA-256 \(digest.hex) (\(bytes.count) bytes), the manifest says \(entry.sha256.hex) (\(entry.size) bytes): the file was changed or replaced after install; run `ivpack status --check` and reinstall the release"
                    )
                    return nil
                }
                files[path] = bytes
                return bytes
            } catch {
                problems.append("\(Display.name(installed)): cannot be read: \(error)")
                return nil
            }
        }
        var labels: ReferenceLabels?
        if let dataset = spec.dataset, let bytes = load(dataset.labels) {
            let members = Set(
                release.manifest.components.first { $0.name == dataset.component }?.files.map {
                    String($0.path.dropFirst(Manifest.payloadPrefix.count))
                } ?? [])
            do {
                labels = try ReferenceLabels.parse(
                    bytes, file: release.installedPath(dataset.labels), isDatasetFile: { members.contains($0) })
            } catch {
                problems.append("\(error)")
            }
            for c in labels?.cases ?? [] { _ = load(c.input) }
        }
        for c in spec.cases { if let body = c.http?.body { _ = load(body) } }
        return problems.isEmpty ? .success((labels, files)) : .failure(DatasetProblems(lines: problems))
    }

    // MARK: Service

    /// A started service: its process group, port and the thread that reaps it.
    final class RunningService: @unchecked Sendable {
        let pid: pid_t
        let port: Int
        private let done: DispatchSemaphore
        private let outcomeBox: OutcomeBox

        final class OutcomeBox: @unchecked Sendable {
            let lock = NSLock()
            var outcome: ProgramRunner.Outcome?
            var failure: String?
        }

        init(pid: pid_t, port: Int, done: DispatchSemaphore, box: OutcomeBox) {
            self.pid = pid
            self.port = port
            self.done = done
            self.outcomeBox = box
        }

        /// Whether the service's main process has ended.
        var exited: Bool {
            outcomeBox.lock.lock()
            defer { outcomeBox.lock.unlock() }
            return outcomeBox.outcome != nil || outcomeBox.failure != nil
        }

        var output: [String] {
            outcomeBox.lock.lock()
            defer { outcomeBox.lock.unlock() }
            return Hooks.excerpt(outcomeBox.outcome?.output ?? [])
        }

        var exitText: String {
            outcomeBox.lock.lock()
            defer { outcomeBox.lock.unlock() }
            if let failure = outcomeBox.failure { return "could not start: \(failure)" }
            guard let o = outcomeBox.outcome else { return "running" }
            return o.status.map { "exited with status \($0)" } ?? "ended by a signal"
        }

        /// SIGTERM to the group, `grace` seconds, then SIGKILL; waits for the reaper.
        func stop(grace: Int) {
            kill(-pid, SIGTERM)
            if done.wait(timeout: .now() + .seconds(grace)) == .timedOut {
                kill(-pid, SIGKILL)
                done.wait()
            }
            // A child that left the group's leader behind still has the group's ID.
            kill(-pid, SIGKILL)
        }
    }

    /// A free TCP port on 127.0.0.1 (bound, read and released: the service binds it next).
    static func freePort() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func environment(port: Int?) -> [String] {
        var values = [
            "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
            "HOME=\(getenv("HOME").map { String(cString: $0) } ?? "/")",
            "IVPACK_ACTION=qualify", "IVPACK_PRODUCT=\(release.manifest.product.name)",
            "IVPACK_VERSION=\(release.manifest.version)", "IVPACK_RELEASE=\(release.name)",
            "IVPACK_RELEASE_DIR=\(release.folder)", "IVPACK_ROOT=\(release.root)",
            "IVPACK_STATE_DIR=\(release.stateFolder)",
        ]
        if let port { values.append("IVPACK_QUALIFY_PORT=\(port)") }
        return values
    }

    static func substitute(_ text: String, port: Int?) -> String {
        guard let port else { return text }
        return text.replacingOccurrences(of: "{port}", with: String(port))
    }

    /// Starts the service on a thread that waits for it (ProgramRunner collects its output), and
    /// returns once its process runs.
    static func spawn(
        _ program: String, _ arguments: [String], environment: [String], folder: String, port: Int
    ) -> Result<RunningService, ProbeError> {
        let box = RunningService.OutcomeBox()
        let done = DispatchSemaphore(value: 0)
        let pidReady = DispatchSemaphore(value: 0)
        let pidBox = RunningService.OutcomeBox()
        nonisolated(unsafe) var startedPID: pid_t = 0
        // The service runs until stopped; the deadline only bounds a run nobody stops.
        let deadline = 6 * 3600
        let thread = Thread {
            let launch = ProgramRunner.Launch(
                environment: environment, directory: folder, graceSeconds: graceSeconds,
                started: { pid in
                    pidBox.lock.lock()
                    startedPID = pid
                    pidBox.lock.unlock()
                    pidReady.signal()
                })
            do throws(ProbeError) {
                let outcome = try ProgramRunner.run(program, arguments, timeoutSeconds: deadline, launch: launch)
                box.lock.lock()
                box.outcome = outcome
                box.lock.unlock()
            } catch {
                box.lock.lock()
                box.failure = error.reason
                box.lock.unlock()
                pidReady.signal()
            }
            done.signal()
        }
        thread.start()
        pidReady.wait()
        pidBox.lock.lock()
        let pid = startedPID
        pidBox.lock.unlock()
        guard pid > 0 else {
            box.lock.lock()
            defer { box.lock.unlock() }
            return .failure(ProbeError(box.failure ?? "unknown"))
        }
        return .success(RunningService(pid: pid, port: port, done: done, box: box))
    }

    func startService(
        _ s: QualificationSpec.Service, started: (pid_t) -> Void
    ) async -> (check: Check, service: RunningService?) {
        let began = ProgramRunner.monotonicMilliseconds()
        func fail(_ details: [String], _ evidence: [(String, String)] = []) -> Check {
            Check(
                .qualificationService, status: .fail, details: details,
                evidence: [("command", s.run.joined(separator: " "))] + evidence)
        }
        guard let port = Self.freePort() else {
            return (fail(["no free TCP port on 127.0.0.1 for the service"]), nil)
        }
        let program = release.installedPath(s.run[0])
        let arguments = s.run.dropFirst().map { Self.substitute($0, port: port) }
        let service: RunningService
        switch Self.spawn(
            program, Array(arguments), environment: environment(port: port), folder: release.folder, port: port)
        {
        case .failure(let why): return (fail(["\(program) could not start: \(why.reason)"]), nil)
        case .success(let s): service = s
        }
        let pid = service.pid
        started(pid)
        // Ready: the URL answers 200.
        let readyText = Self.substitute(s.ready, port: port)
        guard let url = URLParts(readyText) else { return (fail(["\(readyText) is not a URL"]), service) }
        let until = began + Int64(s.startTimeoutSeconds) * 1000
        var last = "no answer yet"
        while ProgramRunner.monotonicMilliseconds() < until {
            if service.exited {
                return (
                    fail(
                        ["the service \(service.exitText) before it was ready"]
                            + service.output.map { "output: \($0)" },
                        [("port", String(port))]), service
                )
            }
            let r = await prober.send(
                ProbeRequest(method: "GET", url: url.with(port: port), urlText: readyText), timeoutMilliseconds: 2000)
            switch r {
            case .success(let answer) where answer.status == 200:
                let ms = ProgramRunner.monotonicMilliseconds() - began
                return (
                    Check(
                        .qualificationService, status: .pass,
                        details: ["the service answered \(readyText) with 200 after \(ms) ms"],
                        evidence: [
                            ("command", s.run.joined(separator: " ")), ("port", String(port)), ("pid", String(pid)),
                            ("readyMilliseconds", String(ms)),
                        ]), service
                )
            case .success(let answer): last = "status \(answer.status)"
            case .failure(let f): last = f.message
            }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        return (
            fail(
                ["the service did not answer \(readyText) with 200 within \(s.startTimeoutSeconds) s (last: \(last))"],
                [("port", String(port))]), service
        )
    }

    // MARK: Cases

    func request(_ r: QualificationSpec.Request, port: Int?, body: [UInt8]) -> ProbeRequest? {
        let text = Self.substitute(r.url, port: port)
        guard let url = URLParts(text) else { return nil }
        return ProbeRequest(
            method: r.method, url: url.with(port: port), urlText: text, body: body, contentType: r.contentType)
    }

    func runCase(_ c: QualificationSpec.Case, port: Int?, inputs: [String: [UInt8]]) async -> Check {
        let id = CheckID.qualificationCase(c.id)
        var evidence: [(key: String, value: String)] = [("clause", c.clause)]
        if let http = c.http {
            guard let probe = request(http, port: port, body: http.body.flatMap { inputs[$0] } ?? []) else {
                return Check(
                    id, title: c.title, status: .fail, details: ["\(http.url) is not a URL"], evidence: evidence)
            }
            evidence.append(("request", "\(http.method) \(probe.urlText)"))
            switch await prober.send(probe, timeoutMilliseconds: Int64(c.timeoutSeconds) * 1000) {
            case .failure(let f):
                evidence.append(("error", f.code))
                return Check(
                    id, title: c.title, status: .fail, details: ["no answer: \(f.message)"], evidence: evidence)
            case .success(let answer):
                evidence.append(("status", String(answer.status)))
                evidence.append(("milliseconds", Self.milliseconds(answer.microseconds)))
                let problems = Self.expectationProblems(
                    c.expect, status: answer.status, body: answer.body, version: release.manifest.version)
                if problems.isEmpty {
                    return Check(
                        id, title: c.title, status: .pass,
                        details: ["\(http.method) \(probe.urlText): \(answer.status) as expected"], evidence: evidence)
                }
                return Check(
                    id, title: c.title, status: .fail,
                    details: problems + ["answer: " + Self.excerpt(answer.body)], evidence: evidence)
            }
        }
        let run = c.run ?? []
        let program = release.installedPath(run[0])
        evidence.append(("command", run.joined(separator: " ")))
        let began = ProgramRunner.monotonicMilliseconds()
        do throws(ProbeError) {
            let outcome = try ProgramRunner.run(
                program, run.dropFirst().map { Self.substitute($0, port: port) }, timeoutSeconds: c.timeoutSeconds,
                launch: .init(
                    environment: environment(port: port), directory: release.folder, graceSeconds: Self.graceSeconds))
            let ms = ProgramRunner.monotonicMilliseconds() - began
            evidence.append(("milliseconds", String(ms)))
            let excerpt = Hooks.excerpt(outcome.output)
            if outcome.timedOut {
                return Check(
                    id, title: c.title, status: .fail,
                    details: ["timed out after \(c.timeoutSeconds) s (its process group was stopped)"]
                        + excerpt.map { "output: \($0)" }, evidence: evidence)
            }
            evidence.append(("exitStatus", outcome.status.map(String.init) ?? "signal"))
            var problems: [String] = []
            if outcome.status != Int32(c.expect.exitStatus ?? 0) {
                problems.append(
                    "exit status \(outcome.status.map(String.init) ?? "none (killed by a signal)"), expected \(c.expect.exitStatus ?? 0)"
                )
            }
            if let regex = c.expect.regex, !Self.contains(outcome.output, regex) {
                problems.append("the output has no match of /\(regex)/")
            }
            if problems.isEmpty {
                return Check(
                    id, title: c.title, status: .pass, details: ["exit \(outcome.status ?? 0) in \(ms) ms as expected"],
                    evidence: evidence)
            }
            return Check(
                id, title: c.title, status: .fail, details: problems + excerpt.map { "output: \($0)" },
                evidence: evidence)
        } catch {
            return Check(
                id, title: c.title, status: .fail, details: ["could not start: \(error.reason)"], evidence: evidence)
        }
    }

    /// What in an HTTP answer differs from the expectation; empty when nothing does.
    static func expectationProblems(
        _ e: QualificationSpec.Expectation, status: Int, body: [UInt8], version: String
    ) -> [String] {
        var problems: [String] = []
        if let expected = e.status, expected != status { problems.append("status \(status), expected \(expected)") }
        if !e.json.isEmpty {
            if let value = try? JSONParser.parse(
                body, limits: JSONLimits(maxBytes: maxProbeResponseBytes, maxDepth: 64))
            {
                for (path, want) in e.json {
                    var want = want
                    if case .string(let s) = want {
                        want = .string(s.replacingOccurrences(of: "{version}", with: version))
                    }
                    let got = QualificationSpec.parseJSONPath(path).flatMap { QualificationSpec.lookup($0, in: value) }
                    if got != want {
                        problems.append(
                            "\(path) is \(got.map { Self.show($0) } ?? "absent"), expected \(Self.show(want))")
                    }
                }
            } else {
                problems.append(
                    "the answer is not JSON, so \(e.json.map(\.path).joined(separator: ", ")) cannot be read")
            }
        }
        if let regex = e.regex, !contains(body, regex) { problems.append("the answer has no match of /\(regex)/") }
        if let digest = e.sha256, SHA256Digest.of(body).hex != digest {
            problems.append("the answer's SHA-256 is \(SHA256Digest.of(body).hex), expected \(digest)")
        }
        return problems
    }

    static func contains(_ bytes: [UInt8], _ pattern: String) -> Bool {
        guard let regex = try? Regex(pattern) else { return false }
        return String(decoding: bytes, as: UTF8.self).contains(regex)
    }

    static func show(_ v: JSONValue) -> String { String(decoding: CanonicalJSON.encode(v), as: UTF8.self) }

    static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        let clean = String(
            String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
        return body.count > 300 ? clean + "... (\(body.count) bytes)" : clean
    }

    static func milliseconds(_ us: Int64) -> String {
        "\(us / 1000).\(String(format: "%01d", (us % 1000) / 100))"
    }

    // MARK: Metrics

    /// Nearest-rank percentile of sorted values.
    static func percentile(_ sorted: [Int64], _ p: Int) -> Int64? {
        guard !sorted.isEmpty else { return nil }
        let rank = max(1, (p * sorted.count + 99) / 100)
        return sorted[min(rank, sorted.count) - 1]
    }

    func send(
        _ metrics: QualificationSpec.Metrics, _ c: ReferenceLabels.Case, input: [UInt8], port: Int?
    ) async -> QualificationMeasurements.CaseResult {
        var result = QualificationMeasurements.CaseResult(
            id: c.id, expected: c.expected, answer: nil, status: nil, error: nil, microseconds: 0)
        guard let probe = request(metrics.request, port: port, body: input) else {
            result.error = "\(metrics.request.url) is not a URL"
            return result
        }
        switch await prober.send(probe, timeoutMilliseconds: Int64(metrics.timeoutSeconds) * 1000) {
        case .failure(let f):
            result.error = f.code + ": " + f.message
            result.microseconds = f.microseconds
        case .success(let answer):
            result.status = answer.status
            result.microseconds = answer.microseconds
            if answer.status != 200 {
                result.error = "status \(answer.status): " + Self.excerpt(answer.body)
            } else if let value = try? JSONParser.parse(
                answer.body, limits: JSONLimits(maxBytes: maxProbeResponseBytes, maxDepth: 64))
            {
                result.answer = QualificationSpec.parseJSONPath(metrics.answer).flatMap {
                    QualificationSpec.lookup($0, in: value)
                }
                if result.answer == nil { result.error = "the answer has no \(metrics.answer)" }
            } else {
                result.error = "the answer is not JSON: " + Self.excerpt(answer.body)
            }
        }
        return result
    }

    func runMetrics(
        _ metrics: QualificationSpec.Metrics, labels: ReferenceLabels, inputs: [String: [UInt8]], port: Int?,
        into m: inout QualificationMeasurements
    ) async -> [Check] {
        var checks: [Check] = []
        // One case at a time: latency without queueing, and each case's answer.
        for c in labels.cases {
            m.cases.append(await send(metrics, c, input: inputs[c.input] ?? [], port: port))
        }
        let answered = m.cases.filter { $0.error == nil }
        let sorted = answered.map(\.microseconds).sorted()
        m.p50Microseconds = Self.percentile(sorted, 50)
        m.p95Microseconds = Self.percentile(sorted, 95)
        let failures = m.cases.filter { $0.error != nil }
        if let latency = metrics.latency {
            var problems: [String] = []
            if let p50 = m.p50Microseconds, p50 > Int64(latency.p50Milliseconds) * 1000 {
                problems.append("p50 \(Self.milliseconds(p50)) ms is over the threshold \(latency.p50Milliseconds) ms")
            }
            if let p95 = m.p95Microseconds, p95 > Int64(latency.p95Milliseconds) * 1000 {
                problems.append("p95 \(Self.milliseconds(p95)) ms is over the threshold \(latency.p95Milliseconds) ms")
            }
            if answered.isEmpty { problems.append("no case was answered, so there is no latency to measure") }
            if !failures.isEmpty {
                problems.append(
                    "\(failures.count) of \(m.cases.count) cases had no answer: "
                        + failures.prefix(5).map { "\($0.id) (\($0.error ?? ""))" }.joined(separator: "; "))
            }
            checks.append(
                Check(
                    .qualificationLatency, status: problems.isEmpty ? .pass : .fail,
                    details: problems.isEmpty
                        ? [
                            "p50 \(Self.milliseconds(m.p50Microseconds!)) ms ≤ \(latency.p50Milliseconds) ms, p95 \(Self.milliseconds(m.p95Microseconds!)) ms ≤ \(latency.p95Milliseconds) ms over \(answered.count) cases"
                        ] : problems,
                    evidence: [
                        ("cases", String(m.cases.count)), ("answered", String(answered.count)),
                        ("p50Milliseconds", m.p50Microseconds.map(Self.milliseconds) ?? "none"),
                        ("p95Milliseconds", m.p95Microseconds.map(Self.milliseconds) ?? "none"),
                        (
                            "meanMilliseconds",
                            sorted.isEmpty ? "none" : Self.milliseconds(sorted.reduce(0, +) / Int64(sorted.count))
                        ),
                        ("thresholdP50Milliseconds", String(latency.p50Milliseconds)),
                        ("thresholdP95Milliseconds", String(latency.p95Milliseconds)),
                    ]))
        }
        if let minimum = metrics.accuracyMinPermille {
            let correct = m.cases.count(where: \.correct)
            let total = m.cases.count
            // Exact: correct / total ≥ minimum / 1000, in integers.
            let passed = correct * 1000 >= minimum * total
            let wrong = m.cases.filter { !$0.correct }
            checks.append(
                Check(
                    .qualificationAccuracy, status: passed ? .pass : .fail,
                    details: [
                        "\(correct) of \(total) reference cases answered as labelled: accuracy \(Self.fraction(correct, total)) \(passed ? "≥" : "<") \(Self.fraction(minimum, 1000))"
                    ]
                        + wrong.map { r in
                            "\(r.id): expected \(Self.show(r.expected)), "
                                + (r.answer.map { "answered \(Self.show($0))" } ?? "no answer (\(r.error ?? ""))")
                        },
                    evidence: [
                        ("correct", String(correct)), ("cases", String(total)),
                        ("accuracy", Self.fraction(correct, total)), ("minimum", Self.fraction(minimum, 1000)),
                        ("answerPath", metrics.answer),
                    ]))
        }
        if let concurrency = metrics.concurrency {
            let result = await runConcurrently(metrics, concurrency, labels: labels, inputs: inputs, port: port)
            m.concurrency = result
            let passed = result.succeeded * 1000 >= concurrency.minSuccessPermille * result.requests
            checks.append(
                Check(
                    .qualificationConcurrency, status: passed ? .pass : .fail,
                    details: [
                        "\(result.succeeded) of \(result.requests) requests by \(result.clients) clients at once answered: success rate \(Self.fraction(result.succeeded, result.requests)) \(passed ? "≥" : "<") \(Self.fraction(concurrency.minSuccessPermille, 1000))"
                    ] + result.errors.sorted { $0.key < $1.key }.map { "\($0.value) × \($0.key)" },
                    evidence: [
                        ("clients", String(result.clients)), ("requests", String(result.requests)),
                        ("succeeded", String(result.succeeded)),
                        ("errors", String(result.requests - result.succeeded)),
                        ("minSuccessRate", Self.fraction(concurrency.minSuccessPermille, 1000)),
                    ]))
        }
        return checks
    }

    /// `a / b` with three decimals, exactly (e.g. 0.950).
    static func fraction(_ a: Int, _ b: Int) -> String {
        guard b > 0 else { return "n/a" }
        let thousandths = a * 1000 / b
        return "\(thousandths / 1000).\(String(format: "%03d", thousandths % 1000))"
    }

    func runConcurrently(
        _ metrics: QualificationSpec.Metrics, _ c: (clients: Int, requests: Int, minSuccessPermille: Int),
        labels: ReferenceLabels, inputs: [String: [UInt8]], port: Int?
    ) async -> (clients: Int, requests: Int, succeeded: Int, errors: [String: Int]) {
        let results = await withTaskGroup(of: [QualificationMeasurements.CaseResult].self) { group in
            for client in 0..<c.clients {
                group.addTask {
                    var mine: [QualificationMeasurements.CaseResult] = []
                    var i = client
                    while i < c.requests {
                        let item = labels.cases[i % labels.cases.count]
                        mine.append(await send(metrics, item, input: inputs[item.input] ?? [], port: port))
                        i += c.clients
                    }
                    return mine
                }
            }
            var all: [QualificationMeasurements.CaseResult] = []
            for await part in group { all += part }
            return all
        }
        var errors: [String: Int] = [:]
        for r in results where r.error != nil {
            let kind = r.error!.split(separator: ":").first.map(String.init) ?? "error"
            errors[kind, default: 0] += 1
        }
        return (c.clients, c.requests, results.count(where: { $0.error == nil }), errors)
    }

    // MARK: Resources

    func resourceCheck(_ metrics: QualificationSpec.Metrics, _ s: ResourceSampler.Summary) -> Check {
        var problems: [String] = []
        var evidence: [(key: String, value: String)] = [("samples", String(s.samples))]
        if let limit = metrics.maxMemoryBytes {
            evidence.append(("maxMemoryBytes", String(limit)))
            if let peak = s.servicePeakRSSBytes {
                evidence.append(("peakMemoryBytes", String(peak)))
                if peak > limit {
                    problems.append(
                        "peak resident memory \(EnvironmentCheck.size(peak)) is over the threshold \(EnvironmentCheck.size(limit))"
                    )
                }
            } else {
                problems.append("the service's memory could not be sampled (no process of its group was seen)")
            }
        }
        if let limit = metrics.maxCPUPercent {
            evidence.append(("maxCPUPercent", String(limit)))
            if let peak = s.servicePeakCPUPercent {
                evidence.append(("peakCPUPercent", String(peak)))
                if peak > limit { problems.append("peak CPU \(peak)% of one core is over the threshold \(limit)%") }
            } else {
                problems.append("the service's CPU use could not be sampled (fewer than two samples)")
            }
        }
        var accepted: UncheckedAcceptance?
        if let limit = metrics.maxGPUMemoryBytes {
            evidence.append(("maxGPUMemoryBytes", String(limit)))
            if let peak = s.serviceGPUPeakBytes {
                evidence.append(("peakGPUMemoryBytes", String(peak)))
                if peak > limit {
                    problems.append(
                        "peak GPU memory \(EnvironmentCheck.size(peak)) is over the threshold \(EnvironmentCheck.size(limit))"
                    )
                }
            } else {
                let why =
                    s.gpuProblem.map { "GPU memory could not be read: \($0)" }
                    ?? "GPU memory cannot be measured here: nvidia-smi was not found on the search path"
                if let a = acceptUnchecked.first(where: { $0.requirement == "gpu-memory" || $0.requirement == "gpu" }) {
                    accepted = a
                    evidence.append(("accepted.unchecked", "gpu-memory: \(a.reason)"))
                    problems.append(why + " (accepted unchecked by the site: \(a.reason))")
                } else {
                    problems.append(
                        why
                            + "; a threshold that cannot be checked fails (pass --accept-unchecked gpu-memory --reason TEXT to accept it)"
                    )
                }
            }
        }
        if let mean = s.serviceMeanCPUPercent { evidence.append(("meanCPUPercent", String(mean))) }
        // Only the accepted GPU reading missing: a warning that shows the acceptance.
        let onlyAccepted = accepted != nil && problems.count == 1
        return Check(
            .qualificationResources, status: problems.isEmpty ? .pass : onlyAccepted ? .warn : .fail,
            details: problems.isEmpty
                ? [
                    "peak memory \(s.servicePeakRSSBytes.map(EnvironmentCheck.size) ?? "not sampled"), peak CPU \(s.servicePeakCPUPercent.map { "\($0)%" } ?? "not sampled") over \(s.samples) samples"
                ] : problems, evidence: evidence)
    }

    func machineCheck(_ s: ResourceSampler.Summary) -> Check {
        var evidence: [(key: String, value: String)] = [
            ("samples", String(s.samples)), ("seconds", String(format: "%.1f", s.seconds)),
        ]
        if let v = s.machineCPUMeanPercent { evidence.append(("cpuMeanPercent", String(v))) }
        if let v = s.machineCPUPeakPercent { evidence.append(("cpuPeakPercent", String(v))) }
        if let v = s.machineMemoryAvailableMinBytes { evidence.append(("memoryAvailableMinBytes", String(v))) }
        if let v = s.machineMemoryTotalBytes { evidence.append(("memoryTotalBytes", String(v))) }
        if let v = s.diskFreeMinBytes { evidence.append(("diskFreeMinBytes", String(v))) }
        return Check(
            .qualificationMachine, status: s.samples > 0 ? .pass : .warn,
            details: [
                s.samples > 0
                    ? "the machine was sampled \(s.samples) times over \(String(format: "%.1f", s.seconds)) s: CPU busy \(s.machineCPUMeanPercent.map { "\($0)%" } ?? "?") on average, at least \(s.machineMemoryAvailableMinBytes.map(EnvironmentCheck.size) ?? "?") memory and \(s.diskFreeMinBytes.map(EnvironmentCheck.size) ?? "?") disk free"
                    : "the machine could not be sampled (/proc unreadable)"
            ], evidence: evidence)
    }
}

extension URLParts {
    /// The same URL with `{port}` resolved to `port`.
    func with(port service: Int?) -> URLParts {
        var copy = self
        if usesServicePort, let service {
            copy.port = service
            copy.usesServicePort = false
        }
        return copy
    }
}
