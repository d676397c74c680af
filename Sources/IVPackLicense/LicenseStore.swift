import Foundation
import GRDB
import IVPack

/// A licence as the vendor issued it.
public struct License: Sendable, Equatable {
    /// Identifier, e.g. `LIC-2026-0001`.
    public var id: String
    /// The hospital site the licence is for.
    public var siteID: String
    public var product: String
    /// Lowest and highest version covered (inclusive, as a `VersionRange`).
    public var minimumVersion: String
    public var maximumVersion: String
    /// Validity, seconds since 1970.
    public var notBefore: Int64
    public var notAfter: Int64
    /// How many distinct bundles may be activated under this licence.
    public var seats: Int
    /// When revoked, the time; nil while valid.
    public var revokedAt: Int64?
    public var createdAt: Int64

    public init(
        id: String, siteID: String, product: String, minimumVersion: String, maximumVersion: String,
        notBefore: Int64, notAfter: Int64, seats: Int, revokedAt: Int64? = nil, createdAt: Int64
    ) {
        self.id = id
        self.siteID = siteID
        self.product = product
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.seats = seats
        self.revokedAt = revokedAt
        self.createdAt = createdAt
    }
}

/// One activation: a bundle installed at a site under a licence.
public struct Activation: Sendable, Equatable {
    public var id: Int64
    public var licenseID: String
    public var siteID: String
    public var manifestSHA256: String
    public var installerSubject: String
    public var installerFingerprint: String
    public var createdAt: Int64
    /// Whether this request created it (false: an earlier identical request did).
    public var isNew: Bool
}

/// A bundle the vendor released, as registered with the licence server (`ivpack license register`):
/// only registered manifest digests are activated.
public struct RegisteredRelease: Sendable, Equatable {
    /// The bundle's manifest digest, 64 lower-case hex digits.
    public var manifestSHA256: String
    public var product: String
    public var version: String
    /// When registered, seconds since 1970.
    public var registeredAt: Int64
    /// The bundle's content key wrapped to the server's escrow certificate (DER CMS
    /// AuthEnvelopedData); nil for a bundle that is not encrypted.
    public var escrowedKey: [UInt8]?
    /// The key's check value (`ContentKey.checkValue()`, 64 lower-case hex), as the manifest
    /// carries it; nil for a bundle that is not encrypted.
    public var keyCheck: String?

    public init(
        manifestSHA256: String, product: String, version: String, registeredAt: Int64, escrowedKey: [UInt8]? = nil,
        keyCheck: String? = nil
    ) {
        self.manifestSHA256 = manifestSHA256
        self.product = product
        self.version = version
        self.registeredAt = registeredAt
        self.escrowedKey = escrowedKey
        self.keyCheck = keyCheck
    }

    /// Whether the bundle is encrypted (its content key is escrowed).
    public var isEncrypted: Bool { escrowedKey != nil }
}

/// What `LicenseStore.register` did.
public enum RegistrationOutcome: Sendable, Equatable {
    /// The release is registered now.
    case registered
    /// The same release was registered before (at that time); nothing changed.
    case alreadyRegistered(at: Int64)
}

/// A store failure (the database file, the disk): environment, exit 3.
public struct LicenseStoreError: IVPackError {
    public var path: String
    public var problem: String
    /// Environment (3) for the database itself; bad input (2) for a request it cannot take.
    public var status: ExitStatus = .environment
    public var exitStatus: ExitStatus { status }
    public var description: String { "licence database \(path): \(problem)" }
}

/// Licences, activations and the audit trail in SQLite (one file, WAL mode, created on first use),
/// the default store. The schema is versioned (`PRAGMA user_version`, `LicenseSchema`); the
/// PostgreSQL store (`PostgresLicenseStore`) keeps the same tables and semantics.
public final class LicenseStore: LicenseStoring {
    let pool: DatabasePool
    public let path: String
    public var location: String { path }

    /// The migrations, numbered from 1, applied in order at open, each in one transaction that also
    /// sets `PRAGMA user_version`. Migration 1 is the schema ivpack had before versions existed
    /// (`CREATE TABLE IF NOT EXISTS`): a database of that shape has user_version 0 and its tables,
    /// and migration 1 recognises it as version 1 without changing it (adding `releases` when an
    /// even older ivpack made it).
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
                    id INTEGER PRIMARY KEY,
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
                    escrowed_key BLOB,
                    key_check TEXT,
                    registered_at BIGINT NOT NULL,
                    CHECK ((escrowed_key IS NULL) = (key_check IS NULL))
                )
                """,
                """
                CREATE TABLE IF NOT EXISTS audit (
                    id INTEGER PRIMARY KEY,
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

    /// Opens (and creates on first use) the database at `path`, applying the migrations it lacks;
    /// refuses a database whose schema is newer than this ivpack knows.
    public init(path: String) throws {
        self.path = path
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            pool = try DatabasePool(path: path, configuration: configuration)
            for migration in Self.migrations {
                // The version is read again inside each write transaction: another process
                // opening the same file at once may have applied this migration already.
                try pool.write { db in
                    let current = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                    if current > LicenseSchema.currentVersion {
                        throw LicenseSchema.tooNew(location: path, found: current)
                    }
                    guard current < migration.version else { return }
                    for statement in migration.statements { try db.execute(sql: statement) }
                    try db.execute(sql: "PRAGMA user_version = \(migration.version)")
                }
            }
        } catch let error as DatabaseError {
            throw LicenseStoreError(path: path, problem: "cannot open: \(error.message ?? "\(error.resultCode)")")
        }
    }

    /// The schema version recorded in the file (`PRAGMA user_version`).
    public func schemaVersion() throws -> Int {
        try wrap { try pool.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 } }
    }

    /// Nothing to release: GRDB closes the file when the store is freed.
    public func close() async {}

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError {
            throw LicenseStoreError(path: path, problem: error.message ?? "\(error.resultCode)")
        }
    }

    /// Adds a licence; refuses an existing ID.
    public func issue(_ license: License, actor: String) throws {
        try wrap {
            try pool.write { db in
                if try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM licenses WHERE id = ?", arguments: [license.id])
                    ?? 0 > 0
                {
                    throw LicenseStoreError(
                        path: path, problem: "a licence \(license.id) exists already; choose another ID",
                        status: .badInput)
                }
                try db.execute(
                    sql: """
                        INSERT INTO licenses (id, site_id, product, min_version, max_version, not_before, not_after, seats, revoked_at, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)
                        """,
                    arguments: [
                        license.id, license.siteID, license.product, license.minimumVersion, license.maximumVersion,
                        license.notBefore, license.notAfter, license.seats, license.createdAt,
                    ])
                try Self.audit(
                    db, at: license.createdAt, actor: actor, action: "issue", result: "ok",
                    detail:
                        "\(license.id) site=\(license.siteID) product=\(license.product) versions=\(license.minimumVersion)..\(license.maximumVersion) seats=\(license.seats)"
                )
            }
        }
    }

    /// Marks a licence revoked; returns false when there is no such licence.
    @discardableResult
    public func revoke(id: String, at time: Int64, actor: String) throws -> Bool {
        try wrap {
            try pool.write { db in
                try db.execute(
                    sql: "UPDATE licenses SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                    arguments: [time, id])
                let changed = db.changesCount > 0
                try Self.audit(
                    db, at: time, actor: actor, action: "revoke", result: changed ? "ok" : "no-change", detail: id)
                return changed
            }
        }
    }

    /// Records an offline licence file export (or a refused one) in the audit trail.
    public func recordExport(
        licenseID: String, manifestSHA256: String, notAfter: Int64?, at time: Int64, actor: String,
        refusal: String? = nil
    ) throws {
        try wrap {
            try pool.write { db in
                try Self.audit(
                    db, at: time, actor: actor, action: "export-offline", result: refusal == nil ? "ok" : "refused",
                    detail: "\(licenseID) bundle=\(manifestSHA256)"
                        + (notAfter.map { " notAfter=\(Timestamp.iso8601($0))" } ?? "")
                        + (refusal.map { " reason=\($0)" } ?? ""))
            }
        }
    }

    /// Registers a released bundle. The same release again (same digest, product, version and key
    /// check value) changes nothing and says so; the same digest with another product, version or
    /// key is refused (bad input, exit 2), naming what differs. The caller has checked the escrowed
    /// key (`ReleaseRegistrar`); the store only records it.
    @discardableResult
    public func register(_ release: RegisteredRelease, actor: String) throws -> RegistrationOutcome {
        // The refusal's audit row is committed, then the refusal thrown: thrown inside the
        // transaction, it rolled the row back (found by the PostgreSQL store's shared tests).
        try wrap {
            try pool.write { db -> Result<RegistrationOutcome, LicenseStoreError> in
                let detail =
                    "manifest=\(release.manifestSHA256) product=\(release.product) version=\(release.version) encrypted=\(release.isEncrypted)"
                if let existing = try Row.fetchOne(
                    db, sql: "SELECT * FROM releases WHERE manifest_sha256 = ?", arguments: [release.manifestSHA256]
                ).map(Self.release) {
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
                        try Self.audit(
                            db, at: release.registeredAt, actor: actor, action: "register", result: "refused",
                            detail: detail)
                        return .failure(
                            LicenseStoreError(
                                path: path,
                                problem:
                                    "manifest \(release.manifestSHA256) is registered already (at \(Timestamp.iso8601(existing.registeredAt))) with "
                                    + differences.joined(separator: "; ")
                                    + "; a manifest digest names one bundle: register the bundle that was released",
                                status: .badInput))
                    }
                    try Self.audit(
                        db, at: release.registeredAt, actor: actor, action: "register", result: "ok-existing",
                        detail: detail)
                    return .success(.alreadyRegistered(at: existing.registeredAt))
                }
                try db.execute(
                    sql: """
                        INSERT INTO releases (manifest_sha256, product, version, escrowed_key, key_check, registered_at)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        release.manifestSHA256, release.product, release.version,
                        release.escrowedKey.map { Data($0) }, release.keyCheck, release.registeredAt,
                    ])
                try Self.audit(
                    db, at: release.registeredAt, actor: actor, action: "register", result: "ok", detail: detail)
                return .success(.registered)
            }.get()
        }
    }

    /// The registered release of a manifest digest, or nil.
    public func release(manifestSHA256: String) throws -> RegisteredRelease? {
        try wrap {
            try pool.read { db in
                try Row.fetchOne(
                    db, sql: "SELECT * FROM releases WHERE manifest_sha256 = ?", arguments: [manifestSHA256]
                ).map(Self.release)
            }
        }
    }

    /// Every registered release, oldest first.
    public func releases() throws -> [RegisteredRelease] {
        try wrap {
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM releases ORDER BY registered_at, manifest_sha256").map(
                    Self.release)
            }
        }
    }

    private static func release(_ row: Row) -> RegisteredRelease {
        let key: Data? = row["escrowed_key"]
        return RegisteredRelease(
            manifestSHA256: row["manifest_sha256"], product: row["product"], version: row["version"],
            registeredAt: row["registered_at"], escrowedKey: key.map { [UInt8]($0) }, keyCheck: row["key_check"])
    }

    /// The licence `id`, or nil when there is none.
    public func license(id: String) throws -> License? {
        try wrap {
            try pool.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM licenses WHERE id = ?", arguments: [id]).map(Self.license)
            }
        }
    }

    /// Every licence, by ID.
    public func licenses() throws -> [License] {
        try wrap {
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM licenses ORDER BY id").map(Self.license)
            }
        }
    }

    /// Number of activations of a licence.
    public func activationCount(licenseID: String) throws -> Int {
        try wrap {
            try pool.read { db in
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM activations WHERE license_id = ?", arguments: [licenseID]) ?? 0
            }
        }
    }

    /// Every activation, oldest first.
    public func activations() throws -> [Activation] {
        try wrap {
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM activations ORDER BY id").map { row in
                    Activation(
                        id: row["id"], licenseID: row["license_id"], siteID: row["site_id"],
                        manifestSHA256: row["manifest_sha256"],
                        installerSubject: row["installer_subject"], installerFingerprint: row["installer_fingerprint"],
                        createdAt: row["created_at"], isNew: false)
                }
            }
        }
    }

    /// Audit lines, oldest first: (time, actor, action, result, detail).
    public func auditTrail() throws -> [(at: Int64, actor: String, action: String, result: String, detail: String)] {
        try wrap {
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY id").map {
                    ($0["at"], $0["actor"], $0["action"], $0["result"], $0["detail"])
                }
            }
        }
    }

    private static func license(_ row: Row) -> License {
        License(
            id: row["id"], siteID: row["site_id"], product: row["product"], minimumVersion: row["min_version"],
            maximumVersion: row["max_version"], notBefore: row["not_before"], notAfter: row["not_after"],
            seats: row["seats"],
            revokedAt: row["revoked_at"], createdAt: row["created_at"])
    }

    static func audit(_ db: Database, at: Int64, actor: String, action: String, result: String, detail: String) throws {
        try db.execute(
            sql: "INSERT INTO audit (at, actor, action, result, detail) VALUES (?, ?, ?, ?, ?)",
            arguments: [at, actor, action, result, detail])
    }

    /// The licence decision and activation, in one transaction: the bundle must be a registered
    /// release of this product and version (and, when it is encrypted, `installerCanReceiveKey`),
    /// checked before anything else, so that an unknown digest takes no seat; then it finds the
    /// site's licence for the product that covers the version, checks validity, revocation and
    /// seats, and records the activation once per site and bundle (a retry returns the same
    /// activation and takes no seat). A grant returns the registered release with it.
    public func activate(
        siteID: String, product: String, version: String, manifestSHA256: String,
        installerSubject: String, installerFingerprint: String, installerCanReceiveKey: Bool = true, now: Int64
    ) throws -> Result<(License, Activation, RegisteredRelease), LicenseRefusal> {
        try wrap {
            try pool.write { db -> Result<(License, Activation, RegisteredRelease), LicenseRefusal> in
                let actor = "installer \(installerSubject)"
                func refuse(_ r: LicenseRefusal, _ licenseID: String?) throws -> Result<
                    (License, Activation, RegisteredRelease), LicenseRefusal
                > {
                    try Self.audit(
                        db, at: now, actor: actor, action: "activate", result: r.rawValue,
                        detail:
                            "site=\(siteID) product=\(product) version=\(version) manifest=\(manifestSHA256)\(licenseID.map { " license=\($0)" } ?? "")"
                    )
                    return .failure(r)
                }
                // Only bundles the vendor released are activated: a random digest from a rogue or
                // broken installer is refused here, before any licence or seat is looked at.
                guard
                    let release = try Row.fetchOne(
                        db, sql: "SELECT * FROM releases WHERE manifest_sha256 = ?", arguments: [manifestSHA256]
                    ).map(Self.release)
                else { return try refuse(.unregisteredRelease, nil) }
                guard release.product == product, release.version == version else {
                    return try refuse(.releaseMismatch, nil)
                }
                if release.isEncrypted && !installerCanReceiveKey { return try refuse(.installerCannotReceiveKey, nil) }
                let forProduct = try Row.fetchAll(
                    db, sql: "SELECT * FROM licenses WHERE product = ? ORDER BY id", arguments: [product]
                ).map(Self.license)
                // Seats are counted below, once a licence is otherwise good and the bundle is not already activated.
                let judged = forProduct.map {
                    (
                        license: $0,
                        problems: $0.ineligibilities(
                            product: product, version: version, siteID: siteID, seatsInUse: nil, at: now)
                    )
                }
                let forSite = judged.filter { !$0.problems.contains { $0.refusal == .wrongSite } }
                if forSite.isEmpty { return try refuse(forProduct.isEmpty ? .noLicense : .wrongSite, nil) }
                let covering = forSite.filter { !$0.problems.contains { $0.refusal == .versionNotCovered } }
                // The most useful refusal: a covering licence's own problem, else "not covered".
                guard !covering.isEmpty else { return try refuse(.versionNotCovered, forSite.first?.license.id) }
                var lastRefusal = LicenseRefusal.noLicense
                for (license, problems) in covering {
                    if let first = problems.first {
                        lastRefusal = first.refusal
                        continue
                    }
                    if let row = try Row.fetchOne(
                        db,
                        sql: "SELECT * FROM activations WHERE license_id = ? AND site_id = ? AND manifest_sha256 = ?",
                        arguments: [license.id, siteID, manifestSHA256])
                    {
                        let existing = Activation(
                            id: row["id"], licenseID: license.id, siteID: siteID, manifestSHA256: manifestSHA256,
                            installerSubject: row["installer_subject"],
                            installerFingerprint: row["installer_fingerprint"],
                            createdAt: row["created_at"], isNew: false)
                        try Self.audit(
                            db, at: now, actor: actor, action: "activate", result: "ok-existing",
                            detail: "license=\(license.id) activation=\(existing.id) manifest=\(manifestSHA256)")
                        return .success((license, existing, release))
                    }
                    let used =
                        try Int.fetchOne(
                            db, sql: "SELECT COUNT(*) FROM activations WHERE license_id = ?", arguments: [license.id])
                        ?? 0
                    if let full = license.ineligibilities(
                        product: product, version: version, siteID: siteID, seatsInUse: used, at: now
                    ).first {
                        lastRefusal = full.refusal
                        continue
                    }
                    try db.execute(
                        sql: """
                            INSERT INTO activations (license_id, site_id, manifest_sha256, installer_subject, installer_fingerprint, created_at)
                            VALUES (?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [license.id, siteID, manifestSHA256, installerSubject, installerFingerprint, now])
                    let activation = Activation(
                        id: db.lastInsertedRowID, licenseID: license.id, siteID: siteID, manifestSHA256: manifestSHA256,
                        installerSubject: installerSubject, installerFingerprint: installerFingerprint, createdAt: now,
                        isNew: true)
                    try Self.audit(
                        db, at: now, actor: actor, action: "activate", result: "ok",
                        detail:
                            "license=\(license.id) activation=\(activation.id) manifest=\(manifestSHA256) seat=\(used + 1)/\(license.seats)"
                    )
                    return .success((license, activation, release))
                }
                return try refuse(lastRefusal, covering.first?.license.id)
            }
        }
    }
}

/// One row of the audit table, with its sequence number (the admin API's `GET /v1/admin/audit`).
public struct AuditEntry: Sendable, Equatable {
    public var id: Int64
    public var at: Int64
    public var actor: String
    public var action: String
    public var result: String
    public var detail: String
}

// Queries of the admin API (AdminAPI.swift), plain SQL as above.
extension LicenseStore {
    /// The activations of licence `licenseID`, oldest first.
    public func activations(licenseID: String) throws -> [Activation] {
        try wrap {
            try pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM activations WHERE license_id = ? ORDER BY id", arguments: [licenseID]
                ).map { row in
                    Activation(
                        id: row["id"], licenseID: row["license_id"], siteID: row["site_id"],
                        manifestSHA256: row["manifest_sha256"],
                        installerSubject: row["installer_subject"], installerFingerprint: row["installer_fingerprint"],
                        createdAt: row["created_at"], isNew: false)
                }
            }
        }
    }

    /// At most `limit` audit rows after row `afterID` (0: from the first), oldest first.
    public func auditEntries(afterID: Int64, limit: Int) throws -> [AuditEntry] {
        try wrap {
            try pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?", arguments: [afterID, limit]
                ).map {
                    AuditEntry(
                        id: $0["id"], at: $0["at"], actor: $0["actor"], action: $0["action"], result: $0["result"],
                        detail: $0["detail"])
                }
            }
        }
    }

    /// Writes one audit row on its own: an admin action that changed nothing (a read, a refusal).
    public func recordAudit(at time: Int64, actor: String, action: String, result: String, detail: String) throws {
        try wrap {
            try pool.write { db in
                try Self.audit(db, at: time, actor: actor, action: action, result: result, detail: detail)
            }
        }
    }
}
