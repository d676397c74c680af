import IVPack

/// One term of a licence that a use of it breaks: why the licence cannot license a bundle.
public enum LicenseIneligibility: Sendable, Equatable, CustomStringConvertible {
    /// The licence is revoked.
    case revoked
    /// The licence's validity has not begun.
    case notYetValid(from: Int64)
    /// The licence's validity has ended.
    case expired(at: Int64)
    /// The licence is for another product.
    case otherProduct(licensed: String, requested: String)
    /// The licence is for another site.
    case otherSite(licensed: String, requested: String)
    /// The licence's range does not cover the bundle's version.
    case versionNotCovered(minimum: String, maximum: String, version: String)
    /// Every seat is taken by another bundle.
    case seatsExhausted(seats: Int)

    /// What the licence server answers an installer for it.
    public var refusal: LicenseRefusal {
        switch self {
        case .revoked: return .revoked
        case .notYetValid: return .notYetValid
        case .expired: return .expired
        case .otherProduct: return .noLicense
        case .otherSite: return .wrongSite
        case .versionNotCovered: return .versionNotCovered
        case .seatsExhausted: return .seatsExhausted
        }
    }

    /// The operator's words, as `license export` prints them.
    public var description: String {
        switch self {
        case .revoked: return "the licence is revoked"
        case .notYetValid(let from): return "the licence is not valid before \(Timestamp.iso8601(from))"
        case .expired: return "the licence has expired"
        case .otherProduct(let licensed, let requested):
            return "the licence is for \(licensed), the bundle is \(requested)"
        case .otherSite(let licensed, let requested): return "the licence is for site \(licensed), not \(requested)"
        case .versionNotCovered(let minimum, let maximum, let version):
            return "the licence covers \(minimum) to \(maximum), not \(version)"
        case .seatsExhausted(let seats): return "every seat of the licence is in use (\(seats))"
        }
    }
}

extension License {
    /// The versions the licence covers; nil when its bounds are not versions of numeric fields
    /// (then it covers none).
    public var versionRange: VersionRange? { VersionRange(minimum: minimumVersion, maximum: maximumVersion) }

    /// The licence rule, the one the server's activation and `license export` both apply: every
    /// term this licence breaks for `product` at `version` at time `now`, in this order: revoked,
    /// not yet valid, expired, product, site, version, seats. Empty when the licence covers the use.
    ///
    /// `siteID` nil leaves the site out (an offline file is made for the licence's own site);
    /// `seatsInUse` nil leaves the seats out (a retry of an existing activation, or an offline
    /// file, takes no seat).
    public func ineligibilities(
        product: String, version: String, siteID: String?, seatsInUse: Int?,
        at now: Int64
    ) -> [LicenseIneligibility] {
        var out: [LicenseIneligibility] = []
        if revokedAt != nil { out.append(.revoked) }
        if now < notBefore { out.append(.notYetValid(from: notBefore)) }
        if now > notAfter { out.append(.expired(at: notAfter)) }
        if product != self.product { out.append(.otherProduct(licensed: self.product, requested: product)) }
        if let siteID, siteID != self.siteID { out.append(.otherSite(licensed: self.siteID, requested: siteID)) }
        if !(versionRange?.contains(version) ?? false) {
            out.append(.versionNotCovered(minimum: minimumVersion, maximum: maximumVersion, version: version))
        }
        if let seatsInUse, seatsInUse >= seats { out.append(.seatsExhausted(seats: seats)) }
        return out
    }
}
