import Foundation

/// Why a trust update or a site's trust state was refused, or could not be made. Each case says
/// which file, what was expected and what to do; none carries key material.
public enum TrustUpdateError: IVPackError, Equatable {
    /// A trust update or state file that does not parse or breaks its schema.
    case malformed(file: String, problem: String)
    /// A command-line value or vendor-side input that cannot make a trust update.
    case invalidArgument(problem: String, hint: String)
    /// The state folder holds no trust state yet.
    case notInitialised(state: String)
    /// `trust init` on a folder that holds a trust state already.
    case alreadyInitialised(state: String)
    /// Fewer valid signatures by distinct trusted update keys than the threshold. `keySet` names
    /// whose keys were counted (the installed state's, or the update's own next keys).
    case underThreshold(file: String, counted: Int, threshold: Int, keySet: String, details: [String])
    /// The update's version is not above the installed one (replay, rollback or freeze).
    case notNewer(file: String, version: Int64, installed: Int64, state: String)
    /// The update's expiry is past.
    case expired(file: String, version: Int64, expires: Int64, now: Int64)
    /// The update is authentic but its trust policy cannot be used.
    case unusablePolicy(file: String, problem: String)

    public var exitStatus: ExitStatus {
        switch self {
        case .malformed, .invalidArgument, .notInitialised, .alreadyInitialised, .unusablePolicy: return .badInput
        case .underThreshold, .notNewer, .expired: return .checkFailed
        }
    }

    public var description: String {
        switch self {
        case .malformed(let file, let problem):
            return
                "\(file): \(problem). Ask the vendor for the update again; it must be the file `ivpack trust bundle` "
                + "wrote (Schemas/trust-update.schema.json)"
        case .invalidArgument(let problem, let hint):
            return hint.isEmpty ? problem : "\(problem). \(hint)"
        case .notInitialised(let state):
            return "\(state): holds no trust state (no \(TrustStore.currentName)/\(TrustStore.stateFileName)). "
                + "Set up the root of trust first: ivpack trust init --state \(state) --update-key KEY.pem ... "
                + "--threshold M, with the update-key certificates the vendor gave you out of band"
        case .alreadyInitialised(let state):
            return "\(state): already holds a trust state; it is never overwritten. Install updates with "
                + "ivpack trust update FILE --state \(state), or give an empty folder"
        case .underThreshold(let file, let counted, let threshold, let keySet, let details):
            let list = details.isEmpty ? "" : ": " + details.joined(separator: "; ")
            return "\(file): signed by \(counted) of the \(threshold) \(keySet) required\(list). Refused: nothing "
                + "was installed. Have \(threshold - counted) more holder(s) of those keys sign it "
                + "(ivpack trust cosign), and if it should have been enough, the file was altered or signed by "
                + "keys that are no longer trusted: ask the vendor for a fresh copy"
        case .notNewer(let file, let version, let installed, let state):
            if version == installed {
                return "\(file): trust update version \(version) is already installed in \(state). Refused: "
                    + "an update is installed once; a new one must carry a version above \(installed)"
            }
            return "\(file): trust update version \(version) is older than version \(installed) installed in "
                + "\(state). Refused as a rollback: an older trust update may restore revoked keys. Ask the "
                + "vendor for the current update (a version above \(installed))"
        case .expired(let file, let version, let expires, let now):
            return "\(file): trust update version \(version) expired at \(Timestamp.iso8601(expires)) "
                + "(now \(Timestamp.iso8601(now))). Refused: an expired update is never installed, so a "
                + "withheld or stale update cannot be replayed. Ask the vendor for a fresh update"
        case .unusablePolicy(let file, let problem):
            return "\(file): its trust policy cannot be used: \(problem). Nothing was installed; report it to "
                + "the vendor, who must issue a corrected update with a higher version"
        }
    }
}

/// The signed content of a trust update: the site's complete trust material (a trust policy and
/// the PEM files it names), a version that only ever grows, an expiry, and the update keys with
/// their threshold that the site trusts for the NEXT update (TUF-style rotation). Canonical JSON;
/// Schemas/trust-update-payload.schema.json.
public struct TrustUpdatePayload: Sendable {
    /// The payload's `kind`.
    public static let kind = "TrustUpdate"
    /// The file every update carries: the policy `verify --trust` reads.
    public static let policyFileName = "trust-policy.yaml"
    /// Largest payload read (certificates and CRLs of one site).
    public static let maxBytes = 4 << 20
    /// Most files one update carries.
    public static let maxFiles = 64
    /// Most update keys one update names.
    public static let maxKeys = 16
    /// Largest file carried, in bytes.
    public static let maxFileBytes = 2 << 20
    /// Highest version accepted (fits JSON numbers exactly).
    public static let maxVersion: Int64 = 1 << 52

    /// One file of the trust material: a plain name (no folder) and its UTF-8 text (PEM or YAML).
    public struct File: Sendable, Equatable {
        public var name: String
        public var content: String

        public init(name: String, content: String) {
            self.name = name
            self.content = content
        }
    }

    /// Grows by at least one with every update; the site refuses any version not above its own.
    public var version: Int64
    /// When the vendor made it, seconds since 1970.
    public var issued: Int64
    /// After this, seconds since 1970, the update is refused.
    public var expires: Int64
    /// The trust material; one of them is `trust-policy.yaml`.
    public var files: [File]
    /// How many of `updateKeys` must sign the next update.
    public var threshold: Int
    /// The certificates of the keys trusted to sign the next update.
    public var updateKeys: [Certificate]

    public init(
        version: Int64, issued: Int64, expires: Int64, files: [File], threshold: Int, updateKeys: [Certificate]
    ) {
        self.version = version
        self.issued = issued
        self.expires = expires
        self.files = files
        self.threshold = threshold
        self.updateKeys = updateKeys
    }

    /// The canonical JSON bytes: what every update key signs.
    public var bytes: [UInt8] {
        CanonicalJSON.encode(
            .object([
                ("apiVersion", .string(ReleaseSpec.apiVersion)), ("kind", .string(Self.kind)),
                ("version", .integer(version)), ("issued", .string(Timestamp.iso8601(issued))),
                ("expires", .string(Timestamp.iso8601(expires))),
                (
                    "files",
                    .array(files.map { .object([("name", .string($0.name)), ("content", .string($0.content))]) })
                ),
                ("updateKeys", UpdateKeySet.json(threshold: threshold, keys: updateKeys)),
            ]))
    }

    /// Whether `name` may name a file of the trust material: 1 to 64 of a-z, 0-9, '.', '_', '-',
    /// starting with a letter or digit, no "..", and not a name the trust state keeps for itself.
    public static func isPlainFileName(_ name: String) -> Bool {
        guard (1...64).contains(name.utf8.count), let first = name.utf8.first,
            (first >= 0x61 && first <= 0x7A) || (first >= 0x30 && first <= 0x39), !name.contains("..")
        else { return false }
        guard name != TrustStore.stateFileName, name != TrustStore.updateFileName else { return false }
        return name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7A) || c == UInt8(ascii: ".") || c == UInt8(ascii: "_")
                || c == UInt8(ascii: "-")
        }
    }

    /// Reads payload bytes strictly (unknown members refused); `file` names the update in errors.
    public static func parse(_ bytes: [UInt8], file: String) throws(TrustUpdateError) -> TrustUpdatePayload {
        let m = try StrictObject.read(
            bytes, file: file, what: "payload", maxBytes: maxBytes, maxString: maxFileBytes,
            allowed: ["apiVersion", "kind", "version", "issued", "expires", "files", "updateKeys"])
        try m.expect("apiVersion", ReleaseSpec.apiVersion)
        try m.expect("kind", kind)
        guard let version = m["version"]?.int64Value, (1...maxVersion).contains(version) else {
            throw m.error("version must be an integer from 1 to \(maxVersion)")
        }
        let issued = try m.time("issued")
        let expires = try m.time("expires")
        guard expires > issued else { throw m.error("expires must be after issued") }
        guard let fileNodes = m["files"]?.arrayValue, (1...maxFiles).contains(fileNodes.count) else {
            throw m.error("files must be an array of 1 to \(maxFiles) files")
        }
        var files: [File] = []
        for (i, node) in fileNodes.enumerated() {
            guard let members = node.objectValue, members.count == 2, let name = node["name"]?.stringValue,
                let content = node["content"]?.stringValue
            else { throw m.error("files[\(i)] must be {name, content}, both strings") }
            guard isPlainFileName(name) else {
                throw m.error("files[\(i)].name \"\(name)\" is not a plain file name (a-z, 0-9, '.', '_', '-')")
            }
            guard !files.contains(where: { $0.name == name }) else { throw m.error("files[\(i)]: \(name) twice") }
            files.append(File(name: name, content: content))
        }
        guard files.contains(where: { $0.name == policyFileName }) else {
            throw m.error("files holds no \(policyFileName)")
        }
        let keys = try UpdateKeySet.parse(m["updateKeys"], file: file, field: "updateKeys")
        return TrustUpdatePayload(
            version: version, issued: issued, expires: expires, files: files, threshold: keys.threshold,
            updateKeys: keys.keys)
    }
}

/// A threshold and the update-key certificates it counts, as payloads and states carry them:
/// `{"threshold": M, "certificates": [PEM, ...]}`.
enum UpdateKeySet {
    static func json(threshold: Int, keys: [Certificate]) -> JSONValue {
        .object([("threshold", .integer(threshold)), ("certificates", .array(keys.map { .string($0.pem) }))])
    }

    /// Checks a key set: 1 to `maxKeys` distinct certificates proving the trust-update role, a
    /// threshold from 1 to their number. `where` names the set in messages.
    static func check(threshold: Int, keys: [Certificate], where place: String) throws(TrustUpdateError) {
        guard (1...TrustUpdatePayload.maxKeys).contains(keys.count) else {
            throw .invalidArgument(
                problem: "\(place): \(keys.count) update keys; give 1 to \(TrustUpdatePayload.maxKeys)",
                hint: "Name at least as many update keys as the threshold")
        }
        guard (1...keys.count).contains(threshold) else {
            throw .invalidArgument(
                problem: "\(place): a threshold of \(threshold) with \(keys.count) update keys",
                hint: "Give a threshold from 1 to the number of keys (2 of 3 is a common choice)")
        }
        var seen = Set<SHA256Digest>()
        for key in keys {
            // By public key, not certificate: two certificates of one key must not count twice.
            guard seen.insert(key.publicKeyFingerprint).inserted else {
                throw .invalidArgument(
                    problem: "\(place): the update key of \"\(key.subject)\" is named twice (the same public key)",
                    hint: "Each key counts once towards the threshold; name distinct keys")
            }
            guard key.certificatePolicies.contains(WellKnownOID.roleTrustUpdate) else {
                throw .invalidArgument(
                    problem:
                        "\(place): certificate \"\(key.subject)\" does not prove the trust-update role (certificate policy \(WellKnownOID.roleTrustUpdate))",
                    hint: "Use certificates issued for update keys (ivpack keys csr --role trust-update)")
            }
            guard !key.isCA else {
                throw .invalidArgument(
                    problem: "\(place): certificate \"\(key.subject)\" is a CA certificate",
                    hint: "An update key is an end-entity certificate")
            }
        }
    }

    static func parse(_ node: JSONValue?, file: String, field: String) throws(TrustUpdateError) -> (
        threshold: Int, keys: [Certificate]
    ) {
        guard let node, let members = node.objectValue, members.count == 2,
            let threshold = node["threshold"]?.int64Value, let pems = node["certificates"]?.arrayValue
        else { throw .malformed(file: file, problem: "\(field) must be {threshold, certificates}") }
        var keys: [Certificate] = []
        for (i, pem) in pems.enumerated() {
            guard let text = pem.stringValue,
                let loaded = try? Certificate.loadPEM(Array(text.utf8), source: "\(field).certificates[\(i)]"),
                loaded.count == 1
            else {
                throw .malformed(file: file, problem: "\(field).certificates[\(i)] is not one PEM certificate")
            }
            keys.append(loaded[0])
        }
        do {
            try check(threshold: Int(clamping: threshold), keys: keys, where: field)
        } catch {
            throw .malformed(file: file, problem: error.description)
        }
        return (Int(threshold), keys)
    }
}

/// One signature of a trust update as the site judged it.
public struct UpdateSignatureCheck: Sendable, Equatable {
    /// What the signature counts for.
    public enum Outcome: Sendable, Equatable {
        /// Valid, by a trusted update key not counted before.
        case counted
        /// Valid, by a key already counted: a key counts once.
        case duplicate
        /// By a key the counting set does not hold (removed by an earlier update, or never trusted).
        case unknownKey
        /// The signature does not verify over the payload (the file was altered), or is malformed.
        case invalid(String)
        /// Signed outside the signer certificate's validity.
        case outsideValidity(String)
    }

    /// Position in the update's `signatures`, from 1.
    public var index: Int
    /// The signer certificate's subject, or "unknown signer".
    public var signer: String
    /// SHA-256 of the signer certificate (its key id), when known.
    public var keyID: SHA256Digest?
    public var outcome: Outcome

    /// One line for messages.
    public var line: String {
        let who = "signature \(index) by \"\(signer)\"" + (keyID.map { " (key \($0.hex.prefix(16))…)" } ?? "")
        switch outcome {
        case .counted: return "\(who): valid"
        case .duplicate: return "\(who): the same key again, counted once"
        case .unknownKey: return "\(who): not one of these update keys (removed by an earlier update, or never trusted)"
        case .invalid(let why): return "\(who): does not verify (\(why))"
        case .outsideValidity(let why): return "\(who): \(why)"
        }
    }
}

/// A trust update as shipped: the payload bytes exactly as signed (base64) and one detached CMS
/// SignedData per update key over those bytes. Canonical JSON; Schemas/trust-update.schema.json.
///
/// Detached signatures over the same bytes, rather than one document with several signers, let
/// each key holder sign alone, at their own time and place (`ivpack trust cosign`), without
/// rewriting what others signed; each signature stays checkable with `openssl cms -verify`.
public struct SignedTrustUpdate: Sendable {
    /// The envelope's `kind`.
    public static let kind = "SignedTrustUpdate"
    /// Largest update file read.
    public static let maxBytes = 8 << 20
    /// Most signatures one update carries.
    public static let maxSignatures = 16

    /// The payload's bytes, exactly as signed.
    public let payloadBytes: [UInt8]
    public let signatures: [SignedData]

    public init(payloadBytes: [UInt8], signatures: [SignedData]) {
        self.payloadBytes = payloadBytes
        self.signatures = signatures
    }

    /// The file's canonical JSON bytes.
    public var bytes: [UInt8] {
        CanonicalJSON.encode(
            .object([
                ("apiVersion", .string(ReleaseSpec.apiVersion)), ("kind", .string(Self.kind)),
                ("payload", .string(Data(payloadBytes).base64EncodedString())),
                (
                    "signatures",
                    .array(
                        signatures.map { s in
                            .object([
                                ("keyid", .string(s.signerCertificate?.fingerprint.hex ?? "")),
                                ("cms", .string(Data(s.der).base64EncodedString())),
                            ])
                        })
                ),
            ]))
    }

    /// Signs `payload` with every identity of `signers` (each must prove the trust-update role).
    public static func make(payload: TrustUpdatePayload, signers: [SigningIdentity]) throws -> SignedTrustUpdate {
        var update = SignedTrustUpdate(payloadBytes: payload.bytes, signatures: [])
        for signer in signers { update = try update.adding(signatureBy: signer) }
        return update
    }

    /// This update with one more signature, by `identity`, over the same payload bytes.
    public func adding(signatureBy identity: SigningIdentity) throws -> SignedTrustUpdate {
        let certificate = identity.certificate
        try UpdateKeySet.check(threshold: 1, keys: [certificate], where: "the signing certificate")
        if signatures.contains(where: { $0.signerCertificate?.sameCertificate(as: certificate) == true }) {
            throw TrustUpdateError.invalidArgument(
                problem: "the update is signed by \"\(certificate.subject)\" already",
                hint: "A key counts once; have another update key sign it")
        }
        guard signatures.count < Self.maxSignatures else {
            throw TrustUpdateError.invalidArgument(
                problem: "the update has \(signatures.count) signatures already, the most one may carry", hint: "")
        }
        let signature = try SignedData.sign(
            content: payloadBytes, certificate: certificate, key: identity.key, chain: identity.chain)
        return SignedTrustUpdate(payloadBytes: payloadBytes, signatures: signatures + [signature])
    }

    /// Reads an update file's envelope strictly. The payload is not parsed: it is read only after
    /// enough trusted keys have signed it (`payload(file:)`).
    public static func parse(_ bytes: [UInt8], file: String) throws(TrustUpdateError) -> SignedTrustUpdate {
        let m = try StrictObject.read(
            bytes, file: file, what: "trust update", maxBytes: maxBytes, maxString: maxBytes,
            allowed: ["apiVersion", "kind", "payload", "signatures"])
        try m.expect("apiVersion", ReleaseSpec.apiVersion)
        try m.expect("kind", kind)
        guard let text = m["payload"]?.stringValue, let payload = Data(base64Encoded: text), !payload.isEmpty,
            payload.count <= TrustUpdatePayload.maxBytes
        else {
            throw m.error("payload must be the base64 of at most \(TrustUpdatePayload.maxBytes) bytes")
        }
        guard let nodes = m["signatures"]?.arrayValue, nodes.count <= maxSignatures else {
            throw m.error("signatures must be an array of at most \(maxSignatures) signatures")
        }
        var signatures: [SignedData] = []
        for (i, node) in nodes.enumerated() {
            guard let members = node.objectValue, members.count == 2, let keyID = node["keyid"]?.stringValue,
                let cms = node["cms"]?.stringValue, let der = Data(base64Encoded: cms)
            else { throw m.error("signatures[\(i)] must be {keyid, cms} with cms in base64") }
            let signed: SignedData
            do {
                signed = try SignedData.parse(der: Array(der), source: "\(file) signatures[\(i)]")
            } catch {
                throw m.error("signatures[\(i)].cms is not a CMS signature with one signer: \(error)")
            }
            guard let signer = signed.signerCertificate, signer.fingerprint.hex == keyID else {
                throw m.error("signatures[\(i)].keyid is not the SHA-256 of the certificate that signed it")
            }
            signatures.append(signed)
        }
        return SignedTrustUpdate(payloadBytes: Array(payload), signatures: signatures)
    }

    /// Reads and parses an update file.
    public static func load(path: String) throws -> SignedTrustUpdate {
        try parse(try InputFile.readAll(path: path, limit: maxBytes), file: path)
    }

    /// The payload, parsed; `file` names the update in errors.
    public func payload(file: String) throws(TrustUpdateError) -> TrustUpdatePayload {
        try TrustUpdatePayload.parse(payloadBytes, file: file)
    }

    /// Judges every signature against `keys`: a signature counts when it verifies over the payload
    /// bytes, its signer certificate is one of `keys` (pinned by SHA-256: update keys are trusted
    /// by the state, not by a chain to the site's roots, so rotating roots never locks the update
    /// channel out), the signing time lies within that certificate's validity, and the key was not
    /// counted before.
    public func checkSignatures(keys: [Certificate]) -> [UpdateSignatureCheck] {
        let trusted = Set(keys.map(\.fingerprint))
        var counted = Set<SHA256Digest>()
        return signatures.enumerated().map { i, signature -> UpdateSignatureCheck in
            guard let signer = signature.signerCertificate else {
                return UpdateSignatureCheck(
                    index: i + 1, signer: "unknown signer", keyID: nil,
                    outcome: .invalid("the signer's certificate is not in the signature"))
            }
            var check = UpdateSignatureCheck(
                index: i + 1, signer: signer.subject, keyID: signer.fingerprint, outcome: .counted)
            guard trusted.contains(signer.fingerprint) else {
                check.outcome = .unknownKey
                return check
            }
            if case .invalid(let reason) = signature.verifySignature(content: payloadBytes) {
                check.outcome = .invalid(reason)
                return check
            }
            guard let time = signature.signingTime else {
                check.outcome = .invalid("it has no signing time")
                return check
            }
            guard time >= signer.notBefore, time <= signer.notAfter else {
                check.outcome = .outsideValidity(
                    "signed at \(Timestamp.iso8601(time)), outside the certificate's validity "
                        + "\(Timestamp.iso8601(signer.notBefore)) to \(Timestamp.iso8601(signer.notAfter))")
                return check
            }
            if !counted.insert(signer.publicKeyFingerprint).inserted { check.outcome = .duplicate }
            return check
        }
    }

    /// Throws `underThreshold` unless at least `threshold` of `keys` signed validly.
    func requireThreshold(
        _ threshold: Int, keys: [Certificate], keySet: String, file: String
    ) throws(TrustUpdateError) -> [UpdateSignatureCheck] {
        let checks = checkSignatures(keys: keys)
        let counted = checks.filter { $0.outcome == .counted }.count
        guard counted >= threshold else {
            throw .underThreshold(
                file: file, counted: counted, threshold: threshold, keySet: keySet,
                details: checks.isEmpty ? ["the update carries no signature"] : checks.map(\.line))
        }
        return checks
    }
}

/// Vendor side: the trust material of a policy as update files.
public enum TrustUpdateBuilder {
    /// The payload carrying `policy` (its roots, intermediates, time-stamping roots, CRLs, role
    /// rules, required and report roles, gate requirement, minimum versions and limits, as the
    /// policy file and the PEM files it names hold them), rewritten as a policy that names only
    /// files of the update.
    public static func payload(
        policy: TrustPolicy, version: Int64, issued: Int64, expires: Int64, updateKeys: [Certificate], threshold: Int
    ) throws -> TrustUpdatePayload {
        guard (1...TrustUpdatePayload.maxVersion).contains(version) else {
            throw TrustUpdateError.invalidArgument(
                problem: "version \(version) is not accepted",
                hint: "Give 1 to \(TrustUpdatePayload.maxVersion), above the version the sites have installed")
        }
        guard expires > issued else {
            throw TrustUpdateError.invalidArgument(
                problem: "the expiry \(Timestamp.iso8601(expires)) is not after \(Timestamp.iso8601(issued))",
                hint: "Give a validity of at least one day")
        }
        try UpdateKeySet.check(threshold: threshold, keys: updateKeys, where: "the next update keys")
        return TrustUpdatePayload(
            version: version, issued: issued, expires: expires, files: files(of: policy), threshold: threshold,
            updateKeys: updateKeys)
    }

    /// The files that reproduce `policy`: `trust-policy.yaml` and the PEM files it names.
    public static func files(of policy: TrustPolicy) -> [TrustUpdatePayload.File] {
        func quoted(_ s: String) -> String { String(decoding: CanonicalJSON.encode(.string(s)), as: UTF8.self) }
        func list(_ items: [String]) -> String { "[" + items.joined(separator: ", ") + "]" }
        var files: [TrustUpdatePayload.File] = []
        var yaml = """
            # ivpack trust policy, installed from a signed trust update (ivpack trust update).
            apiVersion: \(ReleaseSpec.apiVersion)
            kind: TrustPolicy
            development: \(policy.development)
            trustedRoots: [roots.pem]

            """
        files.append(.init(name: "roots.pem", content: policy.trustedRoots.map(\.pem).joined()))
        if !policy.intermediates.isEmpty {
            files.append(.init(name: "intermediates.pem", content: policy.intermediates.map(\.pem).joined()))
            yaml += "intermediates: [intermediates.pem]\n"
        }
        if !policy.timestampRoots.isEmpty {
            files.append(.init(name: "timestamp-roots.pem", content: policy.timestampRoots.map(\.pem).joined()))
            yaml += "timestampRoots: [timestamp-roots.pem]\n"
        }
        var crlEntries: [String] = []
        if policy.crlFiles.isEmpty {
            if !policy.crls.isEmpty {
                files.append(.init(name: "crls.pem", content: policy.crls.map(\.pem).joined()))
                crlEntries.append("crls.pem")
            }
        } else {
            for (i, crlFile) in policy.crlFiles.enumerated() {
                let name = "crl-\(i + 1).pem"
                files.append(.init(name: name, content: crlFile.crls.map(\.pem).joined()))
                crlEntries.append(crlFile.url.map { "{file: \(name), url: \(quoted($0))}" } ?? name)
            }
        }
        if !crlEntries.isEmpty { yaml += "crls: \(list(crlEntries))\n" }
        yaml += "revocation: \(policy.revocation.rawValue)\n"
        yaml += "crlWarnDays: \(policy.crlWarnDays)\n"
        yaml += "roles:\n"
        for (name, rule) in policy.roles.sorted(by: { $0.key < $1.key }) {
            yaml += "  \(quoted(name)):\n"
            if let oid = rule.certificatePolicy { yaml += "    certificatePolicy: \(quoted(oid))\n" }
            if let ou = rule.subjectOU { yaml += "    subjectOU: \(quoted(ou))\n" }
        }
        yaml += "requiredRoles: \(list(policy.requiredRoles.map(quoted)))\n"
        if !policy.reportRoles.isEmpty { yaml += "reportRoles: \(list(policy.reportRoles.map(quoted)))\n" }
        if let gate = policy.requireGate {
            yaml += "requireGate:\n  policy: \(quoted(gate.policy))\n  role: \(quoted(gate.role))\n"
            if let digest = gate.policySHA256 { yaml += "  policySHA256: \(quoted(digest.hex))\n" }
            yaml += "  allowOverride: \(gate.allowOverride)\n"
        }
        if policy.minimumVersions.isEmpty {
            yaml += "minimumVersions: {}\n"
        } else {
            yaml += "minimumVersions:\n"
            for (product, version) in policy.minimumVersions.sorted(by: { $0.key < $1.key }) {
                yaml += "  \(quoted(product)): \(quoted(version))\n"
            }
        }
        yaml += "minimumSecurityLevel: \(policy.minimumSecurityLevel.rawValue)\n"
        yaml += "maxClockSkewSeconds: \(policy.maxClockSkewSeconds)\n"
        files.insert(.init(name: TrustUpdatePayload.policyFileName, content: yaml), at: 0)
        return files
    }
}

/// A JSON object read strictly for the trust update formats.
struct StrictObject {
    let file: String
    let what: String
    let members: [String: JSONValue]

    subscript(key: String) -> JSONValue? { members[key] }

    static func read(
        _ bytes: [UInt8], file: String, what: String, maxBytes: Int, maxString: Int, allowed: Set<String>
    ) throws(TrustUpdateError) -> StrictObject {
        guard bytes.count <= maxBytes else {
            throw .malformed(file: file, problem: "the \(what) is \(bytes.count) bytes, above the limit of \(maxBytes)")
        }
        let root: JSONValue
        do {
            root = try JSONParser.parse(
                bytes, limits: JSONLimits(maxBytes: maxBytes, maxDepth: 8, maxStringBytes: maxString))
        } catch {
            throw .malformed(file: file, problem: "the \(what) is not JSON: \(error)")
        }
        guard let top = root.objectValue else {
            throw .malformed(file: file, problem: "the \(what) is not a JSON object")
        }
        let members = Dictionary(top.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        if let extra = members.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw .malformed(file: file, problem: "the \(what) has an unknown member \"\(extra)\"")
        }
        if let missing = allowed.sorted().first(where: { members[$0] == nil }) {
            throw .malformed(file: file, problem: "the \(what) lacks the member \"\(missing)\"")
        }
        return StrictObject(file: file, what: what, members: members)
    }

    func error(_ problem: String) -> TrustUpdateError { .malformed(file: file, problem: "\(what): \(problem)") }

    func expect(_ key: String, _ value: String) throws(TrustUpdateError) {
        guard members[key]?.stringValue == value else { throw error("\(key) must be \"\(value)\"") }
    }

    func time(_ key: String) throws(TrustUpdateError) -> Int64 {
        guard let text = members[key]?.stringValue, let t = Timestamp.parseISO8601(text) else {
            throw error("\(key) must be an RFC 3339 UTC time (2026-12-01T00:00:00Z)")
        }
        return t
    }
}
