import IVPack
import Yams

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
    /// The SQLite database file.
    public var database: String
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
                "apiVersion", "kind", "listen", "tls", "clientAuthentication", "grants", "escrow", "database", "limits",
            ],
            required: ["apiVersion", "kind", "listen", "tls", "clientAuthentication", "grants", "database"])
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
            database: resolve(try r.string(top["database"]!, "database")),
            requestTimeoutSeconds: limitsTimeout)
    }

    /// The configuration text for a development PKI made by `ivpack keys init-dev`.
    public static func developmentText(pkiDirectory: String, port: Int, database: String) -> String {
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
        database: \(database)
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
