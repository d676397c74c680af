/// The release gate's attestations on a bundle (`gate`, clause 6.6.1): with a trust policy that
/// sets `requireGate`, passes only with a gate attestation whose CMS signature holds, whose signer
/// proves the required role under the policy, whose statement is about this manifest, of the
/// required gate policy, and records a pass. An approver's recorded override (`sign
/// --override-gate`) is shown in the evidence; it stands in for the attestation (as a warning)
/// only when the policy says `allowOverride: true`. Without `requireGate`, attestations present
/// are reported as evidence (a warning when one records a fail or an override), and a bundle
/// without any gets no `gate` check.
public struct GateAttestationCheck: VerifyCheck {
    public var policy: TrustPolicy
    public init(policy: TrustPolicy) { self.policy = policy }
    public var ids: [CheckID] { [.gate] }

    public func evaluate(_ bundle: VerifiedBundle, now: Int64) -> [Check] {
        let requirement = policy.requireGate
        if requirement == nil && bundle.attestations.isEmpty { return [] }
        let judged = GateAttestations.judge(bundle, policy: policy, now: now)
        var details: [String] = []
        var evidence: [(key: String, value: String)] = []
        if let requirement {
            evidence.append(
                (
                    "required",
                    "a passing attestation of gate policy \(requirement.policy) by role \(requirement.role)"
                        + (requirement.allowOverride ? " (an approver's override allowed)" : "")
                ))
        }
        var satisfied = false
        for g in judged.gates {
            let verdict = g.statement.map { $0.passed ? "pass" : "fail" } ?? "unreadable"
            var row = "\(verdict) by \(g.signer ?? "unknown signer")"
            if let s = g.statement {
                row +=
                    ", policy \(s.policy)\(s.policyDigest.map { " sha256 \($0.hex)" } ?? ""), ivpack \(s.ivpackVersion), \(s.time)"
                let blocked = s.rules.filter { $0.result == "fail" }.map(\.id)
                if !blocked.isEmpty { row += "; blocking rules: \(blocked.joined(separator: ", "))" }
            }
            evidence.append((g.path, row))
            if let problem = g.problem {
                details.append("\(g.path): \(problem)")
                continue
            }
            guard let s = g.statement else { continue }
            guard let requirement else {
                if !s.passed { details.append("\(g.path): the gate did not pass this manifest (\(row))") }
                continue
            }
            var why: [String] = []
            if let refusal = g.refusal(requirement.role) { why.append(refusal) }
            if !requirement.accepts(policy: s.policy, digest: s.policyDigest) {
                why.append(
                    "it attests gate policy \(s.policy)\(s.policyDigest.map { " (sha256 \($0.hex))" } ?? ""), the trust policy requires \(requirement.policy)\(requirement.policySHA256.map { " (sha256 \($0.hex))" } ?? "")"
                )
            }
            if !s.passed {
                let blocked = s.rules.filter { $0.result == "fail" }.map(\.id)
                why.append("the gate did not pass this manifest (blocking: \(blocked.joined(separator: ", ")))")
            }
            if why.isEmpty {
                satisfied = true
            } else {
                details.append("\(g.path): " + why.joined(separator: "; "))
            }
        }
        var validOverride = false
        var overrideNotes: [String] = []
        for o in judged.overrides {
            let row =
                o.statement.map {
                    "role \($0.role) by \(o.signer ?? "unknown signer"), with \($0.signatureEntry), \($0.time): \($0.reason)"
                } ?? "by \(o.signer ?? "unknown signer")"
            evidence.append(("override " + o.path, row))
            if let problem = o.problem ?? o.statement.flatMap({ o.refusal($0.role) }) {
                overrideNotes.append("\(o.path): the override does not hold: \(problem)")
            } else {
                validOverride = true
                overrideNotes.append("\(o.path): approved without a passing gate (override): \(row)")
            }
        }
        let status: Check.Status
        if let requirement {
            let missing =
                judged.gates.isEmpty
                ? "the trust policy requires a gate attestation (gate policy \(requirement.policy), role \(requirement.role)); the bundle has none: run ivpack check BUNDLE --attest with the \(requirement.role) certificate"
                : "no gate attestation is valid and passing for this manifest under the trust policy (gate policy \(requirement.policy), role \(requirement.role))"
            if satisfied {
                status = .pass
                details = overrideNotes
            } else if requirement.allowOverride && validOverride {
                status = .warn
                details = [missing] + details + overrideNotes
            } else {
                status = .fail
                details =
                    [missing] + details + overrideNotes
                    + (validOverride
                        ? [
                            "the trust policy does not accept an override in place of the gate (requireGate.allowOverride is false)"
                        ]
                        : [])
            }
        } else {
            details += overrideNotes
            status = details.isEmpty ? .pass : .warn
        }
        return [Check(.gate, status: status, details: BundleVerifier.capped(details), evidence: evidence)]
    }
}

/// Every attestation of a bundle judged once: its CMS signature over its own statement, the
/// statement's form and subject (this manifest), and its signer's trust under the policy.
enum GateAttestations {
    /// One attestation judged.
    struct Judged<Statement: Sendable>: Sendable {
        var path: String
        var signer: String?
        var statement: Statement?
        /// What makes it unusable whatever the role: signature, form or subject.
        var problem: String?
        /// Why the signer does not prove a role (nil: it does).
        var refusal: @Sendable (String) -> String?
    }

    struct Result: Sendable {
        var gates: [Judged<GateStatement>]
        var overrides: [Judged<GateOverrideStatement>]
    }

    /// Judges every attestation of `bundle` under `policy` (nil: signatures and statements only,
    /// without trust, for `sign` without a trust policy).
    static func judge(_ bundle: VerifiedBundle, policy: TrustPolicy?, now: Int64) -> Result {
        var result = Result(gates: [], overrides: [])
        for entry in bundle.attestations {
            switch entry.name.kind {
            case .gate:
                result.gates.append(
                    judge(entry, bundle: bundle, policy: policy, now: now) { bytes throws(StatementError) in
                        let s = try GateStatement.parse(bytes)
                        return (s, s.manifestDigest)
                    })
            case .gateOverride:
                result.overrides.append(
                    judge(entry, bundle: bundle, policy: policy, now: now) { bytes throws(StatementError) in
                        let s = try GateOverrideStatement.parse(bytes)
                        return (s, s.manifestDigest)
                    })
            }
        }
        return result
    }

    private static func judge<S: Sendable>(
        _ entry: AttestationEntry, bundle: VerifiedBundle, policy: TrustPolicy?, now: Int64,
        parse: ([UInt8]) throws(StatementError) -> (S, SHA256Digest)
    ) -> Judged<S> {
        var judged = Judged<S>(path: entry.path, signer: nil, statement: nil, problem: nil, refusal: { _ in nil })
        let signed: SignedData
        do {
            signed = try SignedData.parse(der: entry.der, source: entry.path)
        } catch {
            judged.problem = "not a valid CMS signature: \(error)"
            return judged
        }
        guard let signer = signed.signerCertificate else {
            judged.problem = "the attestation does not carry its signer's certificate"
            return judged
        }
        judged.signer = signer.subject
        if case .invalid(let reason) = signed.verifyEncapsulated() {
            judged.problem = "the signature does not hold over its statement (\(reason)): the attestation was changed"
            return judged
        }
        do {
            let (statement, digest) = try parse(signed.encapsulatedContent ?? [])
            judged.statement = statement
            if digest != bundle.manifestDigest {
                judged.problem =
                    "it attests another manifest (sha256 \(digest.hex)), not this bundle's (\(bundle.manifestDigest.hex)): copied from another bundle"
                return judged
            }
        } catch {
            judged.problem = "the statement is not an ivpack \(entry.name.kind.rawValue) statement: \(error)"
            return judged
        }
        if let policy {
            let trust = SignerTrust(signed: signed, signer: signer, policy: policy, now: now)
            judged.refusal = { role in trust.refusal(role: role, signer: signer) }
        }
        return judged
    }
}

extension GateAttestations {
    /// Why `sign` must not add an approval to the bundle of `layout`, or nil. With a trust policy
    /// that sets `requireGate`: whatever makes verify's `gate` check fail. Otherwise: the bundle's
    /// gate attestations for this manifest (signatures checked, signers not judged without a
    /// policy) hold a failing verdict and no passing one.
    static func signRefusal(_ layout: BundleLayout, trust: TrustPolicy?, now: Int64) -> String? {
        let bundle = VerifiedBundle(
            path: "", manifest: layout.manifest, manifestBytes: layout.manifestBytes,
            manifestDigest: SHA256Digest.of(layout.manifestBytes), signatures: [], attestations: layout.attestations)
        if let trust, trust.requireGate != nil {
            guard let check = GateAttestationCheck(policy: trust).evaluate(bundle, now: now).first,
                check.status == .fail
            else { return nil }
            return check.details.joined(separator: "; ")
        }
        let gates = judge(bundle, policy: trust, now: now).gates.filter { $0.problem == nil }
        guard !gates.contains(where: { $0.statement?.passed == true }),
            let failed = gates.first(where: { $0.statement?.passed == false }), let statement = failed.statement
        else { return nil }
        let blocked = statement.rules.filter { $0.result == "fail" }.map(\.id)
        return
            "\(failed.path) attests that the gate (policy \(statement.policy)) blocked this manifest (\(blocked.joined(separator: ", ")))"
    }
}
