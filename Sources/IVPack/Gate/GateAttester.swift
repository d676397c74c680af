/// What `check --attest` added.
public struct GateAttestResult: Sendable {
    /// The new entry, `ivpack/attestations/NNN-gate.p7s`.
    public var entry: String
    public var signer: String
    /// The verdict attested.
    public var passed: Bool
    public var manifestDigest: SHA256Digest
}

/// Appends the release gate's verdict on a bundle as a signed attestation: the `GateStatement`
/// encapsulated in a CMS SignedData (one signature format for the whole bundle, verified by
/// OpenSSL and judged by the same trust code as approvals), appended as
/// `ivpack/attestations/NNN-gate.p7s` the way `sign` appends a signature (one crash-safe append;
/// nothing before it changes, so existing signatures stay valid). A failing verdict is attested
/// too: it is evidence that the gate blocked this manifest; `verify`'s `gate` check and `sign`
/// accept only a passing one.
public enum GateAttester {
    /// Attests `report`, the gate's run on the bundle at `bundlePath` whose manifest had
    /// `checkedDigest` when it was read; refuses when the bundle's manifest is another one now.
    public static func attest(
        bundlePath: String, report: GateReport, checkedDigest: SHA256Digest, policyDigest: SHA256Digest?,
        identity: SigningIdentity, now: Int64, timestampAuthority: String? = nil,
        timestampTimeout: Int = RFC3161.defaultTimeoutSeconds
    ) throws -> GateAttestResult {
        let certificate = identity.certificate
        try SigningIdentityCheck.require(certificate, chain: identity.chain)
        let file = try UpdatableFile(path: bundlePath)
        let layout = try BundleLayout.read(path: bundlePath)
        let digest = SHA256Digest.of(layout.manifestBytes)
        guard digest == checkedDigest else {
            throw SignError(
                bundle: bundlePath,
                problem: "its manifest (sha256 \(digest.hex)) is not the one the gate checked (\(checkedDigest.hex))",
                hint: "Run ivpack check --attest again on the bundle as it is", status: .checkFailed)
        }
        let statement = GateStatement(
            report: report, manifestDigest: digest, policyDigest: policyDigest, time: now)
        let entry = try layout.appendAttestation(
            kind: .gate, statement: statement.bytes, identity: identity, to: file,
            timestampAuthority: timestampAuthority, timestampTimeout: timestampTimeout,
            failpoint: "attest-before-commit")
        return GateAttestResult(
            entry: entry, signer: certificate.subject, passed: report.passed, manifestDigest: digest)
    }
}

extension BundleLayout {
    /// Signs `statement` encapsulated (CMS SignedData) with `identity`, time-stamps it when an
    /// authority is given, and appends it as the next attestation entry of `kind`. Returns its name.
    func appendAttestation(
        kind: AttestationEntryName.Kind, statement: [UInt8], identity: SigningIdentity, to file: UpdatableFile,
        timestampAuthority: String?, timestampTimeout: Int, failpoint: String
    ) throws -> String {
        guard attestations.count < AttestationEntryName.maxCount else {
            throw SignError(
                bundle: file.path, problem: "already holds \(attestations.count) attestation entries", hint: "",
                status: .badInput)
        }
        var signed = try SignedData.signAttached(
            content: statement, certificate: identity.certificate, key: identity.key, chain: identity.chain)
        if let url = timestampAuthority {
            signed = try RFC3161.timestamp(signed, authority: url, timeout: timestampTimeout)
        }
        let entry = AttestationEntryName.make(index: attestations.count + 1, kind: kind)
        try append(path: entry, data: signed.der, to: file, failpoint: failpoint)
        return entry
    }
}
