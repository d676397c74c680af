import Foundation
import IVPack

/// A built bundle, a development PKI, and helpers to sign and verify: the base of sign/verify tests.
public final class SignedRelease: @unchecked Sendable {
    public let release: ReleaseFixture
    public let folder: TemporaryFolder
    public let pki: DevelopmentPKILayout
    public let bundle: String
    public let built: BuildResult
    public let now: Int64

    /// Builds the fixture release and creates a development PKI; signs with the given roles.
    public init(signedBy roles: [String] = ["release-manager", "quality"]) throws {
        release = ReleaseFixture()
        folder = TemporaryFolder("ivpack-signed")
        now = Timestamp.now()
        pki = try DevelopmentPKI.create(in: folder.url("pki"), now: now - 3600)
        bundle = folder.url("b.ivp")
        built = try release.build(to: bundle)
        for role in roles { try sign(role: role) }
    }

    /// The signer identity of a role of the development PKI.
    public func signer(_ role: String) -> DevelopmentPKILayout.Signer {
        role == "quality" ? pki.quality : pki.releaseManager
    }

    /// Signs `bundle` (default: the built one) as `role` with `identity` (default: the role's signer).
    /// The role is not checked unless `checkRole`: tests sign what another tool could (a
    /// certificate that does not prove the role it claims), which verify must refuse.
    public func sign(
        role: String, identity: DevelopmentPKILayout.Signer? = nil, bundle path: String? = nil, at time: Int64? = nil,
        timestampAuthority: String? = nil, timestampTimeout: Int = 10, checkRole: Bool = false
    ) throws {
        let id = identity ?? signer(role)
        let certs = try Certificate.load(file: id.certificate)
        _ = try BundleSigner.sign(
            bundlePath: path ?? bundle, certificate: certs[0],
            key: try PrivateKey.load(file: id.key, passphrase: nil),
            chain: try Certificate.load(file: id.chain), role: role, now: time ?? now,
            timestampAuthority: timestampAuthority, timestampTimeout: timestampTimeout, checkRole: checkRole)
    }

    /// A local RFC 3161 authority with this PKI's TSA identity, its clock fixed at `time`.
    public func timestampAuthority(at time: Int64? = nil, pki other: DevelopmentPKILayout? = nil) throws
        -> LocalTimestampAuthority
    {
        let layout = other ?? pki
        return try LocalTimestampAuthority(
            certificate: layout.timestampAuthority.certificate, key: layout.timestampAuthority.key,
            chain: layout.intermediateCertificate, time: time)
    }

    /// The development trust policy, optionally with extra YAML lines replacing `minimumVersions: {}`.
    public func policy(minimumVersions: String? = nil) throws -> TrustPolicy {
        if let minimumVersions {
            let text = String(decoding: FileManager.default.contents(atPath: pki.trustPolicy)!, as: UTF8.self)
                .replacingOccurrences(of: "minimumVersions: {}", with: "minimumVersions:\n  \(minimumVersions)")
            let path = pki.directory + "/policy-min.yaml"
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            return try TrustPolicy.load(path: path)
        }
        return try TrustPolicy.load(path: pki.trustPolicy)
    }

    /// Verifies `path` (default: the bundle) with the development policy.
    public func verify(_ path: String? = nil, policy: TrustPolicy? = nil, at time: Int64? = nil) throws -> VerifyReport
    {
        try BundleVerifier.verify(
            bundlePath: path ?? bundle, policy: policy ?? self.policy(), now: time ?? Timestamp.now())
    }
}

extension VerifyReport {
    /// The checks that failed, by id.
    public var failedIDs: [CheckID] { checks.filter { $0.status == .fail }.map(\.id) }

    /// Every failure detail, joined, for assertions on messages.
    public var failureText: String {
        checks.filter { $0.status == .fail }.flatMap { [$0.id.rawValue] + $0.details }.joined(separator: "\n")
    }
}
