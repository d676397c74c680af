/// The bundle a licence authority is asked about.
public struct LicenseSubject: Sendable, Equatable {
    /// The product, as the manifest names it.
    public var product: String
    /// The release version, as the manifest records it.
    public var version: String
    /// The digest of the bundle's manifest: what a grant binds.
    public var manifestSHA256: SHA256Digest

    /// The bundle of `product` at `version` whose manifest has digest `manifestSHA256`.
    public init(product: String, version: String, manifestSHA256: SHA256Digest) {
        self.product = product
        self.version = version
        self.manifestSHA256 = manifestSHA256
    }
}

/// A licence authority's answer for one bundle, with the evidence the report records.
public enum LicenseDecision: Sendable {
    /// The installation is licensed; `evidence` says by which licence and grant.
    case licensed(evidence: [(key: String, value: String)])
    /// It is not, or no answer could be had; `details` say why, `evidence` where it was asked.
    case refused(details: [String], evidence: [(key: String, value: String)])
}

/// Who decides whether this site may install a bundle: the vendor's licence server over mutual
/// TLS, or a signed offline licence file (both in `IVPackLicense`). Verify asks it once the
/// bundle is read and reports the decision as its `license` check (`LicenseRequirement`), the way
/// a `SystemProbe` answers for the machine.
public protocol LicenseAuthority: Sendable {
    /// The title of the `license` check when this authority decides; the catalogue's by default.
    var checkTitle: String { get }

    /// The decision for `subject`. Never throws: an unreachable server or an unreadable file is a
    /// refusal that says so. It may wait on the network.
    func decide(_ subject: LicenseSubject) async -> LicenseDecision
}

extension LicenseAuthority {
    /// The catalogue's title of the `license` check.
    public var checkTitle: String { VerifyCheckCatalog.title(.license) }
}
