/// The evaluation of one signature entry against the manifest and the trust policy.
struct SignatureCheck {
    var check: Check
    /// The role the signature proves, when it is valid.
    var role: String?
    var signer: String?
    /// Fingerprint of the signer's certificate, when the signature is valid.
    var certificate: SHA256Digest?
    var developmentRoot: Bool
    /// The freshness of the CRLs the signer's path relies on (`trust.crl-freshness`).
    var crlFreshness: [CRLFreshness] = []

    /// Checks, in order: the entry name, the CMS structure, the signature over the manifest, the
    /// signer's path to a trusted root (with revocation) at the signing moment, the code-signing
    /// usage, and the role the entry claims against what the certificate proves under the policy.
    static func evaluate(path: String, der: [UInt8], manifestBytes: [UInt8], policy: TrustPolicy, now: Int64)
        -> SignatureCheck
    {
        let parsedName = SignatureEntryName(path)
        // The reader passes only well-named entries; a name that does not parse keeps its text.
        let id = parsedName.map { CheckID.signature($0.index) } ?? CheckID(rawValue: "signature." + path)
        let claimed = parsedName?.role ?? "?"
        let title = "Signature \(path) (role \(claimed))"
        var crlFreshness: [CRLFreshness] = []
        func fail(_ detail: String, _ evidence: [(key: String, value: String)] = [], developmentRoot: Bool = false)
            -> SignatureCheck
        {
            SignatureCheck(
                check: Check(id, title: title, status: .fail, details: [detail], evidence: evidence),
                role: nil, signer: nil, certificate: nil, developmentRoot: developmentRoot, crlFreshness: crlFreshness)
        }
        let signed: SignedData
        do {
            signed = try SignedData.parse(der: der, source: path)
        } catch {
            return fail("not a valid CMS signature: \(error)")
        }
        guard let signer = signed.signerCertificate else {
            return fail("the signature does not carry its signer's certificate")
        }
        var evidence: [(key: String, value: String)] = [
            ("signer", signer.subject), ("issuer", signer.issuer), ("serial", signer.serialHex),
            ("certificateSHA256", signer.fingerprint.hex),
            ("validity", "\(Timestamp.iso8601(signer.notBefore)) to \(Timestamp.iso8601(signer.notAfter))"),
        ]
        if let t = signed.signingTime { evidence.append(("signingTime", Timestamp.iso8601(t))) }
        if case .invalid(let problem) = signed.verifySignature(content: manifestBytes) {
            return fail(
                "the signature does not match this manifest (\(problem)): the manifest or the signature was changed",
                evidence)
        }
        // The chain is judged at a valid RFC 3161 token's time, so a release stays verifiable
        // after its signing certificate expires; without one, now (SignerTrust).
        let trust = SignerTrust(signed: signed, signer: signer, policy: policy, now: now)
        evidence += trust.evidence
        if let failure = trust.failure { return fail(failure, evidence) }
        crlFreshness = trust.crlFreshness
        let chain = trust.chain
        let root = trust.root
        let developmentRoot = trust.developmentRoot
        if case .invalid(let reason, _, _) = chain {
            return fail(
                "the signer's certificate is not trusted by the policy: \(reason)"
                    + (trust.staleRevocation.map { ": " + $0 } ?? ""), evidence,
                developmentRoot: developmentRoot)
        }
        // A time-stamped signature is judged at the token's time, when the CRL may still have been
        // current; under `revocation: require` the CRL must be current now as well.
        if let stale = trust.staleRevocation {
            return fail(
                "the signer's revocation status cannot be confirmed: \(stale)", evidence,
                developmentRoot: developmentRoot)
        }
        if developmentRoot && !policy.development {
            return fail(
                "the signer chains to a development root (\(root?.subject ?? "")), which this policy does not accept",
                evidence, developmentRoot: true)
        }
        guard signer.extendedKeyUsages.contains(WellKnownOID.codeSigning) else {
            return fail(
                "the signer's certificate lacks the code-signing extended key usage (\(WellKnownOID.codeSigning))",
                evidence, developmentRoot: developmentRoot)
        }
        // A role proven by a certificate policy holds only when that policy holds along the whole
        // path (RFC 5280 policy processing): a CA that carries neither it nor anyPolicy cannot
        // issue role certificates, whatever the leaf says.
        var proven: [String] = []
        var refusedAlongPath: [String: String] = [:]
        for role in policy.roles(of: signer) {
            guard let oid = policy.roles[role]?.certificatePolicy else {
                proven.append(role)
                continue
            }
            switch trust.validate(requiredPolicy: oid) {
            case .valid: proven.append(role)
            case .invalid(let reason, _, _): refusedAlongPath[role] = reason
            }
        }
        evidence.append(("roles", proven.isEmpty ? "none" : proven.joined(separator: ", ")))
        guard parsedName != nil else {
            return fail("the entry name is not NNN-ROLE.p7s", evidence, developmentRoot: developmentRoot)
        }
        if let reason = refusedAlongPath[claimed] {
            return fail(
                "the entry claims role \"\(claimed)\"; the certificate carries its policy, but the path does not allow it: \(reason)",
                evidence, developmentRoot: developmentRoot)
        }
        guard proven.contains(claimed) else {
            let how =
                policy.roles[claimed].map { rule in
                    [
                        rule.certificatePolicy.map { "certificate policy \($0)" },
                        rule.subjectOU.map { "subject OU \"\($0)\"" },
                    ].compactMap { $0 }.joined(separator: " and ")
                } ?? "a role the policy does not define"
            return fail(
                "the entry claims role \"\(claimed)\" but the certificate does not prove it (needs \(how))", evidence,
                developmentRoot: developmentRoot)
        }
        return SignatureCheck(
            check: Check(id, title: title, status: .pass, evidence: evidence), role: claimed,
            signer: signer.subject, certificate: signer.fingerprint, developmentRoot: developmentRoot,
            crlFreshness: crlFreshness)
    }
}
