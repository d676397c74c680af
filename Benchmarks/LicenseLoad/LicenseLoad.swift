import Foundation
import IVPack
import IVPackLicense

// Load benchmark of the licence server: servers on 127.0.0.1, many concurrent installers.
//   swift run -c release license-load [--checks N] [--concurrency C] [--bundles B] [--instances I]
//     [--postgres-url postgres://USER@HOST:PORT/EMPTY_DB [--password-file FILE]]
// With --postgres-url the servers share that (empty) PostgreSQL database, 2 instances by default;
// installers are spread over the instances.
//   license-load --processes [--instances 2] [--kill-at 0.5] [--store-config FILE] ...
// runs the instances as `ivpack license serve` processes and kills one with SIGKILL halfway
// (the fault test of issue 20; see FailoverLoad.swift).
// Prints throughput and latency percentiles, then checks the database: every distinct
// (site, bundle) activated exactly once, nothing lost, nothing counted twice.

@main
struct LicenseLoad {
    static func argument(_ name: String, _ fallback: Int) -> Int {
        let args = CommandLine.arguments
        if let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) { return v }
        return fallback
    }

    static func option(_ name: String) -> String? {
        let args = CommandLine.arguments
        if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
        return nil
    }

    static func main() async throws {
        // --processes: `ivpack license serve` processes and a SIGKILL halfway (FailoverLoad.swift).
        if CommandLine.arguments.contains("--processes") {
            exit(try await FailoverLoad.run(arguments: Array(CommandLine.arguments.dropFirst())) ? 0 : 1)
        }

        let checks = argument("--checks", 10_000)
        let concurrency = argument("--concurrency", 200)
        let bundles = argument("--bundles", 2_000)
        let postgresURL = option("--postgres-url")
        let passwordFile = option("--password-file")
        let instances = argument("--instances", postgresURL == nil ? 1 : 2)

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ivpack-license-load-\(getpid())")
            .path
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }

        let now = Timestamp.now()
        let pki = try DevelopmentPKI.create(in: folder + "/pki", now: now - 3600)
        let configPath = folder + "/server.yaml"
        try LicenseServerConfig.developmentText(
            pkiDirectory: pki.directory, port: 0, database: folder + "/licenses.sqlite",
            store: postgresURL.map { LoadStore.postgresStoreLine(url: $0, passwordFile: passwordFile) }
        )
        .write(toFile: configPath, atomically: true, encoding: .utf8)
        let config = try LicenseServerConfig.load(path: configPath)
        var servers: [LicenseServer] = []
        for _ in 0..<max(1, instances) { servers.append(try await LicenseServer(config: config)) }
        let server = servers[0]
        try await server.store.issue(
            License(
                id: "LIC-LOAD", siteID: "SITE-LOAD", product: "PulmoScan AI", minimumVersion: "V2.0.0.1",
                maximumVersion: "V2.999.999.999999", notBefore: now - 60, notAfter: now + 86_400, seats: bundles,
                createdAt: now), actor: "benchmark")
        // Only registered releases are activated: register every bundle the installers name.
        for i in 0..<bundles {
            try await server.store.register(
                RegisteredRelease(
                    manifestSHA256: SHA256Digest.of(Array("bundle-\(i)".utf8)).hex, product: "PulmoScan AI",
                    version: "V2.3.1.1024", registeredAt: now), actor: "benchmark")
        }
        var serverTasks: [Task<Void, any Error>] = []
        var ports: [Int] = []
        for instance in servers {
            let (stream, continuation) = AsyncStream<Int>.makeStream()
            serverTasks.append(Task { try await instance.run(onRunning: { continuation.yield($0) }) })
            for await p in stream {
                ports.append(p)
                break
            }
        }

        let policy = try TrustPolicy.load(path: pki.trustPolicy)
        let clients = ports.map { port in
            LicenseClient(
                options: LicenseClientOptions(
                    serverURL: "https://127.0.0.1:\(port)", clientCertificate: pki.installer.certificate,
                    clientKey: pki.installer.key, siteID: "SITE-LOAD", timeoutSeconds: 30, attempts: 1),
                policy: policy)
        }
        let digests = (0..<bundles).map { SHA256Digest.of(Array("bundle-\($0)".utf8)).hex }

        print(
            "licence server load: \(checks) checks, \(concurrency) concurrent installers, \(bundles) distinct bundles, \(ports.count) server(s) on 127.0.0.1:\(ports.map(String.init).joined(separator: ",")), store \(config.database)"
        )
        let started = DispatchTime.now().uptimeNanoseconds
        let results = await withTaskGroup(of: [(Double, String?)].self) { group in
            for worker in 0..<concurrency {
                let client = clients[worker % clients.count]
                group.addTask {
                    var out: [(Double, String?)] = []
                    var i = worker
                    while i < checks {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        let r = await client.activate(
                            product: "PulmoScan AI", version: "V2.3.1.1024", manifestSHA256: digests[i % bundles])
                        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                        switch r {
                        case .success: out.append((ms, nil))
                        case .failure(let f): out.append((ms, f.description))
                        }
                        i += concurrency
                    }
                    return out
                }
            }
            var all: [(Double, String?)] = []
            for await part in group { all += part }
            return all
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let latencies = results.map(\.0).sorted()
        let errors = results.compactMap(\.1)
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
        print(
            String(
                format: "checks %d  errors %d  wall %.2f s  throughput %.0f checks/s", results.count, errors.count,
                seconds, Double(results.count) / seconds))
        print(
            String(
                format: "latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f", percentile(0.5), percentile(0.9),
                percentile(0.99), latencies.last ?? 0))
        for e in Set(errors).prefix(5) { print("error: \(e)") }

        let activations = try await server.store.activations()
        let distinct = Set(activations.map(\.manifestSHA256)).count
        let expected = min(bundles, checks)
        let seatsUsed = try await server.store.activationCount(licenseID: "LIC-LOAD")
        print(
            "database: \(activations.count) activations, \(distinct) distinct bundles (expected \(expected)); licence seats used \(seatsUsed)"
        )
        for task in serverTasks {
            task.cancel()
            _ = try? await task.value
        }
        for instance in servers { await instance.store.close() }
        let ok = errors.isEmpty && activations.count == expected && distinct == expected
        print(ok ? "RESULT: PASS (no error, no activation lost or counted twice)" : "RESULT: FAIL")
        exit(ok ? 0 : 1)

    }
}
