/// What a certificate for each ivpack role carries, so that a vendor's real CA can issue
/// certificates ivpack accepts (`ivpack keys csr --role ROLE`): the role's certificate policy
/// (the OID a trust policy's `roles` rule or ivpack's defaults look for), key usage and extended
/// key usage. The same values `ivpack keys init-dev` gives its development certificates.
public struct RoleProfile: Sendable, Equatable {
    public var role: String
    /// What the certificate is for, in a line.
    public var purpose: String
    /// The certificate policy OID that proves the role; nil for roles proven otherwise (the
    /// licence server's TLS, grant signing and escrow certificates are named in its
    /// configuration, not proven by a policy).
    public var policyOID: String?
    public var keyUsage: [String]
    public var extendedKeyUsage: [String]
    public var extendedKeyUsageIsCritical = false
    /// Whether the certificate needs subject alternative names (a TLS server).
    public var needsSubjectAltNames = false

    public static let all: [RoleProfile] = [
        RoleProfile(
            role: "release-manager", purpose: "signs bundles as release manager (ivpack sign --role release-manager)",
            policyOID: WellKnownOID.roleReleaseManager, keyUsage: ["digitalSignature"],
            extendedKeyUsage: [WellKnownOID.codeSigning]),
        RoleProfile(
            role: "quality", purpose: "signs bundles as the quality approver (ivpack sign --role quality)",
            policyOID: WellKnownOID.roleQuality, keyUsage: ["digitalSignature"],
            extendedKeyUsage: [WellKnownOID.codeSigning]),
        RoleProfile(
            role: "installer",
            purpose:
                "the installer's TLS client certificate for the licence server; receives content keys (keyAgreement) and signs IQ reports as installer",
            policyOID: WellKnownOID.roleInstaller, keyUsage: ["digitalSignature", "keyAgreement"],
            extendedKeyUsage: [WellKnownOID.clientAuth]),
        RoleProfile(
            role: "license-operator",
            purpose:
                "the licence operator's TLS client certificate for the licence server's admin API (issue, revoke, list)",
            policyOID: WellKnownOID.roleLicenseOperator, keyUsage: ["digitalSignature"],
            extendedKeyUsage: [WellKnownOID.clientAuth]),
        RoleProfile(
            role: "hospital-reviewer", purpose: "signs IQ reports off as reviewed (ivpack sign-report)",
            policyOID: WellKnownOID.roleHospitalReviewer, keyUsage: ["digitalSignature"],
            extendedKeyUsage: [WellKnownOID.documentSigning]),
        RoleProfile(
            role: "vendor-issuer", purpose: "signs IQ reports off as approved and issued (ivpack sign-report)",
            policyOID: WellKnownOID.roleVendorIssuer, keyUsage: ["digitalSignature"],
            extendedKeyUsage: [WellKnownOID.documentSigning]),
        RoleProfile(
            role: "trust-update",
            purpose: "signs a site's trust updates, one of a threshold of keys (ivpack trust bundle)",
            policyOID: WellKnownOID.roleTrustUpdate, keyUsage: ["digitalSignature"],
            extendedKeyUsage: [WellKnownOID.documentSigning]),
        RoleProfile(
            role: "license-server", purpose: "the licence server's TLS server certificate (needs --dns or --ip)",
            policyOID: nil, keyUsage: ["digitalSignature"], extendedKeyUsage: [WellKnownOID.serverAuth],
            needsSubjectAltNames: true),
        RoleProfile(
            role: "license-signing", purpose: "signs licence grants and offline licence files",
            policyOID: nil, keyUsage: ["digitalSignature"], extendedKeyUsage: [WellKnownOID.licenseSigning]),
        RoleProfile(
            role: "license-escrow",
            purpose: "the licence server's escrow certificate: encrypted bundles' content keys are wrapped to it",
            policyOID: nil, keyUsage: ["keyAgreement"], extendedKeyUsage: []),
    ]

    /// The profile of `role`, or nil.
    public static func named(_ role: String) -> RoleProfile? { all.first { $0.role == role } }
}
