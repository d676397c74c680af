import Foundation
import IVPack
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// Licences, releases, activations and the audit trail in PostgreSQL, shared by several
/// `ivpack license serve` instances and the operator commands. Same tables, refusal order, audit
/// rows and messages as the SQLite `LicenseStore`; ids are BIGSERIAL, the escrowed key BYTEA.
///
/// Seats stay exact under concurrency by a row lock: `activate` runs in one READ COMMITTED
/// transaction that locks the licence row (`SELECT ... FOR UPDATE`) before it looks for an
/// existing activation and counts seats, so activations under one licence queue on that row
/// while other licences proceed. Measured on this machine (2 cores, PostgreSQL 15 on loopback,
/// two store instances, 40 concurrent activations of distinct bundles against 10 seats, see
/// `PostgresStoreTests.measureRowLockAgainstSerializable`): both ways granted exactly 10 and
/// refused 30 in each of 5 runs; the row lock retried nothing (median 1.39 s), SERIALIZABLE
/// aborted and retried 185 to 246 transactions on SQLSTATE 40001 (median 2.52 s; debug build,
/// shared 2-core machine). The lock is
/// chosen: no retry loop that can run out under a burst, waiters are served in order, and a
/// refusal is decided on committed data.
public final class PostgresLicenseStore: LicenseStoring {
    /// How `activate` keeps the seat count exact (the other is kept for measurement).
    public enum ConcurrencyControl: Sendable {
        /// Lock the licence row (`FOR UPDATE`) in a READ COMMITTED transaction (the default).
        case rowLock
        /// SERIALIZABLE transactions, retried on a serialization failure (40001).
        case serializable
    }

    public let configuration: PostgresStoreConfig
    public let concurrency: ConcurrencyControl
    public var location: String { configuration.location }
    let client: PostgresClient
    private let runTask: Task<Void, Never>
    let logger: Logger
    /// Transactions retried after a serialization failure or deadlock (for measurement).
    public var retries: Int { retryCount.value }
    private let retryCount = Counter()

    /// Tries of one transaction before a serialization failure or deadlock is reported. Under
    /// SERIALIZABLE, 40 activations of one licence at once were retried 185 to 246 times in all
    /// (about 5 per request) in the measurement; 64 tries leave room for bursts. The row lock
    /// (the default) needed none.
    static let maxAttempts = 64

    /// How long one store operation (a read, or a transaction with its retries) may take before
    /// it is given up and reported as the database being unavailable (the server answers 503
    /// store-unavailable, and an installer that knows another instance asks it): the config's
    /// `store.timeoutSeconds`, 10 s by default. Without it a request waited for the pool:
    /// postgres-nio queues requests while connections cannot be made and fails them only when
    /// its circuit breaker trips, 60 s after the first failed connect (measured: with the
    /// database cut, an activation got no answer within the client's 20 s). An operation takes
    /// milliseconds (the failover load's p99, whole check, is under 1.7 s on a saturated
    /// machine); the full test suite on 2 cores once needed more than 5 s, so the default leaves room.
    public var operationDeadline: Duration { .seconds(configuration.timeoutSeconds) }

    /// A key of `pg_advisory_xact_lock` ("ivpack" in ASCII), held while migrations run, so that
    /// servers starting at once migrate one after the other.
    static let migrationLockKey: Int64 = 0x69_76_70_61_63_6b

    /// The migrations, numbered as the SQLite store's; each in one transaction, recorded in
    /// `ivpack_schema_version` (one row per applied migration).
    static let migrations: [(version: Int, statements: [String])] = [
        (
            1,
            [
                """
                CREATE TABLE IF NOT EXISTS licenses (
                    id TEXT PRIMARY KEY,
                    site_id TEXT NOT NULL,
                    product TEXT NOT NULL,
                    min_version TEXT NOT NULL,
                    max_version TEXT NOT NULL,
                    not_before BIGINT NOT NULL,
                    not_after BIGINT NOT NULL,
                    seats INTEGER NOT NULL CHECK (seats > 0),
                    revoked_at BIGINT,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE IF NOT EXISTS activations (
                    id BIGSERIAL PRIMARY KEY,
                    license_id TEXT NOT NULL REFERENCES licenses(id),
                    site_id TEXT NOT NULL,
                    manifest_sha256 TEXT NOT NULL,
                    installer_subject TEXT NOT NULL,
                    installer_fingerprint TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    UNIQUE (license_id, site_id, manifest_sha256)
                )
                """,
                """
                CREATE TABLE IF NOT EXISTS releases (
                    manifest_sha256 TEXT PRIMARY KEY,
                    product TEXT NOT NULL,
                    version TEXT NOT NULL,
                    escrowed_key BYTEA,
                    key_check TEXT,
                    registered_at BIGINT NOT NULL,
                    CHECK ((escrowed_key IS NULL) = (key_check IS NULL))
                )
                """,
                """
                CREATE TABLE IF NOT EXISTS audit (
                    id BIGSERIAL PRIMARY KEY,
                    at BIGINT NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    result TEXT NOT NULL,
                    detail TEXT NOT NULL
                )
                """,
            ]
        ),
        (2, LicenseSchema.version2),
    ]

    /// Connects, applies the migrations the database lacks (refusing a newer schema), then starts
    /// the connection pool. A connection failure names host, port, database and user (never the
    /// password): `LicenseStoreError`, exit 3.
    public init(
        configuration: PostgresStoreConfig, concurrency: ConcurrencyControl = .rowLock,
        logger: Logger = Logger(label: "ivpack.license-store")
    ) async throws {
        self.configuration = configuration
        self.concurrency = concurrency
        var quiet = logger
        // PostgresNIO logs every query at debug and pool events at info; the server logs the
        // store's failures itself.
        quiet.logLevel = .error
        self.logger = quiet
        let password = try Self.password(configuration)
        let location = configuration.location
        // One plain connection first: the pool retries a failed connect in the background, while
        // a server must say at start, by name, that its database cannot be reached.
        var single = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.user, password: password,
            database: configuration.database, tls: .disable)
        let tls = try Self.tlsConfiguration(configuration)
        if let tls { single.tls = .require(try NIOSSLContext(configuration: tls)) }
        single.options.connectTimeout = .seconds(10)
        // The name to check the certificate against and send as SNI; not an IP address (SNI
        // cannot carry one, and NIOSSL refuses it): then the certificate's IP addresses are
        // checked against the address connected to.
        let serverName = configuration.tlsMode == .verifyFull && !Self.isIPAddress(configuration.host)
        if serverName { single.options.tlsServerName = configuration.host }
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: single, id: 0, logger: quiet
            ).get()
        } catch {
            throw LicenseStoreError(
                path: location,
                problem:
                    "cannot connect to PostgreSQL at \(configuration.host):\(configuration.port) (database \(configuration.database), user \(configuration.user)): \(Self.describe(error)); "
                    + "check that the server runs and accepts this user, and store.url and store.passwordFile")
        }
        do {
            try await Self.migrate(connection, location: location, logger: quiet)
        } catch {
            try? await connection.close()
            if let e = error as? LicenseStoreError { throw e }
            throw LicenseStoreError(path: location, problem: "cannot migrate the schema: \(Self.describe(error))")
        }
        try? await connection.close()
        var pooled = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.user, password: password,
            database: configuration.database, tls: tls.map { .require($0) } ?? .disable)
        pooled.options.connectTimeout = .seconds(10)
        if serverName { pooled.options.tlsServerName = configuration.host }
        let client = PostgresClient(configuration: pooled, backgroundLogger: quiet)
        self.client = client
        // On the store's threads, as the operations: the pool's run loop makes the connections, and a
        // busy cooperative pool held it up for over 5 s in the full test suite (every PostgreSQL
        // test then met its deadline at once).
        runTask = Task(executorPreference: StoreThreads.shared) { await client.run() }
    }

    deinit { runTask.cancel() }

    /// Closes the pool's connections and waits for it.
    public func close() async {
        runTask.cancel()
        await runTask.value
    }

    private static func password(_ c: PostgresStoreConfig) throws -> String? {
        if let file = c.passwordFile {
            let bytes = try InputFile.readAll(path: file, limit: 4096)
            let text = String(decoding: bytes, as: UTF8.self)
            return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        }
        return ProcessInfo.processInfo.environment["PGPASSWORD"]
    }

    private static func tlsConfiguration(_ c: PostgresStoreConfig) throws -> TLSConfiguration? {
        switch c.tlsMode {
        case .disable: return nil
        case .require:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            return tls
        case .verifyFull:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .fullVerification
            if let ca = c.tlsCA {
                _ = try Certificate.load(file: ca)
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            }
            return tls
        }
    }

    static func migrate(_ c: PostgresConnection, location: String, logger: Logger) async throws {
        for migration in migrations {
            try await c.query("BEGIN", logger: logger)
            do {
                try await c.query("SELECT pg_advisory_xact_lock(\(migrationLockKey))", logger: logger)
                try await c.query(
                    """
                    CREATE TABLE IF NOT EXISTS ivpack_schema_version (
                        version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)
                    """, logger: logger)
                var current = 0
                for try await (v) in try await c.query(
                    "SELECT COALESCE(MAX(version), 0) FROM ivpack_schema_version", logger: logger
                ).decode(Int.self) {
                    current = v
                }
                if current > LicenseSchema.currentVersion {
                    throw LicenseSchema.tooNew(location: location, found: current)
                }
                if current < migration.version {
                    for statement in migration.statements {
                        try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await c.query(
                        "INSERT INTO ivpack_schema_version (version, applied_at) VALUES (\(migration.version), \(Timestamp.now()))",
                        logger: logger)
                }
                try await c.query("COMMIT", logger: logger)
            } catch {
                _ = try? await c.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// The schema version the database records.
    public func schemaVersion() async throws -> Int {
        try await read { c in
            try await Self.rows(c, "SELECT COALESCE(MAX(version), 0) AS v FROM ivpack_schema_version", self.logger)
                .first.map { try $0["v"].decode(Int.self) } ?? 0
        }
    }

    // MARK: Plumbing

    /// A PostgreSQL error in words: the server's message and SQLSTATE, or the client's reason.
    /// `PSQLError`'s own description hides everything on purpose; neither part carries the password.
    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let info = e.serverInfo {
                return "\(info[.message] ?? "server error") (SQLSTATE \(info[.sqlState] ?? "?"))"
            }
            return "\(e.code)" + (e.underlying.map { ": \($0)" } ?? "")
        }
        return "\(error)"
    }

    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    static func rows(_ c: PostgresConnection, _ query: PostgresQuery, _ logger: Logger) async throws
        -> [PostgresRandomAccessRow]
    {
        try await c.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    private func wrap<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as LicenseStoreError {
            throw error
        } catch {
            throw LicenseStoreError(path: location, problem: Self.describe(error))
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws
        -> T
    {
        let client = self.client
        return try await wrap {
            try await withDeadline { try await client.withConnection { c in try await body(c) } }
        }
    }

    /// `body`, or `LicenseStoreError` when it has not finished within `operationDeadline`. The
    /// body is cancelled then, and may still finish (a transaction may commit): every write here
    /// is idempotent or audited as attempted, and an activation the client did not hear of is
    /// found again by its next request (same licence, site and bundle: same activation).
    private func withDeadline<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let location = self.location
        let endpoint = "\(configuration.host):\(configuration.port)"
        let deadline = operationDeadline
        let race = DeadlineRace<T>()
        // On the store's own threads: a deadline must measure the database, not a cooperative
        // pool that other work keeps busy (the test suite blocks it at times; then both the work
        // and the timer waited, and the timer won).
        let work = Task(executorPreference: StoreThreads.shared) { try await body() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                race.start(continuation)
                let timer = Task(executorPreference: StoreThreads.shared) {
                    try await Task.sleep(for: deadline)
                    work.cancel()
                    race.finish(
                        .failure(
                            LicenseStoreError(
                                path: location,
                                problem:
                                    "PostgreSQL at \(endpoint) did not answer within \(deadline.components.seconds) s (store.timeoutSeconds); check that the database runs and is reachable"
                            )))
                }
                Task(executorPreference: StoreThreads.shared) {
                    let result = await work.result
                    timer.cancel()
                    race.finish(result)
                }
            }
        } onCancel: {
            work.cancel()
        }
    }

    /// One transaction (SERIALIZABLE when asked), retried on a serialization failure (40001),
    /// a deadlock (40P01) and, when `retryUniqueViolation`, a unique violation (23505: two
    /// identical requests inserting at once without a row lock).
    private func transaction<T: Sendable>(
        serializable: Bool = false, retryUniqueViolation: Bool = false,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let logger = self.logger
        let client = self.client
        let retryCount = self.retryCount
        return try await wrap {
            try await withDeadline {
                var attempt = 1
                while true {
                    do {
                        return try await client.withConnection { c in
                            try await c.query(
                                serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN", logger: logger)
                            do {
                                let value = try await body(c)
                                try await c.query("COMMIT", logger: logger)
                                return value
                            } catch {
                                _ = try? await c.query("ROLLBACK", logger: logger)
                                throw error
                            }
                        }
                    } catch {
                        let state = Self.sqlState(error)
                        let retryable =
                            state == "40001" || state == "40P01" || (retryUniqueViolation && state == "23505")
                        guard retryable, attempt < Self.maxAttempts else { throw error }
                        attempt += 1
                        retryCount.add()
                        // A short random pause, so that the transactions that collided do not meet again.
                        try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * min(attempt, 8)))))
                    }
                }
            }
        }
    }

    static func audit(
        _ c: PostgresConnection, _ logger: Logger, at: Int64, actor: String, action: String, result: String,
        detail: String
    ) async throws {
        try await c.query(
            "INSERT INTO audit (at, actor, action, result, detail) VALUES (\(at), \(actor), \(action), \(result), \(detail))",
            logger: logger)
    }

    static func license(_ r: PostgresRandomAccessRow) throws -> License {
        License(
            id: try r["id"].decode(String.self), siteID: try r["site_id"].decode(String.self),
            product: try r["product"].decode(String.self), minimumVersion: try r["min_version"].decode(String.self),
            maximumVersion: try r["max_version"].decode(String.self),
            notBefore: try r["not_before"].decode(Int64.self), notAfter: try r["not_after"].decode(Int64.self),
            seats: try r["seats"].decode(Int.self), revokedAt: try r["revoked_at"].decode(Int64?.self),
            createdAt: try r["created_at"].decode(Int64.self))
    }

    static func release(_ r: PostgresRandomAccessRow) throws -> RegisteredRelease {
        RegisteredRelease(
            manifestSHA256: try r["manifest_sha256"].decode(String.self), product: try r["product"].decode(String.self),
            version: try r["version"].decode(String.self), registeredAt: try r["registered_at"].decode(Int64.self),
            escrowedKey: try r["escrowed_key"].decode(Data?.self).map { [UInt8]($0) },
            keyCheck: try r["key_check"].decode(String?.self))
    }

    static func activation(_ r: PostgresRandomAccessRow) throws -> Activation {
        Activation(
            id: try r["id"].decode(Int64.self), licenseID: try r["license_id"].decode(String.self),
            siteID: try r["site_id"].decode(String.self), manifestSHA256: try r["manifest_sha256"].decode(String.self),
            installerSubject: try r["installer_subject"].decode(String.self),
            installerFingerprint: try r["installer_fingerprint"].decode(String.self),
            createdAt: try r["created_at"].decode(Int64.self), isNew: false)
    }

    // MARK: Operations (the SQLite store's, statement for statement)

    public func issue(_ license: License, actor: String) async throws {
        let logger = self.logger
        let location = self.location
        do {
            try await transaction { c in
                if try await Self.rows(c, "SELECT id FROM licenses WHERE id = \(license.id)", logger).count > 0 {
                    throw Self.duplicate(license.id, location)
                }
                try await c.query(
                    """
                    INSERT INTO licenses (id, site_id, product, min_version, max_version, not_before, not_after, seats, revoked_at, created_at)
                    VALUES (\(license.id), \(license.siteID), \(license.product), \(license.minimumVersion), \(license.maximumVersion), \(license.notBefore), \(license.notAfter), \(license.seats), NULL, \(license.createdAt))
                    """, logger: logger)
                try await Self.audit(
                    c, logger, at: license.createdAt, actor: actor, action: "issue", result: "ok",
                    detail:
                        "\(license.id) site=\(license.siteID) product=\(license.product) versions=\(license.minimumVersion)..\(license.maximumVersion) seats=\(license.seats)"
                )
            }
        } catch let error as LicenseStoreError where error.problem.contains("duplicate key") {
            // Two operators issuing the same ID at once: the second insert meets the primary key.
            throw Self.duplicate(license.id, location)
        }
    }

    private static func duplicate(_ id: String, _ location: String) -> LicenseStoreError {
        LicenseStoreError(
            path: location, problem: "a licence \(id) exists already; choose another ID", status: .badInput)
    }

    @discardableResult
    public func revoke(id: String, at time: Int64, actor: String) async throws -> Bool {
        let logger = self.logger
        return try await transaction { c in
            let changed =
                try await Self.rows(
                    c, "UPDATE licenses SET revoked_at = \(time) WHERE id = \(id) AND revoked_at IS NULL RETURNING id",
                    logger
                ).count > 0
            try await Self.audit(
                c, logger, at: time, actor: actor, action: "revoke", result: changed ? "ok" : "no-change", detail: id)
            return changed
        }
    }

    public func recordExport(
        licenseID: String, manifestSHA256: String, notAfter: Int64?, at time: Int64, actor: String, refusal: String?
    ) async throws {
        let logger = self.logger
        try await transaction { c in
            try await Self.audit(
                c, logger, at: time, actor: actor, action: "export-offline", result: refusal == nil ? "ok" : "refused",
                detail: "\(licenseID) bundle=\(manifestSHA256)"
                    + (notAfter.map { " notAfter=\(Timestamp.iso8601($0))" } ?? "")
                    + (refusal.map { " reason=\($0)" } ?? ""))
        }
    }

    @discardableResult
    public func register(_ release: RegisteredRelease, actor: String) async throws -> RegistrationOutcome {
        let logger = self.logger
        let location = self.location
        // The refusal is audited, then thrown after the commit (a throw inside would roll the row back).
        let outcome: Result<RegistrationOutcome, LicenseStoreError> = try await transaction(
            retryUniqueViolation: true
        ) { c in
            let detail =
                "manifest=\(release.manifestSHA256) product=\(release.product) version=\(release.version) encrypted=\(release.isEncrypted)"
            if let existing = try await Self.rows(
                c, "SELECT * FROM releases WHERE manifest_sha256 = \(release.manifestSHA256)", logger
            ).first.map(Self.release) {
                var differences: [String] = []
                if existing.product != release.product {
                    differences.append("product \"\(existing.product)\", not \"\(release.product)\"")
                }
                if existing.version != release.version {
                    differences.append("version \(existing.version), not \(release.version)")
                }
                if existing.keyCheck != release.keyCheck {
                    differences.append(
                        existing.isEncrypted
                            ? (release.isEncrypted
                                ? "another escrowed content key (check value \(existing.keyCheck ?? ""))"
                                : "an escrowed content key, and none is given now")
                            : "no content key, and one is given now")
                }
                guard differences.isEmpty else {
                    try await Self.audit(
                        c, logger, at: release.registeredAt, actor: actor, action: "register", result: "refused",
                        detail: detail)
                    return .failure(
                        LicenseStoreError(
                            path: location,
                            problem:
                                "manifest \(release.manifestSHA256) is registered already (at \(Timestamp.iso8601(existing.registeredAt))) with "
                                + differences.joined(separator: "; ")
                                + "; a manifest digest names one bundle: register the bundle that was released",
                            status: .badInput))
                }
                try await Self.audit(
                    c, logger, at: release.registeredAt, actor: actor, action: "register", result: "ok-existing",
                    detail: detail)
                return .success(.alreadyRegistered(at: existing.registeredAt))
            }
            try await c.query(
                """
                INSERT INTO releases (manifest_sha256, product, version, escrowed_key, key_check, registered_at)
                VALUES (\(release.manifestSHA256), \(release.product), \(release.version), \(release.escrowedKey.map { Data($0) }), \(release.keyCheck), \(release.registeredAt))
                """, logger: logger)
            try await Self.audit(
                c, logger, at: release.registeredAt, actor: actor, action: "register", result: "ok", detail: detail)
            return .success(.registered)
        }
        return try outcome.get()
    }

    public func release(manifestSHA256: String) async throws -> RegisteredRelease? {
        let logger = self.logger
        return try await read { c in
            try await Self.rows(c, "SELECT * FROM releases WHERE manifest_sha256 = \(manifestSHA256)", logger).first
                .map(Self.release)
        }
    }

    public func releases() async throws -> [RegisteredRelease] {
        let logger = self.logger
        return try await read { c in
            try await Self.rows(c, "SELECT * FROM releases ORDER BY registered_at, manifest_sha256", logger).map(
                Self.release)
        }
    }

    public func license(id: String) async throws -> License? {
        let logger = self.logger
        return try await read { c in
            try await Self.rows(c, "SELECT * FROM licenses WHERE id = \(id)", logger).first.map(Self.license)
        }
    }

    public func licenses() async throws -> [License] {
        let logger = self.logger
        return try await read { c in
            try await Self.rows(c, "SELECT * FROM licenses ORDER BY id", logger).map(Self.license)
        }
    }

    public func activationCount(licenseID: String) async throws -> Int {
        let logger = self.logger
        return try await read { c in
            try await Self.rows(c, "SELECT COUNT(*) AS n FROM activations WHERE license_id = \(licenseID)", logger)
                .first.map { try $0["n"].decode(Int.self) } ?? 0
        }
    }

    public func activations() async throws -> [Activation] {
        let logger = self.logger
        return try await read { c in
            try await Self.rows(c, "SELECT * FROM activations ORDER BY id", logger).map(Self.activation)
        }
    }

    public func auditTrail() async throws -> [LicenseAuditRow] {
        let logger = self.logger
        let rows: [AuditRowValue] = try await read { c in
            try await Self.rows(c, "SELECT * FROM audit ORDER BY id", logger).map {
                AuditRowValue(
                    at: try $0["at"].decode(Int64.self), actor: try $0["actor"].decode(String.self),
                    action: try $0["action"].decode(String.self), result: try $0["result"].decode(String.self),
                    detail: try $0["detail"].decode(String.self))
            }
        }
        return rows.map { ($0.at, $0.actor, $0.action, $0.result, $0.detail) }
    }

    public func activations(licenseID: String) async throws -> [Activation] {
        let logger = self.logger
        return try await read { c in
            try await Self.rows(c, "SELECT * FROM activations WHERE license_id = \(licenseID) ORDER BY id", logger)
                .map(Self.activation)
        }
    }

    public func auditEntries(afterID: Int64, limit: Int) async throws -> [AuditEntry] {
        let logger = self.logger
        return try await read { c in
            try await Self.rows(c, "SELECT * FROM audit WHERE id > \(afterID) ORDER BY id LIMIT \(limit)", logger).map {
                AuditEntry(
                    id: try $0["id"].decode(Int64.self), at: try $0["at"].decode(Int64.self),
                    actor: try $0["actor"].decode(String.self), action: try $0["action"].decode(String.self),
                    result: try $0["result"].decode(String.self), detail: try $0["detail"].decode(String.self))
            }
        }
    }

    public func recordAudit(at time: Int64, actor: String, action: String, result: String, detail: String)
        async throws
    {
        let logger = self.logger
        try await transaction { c in
            try await Self.audit(c, logger, at: time, actor: actor, action: action, result: result, detail: detail)
        }
    }

    /// A Sendable carrier for an audit row across the connection closure.
    private struct AuditRowValue: Sendable {
        var at: Int64
        var actor, action, result, detail: String
    }

    /// A Sendable carrier for the activation outcome across the connection closure.
    private struct Granted: Sendable {
        var license: License
        var activation: Activation
        var release: RegisteredRelease
    }

    /// As `LicenseStore.activate`, in one transaction; see the type's comment for how the seat
    /// count stays exact across servers.
    public func activate(
        siteID: String, product: String, version: String, manifestSHA256: String,
        installerSubject: String, installerFingerprint: String, installerCanReceiveKey: Bool, now: Int64
    ) async throws -> Result<(License, Activation, RegisteredRelease), LicenseRefusal> {
        let logger = self.logger
        let lock = concurrency == .rowLock
        let outcome: Result<Granted, LicenseRefusal> = try await transaction(
            serializable: !lock, retryUniqueViolation: true
        ) { c in
            let actor = "installer \(installerSubject)"
            func refuse(_ r: LicenseRefusal, _ licenseID: String?) async throws -> Result<Granted, LicenseRefusal> {
                try await Self.audit(
                    c, logger, at: now, actor: actor, action: "activate", result: r.rawValue,
                    detail:
                        "site=\(siteID) product=\(product) version=\(version) manifest=\(manifestSHA256)\(licenseID.map { " license=\($0)" } ?? "")"
                )
                return .failure(r)
            }
            // Only bundles the vendor released are activated (before any licence or seat is looked at).
            guard
                let release = try await Self.rows(
                    c, "SELECT * FROM releases WHERE manifest_sha256 = \(manifestSHA256)", logger
                ).first.map(Self.release)
            else { return try await refuse(.unregisteredRelease, nil) }
            guard release.product == product, release.version == version else {
                return try await refuse(.releaseMismatch, nil)
            }
            if release.isEncrypted && !installerCanReceiveKey {
                return try await refuse(.installerCannotReceiveKey, nil)
            }
            let forProduct = try await Self.rows(
                c, "SELECT * FROM licenses WHERE product = \(product) ORDER BY id", logger
            ).map(Self.license)
            let judged = forProduct.map {
                (
                    license: $0,
                    problems: $0.ineligibilities(
                        product: product, version: version, siteID: siteID, seatsInUse: nil, at: now)
                )
            }
            let forSite = judged.filter { !$0.problems.contains { $0.refusal == .wrongSite } }
            if forSite.isEmpty { return try await refuse(forProduct.isEmpty ? .noLicense : .wrongSite, nil) }
            let covering = forSite.filter { !$0.problems.contains { $0.refusal == .versionNotCovered } }
            guard !covering.isEmpty else {
                return try await refuse(.versionNotCovered, forSite.first?.license.id)
            }
            var lastRefusal = LicenseRefusal.noLicense
            // Licences are locked in ID order (the query's), so two transactions never wait on each other in a cycle.
            for (unlocked, problems) in covering {
                if let first = problems.first {
                    lastRefusal = first.refusal
                    continue
                }
                var license = unlocked
                if lock {
                    // The row lock: activations under this licence queue here; what follows sees every
                    // activation committed before the lock was granted (READ COMMITTED reads anew per statement).
                    guard
                        let locked = try await Self.rows(
                            c, "SELECT * FROM licenses WHERE id = \(unlocked.id) FOR UPDATE", logger
                        ).first.map(Self.license)
                    else { continue }
                    license = locked
                    if let first = license.ineligibilities(
                        product: product, version: version, siteID: siteID, seatsInUse: nil, at: now
                    ).first {
                        lastRefusal = first.refusal
                        continue
                    }
                }
                if let row = try await Self.rows(
                    c,
                    "SELECT * FROM activations WHERE license_id = \(license.id) AND site_id = \(siteID) AND manifest_sha256 = \(manifestSHA256)",
                    logger
                ).first {
                    let existing = try Self.activation(row)
                    try await Self.audit(
                        c, logger, at: now, actor: actor, action: "activate", result: "ok-existing",
                        detail: "license=\(license.id) activation=\(existing.id) manifest=\(manifestSHA256)")
                    return .success(Granted(license: license, activation: existing, release: release))
                }
                let used =
                    try await Self.rows(
                        c, "SELECT COUNT(*) AS n FROM activations WHERE license_id = \(license.id)", logger
                    ).first.map { try $0["n"].decode(Int.self) } ?? 0
                if let full = license.ineligibilities(
                    product: product, version: version, siteID: siteID, seatsInUse: used, at: now
                ).first {
                    lastRefusal = full.refusal
                    continue
                }
                let id =
                    try await Self.rows(
                        c,
                        """
                        INSERT INTO activations (license_id, site_id, manifest_sha256, installer_subject, installer_fingerprint, created_at)
                        VALUES (\(license.id), \(siteID), \(manifestSHA256), \(installerSubject), \(installerFingerprint), \(now))
                        RETURNING id
                        """, logger
                    ).first.map { try $0["id"].decode(Int64.self) } ?? 0
                let activation = Activation(
                    id: id, licenseID: license.id, siteID: siteID, manifestSHA256: manifestSHA256,
                    installerSubject: installerSubject, installerFingerprint: installerFingerprint, createdAt: now,
                    isNew: true)
                try await Self.audit(
                    c, logger, at: now, actor: actor, action: "activate", result: "ok",
                    detail:
                        "license=\(license.id) activation=\(activation.id) manifest=\(manifestSHA256) seat=\(used + 1)/\(license.seats)"
                )
                return .success(Granted(license: license, activation: activation, release: release))
            }
            return try await refuse(lastRefusal, covering.first?.license.id)
        }
        return outcome.map { ($0.license, $0.activation, $0.release) }
    }
}

/// A counter shared by concurrent tasks.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() {
        lock.lock()
        count += 1
        lock.unlock()
    }
    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}

extension PostgresLicenseStore {
    /// Whether `host` is an IPv4 or IPv6 address literal (not a name).
    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return inet_pton(AF_INET, bare, &v4) == 1 || inet_pton(AF_INET6, bare, &v6) == 1
    }
}

/// The first of an operation's result and its deadline, delivered once.
final class DeadlineRace<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?
    private var early: Result<T, any Error>?
    private var done = false

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        let ready: Result<T, any Error>? = lock.withLock {
            if let early { return early }
            self.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }

    func finish(_ result: Result<T, any Error>) {
        let waiting: CheckedContinuation<T, any Error>? = lock.withLock {
            guard !done else { return nil }
            done = true
            guard let continuation else {
                early = result
                return nil
            }
            self.continuation = nil
            return continuation
        }
        waiting?.resume(with: result)
    }
}

/// A task executor on a concurrent Dispatch queue, whose threads are not the cooperative pool's:
/// Dispatch adds a thread when its threads block, so work that blocks the pool elsewhere cannot
/// hold up what runs here (the PostgreSQL store's operations, their deadlines and its pool's run
/// loop; the tests' in-process licence servers).
public final class DispatchTaskExecutor: TaskExecutor, @unchecked Sendable {
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: label, attributes: .concurrent)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}

/// The PostgreSQL store's executor (see `DispatchTaskExecutor`).
enum StoreThreads {
    static let shared = DispatchTaskExecutor(label: "ivpack.license-store")
}
