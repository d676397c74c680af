import Foundation
import IVPack
import Yams

/// Where the server keeps its licences (`store:` in the configuration; `database: FILE` is the
/// SQLite form ivpack had first and keeps working).
public enum LicenseStoreConfig: Sendable, Equatable {
    /// One SQLite file (the default; one server).
    case sqlite(path: String)
    /// A PostgreSQL database that several servers may share.
    case postgres(PostgresStoreConfig)

    /// The database for messages: the file or `postgres://USER@HOST:PORT/DB`.
    public var location: String {
        switch self {
        case .sqlite(let path): return path
        case .postgres(let p): return p.location
        }
    }
}

/// A PostgreSQL licence database: `store: {kind: postgres, url: postgres://USER@HOST:PORT/DB,
/// passwordFile: FILE, tls: {mode: disable|require|verify-full, ca: FILE}, timeoutSeconds: N}`.
public struct PostgresStoreConfig: Sendable, Equatable {
    /// How the connection is protected.
    public enum TLSMode: String, Sendable, Equatable {
        /// No TLS (a server on loopback or a private network).
        case disable
        /// TLS, the server's certificate not checked (as libpq's sslmode=require).
        case require
        /// TLS, the server's certificate checked against `ca` (or the system roots) and its name.
        case verifyFull = "verify-full"
    }
    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    /// A file holding the password (its first line); nil: `$PGPASSWORD`, else none.
    public var passwordFile: String?
    public var tlsMode: TLSMode
    /// Roots for `verify-full` (PEM); nil: the system's.
    public var tlsCA: String?
    /// How long one store operation may take before the server answers 503 store-unavailable
    /// (`PostgresLicenseStore.withDeadline`); 10 s by default, as SQLite's busy wait.
    public var timeoutSeconds: Int64

    public init(
        host: String, port: Int = 5432, user: String, database: String, passwordFile: String? = nil,
        tlsMode: TLSMode = .disable, tlsCA: String? = nil, timeoutSeconds: Int64 = 10
    ) {
        self.timeoutSeconds = timeoutSeconds
        self.host = host
        self.port = port
        self.user = user
        self.database = database
        self.passwordFile = passwordFile
        self.tlsMode = tlsMode
        self.tlsCA = tlsCA
    }

    /// `postgres://USER@HOST:PORT/DB`: what messages and logs name (never the password).
    public var location: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// Reads `postgres://USER@HOST[:PORT]/DB`. A password in the URL is refused: a configuration
    /// file is read by many and copied into tickets, so the password lives in `passwordFile`.
    /// Returns the problem as a string for the caller to place.
    public static func parse(url: String) -> Result<
        (host: String, port: Int, user: String, database: String), URLProblem
    > {
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"),
            let c = URLComponents(string: url)
        else { return .failure(.notPostgresURL) }
        if c.password != nil { return .failure(.passwordInURL) }
        guard let user = c.user, !user.isEmpty else { return .failure(.noUser) }
        guard let host = c.host, !host.isEmpty else { return .failure(.noHost) }
        let database = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        guard !database.isEmpty, !database.contains("/") else { return .failure(.noDatabase) }
        if c.query != nil || c.fragment != nil { return .failure(.parameters) }
        let port = c.port ?? 5432
        guard (1...65535).contains(port) else { return .failure(.notPostgresURL) }
        return .success((host, port, user.removingPercentEncoding ?? user, database))
    }

    /// Why a `store.url` is refused.
    public enum URLProblem: Error, Sendable, Equatable, CustomStringConvertible {
        case notPostgresURL, passwordInURL, noUser, noHost, noDatabase, parameters
        public var description: String {
            switch self {
            case .notPostgresURL: return "is not a postgres://USER@HOST:PORT/DATABASE URL"
            case .passwordInURL:
                return "holds a password; configuration files are read and copied widely, so ivpack refuses it"
            case .noUser: return "names no user (postgres://USER@HOST:PORT/DATABASE)"
            case .noHost: return "names no host (postgres://USER@HOST:PORT/DATABASE)"
            case .noDatabase: return "names no database (postgres://USER@HOST:PORT/DATABASE)"
            case .parameters: return "has URL parameters; give TLS settings under store.tls"
            }
        }
        public var hint: String {
            switch self {
            case .passwordInURL:
                return "Remove it from the URL and put it in a file named by store.passwordFile (mode 0600)"
            case .parameters: return "Remove the ?... part; use store.tls: {mode: verify-full, ca: FILE}"
            default: return "Example: postgres://ivpack@db.example.org:5432/licences"
            }
        }
    }
}

/// The licence server's configuration file (Schemas/license-server-config.schema.json). Paths are
/// relative to the file's folder.
public struct LicenseServerConfig: Sendable {
    public var file: String
    public var host: String
    public var port: Int
    /// The server's TLS identity.
    public var certificate: String
    public var key: String
    public var chain: [String]
    /// TLS 1.3 only (default), or 1.2 with forward-secret AEAD suites as the floor.
    public var allowTLS12: Bool
    /// How installers prove themselves: roots, intermediates, CRLs and revocation mode, as in a trust policy.
    public var clientRoots: [String]
    public var clientIntermediates: [String]
    public var clientCRLs: [String]
    public var revocation: RevocationMode
    /// The certificate policy OID an installer certificate must carry.
    public var installerPolicy: String
    /// The certificate policy OID a licence operator's certificate must carry for the admin API
    /// (`/v1/admin/...`); nil turns the admin API off.
    public var operatorPolicy: String?
    /// The licence-signing identity.
    public var grantCertificate: String
    public var grantKey: String
    public var grantChain: [String]
    /// Validity of an online grant, seconds.
    public var grantValiditySeconds: Int64
    /// The escrow identity (`escrow`): the certificate encrypted bundles' content keys are wrapped
    /// to, and its private key (a PEM file or a `pkcs11:` URI); nil when not configured (then no
    /// encrypted bundle can be registered).
    public var escrowCertificate: String?
    public var escrowKey: String?
    /// A file holding the PIN of a `pkcs11:` escrow key (else `$IVPACK_PKCS11_PIN`).
    public var escrowPINFile: String?
    /// The licence store (SQLite file or PostgreSQL database).
    public var store: LicenseStoreConfig
    /// The store's location for messages: the SQLite file, or `postgres://USER@HOST:PORT/DB`.
    public var database: String { store.location }
    /// Seconds a client may take to send a whole request.
    public var requestTimeoutSeconds: Int64

    /// Reads and validates a configuration file.
    public static func load(path: String) throws -> LicenseServerConfig {
        let bytes = try InputFile.readAll(path: path, limit: YAMLReader.maxBytes)
        let text = String(decoding: bytes, as: UTF8.self)
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : folder + "/" + p }
        let r = YAMLReader(file: path)
        let top = try r.mapping(
            try r.root(of: text), "",
            allowed: [
                "apiVersion", "kind", "listen", "tls", "clientAuthentication", "grants", "escrow", "database", "store",
                "limits",
            ],
            required: ["apiVersion", "kind", "listen", "tls", "clientAuthentication", "grants"])
        guard try r.string(top["apiVersion"]!, "apiVersion") == ReleaseSpec.apiVersion else {
            throw r.error(
                top["apiVersion"], "apiVersion", "is not supported",
                hint: "This ivpack reads apiVersion: \(ReleaseSpec.apiVersion)")
        }
        guard try r.string(top["kind"]!, "kind") == "LicenseServer" else {
            throw r.error(top["kind"], "kind", "must be LicenseServer")
        }
        let listen = try r.mapping(top["listen"]!, "listen", allowed: ["host", "port"], required: ["host", "port"])
        let tls = try r.mapping(
            top["tls"]!, "tls", allowed: ["certificate", "key", "chain", "minimumVersion"],
            required: ["certificate", "key"])
        var allow12 = false
        if let v = tls["minimumVersion"] {
            switch try r.string(v, "tls.minimumVersion") {
            case "1.3": allow12 = false
            case "1.2": allow12 = true
            default:
                throw r.error(
                    v, "tls.minimumVersion", "must be \"1.3\" or \"1.2\"", hint: "Older TLS versions are never allowed")
            }
        }
        let client = try r.mapping(
            top["clientAuthentication"]!, "clientAuthentication",
            allowed: ["trustedRoots", "intermediates", "crls", "revocation", "installerPolicy", "operatorPolicy"],
            required: ["trustedRoots", "installerPolicy"])
        var revocation = RevocationMode.require
        if let v = client["revocation"] {
            let t = try r.string(v, "clientAuthentication.revocation")
            guard let m = RevocationMode(rawValue: t) else {
                throw r.error(
                    v, "clientAuthentication.revocation", "unknown mode \"\(t)\"",
                    hint: "Use require, if-available or none")
            }
            revocation = m
        }
        let installerPolicy = try r.string(client["installerPolicy"]!, "clientAuthentication.installerPolicy")
        let operatorPolicy = try client["operatorPolicy"].map {
            try r.string($0, "clientAuthentication.operatorPolicy")
        }
        if let operatorPolicy, operatorPolicy == installerPolicy {
            // One OID for both roles would let every installer use the admin API.
            throw r.error(
                client["operatorPolicy"], "clientAuthentication.operatorPolicy", "is the installer policy",
                hint: "Give operators a certificate policy of their own (ivpack's: \(WellKnownOID.roleLicenseOperator))"
            )
        }
        let grants = try r.mapping(
            top["grants"]!, "grants", allowed: ["certificate", "key", "chain", "validitySeconds"],
            required: ["certificate", "key"])
        var escrowCertificate: String?
        var escrowKey: String?
        var escrowPINFile: String?
        if let e = top["escrow"] {
            let escrow = try r.mapping(
                e, "escrow", allowed: ["certificate", "key", "pinFile"], required: ["certificate", "key"])
            escrowCertificate = resolve(try r.string(escrow["certificate"]!, "escrow.certificate"))
            let key = try r.string(escrow["key"]!, "escrow.key")
            // A PKCS#11 URI is not a path: it is kept as written.
            escrowKey = SigningIdentity.KeySource.isPKCS11(key) ? key : resolve(key)
            escrowPINFile = try escrow["pinFile"].map { resolve(try r.string($0, "escrow.pinFile")) }
            if escrowPINFile != nil && !SigningIdentity.KeySource.isPKCS11(key) {
                throw r.error(
                    escrow["pinFile"], "escrow.pinFile", "is for a pkcs11: key only",
                    hint: "Remove it, or give escrow.key as a pkcs11: URI")
            }
        }
        var limitsTimeout: Int64 = 10
        if let l = top["limits"] {
            let lm = try r.mapping(l, "limits", allowed: ["requestTimeoutSeconds"])
            if let t = lm["requestTimeoutSeconds"] {
                limitsTimeout = try r.integer(t, "limits.requestTimeoutSeconds", range: 1...300)
            }
        }
        let store: LicenseStoreConfig
        switch (top["database"], top["store"]) {
        case (let d?, nil): store = .sqlite(path: resolve(try r.string(d, "database")))
        case (nil, let s?): store = try storeConfig(r, s, resolve)
        case (_?, _?):
            throw r.error(
                top["store"], "store", "and database are both given",
                hint: "database: FILE is the short form of store: {kind: sqlite, path: FILE}; keep one")
        case (nil, nil):
            throw r.error(
                nil, "store", "is missing", hint: "Add store: {kind: sqlite, path: licenses.sqlite} (or database: FILE)"
            )
        }
        func paths(_ m: [String: Node], _ key: String, _ field: String) throws -> [String] {
            try m[key].map { try r.strings($0, field, nonEmpty: false).map(resolve) } ?? []
        }
        return LicenseServerConfig(
            file: path,
            host: try r.string(listen["host"]!, "listen.host"),
            port: Int(try r.integer(listen["port"]!, "listen.port", range: 0...65535)),
            certificate: resolve(try r.string(tls["certificate"]!, "tls.certificate")),
            key: resolve(try r.string(tls["key"]!, "tls.key")),
            chain: try paths(tls, "chain", "tls.chain"),
            allowTLS12: allow12,
            clientRoots: try paths(client, "trustedRoots", "clientAuthentication.trustedRoots"),
            clientIntermediates: try paths(client, "intermediates", "clientAuthentication.intermediates"),
            clientCRLs: try paths(client, "crls", "clientAuthentication.crls"),
            revocation: revocation,
            installerPolicy: installerPolicy,
            operatorPolicy: operatorPolicy,
            grantCertificate: resolve(try r.string(grants["certificate"]!, "grants.certificate")),
            grantKey: resolve(try r.string(grants["key"]!, "grants.key")),
            grantChain: try paths(grants, "chain", "grants.chain"),
            grantValiditySeconds: try grants["validitySeconds"].map {
                try r.integer($0, "grants.validitySeconds", range: 60...86_400 * 30)
            } ?? 3600,
            escrowCertificate: escrowCertificate,
            escrowKey: escrowKey,
            escrowPINFile: escrowPINFile,
            store: store,
            requestTimeoutSeconds: limitsTimeout)
    }

    private static func storeConfig(_ r: YAMLReader, _ node: Node, _ resolve: (String) -> String) throws
        -> LicenseStoreConfig
    {
        let kindOnly = try r.mapping(
            node, "store", allowed: ["kind", "path", "url", "passwordFile", "tls", "timeoutSeconds"], required: ["kind"]
        )
        switch try r.string(kindOnly["kind"]!, "store.kind") {
        case "sqlite":
            let m = try r.mapping(node, "store", allowed: ["kind", "path"], required: ["kind", "path"])
            return .sqlite(path: resolve(try r.string(m["path"]!, "store.path")))
        case "postgres":
            let m = try r.mapping(
                node, "store", allowed: ["kind", "url", "passwordFile", "tls", "timeoutSeconds"],
                required: ["kind", "url"])
            let url = try r.string(m["url"]!, "store.url")
            let parts: (host: String, port: Int, user: String, database: String)
            switch PostgresStoreConfig.parse(url: url) {
            case .success(let p): parts = p
            case .failure(let problem): throw r.error(m["url"], "store.url", problem.description, hint: problem.hint)
            }
            var mode = PostgresStoreConfig.TLSMode.disable
            var ca: String?
            if let t = m["tls"] {
                let tls = try r.mapping(t, "store.tls", allowed: ["mode", "ca"], required: ["mode"])
                let text = try r.string(tls["mode"]!, "store.tls.mode")
                guard let parsed = PostgresStoreConfig.TLSMode(rawValue: text) else {
                    throw r.error(
                        tls["mode"], "store.tls.mode", "unknown mode \"\(text)\"",
                        hint: "Use disable, require or verify-full")
                }
                mode = parsed
                ca = try tls["ca"].map { resolve(try r.string($0, "store.tls.ca")) }
                if ca != nil && mode != .verifyFull {
                    throw r.error(
                        tls["ca"], "store.tls.ca", "is used with mode verify-full only",
                        hint: "Say mode: verify-full, or remove ca")
                }
            }
            return .postgres(
                PostgresStoreConfig(
                    host: parts.host, port: parts.port, user: parts.user, database: parts.database,
                    passwordFile: try m["passwordFile"].map { resolve(try r.string($0, "store.passwordFile")) },
                    tlsMode: mode, tlsCA: ca,
                    timeoutSeconds: try m["timeoutSeconds"].map {
                        try r.integer($0, "store.timeoutSeconds", range: 1...300)
                    } ?? 10))
        case let other:
            throw r.error(kindOnly["kind"], "store.kind", "unknown kind \"\(other)\"", hint: "Use sqlite or postgres")
        }
    }

    /// The configuration text for a development PKI made by `ivpack keys init-dev`.
    /// `store` replaces the `database:` line with a `store:` block when given (e.g. a PostgreSQL one).
    public static func developmentText(pkiDirectory: String, port: Int, database: String, store: String? = nil)
        -> String
    {
        """
        # ivpack licence server: DEVELOPMENT configuration for the PKI in \(pkiDirectory)
        apiVersion: ivpack.dev/v1
        kind: LicenseServer
        listen: {host: 127.0.0.1, port: \(port)}
        tls:
          certificate: \(pkiDirectory)/license-server/server.pem
          key: \(pkiDirectory)/license-server/server.key
          chain: [\(pkiDirectory)/intermediate-ca.pem]
          minimumVersion: "1.3"
        clientAuthentication:
          trustedRoots: [\(pkiDirectory)/root-ca.pem]
          intermediates: [\(pkiDirectory)/intermediate-ca.pem]
          crls: [\(pkiDirectory)/root-crl.pem, \(pkiDirectory)/crl.pem]
          revocation: require
          installerPolicy: "\(WellKnownOID.roleInstaller)"
          operatorPolicy: "\(WellKnownOID.roleLicenseOperator)"
        grants:
          certificate: \(pkiDirectory)/license-signing/license-signing.pem
          key: \(pkiDirectory)/license-signing/license-signing.key
          chain: [\(pkiDirectory)/intermediate-ca.pem]
          validitySeconds: 3600
        escrow:
          certificate: \(pkiDirectory)/license-escrow/escrow.pem
          key: \(pkiDirectory)/license-escrow/escrow.key
        \(store ?? "database: \(database)")
        """
    }
}

extension LicenseServerConfig {
    /// The licence-signing identity of `grants` (key, certificate, chain), for `GrantSigner`. The key
    /// file must not be encrypted: the server and `license export` run with no passphrase to give.
    public func grantSigningIdentity() throws -> SigningIdentity {
        try SigningIdentity.load(
            key: .file(path: grantKey, passphrase: nil), certificateFile: grantCertificate, chainFiles: grantChain)
    }
}
