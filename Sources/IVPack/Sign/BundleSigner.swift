#if canImport(Glibc)
    import Glibc
#endif

/// A bundle that cannot be signed as it is (not a bundle, damaged, already signed by this certificate).
public struct SignError: IVPackError, Equatable {
    public var bundle: String
    public var problem: String
    public var hint: String
    public var status: ExitStatus
    public var exitStatus: ExitStatus { status }
    public var description: String { "\(bundle): \(problem)\(hint.isEmpty ? "" : ". \(hint)")" }
}

/// What `sign` added.
public struct SignResult: Sendable {
    /// The new entry's name.
    public var entry: String
    public var role: String
    public var signer: String
    public var manifestDigest: SHA256Digest
    /// Signatures in the bundle now, including the new one.
    public var signatureCount: Int
    /// The override recorded before the signature (`--override-gate`), if any.
    public var gateOverride: String? = nil
    /// How the role was decided and checked, in a line (`SignRole`).
    public var roleCheck: String = ""
    /// The signature entry that was replaced (`--replace`), if any.
    public var replaced: String? = nil
}

/// The role a signature claims, decided before anything is signed (issue 19: `sign --role qa`
/// with the quality certificate was accepted, verify then failed, and that certificate could
/// never sign the bundle again). The rules are the trust policy's `roles` when one is given, else
/// ivpack's certificate policy OIDs of the approval roles (`RoleProfile`, what `keys csr` and
/// `keys init-dev` put in certificates).
public enum SignRole {
    /// The role rules `sign` judges by.
    public static func rules(trust: TrustPolicy?) -> [String: RoleRule] {
        if let trust { return trust.roles }
        var rules: [String: RoleRule] = [:]
        for profile in RoleProfile.all where profile.extendedKeyUsage.contains(WellKnownOID.codeSigning) {
            if let oid = profile.policyOID { rules[profile.role] = RoleRule(certificatePolicy: oid, subjectOU: nil) }
        }
        return rules
    }

    /// The role to sign as (`requested`, or the one role `certificate` proves when nil) and a
    /// line saying how it was checked; throws when the certificate does not prove it.
    public static func resolve(
        requested: String?, certificate: Certificate, trust: TrustPolicy?, bundle: String
    ) throws -> (role: String, check: String) {
        let rules = rules(trust: trust)
        let source = trust.map { "the trust policy \($0.file)" } ?? "ivpack's role certificate policies"
        let proven = rules.filter { $0.value.matches(certificate) }.map(\.key).sorted()
        let provenText = proven.map { "\"\($0)\"" }.joined(separator: ", ")
        guard let requested else {
            if proven.count == 1 { return (proven[0], "role \"\(proven[0])\" proven by the certificate (\(source))") }
            throw SignError(
                bundle: bundle,
                problem: proven.isEmpty
                    ? "certificate \"\(certificate.subject)\" proves none of the roles of \(source) (\(rules.keys.sorted().joined(separator: ", ")))"
                    : "certificate \"\(certificate.subject)\" proves several roles (\(provenText))",
                hint: proven.isEmpty
                    ? "Give --role ROLE and --trust POLICY (the site's policy says how a certificate proves a role), or sign with an approver's certificate"
                    : "Say which one this signature stands for with --role",
                status: .badInput)
        }
        guard SignatureEntryName.isValidRole(requested) else {
            throw SignError(
                bundle: bundle, problem: "\"\(requested)\" is not a role name",
                hint: "Use lower-case letters, digits and '-', e.g. release-manager", status: .badInput)
        }
        if let rule = rules[requested] {
            if rule.matches(certificate) {
                return (requested, "role \"\(requested)\" proven by the certificate (\(source))")
            }
            throw SignError(
                bundle: bundle,
                problem:
                    "certificate \"\(certificate.subject)\" does not prove role \"\(requested)\" under \(source); verify would refuse this signature",
                hint: proven.isEmpty
                    ? "Sign as \(requested) with a \(requested) certificate (\(describe(rule)))"
                    : "This certificate proves \(provenText): sign with --role \(proven[0])\(proven.count > 1 ? " (or another it proves)" : ""), or as \(requested) with a \(requested) certificate",
                status: .badInput)
        }
        if trust != nil || !proven.isEmpty {
            throw SignError(
                bundle: bundle,
                problem: "role \"\(requested)\" is not a role of \(source)"
                    + (proven.isEmpty ? "" : "; the certificate proves \(provenText)"),
                hint: "Roles there: \(rules.keys.sorted().joined(separator: ", "))"
                    + (proven.isEmpty ? "" : ". Sign with --role \(proven[0])"),
                status: .badInput)
        }
        // A role ivpack has no rule for and a certificate that proves none of ivpack's: only the
        // site's policy can tell. Said, never passed off as checked.
        return (requested, "role \"\(requested)\" not checked: no rule for it without --trust POLICY")
    }

    static func describe(_ rule: RoleRule) -> String {
        [rule.certificatePolicy.map { "certificate policy \($0)" }, rule.subjectOU.map { "subject OU \"\($0)\"" }]
            .compactMap { $0 }.joined(separator: " and ")
    }
}

/// What `sign` requires of the release gate before it adds an approval (clause 6.6.1).
public struct GateApproval: Sendable {
    /// The trust policy to judge gate attestations with; its `requireGate` makes a valid, passing
    /// attestation a condition of signing. Without one, `sign` still refuses a bundle whose only
    /// gate verdicts (signatures checked, signers not judged) are fails.
    public var trust: TrustPolicy?
    /// Approve although the gate did not pass: the reason is signed by the approver in an override
    /// statement (`ivpack/attestations/NNN-gate-override.p7s`) appended just before the approval.
    public var overrideReason: String?

    public init(trust: TrustPolicy? = nil, overrideReason: String? = nil) {
        self.trust = trust
        self.overrideReason = overrideReason
    }
}

/// Appends CMS signatures to a bundle without rewriting its payload.
///
/// Crash safety: the new entry's data and a fresh end-of-archive marker are written and flushed
/// after the old marker's first block, and only then is the entry header written over that block
/// and flushed. Until that single 512-byte write the bundle still ends where it ended (tar readers
/// stop at the zero block), so a kill at any moment leaves the payload and earlier signatures
/// intact; the next `sign` overwrites whatever was left after the marker.
public enum BundleSigner {
    /// Signs the manifest of the bundle at `bundlePath` as `role`, with the identity of these parts
    /// (`SigningIdentity.init(certificate:key:chain:)` refuses a key that does not belong to `certificate`).
    public static func sign(
        bundlePath: String, certificate: Certificate, key: PrivateKey, chain: [Certificate],
        role: String?, now: Int64, timestampAuthority: String? = nil,
        timestampTimeout: Int = RFC3161.defaultTimeoutSeconds, gate: GateApproval = GateApproval(),
        replace: String? = nil, checkRole: Bool = true
    ) throws -> SignResult {
        try sign(
            bundlePath: bundlePath, identity: try SigningIdentity(certificate: certificate, key: key, chain: chain),
            role: role,
            now: now, timestampAuthority: timestampAuthority, timestampTimeout: timestampTimeout, gate: gate,
            replace: replace, checkRole: checkRole)
    }

    /// Signs the manifest of the bundle at `bundlePath` as `role` (nil: the one role the
    /// certificate proves), with `identity`. The certificate must prove the role under
    /// `gate.trust`'s rules or ivpack's (`SignRole`); `checkRole: false` skips that, for tests that
    /// build what another tool could (verify must refuse it). `replace` names the role of a
    /// signature entry to replace in place (a wrong role, a wrong certificate).
    public static func sign(
        bundlePath: String, identity: SigningIdentity, role requested: String?, now: Int64,
        timestampAuthority: String? = nil,
        timestampTimeout: Int = RFC3161.defaultTimeoutSeconds, gate: GateApproval = GateApproval(),
        replace: String? = nil, checkRole: Bool = true
    ) throws -> SignResult {
        let certificate = identity.certificate
        let role: String
        let roleCheck: String
        if checkRole {
            (role, roleCheck) = try SignRole.resolve(
                requested: requested, certificate: certificate, trust: gate.trust, bundle: bundlePath)
        } else {
            guard let requested, SignatureEntryName.isValidRole(requested) else {
                throw SignError(
                    bundle: bundlePath, problem: "\"\(requested ?? "")\" is not a role name",
                    hint: "Use lower-case letters, digits and '-', e.g. release-manager", status: .badInput)
            }
            (role, roleCheck) = (requested, "role \"\(requested)\" not checked")
        }
        // What can be told without a trust policy: an end entity, strong enough (verify would refuse it).
        try SigningIdentityCheck.require(certificate, chain: identity.chain)
        if now < certificate.notBefore {
            throw InputError.credential(
                file: "certificate \"\(certificate.subject)\"",
                problem: "is not valid yet (valid from \(Timestamp.iso8601(certificate.notBefore)))",
                hint: "Check the system clock, or use a certificate that is already valid")
        }
        if now > certificate.notAfter {
            throw InputError.credential(
                file: "certificate \"\(certificate.subject)\"",
                problem: "expired on \(Timestamp.iso8601(certificate.notAfter))",
                hint: "Renew the signing certificate")
        }
        if let reason = gate.overrideReason {
            guard reason.contains(where: { !$0.isWhitespace }),
                reason.utf8.count <= GateOverrideStatement.maxReasonBytes
            else {
                throw SignError(
                    bundle: bundlePath, problem: "--reason must say why the gate is overridden",
                    hint: "Give 1 to \(GateOverrideStatement.maxReasonBytes) bytes of text", status: .badInput)
            }
        }
        let file = try UpdatableFile(path: bundlePath)
        var layout = try BundleLayout.read(path: bundlePath)
        guard layout.signatures.count < SignatureEntryName.maxCount else {
            throw SignError(
                bundle: bundlePath, problem: "already holds \(layout.signatures.count) signatures", hint: "",
                status: .badInput)
        }
        // The entry `--replace` takes the place of: exactly one signature claiming that role.
        var replacing: Int?
        if let replace {
            let matching = layout.signatures.indices.filter {
                SignatureEntryName(layout.signatures[$0].path)?.role == replace
            }
            guard matching.count == 1 else {
                let present = layout.signatures.map(\.path).joined(separator: ", ")
                throw SignError(
                    bundle: bundlePath,
                    problem: matching.isEmpty
                        ? "has no signature for role \"\(replace)\" to replace (signatures: \(present.isEmpty ? "none" : present))"
                        : "has \(matching.count) signatures for role \"\(replace)\"",
                    hint: matching.isEmpty ? "Name the role of an existing signature with --replace" : "",
                    status: .badInput)
            }
            replacing = matching[0]
        }
        for (i, existing) in layout.signatures.enumerated() where i != replacing {
            guard let signed = try? SignedData.parse(der: existing.der, source: existing.path),
                let signer = signed.signerCertificate
            else { continue }
            if signer.sameCertificate(as: certificate) {
                let claimed = SignatureEntryName(existing.path)?.role ?? ""
                throw SignError(
                    bundle: bundlePath,
                    problem: "is already signed by this certificate (\(existing.path), \"\(certificate.subject)\")",
                    hint: claimed == role
                        ? "Each certificate signs a bundle once; a second approver signs with their own certificate"
                        : "To sign as \(role) instead of \(claimed), replace that signature: ivpack sign BUNDLE --replace \(claimed) --role \(role) ...",
                    status: .checkFailed)
            }
        }
        let entry = SignatureEntryName.make(index: replacing.map { $0 + 1 } ?? layout.signatures.count + 1, role: role)
        var overrideEntry: String?
        if let reason = gate.overrideReason {
            // Recorded first: a crash between the two appends leaves a signed override without
            // its approval (harmless), never an approval without its override.
            let statement = GateOverrideStatement(
                manifestDigest: SHA256Digest.of(layout.manifestBytes), role: role, reason: reason,
                signatureEntry: entry, time: Timestamp.iso8601(now))
            overrideEntry = try layout.appendAttestation(
                kind: .gateOverride, statement: statement.bytes, identity: identity, to: file,
                timestampAuthority: timestampAuthority, timestampTimeout: timestampTimeout,
                failpoint: "sign-override-before-commit")
            layout = try BundleLayout.read(path: bundlePath)
        } else if let refusal = GateAttestations.signRefusal(layout, trust: gate.trust, now: now) {
            throw SignError(
                bundle: bundlePath, problem: "the release gate does not allow an approval: \(refusal)",
                hint:
                    "Run ivpack check BUNDLE --attest with the gate certificate once the release passes, or approve anyway with --override-gate --reason TEXT (signed, recorded in the bundle and shown by verify)",
                status: .checkFailed)
        }
        var signature = try SignedData.sign(
            content: layout.manifestBytes, certificate: certificate, key: identity.key, chain: identity.chain)
        if let url = timestampAuthority {
            signature = try RFC3161.timestamp(signature, authority: url, timeout: timestampTimeout)
        }
        // The header's time is the release's, like every other entry's: its bytes follow from the manifest.
        if let replacing {
            try layout.replace(
                signatureAt: replacing, path: entry, data: signature.der, bundlePath: bundlePath, file: file,
                failpoint: "sign-replace-before-commit")
        } else {
            try layout.append(path: entry, data: signature.der, to: file, failpoint: "sign-before-commit")
        }
        return SignResult(
            entry: entry, role: role, signer: certificate.subject,
            manifestDigest: SHA256Digest.of(layout.manifestBytes),
            signatureCount: layout.signatures.count + (replacing == nil ? 1 : 0),
            gateOverride: overrideEntry, roleCheck: roleCheck,
            replaced: replacing.map { layout.signatures[$0].path })
    }
}
