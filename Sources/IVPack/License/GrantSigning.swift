import Foundation

/// A signed grant as it travels: the grant's canonical bytes and a detached CMS signature over them.
public struct SignedGrant: Sendable, Equatable {
    public var grantBytes: [UInt8]
    public var signature: [UInt8]

    public init(grantBytes: [UInt8], signature: [UInt8]) {
        self.grantBytes = grantBytes
        self.signature = signature
    }

    /// `{"grant": base64, "signature": base64}` (plus `format` for a licence file).
    public func json(format: String? = nil) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("grant", .string(Data(grantBytes).base64EncodedString())),
            ("signature", .string(Data(signature).base64EncodedString())),
        ]
        if let format { members.append(("format", .string(format))) }
        return .object(members)
    }

    /// Reads the transport form; nil when it is not one.
    public static func parse(_ value: JSONValue) -> SignedGrant? {
        guard let g = value["grant"]?.stringValue, let s = value["signature"]?.stringValue,
            let grant = Data(base64Encoded: g), let signature = Data(base64Encoded: s)
        else { return nil }
        return SignedGrant(grantBytes: [UInt8](grant), signature: [UInt8](signature))
    }

    /// The format tag of an offline licence file.
    public static let licenseFileFormat = "ivpack-license-file/1"
}

/// Signs grants with the licence-signing key: an end-entity certificate of at least security level 2
/// with the licence-signing usage.
public struct GrantSigner: Sendable {
    let certificate: Certificate
    let key: PrivateKey
    let chain: [Certificate]

    public init(certificate: Certificate, key: PrivateKey, chain: [Certificate]) throws {
        try SigningIdentityCheck.require(certificate, chain: chain, what: "licence-signing certificate")
        guard certificate.extendedKeyUsages.contains(WellKnownOID.licenseSigning) else {
            throw InputError.credential(
                file: "certificate \"\(certificate.subject)\"",
                problem: "lacks the licence-signing extended key usage (\(WellKnownOID.licenseSigning))",
                hint: "Use the licence-signing certificate")
        }
        self.certificate = certificate
        self.key = key
        self.chain = chain
    }

    /// A signer for `identity`, with the same checks as `init(certificate:key:chain:)`.
    public init(identity: SigningIdentity) throws {
        try self.init(certificate: identity.certificate, key: identity.key, chain: identity.chain)
    }

    public func sign(_ grant: LicenseGrant) throws -> SignedGrant {
        let bytes = grant.canonicalBytes
        let signature = try SignedData.sign(content: bytes, certificate: certificate, key: key, chain: chain)
        return SignedGrant(grantBytes: bytes, signature: signature.der)
    }
}

/// What the installer expects a grant to say.
public struct GrantExpectation: Sendable {
    public var product: String
    public var version: String
    public var manifestSHA256: String
    public var siteID: String
    /// The request's nonce; nil for an offline licence file (no nonce to bind).
    public var nonce: String?

    public init(product: String, version: String, manifestSHA256: String, siteID: String, nonce: String?) {
        self.product = product
        self.version = version
        self.manifestSHA256 = manifestSHA256
        self.siteID = siteID
        self.nonce = nonce
    }
}

/// Checks a signed grant against the site's trust policy and what was asked.
public enum GrantVerifier {
    /// Clock difference tolerated between server and installer.
    public static let clockSkewSeconds: Int64 = 300

    /// The grant, when its signature chains to the policy's roots with the licence-signing usage and
    /// it binds this bundle, site, product, version (and nonce), within its validity; otherwise why
    /// not, in the protocol's form (`check` gives the same decision with the refusal typed).
    public static func verify(
        _ signed: SignedGrant, expected: GrantExpectation, policy: TrustPolicy,
        now: Int64
    ) -> Result<(LicenseGrant, signer: String), ProtocolError> {
        check(signed, expected: expected, policy: policy, now: now).mapError(\.protocolError)
    }

    /// The grant, when it is good for what was asked (as `verify` says); otherwise the refusal.
    public static func check(
        _ signed: SignedGrant, expected: GrantExpectation, policy: TrustPolicy,
        now: Int64
    ) -> Result<(LicenseGrant, signer: String), GrantRefusal> {
        guard let cms = try? SignedData.parse(der: signed.signature, source: "grant signature"),
            let signer = cms.signerCertificate
        else {
            return .failure(.signatureUnreadable)
        }
        if case .invalid(let problem) = cms.verifySignature(content: signed.grantBytes) {
            return .failure(.signatureMismatch(problem: problem))
        }
        let chain = ChainValidator.validate(
            signer, untrusted: cms.certificates + policy.intermediates, roots: policy.trustedRoots,
            crls: policy.crls, revocation: policy.revocation, at: now,
            securityLevel: policy.minimumSecurityLevel)
        if case .invalid(let reason, _, _) = chain {
            return .failure(.signerUntrusted(reason: reason))
        }
        if !policy.development, let root = chain.chain.last, root.subject.contains(WellKnownOID.developmentMarker) {
            return .failure(.signerDevelopmentRoot)
        }
        guard signer.extendedKeyUsages.contains(WellKnownOID.licenseSigning) else {
            return .failure(.signerNotLicenseSigning)
        }
        let grant: LicenseGrant
        switch LicenseGrant.parse(signed.grantBytes) {
        case .success(let g): grant = g
        case .failure(let e): return .failure(.malformed(problem: e.message))
        }
        if let nonce = expected.nonce, grant.nonce != nonce {
            return .failure(.replayed(grantNonce: grant.nonce, expectedNonce: nonce))
        }
        if expected.nonce == nil, !grant.nonce.isEmpty {
            return .failure(.notOffline)
        }
        guard grant.manifestSHA256 == expected.manifestSHA256 else {
            return .failure(.wrongBundle(granted: grant.manifestSHA256, expected: expected.manifestSHA256))
        }
        guard grant.siteID == expected.siteID else {
            return .failure(.wrongSite(granted: grant.siteID, expected: expected.siteID))
        }
        guard grant.product == expected.product else {
            return .failure(.wrongProduct(granted: grant.product, expected: expected.product))
        }
        guard VersionRange.covers(expected.version, minimum: grant.minimumVersion, maximum: grant.maximumVersion) else {
            return .failure(
                .versionNotCovered(
                    minimum: grant.minimumVersion, maximum: grant.maximumVersion, version: expected.version))
        }
        guard now + clockSkewSeconds >= grant.issuedAt else { return .failure(.notYetValid(issuedAt: grant.issuedAt)) }
        guard now <= grant.notAfter else { return .failure(.grantExpired(notAfter: grant.notAfter)) }
        guard now <= grant.licenseNotAfter else { return .failure(.licenseExpired(notAfter: grant.licenseNotAfter)) }
        return .success((grant, signer.subject))
    }
}
