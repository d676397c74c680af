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

    /// The decision for an encrypted bundle, with its content key when licensed: the key the
    /// grant releases, unwrapped for this installer (online) or site (offline) and checked against
    /// `keyCheckValue`, the manifest's signed check value. A licence that is refused releases no
    /// key; a grant whose key cannot be had is a refusal that names the reason (`GrantKeyError`'s
    /// code), so the caller never holds a decision "licensed" without the key. Never throws.
    func decideReleasingKey(_ subject: LicenseSubject, keyCheckValue: String) async -> LicenseKeyRelease
}

/// A licence decision and, when licensed, the bundle's content key (`decideReleasingKey`).
public struct LicenseKeyRelease: Sendable {
    /// The decision, as `decide` gives it; refused when the key could not be had.
    public var decision: LicenseDecision
    /// The content key when `decision` is licensed; nil otherwise. It zeroes itself when
    /// released: drop it as soon as the install no longer needs it.
    public var contentKey: ContentKey?

    /// A decision with its key.
    public init(decision: LicenseDecision, contentKey: ContentKey?) {
        self.decision = decision
        self.contentKey = contentKey
    }
}

extension LicenseAuthority {
    /// The catalogue's title of the `license` check.
    public var checkTitle: String { VerifyCheckCatalog.title(.license) }

    /// An authority that cannot release keys refuses every encrypted bundle, saying so.
    public func decideReleasingKey(_ subject: LicenseSubject, keyCheckValue: String) async -> LicenseKeyRelease {
        switch await decide(subject) {
        case .licensed(let evidence):
            return LicenseKeyRelease(
                decision: .refused(
                    details: [
                        "content-key-not-released: the bundle is encrypted and this licence authority releases no content keys"
                    ], evidence: evidence), contentKey: nil)
        case .refused(let details, let evidence):
            return LicenseKeyRelease(decision: .refused(details: details, evidence: evidence), contentKey: nil)
        }
    }
}
