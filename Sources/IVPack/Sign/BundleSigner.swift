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
        role: String, now: Int64, timestampAuthority: String? = nil,
        timestampTimeout: Int = RFC3161.defaultTimeoutSeconds, gate: GateApproval = GateApproval()
    ) throws -> SignResult {
        try sign(
            bundlePath: bundlePath, identity: try SigningIdentity(certificate: certificate, key: key, chain: chain),
            role: role,
            now: now, timestampAuthority: timestampAuthority, timestampTimeout: timestampTimeout, gate: gate)
    }

    /// Signs the manifest of the bundle at `bundlePath` as `role`, with `identity`.
    public static func sign(
        bundlePath: String, identity: SigningIdentity, role: String, now: Int64, timestampAuthority: String? = nil,
        timestampTimeout: Int = RFC3161.defaultTimeoutSeconds, gate: GateApproval = GateApproval()
    ) throws -> SignResult {
        guard SignatureEntryName.isValidRole(role) else {
            throw SignError(
                bundle: bundlePath, problem: "\"\(role)\" is not a role name",
                hint: "Use lower-case letters, digits and '-', e.g. release-manager", status: .badInput)
        }
        let certificate = identity.certificate
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
        for existing in layout.signatures {
            guard let signed = try? SignedData.parse(der: existing.der, source: existing.path),
                let signer = signed.signerCertificate
            else { continue }
            if signer.sameCertificate(as: certificate) {
                throw SignError(
                    bundle: bundlePath,
                    problem: "is already signed by this certificate (\(existing.path), \"\(certificate.subject)\")",
                    hint: "Each certificate signs a bundle once; a second approver signs with their own certificate",
                    status: .checkFailed)
            }
        }
        let entry = SignatureEntryName.make(index: layout.signatures.count + 1, role: role)
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
        try layout.append(path: entry, data: signature.der, to: file, failpoint: "sign-before-commit")
        return SignResult(
            entry: entry, role: role, signer: certificate.subject,
            manifestDigest: SHA256Digest.of(layout.manifestBytes), signatureCount: layout.signatures.count + 1,
            gateOverride: overrideEntry)
    }
}
