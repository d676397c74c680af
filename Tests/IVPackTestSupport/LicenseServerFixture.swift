import Foundation
import IVPack
import IVPackLicense

/// A real licence server on 127.0.0.1 (a free port), mutual TLS with the development PKI, its
/// SQLite database in a temporary folder. Stop it with `stop()`.
public final class LicenseServerFixture: @unchecked Sendable {
    public let server: LicenseServer
    public let port: Int
    public let configPath: String
    private let task: Task<Void, any Error>

    /// `edit` may change the configuration text (another server certificate, TLS 1.2, ...).
    /// `database` names another instance's database file to share (`NAME.sqlite` by default);
    /// `store` a `store:` block instead (a PostgreSQL database, `PostgresTestDatabase.storeBlock`).
    public init(
        pki: DevelopmentPKILayout, folder: TemporaryFolder, name: String = "server", database: String? = nil,
        store: String? = nil, edit: (String) -> String = { $0 }
    ) async throws {
        var text = edit(
            LicenseServerConfig.developmentText(
                pkiDirectory: pki.directory, port: 0, database: database ?? folder.url("\(name).sqlite"), store: store))
        // The server's idle timeout (10 s by default) closed connections that a loaded test process
        // had not yet used ("I/O on closed channel" in 3 tests of a clean-clone run with 4 builds
        // beside it); tests of the timeout set their own.
        if !text.contains("\nlimits:") { text += "\nlimits: {requestTimeoutSeconds: 60}\n" }
        configPath = folder.write("\(name).yaml", text)
        let config = try LicenseServerConfig.load(path: configPath)
        let server = try await LicenseServer(config: config)
        self.server = server
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        // The server's tasks prefer threads of their own. On the cooperative pool (2 threads on
        // 2 cores) it waited behind tests that block a thread: a 5 s curl timed out in clean-clone
        // CI at 471a351, and with both pool threads blocked for 8 s a health request timed out
        // (curl 28) without this preference and was answered with it.
        task = Task(executorPreference: ServerThreads.shared) {
            try await server.run(onRunning: { port in continuation.yield(port) })
        }
        var bound = 0
        for await p in stream {
            bound = p
            break
        }
        port = bound
    }

    public var url: String { "https://127.0.0.1:\(port)" }

    /// Stops the server, waits for it and closes its store.
    public func stop() async {
        task.cancel()
        _ = try? await task.value
        await server.store.close()
    }

    /// Adds a licence for `site`, covering V2.x by default, valid for a year.
    @discardableResult
    public func issue(
        id: String = "LIC-0001", site: String = "SITE-001", product: String = "PulmoScan AI",
        minimum: String = "V2.0.0.1", maximum: String = "V2.999.999.999999", seats: Int = 2,
        notBefore: Int64? = nil, notAfter: Int64? = nil
    ) async throws -> License {
        let now = Timestamp.now()
        let license = License(
            id: id, siteID: site, product: product, minimumVersion: minimum, maximumVersion: maximum,
            notBefore: notBefore ?? now - 86_400, notAfter: notAfter ?? now + 365 * 86_400, seats: seats, createdAt: now
        )
        try await server.store.issue(license, actor: "test")
        return license
    }

    /// Registers a released bundle with the server, as `ivpack license register` does: only
    /// registered manifest digests are activated. An encrypted one gives its escrowed key (wrapped
    /// to the development escrow certificate) and the key's check value.
    @discardableResult
    public func register(
        manifestSHA256: SHA256Digest, product: String = "PulmoScan AI", version: String,
        escrowedKey: [UInt8]? = nil, keyCheck: String? = nil
    ) async throws -> RegistrationOutcome {
        try await ReleaseRegistrar.register(
            manifestSHA256: manifestSHA256, product: product, version: version, escrowedKey: escrowedKey,
            keyCheck: keyCheck, escrow: try KeyEscrow.load(server.config), configPath: configPath, store: server.store,
            actor: "test", now: Timestamp.now())
    }

    /// Registers the bundle `release` built.
    @discardableResult
    public func register(_ release: SignedRelease) async throws -> RegistrationOutcome {
        try await register(manifestSHA256: release.built.manifestDigest, version: release.release.version)
    }

    /// Registers the bundle at `path` (its manifest digest, product and version).
    @discardableResult
    public func register(bundle path: String) async throws -> RegistrationOutcome {
        let reader = try BundleReader(path: path, blockSize: 16 << 10)
        return try await register(
            manifestSHA256: reader.manifestDigest, product: reader.manifest.product.name,
            version: reader.manifest.version)
    }

    /// Client options with the development installer identity (or another).
    /// Client options for a test. The timeout is generous on purpose: with every suite running
    /// at once on 2 cores, a handshake that the server refuses took over 5 s twice, and the test
    /// then saw `timeout` instead of the refusal it checks. Tests of timeouts set their own.
    public func clientOptions(
        pki: DevelopmentPKILayout, certificate: String? = nil, key: String? = nil, site: String = "SITE-001",
        attempts: Int = 1, timeout: Int64 = 20
    ) -> LicenseClientOptions {
        LicenseClientOptions(
            serverURL: url, clientCertificate: certificate ?? pki.installer.certificate,
            clientKey: key ?? pki.installer.key,
            siteID: site, timeoutSeconds: timeout, attempts: attempts)
    }
}

extension LicenseServerFixture {
    /// An admin API client with the development licence operator's identity (or another), trusting
    /// only the PKI's root for the server, as `--ca root-ca.pem` does.
    public func adminClient(pki: DevelopmentPKILayout, certificate: String? = nil, key: String? = nil) throws
        -> LicenseAdminClient
    {
        LicenseAdminClient(
            serverURL: url, clientCertificate: certificate ?? pki.licenseOperator.certificate,
            clientKey: key ?? pki.licenseOperator.key,
            policy: TrustPolicy.serverRoots(try Certificate.load(file: pki.rootCertificate), file: pki.rootCertificate),
            timeoutSeconds: 20)
    }
}

/// The in-process servers' threads, not the cooperative pool's, so that test load on the pool
/// cannot starve a server.
enum ServerThreads {
    static let shared = DispatchTaskExecutor(label: "ivpack.test.license-server")
}
