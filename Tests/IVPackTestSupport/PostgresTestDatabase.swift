import Foundation
import IVPack
import IVPackLicense
import Logging
import NIOPosix
import PostgresNIO

/// A database of its own on the test PostgreSQL server (`scripts/test-services.sh start`), with a
/// random name so that suites run in parallel; `drop()` removes it. The server comes from
/// `IVPACK_TEST_POSTGRES_URL` and `IVPACK_TEST_POSTGRES_PASSWORD`, else what test-services.sh
/// sets up. A missing server fails the test (never a skip): a green run must have run these.
public final class PostgresTestDatabase: Sendable {
    /// The store configuration for this database (its password in a file of `folder`).
    public let config: PostgresStoreConfig
    public let name: String
    let admin: PostgresStoreConfig
    let adminPassword: String?

    public static let defaultURL = "postgres://ivpack_test@127.0.0.1:5432/postgres"
    public static let defaultPassword = "ivpack-test-password"

    /// The admin connection's settings: the environment's or the defaults.
    public static func adminSettings() -> (config: PostgresStoreConfig, password: String?) {
        let env = ProcessInfo.processInfo.environment
        let url = env["IVPACK_TEST_POSTGRES_URL"] ?? defaultURL
        guard case .success(let p) = PostgresStoreConfig.parse(url: url) else {
            fatalError("IVPACK_TEST_POSTGRES_URL \(url) is not postgres://USER@HOST:PORT/DB")
        }
        return (
            PostgresStoreConfig(host: p.host, port: p.port, user: p.user, database: p.database),
            env["IVPACK_TEST_POSTGRES_PASSWORD"] ?? defaultPassword
        )
    }

    /// Creates the database. Throws "PostgreSQL is not running: run scripts/test-services.sh start"
    /// when the server cannot be reached.
    public init(folder: TemporaryFolder) async throws {
        let (admin, password) = Self.adminSettings()
        self.admin = admin
        adminPassword = password
        let name = "ivpack_test_" + (0..<12).map { _ in String("0123456789abcdef".randomElement()!) }.joined()
        self.name = name
        try await Self.onAdmin(admin, password) { c, logger in
            try await c.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        let passwordFile = folder.write("postgres-password-\(name)", (password ?? "") + "\n", mode: 0o600)
        config = PostgresStoreConfig(
            host: admin.host, port: admin.port, user: admin.user, database: name, passwordFile: passwordFile)
    }

    /// The `store:` block of a server configuration for this database.
    public var storeBlock: String {
        "store: {kind: postgres, url: \"\(config.location)\", passwordFile: \(config.passwordFile!)}"
    }

    /// The `store:` block for this database reached through another port of 127.0.0.1 (a proxy),
    /// with a store operation deadline of `timeoutSeconds`.
    public func storeBlock(throughPort port: Int, timeoutSeconds: Int = 10) -> String {
        "store: {kind: postgres, url: \"postgres://\(config.user)@127.0.0.1:\(port)/\(config.database)\", passwordFile: \(config.passwordFile!), timeoutSeconds: \(timeoutSeconds)}"
    }

    /// The server's port.
    public var serverPort: Int { config.port }

    /// Drops the database (and any connection still open to it).
    public func drop() async {
        let name = self.name
        _ = try? await Self.onAdmin(admin, adminPassword) { c, logger in
            try await c.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
        }
    }

    /// Runs SQL as the test role on this database (to set up a schema version, say).
    public func execute(_ sql: String) async throws {
        var onThis = admin
        onThis.database = name
        try await Self.onAdmin(onThis, adminPassword) { c, logger in
            try await c.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    /// The test server's TLS CA (scripts/test-services.sh makes it), from
    /// `IVPACK_TEST_POSTGRES_CA` or its default place.
    public static var tlsCA: String {
        ProcessInfo.processInfo.environment["IVPACK_TEST_POSTGRES_CA"]
            ?? "/var/lib/postgresql/ivpack-test-tls/ca.pem"
    }

    /// The connections open to this database now, with and without TLS, as the server sees them
    /// (`pg_stat_ssl`): proof of what a client negotiated.
    public func connections() async throws -> (tls: Int, plain: Int) {
        let name = self.name
        return try await Self.onAdmin(admin, adminPassword) { c, logger in
            let rows = try await c.query(
                PostgresQuery(
                    unsafeSQL:
                        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid WHERE a.datname = '\(name)'"
                ), logger: logger
            ).collect()
            var tls = 0
            var plain = 0
            for row in rows {
                if try row.decode(Bool.self) { tls += 1 } else { plain += 1 }
            }
            return (tls, plain)
        }
    }

    @discardableResult
    static func onAdmin<T>(
        _ admin: PostgresStoreConfig, _ password: String?,
        _ body: (PostgresConnection, Logger) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "ivpack.test.postgres")
        logger.logLevel = .error
        let configuration = PostgresConnection.Configuration(
            host: admin.host, port: admin.port, username: admin.user, password: password, database: admin.database,
            tls: .disable)
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1, logger: logger
            ).get()
        } catch {
            throw PostgresTestServerMissing(url: admin.location, reason: String(reflecting: error))
        }
        do {
            let value = try await body(connection, logger)
            try? await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

/// The test server cannot be reached: a failure that says how to start it.
public struct PostgresTestServerMissing: Error, CustomStringConvertible {
    public var url: String
    public var reason: String
    public var description: String {
        "PostgreSQL is not running: run scripts/test-services.sh start (\(url): \(reason.prefix(300)))"
    }
}
