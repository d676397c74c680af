import Foundation
import IVPack
import IVPackLicense

// The scale-out load and fault test (issue 20): several `ivpack license serve` PROCESSES on one
// shared database, many concurrent installers that know every instance, and one instance killed
// with SIGKILL halfway. Afterwards the database is read back: every grant a client received is
// present exactly once, no licence holds more activations than seats, the audit's "ok" rows equal
// the activations, and nothing the clients saw disagrees with the database.
//
//   license-load --processes [--instances 2] [--kill-at 0.5] [--ivpack PATH] [--store-config FILE]
//                [--checks N] [--concurrency C] [--bundles B] [--sites S]
//
// Processes, not tasks: SIGKILL must take a server down with its connections, as a crashed host
// would. `--store-config FILE` is YAML text added to every instance's configuration (a
// PostgreSQL `store:` section); without it the instances share one SQLite file (WAL).

/// A running `ivpack license serve` process.
final class ServerProcess: @unchecked Sendable {
    let process: Process
    let url: String
    let name: String
    private let output: Pipe

    /// Starts the server and waits for its "listening on https://HOST:PORT" line.
    init(ivpack: String, config: String, name: String) throws {
        self.name = name
        process = Process()
        process.executableURL = URL(fileURLWithPath: ivpack)
        process.arguments = ["license", "serve", "--config", config]
        output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let handle = output.fileHandleForReading
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while !text.contains("\n"), Date() < deadline {
            let data = handle.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let range = text.range(of: "https://"),
            let end = text[range.lowerBound...].firstIndex(where: { $0 == " " || $0 == "\n" })
        else {
            process.terminate()
            throw LoadError("\(name) did not start: \(text.isEmpty ? "no output" : text)")
        }
        url = String(text[range.lowerBound..<end])
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}

/// What one check saw: latency, the answer, which instance answered.
struct CheckOutcome: Sendable {
    var milliseconds: Double
    var site: String
    var bundle: String
    /// The activation number of a grant.
    var activation: Int64?
    /// A refusal code (an answer: `seats-exhausted`, ...).
    var refusal: String?
    /// No answer from any instance (an error of the system under test).
    var error: String?
    var answeredBy: String?
    var failedOver: Bool
}

/// Counts completed checks and fires `body` once when `threshold` is reached.
final class Milestone: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private let threshold: Int
    private let body: @Sendable () -> Void
    init(threshold: Int, body: @escaping @Sendable () -> Void) {
        self.threshold = threshold
        self.body = body
    }
    func tick() {
        lock.lock()
        count += 1
        let fire = count == threshold
        lock.unlock()
        if fire { body() }
    }
}

enum FailoverLoad {
    static func run(arguments: [String]) async throws -> Bool {
        func option(_ name: String) -> String? {
            guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
            return arguments[i + 1]
        }
        let checks = option("--checks").flatMap(Int.init) ?? 10_000
        let concurrency = option("--concurrency").flatMap(Int.init) ?? 200
        let bundles = option("--bundles").flatMap(Int.init) ?? 2_000
        let sites = option("--sites").flatMap(Int.init) ?? 20
        let instances = option("--instances").flatMap(Int.init) ?? 2
        let killAt = option("--kill-at").flatMap(Double.init) ?? 0.5
        let ivpack =
            option("--ivpack")
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
                "ivpack"
            ).path
        // The shared store: --postgres-url (an empty database) [--password-file], as the in-process
        // mode takes it; or --store-config FILE, a `store:` line; or one SQLite file (WAL).
        let storeConfig: String? =
            try option("--store-config").map { try String(contentsOfFile: $0, encoding: .utf8) }
            ?? option("--postgres-url").map {
                LoadStore.postgresStoreLine(url: $0, passwordFile: option("--password-file"))
            }
        guard FileManager.default.isExecutableFile(atPath: ivpack) else {
            throw LoadError("no ivpack binary at \(ivpack): build it (swift build -c release) or give --ivpack PATH")
        }

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ivpack-failover-load-\(getpid())")
            .path
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }

        let now = Timestamp.now()
        let pki = try DevelopmentPKI.create(in: folder + "/pki", now: now - 3600)
        var text = LicenseServerConfig.developmentText(
            pkiDirectory: pki.directory, port: 0, database: folder + "/licenses.sqlite", store: storeConfig)
        text += "\nlimits: {requestTimeoutSeconds: 60}\n"
        let configPath = folder + "/server.yaml"
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)

        // Licences: one per site. Bundle i is installed at site i % sites; half the sites have one
        // seat in ten fewer than the bundles they install, so that exhausted seats are exercised
        // under concurrency from several instances: those sites must end with exactly `seats`.
        let perSite = (bundles + sites - 1) / sites
        let siteIDs = (0..<sites).map { String(format: "SITE-%03d", $0) }
        let seats = (0..<sites).map { $0 % 2 == 0 ? perSite : max(1, perSite - perSite / 10) }
        let digests = (0..<bundles).map { SHA256Digest.of(Array("bundle-\($0)".utf8)).hex }
        let seeded = try await LoadStore.seed(
            configPath: configPath, sites: siteIDs, seats: seats, digests: digests, now: now)
        print("store: \(seeded)")

        var servers: [ServerProcess] = []
        defer { for s in servers { s.stop() } }
        for i in 0..<instances {
            servers.append(try ServerProcess(ivpack: ivpack, config: configPath, name: "instance \(i + 1)"))
        }
        let urls = servers.map(\.url)
        let policy = try TrustPolicy.load(path: pki.trustPolicy)
        // Every installer knows every instance, starting at a different one so the load spreads.
        let clients = (0..<instances).map { first in
            siteIDs.map { site in
                LicenseClient(
                    options: LicenseClientOptions(
                        serverURLs: Array(urls[first...] + urls[..<first]),
                        clientCertificate: pki.installer.certificate,
                        clientKey: pki.installer.key, siteID: site, timeoutSeconds: 10, attempts: 3),
                    policy: policy)
            }
        }
        let victim = servers[0]
        nonisolated(unsafe) var killedAt: Double?
        let started = DispatchTime.now().uptimeNanoseconds
        let milestone = Milestone(threshold: killAt > 0 && killAt < 1 ? Int(Double(checks) * killAt) : -1) {
            victim.kill9()
            killedAt = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            print(String(format: "killed %@ (%@) with SIGKILL at %.2f s", victim.name, victim.url, killedAt ?? 0))
        }
        print(
            "failover load: \(checks) checks, \(concurrency) concurrent installers, \(bundles) bundles at \(sites) sites, \(instances) instances: \(urls.joined(separator: ", "))"
        )
        let results = await withTaskGroup(of: [CheckOutcome].self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var out: [CheckOutcome] = []
                    var i = worker
                    while i < checks {
                        let bundle = i % bundles
                        let site = bundle % sites
                        let client = clients[worker % instances][site]
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        let r = await client.activateWithFailover(
                            product: "PulmoScan AI", version: "V2.3.1.1024", manifestSHA256: digests[bundle])
                        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                        var outcome = CheckOutcome(
                            milliseconds: ms, site: siteIDs[site], bundle: digests[bundle], answeredBy: r.answeredBy,
                            failedOver: !r.skipped.isEmpty)
                        switch r.result {
                        case .success(let (grant, _)): outcome.activation = grant.activationID
                        case .failure(let f):
                            if f.retryable || r.answeredBy == nil {
                                outcome.error = f.description
                            } else {
                                outcome.refusal = f.code
                            }
                        }
                        out.append(outcome)
                        milestone.tick()
                        i += concurrency
                    }
                    return out
                }
            }
            var all: [CheckOutcome] = []
            for await part in group { all += part }
            return all
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let latencies = results.map(\.milliseconds).sorted()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
        let errors = results.compactMap(\.error)
        let grants = results.filter { $0.activation != nil }
        let refusals = Dictionary(grouping: results.compactMap(\.refusal), by: { $0 }).mapValues(\.count)
        print(
            String(
                format:
                    "checks %d  grants %d  refusals %d  errors %d  failed over %d  wall %.2f s  throughput %.0f checks/s",
                results.count, grants.count, refusals.values.reduce(0, +), errors.count,
                results.filter(\.failedOver).count, seconds, Double(results.count) / seconds))
        print(
            String(
                format: "latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f", percentile(0.5), percentile(0.9),
                percentile(0.99), latencies.last ?? 0))
        for (code, n) in refusals.sorted(by: { $0.key < $1.key }) { print("refusal \(code): \(n)") }
        for e in Set(errors).prefix(5) { print("error: \(e)") }
        for url in urls {
            print("answered by \(url): \(results.filter { $0.answeredBy == url }.count)")
        }

        for s in servers { s.stop() }
        let db = try await LoadStore.read(configPath: configPath)
        var problems: [String] = []
        // Each (site, bundle) is one activation; a grant names it by its number.
        var byKey: [String: Int64] = [:]
        for a in db.activations {
            let key = a.siteID + " " + a.manifestSHA256
            if byKey[key] != nil { problems.append("activation of \(key) recorded twice") }
            byKey[key] = a.id
        }
        for g in grants {
            let key = g.site + " " + g.bundle
            if byKey[key] != g.activation {
                problems.append(
                    "grant of activation \(g.activation ?? -1) for \(key): the database has \(byKey[key].map(String.init) ?? "none")"
                )
            }
        }
        for (i, site) in siteIDs.enumerated() {
            let used = db.activations.filter { $0.siteID == site }.count
            let tried = Set((0..<bundles).filter { $0 % sites == i }.filter { $0 < checks }).count
            if used > seats[i] { problems.append("\(site): \(used) activations, \(seats[i]) seats") }
            if used != min(seats[i], tried) {
                problems.append("\(site): \(used) activations, expected \(min(seats[i], tried))")
            }
        }
        if db.auditOK != db.activations.count {
            problems.append("audit: \(db.auditOK) \"ok\" activation rows, \(db.activations.count) activations")
        }
        print(
            "database: \(db.activations.count) activations, audit \(db.auditOK) ok / \(db.auditExisting) ok-existing / \(db.auditRefused) refused rows"
        )
        if let killedAt { print(String(format: "kill at %.2f s of %.2f s", killedAt, seconds)) }
        for p in problems.prefix(10) { print("problem: \(p)") }
        let ok = errors.isEmpty && problems.isEmpty
        print(
            ok
                ? "RESULT: PASS (no error; every grant recorded once; no licence over its seats; audit equals activations)"
                : "RESULT: FAIL (\(errors.count) errors, \(problems.count) problems)")
        return ok
    }
}
