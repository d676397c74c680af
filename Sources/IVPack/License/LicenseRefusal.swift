/// Why the licence server said no. The raw value is the machine-readable code in the protocol.
public enum LicenseRefusal: String, Sendable, Error, CaseIterable {
    case noLicense = "no-license"
    case notYetValid = "license-not-yet-valid"
    case expired = "license-expired"
    case revoked = "license-revoked"
    case wrongSite = "wrong-site"
    case versionNotCovered = "version-not-covered"
    case seatsExhausted = "seats-exhausted"
    /// The manifest digest names no bundle the vendor registered (`ivpack license register`).
    case unregisteredRelease = "unregistered-release"
    /// The bundle is registered under another product or version than the request names.
    case releaseMismatch = "release-mismatch"
    /// The bundle is encrypted and the installer's certificate cannot receive its content key.
    case installerCannotReceiveKey = "installer-cannot-receive-key"

    /// Words for the installer.
    public var explanation: String {
        switch self {
        case .noLicense: return "no licence for this product exists for this site"
        case .notYetValid: return "the licence is not valid yet"
        case .expired: return "the licence has expired"
        case .revoked: return "the licence has been revoked"
        case .wrongSite: return "the licence is for another site"
        case .versionNotCovered: return "the licence does not cover this version"
        case .seatsExhausted: return "every seat of the licence is in use"
        case .unregisteredRelease:
            return
                "the licence server does not know this bundle (its manifest digest was never registered): "
                + "use a bundle the vendor released; the vendor registers each released bundle with "
                + "`ivpack license register BUNDLE`"
        case .releaseMismatch:
            return
                "the bundle is registered with the licence server under another product or version than the request names: "
                + "check the bundle; report to the vendor"
        case .installerCannotReceiveKey:
            return
                "the bundle is encrypted and the installer's certificate cannot receive its content key "
                + "(an RSA key needs the keyEncipherment usage, an EC key keyAgreement, or no key usage extension): "
                + "ask the vendor for an installer certificate that can"
        }
    }

    /// The refusal as the server's JSON error body carries it.
    public var protocolError: ProtocolError { ProtocolError(code: rawValue, message: explanation) }
}

/// Why the installer refused a signed grant (from the server or an offline licence file): one case
/// per cause, with what the message names. `code` is the machine-readable code verify reports.
public enum GrantRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// The signature is not CMS, or carries no signer certificate.
    case signatureUnreadable
    /// The signature does not match the grant's bytes.
    case signatureMismatch(problem: String)
    /// The signer does not chain to the policy's roots.
    case signerUntrusted(reason: String)
    /// The signer chains to a development root and the policy is not a development one.
    case signerDevelopmentRoot
    /// The signer's certificate lacks the licence-signing usage.
    case signerNotLicenseSigning
    /// The grant's bytes are not a canonical grant.
    case malformed(problem: String)
    /// The grant answers another request.
    case replayed(grantNonce: String, expectedNonce: String)
    /// An online grant offered as an offline licence file.
    case notOffline
    /// The grant is for another bundle.
    case wrongBundle(granted: String, expected: String)
    /// The grant is for another site.
    case wrongSite(granted: String, expected: String)
    /// The grant is for another product.
    case wrongProduct(granted: String, expected: String)
    /// The grant's range does not cover the bundle's version.
    case versionNotCovered(minimum: String, maximum: String, version: String)
    /// The grant is issued later than this machine's clock allows.
    case notYetValid(issuedAt: Int64)
    /// The grant itself has expired.
    case grantExpired(notAfter: Int64)
    /// The licence the grant is for has expired.
    case licenseExpired(notAfter: Int64)

    /// The machine-readable code (`grant-replayed`, `license-expired`, …).
    public var code: String {
        switch self {
        case .signatureUnreadable, .signatureMismatch: return "grant-signature-invalid"
        case .signerUntrusted, .signerDevelopmentRoot, .signerNotLicenseSigning: return "grant-signer-untrusted"
        case .malformed: return "malformed-grant"
        case .replayed: return "grant-replayed"
        case .notOffline: return "grant-not-offline"
        case .wrongBundle: return "grant-wrong-bundle"
        case .wrongSite: return "grant-wrong-site"
        case .wrongProduct: return "grant-wrong-product"
        case .versionNotCovered: return "grant-version-not-covered"
        case .notYetValid: return "grant-not-yet-valid"
        case .grantExpired: return "grant-expired"
        case .licenseExpired: return "license-expired"
        }
    }

    /// What is wrong, for the installer.
    public var message: String {
        switch self {
        case .signatureUnreadable: return "the grant's signature is not a CMS signature with its signer's certificate"
        case .signatureMismatch(let problem): return "the grant's signature does not match the grant (\(problem))"
        case .signerUntrusted(let reason): return "the grant's signer is not trusted by the policy: \(reason)"
        case .signerDevelopmentRoot:
            return "the grant's signer chains to a development root, which this policy does not accept"
        case .signerNotLicenseSigning: return "the grant's signer lacks the licence-signing usage"
        case .malformed(let problem): return problem
        case .replayed(let grantNonce, let expectedNonce):
            return
                "the grant answers another request (nonce \(grantNonce.prefix(16))…, expected \(expectedNonce.prefix(16))…): a replayed grant"
        case .notOffline: return "the licence file carries an online grant; ask the vendor for an offline licence file"
        case .wrongBundle(let granted, let expected):
            return "the grant is for bundle manifest \(granted), not \(expected)"
        case .wrongSite(let granted, let expected): return "the grant is for site \(granted), not \(expected)"
        case .wrongProduct(let granted, let expected): return "the grant is for \(granted), not \(expected)"
        case .versionNotCovered(let minimum, let maximum, let version):
            return "the grant covers \(minimum) to \(maximum), not \(version)"
        case .notYetValid(let issuedAt):
            return "the grant is issued in the future (\(Timestamp.iso8601(issuedAt))); check the clocks"
        case .grantExpired(let notAfter): return "the grant expired at \(Timestamp.iso8601(notAfter))"
        case .licenseExpired(let notAfter): return "the licence expired at \(Timestamp.iso8601(notAfter))"
        }
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }

    /// The refusal as code and message.
    public var protocolError: ProtocolError { ProtocolError(code: code, message: message) }
}
