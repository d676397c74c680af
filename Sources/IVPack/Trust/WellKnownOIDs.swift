/// Object identifiers ivpack uses. The role OIDs are UUID-based (ITU-T X.667 arc 2.25), minted once
/// for ivpack and never reused for anything else; a site may map roles to its own OIDs in its policy.
public enum WellKnownOID {
    /// Extended key usage: code signing (RFC 5280).
    public static let codeSigning = "1.3.6.1.5.5.7.3.3"
    /// Extended key usage: TLS client authentication.
    public static let clientAuth = "1.3.6.1.5.5.7.3.2"
    /// Extended key usage: TLS server authentication.
    public static let serverAuth = "1.3.6.1.5.5.7.3.1"
    /// Extended key usage: time stamping (RFC 3161 authorities).
    public static let timeStamping = "1.3.6.1.5.5.7.3.8"

    /// Certificate policy proving the release-manager role.
    public static let roleReleaseManager = "2.25.37909035778985983080828668243002308620"
    /// Certificate policy proving the quality (second approver) role.
    public static let roleQuality = "2.25.261145825710450062598460754844276917613"
    /// Certificate policy of installer client certificates.
    public static let roleInstaller = "2.25.58610526101530584067834871760807862814"
    /// Certificate policy of licence operator client certificates: the licence server's admin API
    /// (`/v1/admin/...`) answers only a client certificate that carries it.
    public static let roleLicenseOperator = "2.25.38697765871022811781661302515557442645"
    /// Certificate policy of the hospital's reviewer of IQ reports (审核人), who signs a report as reviewed.
    public static let roleHospitalReviewer = "2.25.41054068985983710855343861885436036682"
    /// Certificate policy of the vendor's issuer of IQ reports (签发人), who signs a report as approved.
    public static let roleVendorIssuer = "2.25.154523951155026899988174998361839623660"
    /// Certificate policy of trust-update keys: the keys whose threshold signs a site's trust
    /// updates (`ivpack trust bundle`, `ivpack trust update`).
    public static let roleTrustUpdate = "2.25.239106599681037604345148042130222702201"
    /// Extended key usage: document signing (RFC 9336), on the development reviewer and issuer certificates.
    public static let documentSigning = "1.3.6.1.5.5.7.3.36"
    /// Extended key usage of the licence-grant signing certificate.
    public static let licenseSigning = "2.25.289675722907848550258275998792337608326"

    /// Time-stamp policy of the development time-stamping authority.
    public static let developmentTimestampPolicy = "2.25.142439299932142744939366976134361639488"

    /// Marker that a certificate belongs to a development PKI: every subject of one carries it.
    public static let developmentMarker = "DEVELOPMENT"
}
