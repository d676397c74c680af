/// How far a CMS signer is trusted by a policy, judged once for bundle signatures
/// (`SignatureCheck`) and report sign-offs (`ReportSignOffVerification`): the time the chain is
/// judged at (a valid RFC 3161 token's time, so a signature outlives its certificate; else now;
/// a token from the verifier's future is refused rather than trusted as that time), the chain
/// against the policy's roots, intermediates and CRLs, whether it ends in a development root, and
/// the evidence rows that say so.
struct SignerTrust {
    /// Why the signer cannot be judged at all (an invalid time-stamp token); nil otherwise.
    var failure: String?
    /// The time the chain is judged at.
    var time: Int64
    /// The time-stamp's time, when a valid token carries one.
    var timestamp: Int64?
    /// The chain judged without a required certificate policy.
    var chain: ChainValidation
    /// The root the chain ends in, when it was built.
    var root: Certificate? { chain.chain.last }
    /// Whether the chain ends in a development root.
    var developmentRoot: Bool
    /// Rows for the check's evidence: time-stamp, validatedAt, chain, revocation.
    var evidence: [(key: String, value: String)]
    /// How current, now (whatever time the chain is judged at), the policy's CRLs that speak for
    /// the path are (`trust.crl-freshness`).
    var crlFreshness: [CRLFreshness] = []
    /// Why the chain cannot be trusted because a CRL it relies on is stale under
    /// `revocation: require` (with how to refresh it); nil otherwise.
    var staleRevocation: String? {
        guard policy.revocation == .require else { return nil }
        let stale = crlFreshness.filter { $0.state == .expired || $0.state == .noNextUpdate }
        guard !stale.isEmpty else { return nil }
        return stale.map { $0.message(policyFile: policy.file) }.joined(separator: "; ")
    }

    private let signer: Certificate
    private let untrusted: [Certificate]
    private let policy: TrustPolicy
    private let now: Int64

    /// Judges the signer of `signed` (its certificate `signer`) under `policy` at `now`.
    init(signed: SignedData, signer: Certificate, policy: TrustPolicy, now: Int64) {
        self.signer = signer
        self.policy = policy
        self.now = now
        untrusted = signed.certificates.filter { !$0.sameCertificate(as: signer) } + policy.intermediates
        evidence = []
        time = now
        if let token = signed.timestampToken {
            let roots = policy.timestampRoots.isEmpty ? policy.trustedRoots : policy.timestampRoots
            switch RFC3161.check(
                token: token, signatureValue: signed.signatureValue, roots: roots, untrusted: policy.intermediates,
                now: now, maxClockSkew: policy.maxClockSkewSeconds, securityLevel: policy.minimumSecurityLevel)
            {
            case .invalid(let problem):
                failure = "the time-stamp token is not valid: \(problem)"
            case .valid(let stamped, let authority):
                time = stamped
                timestamp = stamped
                evidence.append(
                    (
                        "timestamp",
                        "\(Timestamp.iso8601(stamped)) by \(authority ?? "an authority trusted by the policy")"
                    ))
                evidence.append(("validatedAt", Timestamp.iso8601(stamped) + " (the time-stamp's time)"))
            }
        } else {
            evidence.append(("validatedAt", Timestamp.iso8601(now) + " (now; no time-stamp token)"))
        }
        chain = ChainValidator.validate(
            signer, untrusted: untrusted, roots: policy.trustedRoots, crls: policy.crls, revocation: policy.revocation,
            at: time, isPastTime: time < now, securityLevel: policy.minimumSecurityLevel, requiredPolicy: nil)
        crlFreshness = policy.crlFreshness(path: chain.chain.isEmpty ? [signer] : chain.chain, now: now)
        developmentRoot = chain.chain.last.map { $0.subject.contains(WellKnownOID.developmentMarker) } ?? false
        if failure != nil { return }
        if !chain.chain.isEmpty { evidence.append(("chain", chain.chain.map(\.subject).joined(separator: " <- "))) }
        evidence.append(
            (
                "revocation",
                policy.revocation == .disabled
                    ? "not checked (policy: none)"
                    : "checked against \(policy.crls.count) CRL(s) (policy: \(policy.revocation.rawValue))"
            ))
    }

    /// The chain judged again with `requiredPolicy` held along the whole path (RFC 5280 policy
    /// processing): how a role proven by a certificate policy is checked.
    func validate(requiredPolicy: String?) -> ChainValidation {
        ChainValidator.validate(
            signer, untrusted: untrusted, roots: policy.trustedRoots, crls: policy.crls, revocation: policy.revocation,
            at: time, isPastTime: time < now, securityLevel: policy.minimumSecurityLevel,
            requiredPolicy: requiredPolicy)
    }
}

extension SignerTrust {
    /// Why the signer does not prove `role` under the policy, or nil when it does: the chain is
    /// valid and trusted (a development root only under a development policy), the certificate has
    /// the code-signing usage, matches the role's rule, and a role proven by a certificate policy
    /// holds along the whole path. What a bundle signature needs, for any other signed statement.
    func refusal(role: String, signer: Certificate) -> String? {
        if let failure { return failure }
        if case .invalid(let reason, _, _) = chain {
            return "the signer's certificate is not trusted by the policy: \(reason)"
        }
        if developmentRoot && !policy.development {
            return "the signer chains to a development root (\(root?.subject ?? "")), which this policy does not accept"
        }
        guard signer.extendedKeyUsages.contains(WellKnownOID.codeSigning) else {
            return "the signer's certificate lacks the code-signing extended key usage (\(WellKnownOID.codeSigning))"
        }
        guard let rule = policy.roles[role] else { return "the trust policy does not define the role \"\(role)\"" }
        guard rule.matches(signer) else {
            let how = [
                rule.certificatePolicy.map { "certificate policy \($0)" },
                rule.subjectOU.map { "subject OU \"\($0)\"" },
            ].compactMap { $0 }.joined(separator: " and ")
            return "the signer \"\(signer.subject)\" does not prove role \"\(role)\" (needs \(how))"
        }
        if let oid = rule.certificatePolicy, case .invalid(let reason, _, _) = validate(requiredPolicy: oid) {
            return "the certificate carries role \"\(role)\"'s policy, but the path does not allow it: \(reason)"
        }
        return nil
    }
}
