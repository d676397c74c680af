import IVPack

/// One row of the audit trail: time, actor, action, result, detail.
public typealias LicenseAuditRow = (at: Int64, actor: String, action: String, result: String, detail: String)

/// Where licences, releases, activations and the audit trail live: SQLite (`LicenseStore`, the
/// default) or PostgreSQL (`PostgresLicenseStore`, several servers sharing one database). Both
/// keep the same tables, refusal order, audit rows and messages; the server and the operator
/// commands use a store only through this protocol.
public protocol LicenseStoring: Sendable {
    /// The database, for messages: a file path or `postgres://USER@HOST:PORT/DB` (never a password).
    var location: String { get }
    /// Adds a licence; refuses an existing ID (`LicenseStoreError`, exit 2).
    func issue(_ license: License, actor: String) async throws
    /// Marks a licence revoked; false when there is no such valid licence.
    @discardableResult func revoke(id: String, at time: Int64, actor: String) async throws -> Bool
    /// Records an offline licence file export (or a refused one) in the audit trail.
    func recordExport(
        licenseID: String, manifestSHA256: String, notAfter: Int64?, at time: Int64, actor: String, refusal: String?
    ) async throws
    /// Registers a released bundle (idempotent; the same digest as another release is refused).
    @discardableResult func register(_ release: RegisteredRelease, actor: String) async throws -> RegistrationOutcome
    /// The registered release of a manifest digest, or nil.
    func release(manifestSHA256: String) async throws -> RegisteredRelease?
    /// Every registered release, oldest first.
    func releases() async throws -> [RegisteredRelease]
    /// The licence `id`, or nil.
    func license(id: String) async throws -> License?
    /// Every licence, by ID.
    func licenses() async throws -> [License]
    /// Number of activations of a licence.
    func activationCount(licenseID: String) async throws -> Int
    /// Every activation, oldest first.
    func activations() async throws -> [Activation]
    /// The activations of licence `licenseID`, oldest first.
    func activations(licenseID: String) async throws -> [Activation]
    /// The audit trail, oldest first.
    func auditTrail() async throws -> [LicenseAuditRow]
    /// At most `limit` audit rows after row `afterID` (0: from the first), oldest first.
    func auditEntries(afterID: Int64, limit: Int) async throws -> [AuditEntry]
    /// Writes one audit row on its own: an admin action that changed nothing (a read, a refusal).
    func recordAudit(at time: Int64, actor: String, action: String, result: String, detail: String) async throws
    /// The licence decision and activation in one transaction (see `LicenseStore.activate`): the
    /// seat count stays exact when several servers share the database.
    func activate(
        siteID: String, product: String, version: String, manifestSHA256: String,
        installerSubject: String, installerFingerprint: String, installerCanReceiveKey: Bool, now: Int64
    ) async throws -> Result<(License, Activation, RegisteredRelease), LicenseRefusal>
    /// Releases connections (PostgreSQL); the store is not used afterwards.
    func close() async
}

extension LicenseStoring {
    /// `recordExport` of an export that was written (no refusal).
    public func recordExport(
        licenseID: String, manifestSHA256: String, notAfter: Int64?, at time: Int64, actor: String
    ) async throws {
        try await recordExport(
            licenseID: licenseID, manifestSHA256: manifestSHA256, notAfter: notAfter, at: time, actor: actor,
            refusal: nil)
    }

    /// `activate` by an installer that can receive an encrypted bundle's key.
    public func activate(
        siteID: String, product: String, version: String, manifestSHA256: String,
        installerSubject: String, installerFingerprint: String, now: Int64
    ) async throws -> Result<(License, Activation, RegisteredRelease), LicenseRefusal> {
        try await activate(
            siteID: siteID, product: product, version: version, manifestSHA256: manifestSHA256,
            installerSubject: installerSubject, installerFingerprint: installerFingerprint,
            installerCanReceiveKey: true, now: now)
    }
}

/// The schema versions both stores share. A migration is numbered; a database records the
/// highest it has (SQLite `PRAGMA user_version`, PostgreSQL table `ivpack_schema_version`).
public enum LicenseSchema {
    /// The highest schema version this ivpack knows (and creates).
    public static let currentVersion = 2

    /// Migration 2: the index `activate` looks licences up by (product), on both stores.
    static let version2 = ["CREATE INDEX IF NOT EXISTS licenses_product ON licenses (product)"]

    /// A database a newer ivpack migrated: this one must not write to it.
    static func tooNew(location: String, found: Int) -> LicenseStoreError {
        LicenseStoreError(
            path: location,
            problem:
                "the database schema is version \(found), and this ivpack knows versions up to \(currentVersion): "
                + "a newer ivpack migrated it; upgrade ivpack (an older one must not write to it)")
    }
}

/// Opens the store a server configuration names.
public enum LicenseStores {
    /// The configured store: SQLite (created on first use) or PostgreSQL (connected and migrated
    /// now, so that a wrong address or password is reported at start, exit 3). Close it with
    /// `close()`.
    public static func open(_ config: LicenseServerConfig) async throws -> any LicenseStoring {
        switch config.store {
        case .sqlite(let path): return try LicenseStore(path: path)
        case .postgres(let postgres): return try await PostgresLicenseStore(configuration: postgres)
        }
    }
}
