import Foundation
import IVPack
import IVPackLicense

/// The load tests' access to the licence database the servers' configuration names: licences and
/// releases before the run, activations and audit rows after it.
enum LoadStore {
    struct Contents {
        var activations: [Activation]
        var auditOK: Int
        var auditExisting: Int
        var auditRefused: Int
    }

    /// The `store:` line for the empty PostgreSQL database of `--postgres-url` [`--password-file`].
    static func postgresStoreLine(url: String, passwordFile: String?) -> String {
        "store: {kind: postgres, url: \"\(url)\"" + (passwordFile.map { ", passwordFile: \($0)" } ?? "") + "}"
    }

    /// One licence per site with its seats, and every bundle registered; returns what it did.
    static func seed(configPath: String, sites: [String], seats: [Int], digests: [String], now: Int64) async throws
        -> String
    {
        let config = try LicenseServerConfig.load(path: configPath)
        let store = try await LicenseStores.open(config)
        do {
            for (i, site) in sites.enumerated() {
                try await store.issue(
                    License(
                        id: "LIC-\(site)", siteID: site, product: "PulmoScan AI", minimumVersion: "V2.0.0.1",
                        maximumVersion: "V2.999.999.999999", notBefore: now - 60, notAfter: now + 86_400,
                        seats: seats[i], createdAt: now), actor: "benchmark")
            }
            for digest in digests {
                try await store.register(
                    RegisteredRelease(
                        manifestSHA256: digest, product: "PulmoScan AI", version: "V2.3.1.1024", registeredAt: now),
                    actor: "benchmark")
            }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        return "\(sites.count) licences (\(seats.reduce(0, +)) seats), \(digests.count) releases in \(store.location)"
    }

    static func read(configPath: String) async throws -> Contents {
        let config = try LicenseServerConfig.load(path: configPath)
        let store = try await LicenseStores.open(config)
        let audit = try await store.auditTrail().filter { $0.action == "activate" }
        let activations = try await store.activations()
        await store.close()
        return Contents(
            activations: activations, auditOK: audit.filter { $0.result == "ok" }.count,
            auditExisting: audit.filter { $0.result == "ok-existing" }.count,
            auditRefused: audit.filter { !$0.result.hasPrefix("ok") }.count)
    }
}
