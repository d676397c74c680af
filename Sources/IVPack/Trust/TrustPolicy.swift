import Yams

/// How a certificate proves a signing role: by a certificate policy OID, a subject OU, or both
/// (when both are given, both must match).
public struct RoleRule: Sendable, Equatable {
    public var certificatePolicy: String?
    public var subjectOU: String?

    /// Whether `certificate` proves the role.
    public func matches(_ certificate: Certificate) -> Bool {
        if let oid = certificatePolicy, !certificate.certificatePolicies.contains(oid) { return false }
        if let ou = subjectOU, !certificate.subjectValues("OU").contains(ou) { return false }
        return certificatePolicy != nil || subjectOU != nil
    }
}

/// The release gate a trust policy requires (`requireGate`): a valid, passing gate attestation
/// for the manifest, of gate policy `policy`, signed by a certificate proving `role`.
public struct GateRequirement: Sendable, Equatable {
    /// The gate policy's name: a preset (`nmpa`, `semver`), or a policy file's name (its last path component).
    public var policy: String
    /// When set, the SHA-256 the gate policy file must have.
    public var policySHA256: SHA256Digest?
    /// The role whose certificate signs the attestation.
    public var role: String
    /// Whether an approver's recorded override (`sign --override-gate --reason`) stands in for a
    /// passing attestation (the check then warns); default false: an override is only evidence.
    public var allowOverride: Bool

    public init(policy: String, policySHA256: SHA256Digest? = nil, role: String, allowOverride: Bool = false) {
        self.policy = policy
        self.policySHA256 = policySHA256
        self.role = role
        self.allowOverride = allowOverride
    }

    /// Whether the gate policy named `name` (as a statement records it) with `digest` is this one.
    public func accepts(policy name: String, digest: SHA256Digest?) -> Bool {
        let last = name.split(separator: "/").last.map(String.init) ?? name
        guard name == policy || last == policy else { return false }
        if let policySHA256 { return digest == policySHA256 }
        return true
    }
}

/// How revocation is checked.
public enum RevocationMode: String, Sendable, CaseIterable {
    /// Every certificate of a chain must be covered by a current CRL from the policy.
    case require
    /// CRLs given are used; a chain element without a CRL is accepted.
    case ifAvailable = "if-available"
    /// No revocation check; every signature check says so in its evidence.
    case disabled = "none"
}

/// The site's trust policy: which roots and intermediates are trusted, which CRLs apply, which
/// signing roles are required and how a certificate proves a role, the lowest acceptable version of
/// each product, and whether development roots are accepted. Trust never comes from the bundle.
public struct TrustPolicy: Sendable {
    /// The policy file as named by the user.
    public var file: String
    /// Whether the policy knowingly trusts a development PKI. `verify` warns loudly when it does.
    public var development: Bool
    public var trustedRoots: [Certificate]
    public var intermediates: [Certificate]
    /// Roots trusted for RFC 3161 time-stamping authorities; empty means `trustedRoots`.
    public var timestampRoots: [Certificate]
    public var crls: [RevocationList]
    /// The policy's `crls` entries: where each CRL file is and where a fresh one is fetched
    /// (`ivpack trust refresh`).
    public var crlFiles: [CRLFile] = []
    public var revocation: RevocationMode
    /// How many days before a CRL's nextUpdate `verify` starts to warn (`crlWarnDays`, default 7).
    public var crlWarnDays: Int = TrustPolicy.defaultCRLWarnDays
    /// Role name → how a certificate proves it.
    public var roles: [String: RoleRule]
    public var requiredRoles: [String]
    /// The report roles (`installer`, `hospital-reviewer`, `vendor-issuer`) that must each have a valid
    /// sign-off on an IQ report for `verify-report` to pass; empty: none is required.
    public var reportRoles: [String] = []
    /// The release gate's attestation `verify` requires (`gate` check), and `sign --trust` too; nil: none.
    public var requireGate: GateRequirement?
    /// Product name → lowest acceptable version (a `VersionRange` from it: pre-releases count as their release).
    public var minimumVersions: [String: String]
    /// The least strength of every certificate judged under this policy (default and floor: 2).
    public var minimumSecurityLevel: SecurityLevel = .minimum
    /// How far a time-stamp token's time may be ahead of this machine's clock, in seconds.
    public var maxClockSkewSeconds: Int64 = RFC3161.defaultMaxClockSkewSeconds

    /// The default of `crlWarnDays`.
    public static let defaultCRLWarnDays = 7
    /// The accepted range of `crlWarnDays`: up to a year.
    public static let crlWarnDaysRange: ClosedRange<Int64> = 0...366

    /// One entry of the policy's `crls`: a CRL file (PEM or DER) and, optionally, the HTTP URL it
    /// is published at.
    public struct CRLFile: Sendable {
        /// The path as written in the policy.
        public var name: String
        /// The path resolved against the policy's folder.
        public var path: String
        /// The URL `ivpack trust refresh` fetches it from, besides the distribution points of the
        /// policy's certificates.
        public var url: String?
        /// The CRLs the file held when the policy was loaded.
        public var crls: [RevocationList]
    }

    /// The accepted range of `maxClockSkewSeconds`: up to a day.
    public static let maxClockSkewRange: ClosedRange<Int64> = 0...86_400

    /// Reads and validates a policy file; certificate and CRL paths are relative to its folder.
    /// A trust state folder (`ivpack trust init|update --state DIR`) stands for the policy of its
    /// state in force, `DIR/current/trust-policy.yaml`.
    public static func load(path: String) throws -> TrustPolicy {
        if TrustStore.isStateFolder(path) {
            let policy = TrustStore.policyPath(state: path)
            guard TrustStore.exists(policy) else {
                throw TrustUpdateError.invalidArgument(
                    problem: "\(path): the trust state in force (the root of trust) holds no trust policy yet",
                    hint: "Install the vendor's first trust update: ivpack trust update FILE --state \(path)")
            }
            return try load(path: policy)
        }
        let bytes = try InputFile.readAll(path: path, limit: YAMLReader.maxBytes)
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        return try parse(bytes: bytes, file: path, folder: folder)
    }

    /// Validates policy bytes; `file` names the policy in messages, `folder` is where relative
    /// certificate and CRL paths are taken from (the policy file's folder).
    public static func parse(bytes: [UInt8], file path: String, folder: String) throws -> TrustPolicy {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw InputError.yaml(
                file: path, line: 0, column: 0, field: "", problem: "the file is not valid UTF-8",
                hint: "Save it as UTF-8")
        }
        let reader = YAMLReader(file: path)
        let top = try reader.root(of: text)
        let m = try reader.mapping(
            top, "",
            allowed: [
                "apiVersion", "kind", "development", "trustedRoots", "intermediates", "crls",
                "timestampRoots", "revocation", "roles", "requiredRoles", "minimumVersions",
                "minimumSecurityLevel", "maxClockSkewSeconds", "reportRoles", "requireGate", "crlWarnDays",
            ],
            required: ["apiVersion", "kind", "trustedRoots", "roles", "requiredRoles"])
        guard try reader.string(m["apiVersion"]!, "apiVersion") == ReleaseSpec.apiVersion else {
            throw reader.error(
                m["apiVersion"], "apiVersion", "is not supported",
                hint: "This ivpack reads apiVersion: \(ReleaseSpec.apiVersion)")
        }
        guard try reader.string(m["kind"]!, "kind") == "TrustPolicy" else {
            throw reader.error(m["kind"], "kind", "must be TrustPolicy")
        }
        var development = false
        if let node = m["development"] {
            guard case .scalar(let s) = node, s.string == "true" || s.string == "false" else {
                throw reader.error(node, "development", "must be true or false")
            }
            development = s.string == "true"
        }
        func resolve(_ relative: String) -> String { relative.hasPrefix("/") ? relative : folder + "/" + relative }
        func certificates(_ key: String) throws -> [Certificate] {
            guard let node = m[key] else { return [] }
            var out: [Certificate] = []
            for (i, item) in try reader.sequence(node, key, nonEmpty: key == "trustedRoots").enumerated() {
                let name = try reader.string(item, "\(key)[\(i)]")
                do {
                    out += try Certificate.load(file: resolve(name))
                } catch let e as IVPackError {
                    throw reader.error(item, "\(key)[\(i)]", "cannot use \(name): \(e)")
                }
            }
            return out
        }
        let roots = try certificates("trustedRoots")
        let intermediates = try certificates("intermediates")
        let timestampRoots = try certificates("timestampRoots")
        var crls: [RevocationList] = []
        var crlFiles: [CRLFile] = []
        if let node = m["crls"] {
            for (i, item) in try reader.sequence(node, "crls", nonEmpty: false).enumerated() {
                let name: String
                var url: String?
                if case .mapping = item {
                    let entry = try reader.mapping(item, "crls[\(i)]", allowed: ["file", "url"], required: ["file"])
                    name = try reader.string(entry["file"]!, "crls[\(i)].file")
                    if let u = entry["url"] {
                        let text = try reader.string(u, "crls[\(i)].url")
                        guard text.hasPrefix("http://"), URLParts(text) != nil else {
                            throw reader.error(
                                u, "crls[\(i)].url", "\"\(text)\" is not an http:// URL",
                                hint: "CRLs are fetched over plain HTTP (they are signed); give http://HOST[:PORT]/PATH"
                            )
                        }
                        url = text
                    }
                } else {
                    name = try reader.string(item, "crls[\(i)]")
                }
                do {
                    let loaded = try RevocationList.load(file: resolve(name))
                    crls += loaded
                    crlFiles.append(CRLFile(name: name, path: resolve(name), url: url, crls: loaded))
                } catch let e as IVPackError {
                    throw reader.error(item, "crls[\(i)]", "cannot use \(name): \(e)")
                }
            }
        }
        var crlWarnDays = Self.defaultCRLWarnDays
        if let node = m["crlWarnDays"] {
            crlWarnDays = Int(try reader.integer(node, "crlWarnDays", range: Self.crlWarnDaysRange))
        }
        var revocation = RevocationMode.require
        if let node = m["revocation"] {
            let text = try reader.string(node, "revocation")
            guard let mode = RevocationMode(rawValue: text) else {
                throw reader.error(
                    node, "revocation", "unknown mode \"\(text)\"", hint: "Use one of: require, if-available, none")
            }
            revocation = mode
        }
        var roles: [String: RoleRule] = [:]
        guard case .mapping(let roleMap) = m["roles"]! else {
            throw reader.error(m["roles"], "roles", "expected a mapping of role names")
        }
        for (keyNode, value) in roleMap {
            let name = try reader.string(keyNode, "roles")
            guard SignatureEntryName.isValidRole(name) else {
                throw reader.error(
                    keyNode, "roles.\(name)", "\"\(name)\" is not a role name a signature can carry",
                    hint: "Use 1 to 32 lower-case letters, digits and '-', starting with a letter")
            }
            let rm = try reader.mapping(value, "roles.\(name)", allowed: ["certificatePolicy", "subjectOU"])
            var rule = RoleRule()
            if let n = rm["certificatePolicy"] {
                let oid = try reader.string(n, "roles.\(name).certificatePolicy")
                guard Self.isOID(oid) else {
                    throw reader.error(n, "roles.\(name).certificatePolicy", "\"\(oid)\" is not a dotted OID")
                }
                rule.certificatePolicy = oid
            }
            if let n = rm["subjectOU"] { rule.subjectOU = try reader.string(n, "roles.\(name).subjectOU") }
            guard rule.certificatePolicy != nil || rule.subjectOU != nil else {
                throw reader.error(
                    value, "roles.\(name)", "a role needs certificatePolicy or subjectOU",
                    hint: "Say how a certificate proves this role")
            }
            roles[name] = rule
        }
        let required = try reader.strings(m["requiredRoles"]!, "requiredRoles", nonEmpty: true)
        for (i, role) in required.enumerated() where roles[role] == nil {
            throw reader.error(m["requiredRoles"], "requiredRoles[\(i)]", "role \"\(role)\" is not defined under roles")
        }
        var minimums: [String: String] = [:]
        if let node = m["minimumVersions"] {
            guard case .mapping(let mm) = node else {
                throw reader.error(node, "minimumVersions", "expected a mapping of product name to version")
            }
            for (k, v) in mm {
                let product = try reader.string(k, "minimumVersions")
                let version = try reader.string(v, "minimumVersions.\(product)")
                guard ReleaseVersion(version) != nil else {
                    throw reader.error(
                        v, "minimumVersions.\(product)",
                        "\"\(version)\" is not a version of numeric fields (V2.3.1.1024, 2.3.1)")
                }
                minimums[product] = version
            }
        }
        var level = SecurityLevel.minimum
        if let node = m["minimumSecurityLevel"] {
            let value = try reader.integer(node, "minimumSecurityLevel", range: Int64.min...Int64.max)
            guard let chosen = SecurityLevel(Int(clamping: value)) else {
                throw reader.error(
                    node, "minimumSecurityLevel",
                    value < Int64(SecurityLevel.minimum.rawValue)
                        ? "\(value) is below 2, the least strength ivpack accepts (no SHA-1 signatures, RSA of 2048 bits or more, EC P-256 or stronger)"
                        : "\(value) is above 5, the highest OpenSSL security level",
                    hint: "Give 2 (the default), 3, 4 or 5; a policy may raise the level, never lower it")
            }
            level = chosen
        }
        var skew = RFC3161.defaultMaxClockSkewSeconds
        if let node = m["maxClockSkewSeconds"] {
            skew = try reader.integer(node, "maxClockSkewSeconds", range: Self.maxClockSkewRange)
        }
        var reportRoles: [String] = []
        if let node = m["reportRoles"] {
            reportRoles = try reader.strings(node, "reportRoles", nonEmpty: true)
            for (i, role) in reportRoles.enumerated() {
                guard ReportRole(rawValue: role) != nil else {
                    throw reader.error(
                        node, "reportRoles[\(i)]", "\"\(role)\" is not a report role",
                        hint: "Use installer, hospital-reviewer and vendor-issuer")
                }
                if reportRoles[..<i].contains(role) {
                    throw reader.error(node, "reportRoles[\(i)]", "role \"\(role)\" is listed twice")
                }
            }
        }
        var requireGate: GateRequirement?
        if let node = m["requireGate"] {
            let g = try reader.mapping(
                node, "requireGate", allowed: ["policy", "role", "policySHA256", "allowOverride"],
                required: ["policy", "role"])
            let name = try reader.string(g["policy"]!, "requireGate.policy")
            let role = try reader.string(g["role"]!, "requireGate.role")
            guard roles[role] != nil else {
                throw reader.error(
                    g["role"], "requireGate.role", "role \"\(role)\" is not defined under roles",
                    hint:
                        "Define how a certificate proves the gate role under roles, e.g. gate: {subjectOU: Release Gate}"
                )
            }
            var requirement = GateRequirement(policy: name, role: role)
            if let n = g["policySHA256"] {
                let hex = try reader.string(n, "requireGate.policySHA256")
                guard let digest = SHA256Digest(hex: hex) else {
                    throw reader.error(n, "requireGate.policySHA256", "\"\(hex)\" is not 64 hex digits")
                }
                requirement.policySHA256 = digest
            }
            if let n = g["allowOverride"] {
                guard case .scalar(let s) = n, s.string == "true" || s.string == "false" else {
                    throw reader.error(n, "requireGate.allowOverride", "must be true or false")
                }
                requirement.allowOverride = s.string == "true"
            }
            requireGate = requirement
        }
        var policy = TrustPolicy(
            file: path, development: development, trustedRoots: roots, intermediates: intermediates,
            timestampRoots: timestampRoots, crls: crls,
            revocation: revocation, roles: roles, requiredRoles: required, minimumVersions: minimums,
            minimumSecurityLevel: level, maxClockSkewSeconds: skew)
        policy.reportRoles = reportRoles
        policy.requireGate = requireGate
        policy.crlFiles = crlFiles
        policy.crlWarnDays = crlWarnDays
        return policy
    }

    /// A policy that trusts only `roots` to identify a TLS server (`ivpack license ... --server URL
    /// --ca FILE`): no intermediates beyond what the server sends, no CRLs (revocation if-available),
    /// no signing roles. Development roots are accepted only when every root given is one: naming
    /// the development root explicitly is the operator's choice, and a mixed file is refused by the
    /// usual development check.
    public static func serverRoots(_ roots: [Certificate], file: String) -> TrustPolicy {
        TrustPolicy(
            file: file,
            development: !roots.isEmpty && roots.allSatisfy { $0.subject.contains(WellKnownOID.developmentMarker) },
            trustedRoots: roots, intermediates: [], timestampRoots: [], crls: [], revocation: .ifAvailable, roles: [:],
            requiredRoles: [], minimumVersions: [:])
    }

    static func isOID(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count >= 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    /// How a certificate proves the report role `role`: the policy's own rule under `roles` when it
    /// defines one, else ivpack's certificate policy for that role (`ReportRole.certificatePolicy`).
    public func reportRoleRule(_ role: ReportRole) -> RoleRule {
        roles[role.rawValue] ?? RoleRule(certificatePolicy: role.certificatePolicy, subjectOU: nil)
    }

    /// The roles `certificate` proves under this policy, sorted.
    public func roles(of certificate: Certificate) -> [String] {
        roles.filter { $0.value.matches(certificate) }.map(\.key).sorted()
    }
}
