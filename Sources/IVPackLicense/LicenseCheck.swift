import Foundation
import IVPack

/// The vendor's licence server, asked over mutual TLS with the installer's certificate; its signed
/// grant is verified against the site's trust policy (`LicenseClient`).
public struct LicenseServerAuthority: LicenseAuthority {
    /// Where and how the server is reached, and the site asking.
    public var options: LicenseClientOptions
    /// The site's trust policy, which judges the server and the grant's signer.
    public var policy: TrustPolicy

    /// The server of `options`, judged by `policy`.
    public init(options: LicenseClientOptions, policy: TrustPolicy) {
        self.options = options
        self.policy = policy
    }

    /// Asks for a grant for the bundle (taking a seat on first activation) and verifies it.
    public func decide(_ subject: LicenseSubject) async -> LicenseDecision {
        await decideReleasingKey(subject, keyCheckValue: nil).decision
    }

    /// Asks for a grant as `decide` does and unwraps the content key it releases with the
    /// installer's client certificate and key (the ones the licence was asked with), checked
    /// against the manifest's `keyCheckValue`.
    public func decideReleasingKey(_ subject: LicenseSubject, keyCheckValue: String) async -> LicenseKeyRelease {
        await decideReleasingKey(subject, keyCheckValue: .some(keyCheckValue))
    }

    func decideReleasingKey(_ subject: LicenseSubject, keyCheckValue: String?) async -> LicenseKeyRelease {
        let client = LicenseClient(options: options, policy: policy)
        let activation = await client.activateWithFailover(
            product: subject.product, version: subject.version, manifestSHA256: subject.manifestSHA256.hex)
        let servers = Self.serverEvidence(activation, options: options)
        switch activation.result {
        case .success(let (grant, signer)):
            let evidence = LicenseCheck.evidence(grant, signer: signer) + servers
            guard let keyCheckValue else {
                return LicenseKeyRelease(decision: .licensed(evidence: evidence), contentKey: nil)
            }
            do {
                let key = try grant.unwrapContentKey(
                    certificateFile: options.clientCertificate, keyFile: options.clientKey,
                    passphrase: options.clientKeyPassphrase, expectedCheckValue: keyCheckValue)
                return LicenseKeyRelease(
                    decision: .licensed(evidence: evidence + [("contentKey", "released by the licence server")]),
                    contentKey: key)
            } catch {
                return LicenseKeyRelease(
                    decision: .refused(details: [error.description], evidence: evidence), contentKey: nil)
            }
        case .failure(let failure):
            return LicenseKeyRelease(
                decision: .refused(
                    details: ["\(failure.code): \(failure.message)"], evidence: servers + [("site", options.siteID)]),
                contentKey: nil)
        }
    }
}

extension LicenseServerAuthority {
    /// `server`: the one that answered (or, when none did, the first asked); `serversSkipped`: each
    /// attempt that found no answer, as `URL: code`, in order.
    static func serverEvidence(_ activation: LicenseActivation, options: LicenseClientOptions) -> [(
        key: String, value: String
    )] {
        var evidence: [(key: String, value: String)] = [("server", activation.answeredBy ?? options.serverURL)]
        if options.serverURLs.count > 1 { evidence.append(("servers", options.serverURLs.joined(separator: ", "))) }
        if !activation.skipped.isEmpty {
            evidence.append(
                (
                    "serversSkipped",
                    activation.skipped.map { "\($0.server): \($0.failure.code)" }.joined(separator: "; ")
                ))
        }
        return evidence
    }
}

/// A signed offline licence file, for an air-gapped site: checked as a grant is, but for the nonce.
public struct LicenseFileAuthority: LicenseAuthority {
    /// The licence file.
    public var file: String
    /// This site's identifier, as licensed.
    public var siteID: String
    /// The site's trust policy, which judges the file's signer.
    public var policy: TrustPolicy
    /// The time the file's validity is judged at; this machine's clock when it decides by default.
    public var clock: @Sendable () -> Int64
    /// The site's certificate and private key (PEM files) that an encrypted bundle's content key
    /// in the file is wrapped to (`license export --offline --site-cert`); nil when not given.
    public var siteCertificate: String?
    public var siteKey: String?
    /// The passphrase of an encrypted site key.
    public var siteKeyPassphrase: [UInt8]?

    /// The licence file `file` for site `siteID`, judged by `policy` at `clock()`.
    public init(
        file: String, siteID: String, policy: TrustPolicy, clock: @escaping @Sendable () -> Int64 = Timestamp.now,
        siteCertificate: String? = nil, siteKey: String? = nil, siteKeyPassphrase: [UInt8]? = nil
    ) {
        self.file = file
        self.siteID = siteID
        self.policy = policy
        self.clock = clock
        self.siteCertificate = siteCertificate
        self.siteKey = siteKey
        self.siteKeyPassphrase = siteKeyPassphrase
    }

    public var checkTitle: String { "Licensed for this site, by a signed offline licence file" }

    /// Reads the file (at most 1 MiB) and verifies its grant for the bundle and this site.
    public func decide(_ subject: LicenseSubject) async -> LicenseDecision { decideNow(subject) }

    /// Checks the file as `decide` does and unwraps the content key it carries with the site's
    /// certificate and key, checked against the manifest's `keyCheckValue`.
    public func decideReleasingKey(_ subject: LicenseSubject, keyCheckValue: String) async -> LicenseKeyRelease {
        decideReleasingKeyNow(subject, keyCheckValue: keyCheckValue)
    }

    /// `decideReleasingKey` without waiting.
    public func decideReleasingKeyNow(_ subject: LicenseSubject, keyCheckValue: String) -> LicenseKeyRelease {
        let (decision, grant) = decideWithGrant(subject)
        guard case .licensed(let evidence) = decision, let grant else {
            return LicenseKeyRelease(decision: decision, contentKey: nil)
        }
        guard let siteCertificate, let siteKey else {
            return LicenseKeyRelease(
                decision: .refused(
                    details: [
                        "client-credential: the bundle is encrypted: its content key in the licence file is wrapped to the site's certificate; give the site's certificate and private key"
                    ], evidence: evidence), contentKey: nil)
        }
        do {
            let key = try grant.unwrapContentKey(
                certificateFile: siteCertificate, keyFile: siteKey, passphrase: siteKeyPassphrase,
                expectedCheckValue: keyCheckValue)
            return LicenseKeyRelease(
                decision: .licensed(evidence: evidence + [("contentKey", "in the licence file, for the site")]),
                contentKey: key)
        } catch {
            return LicenseKeyRelease(
                decision: .refused(details: [error.description], evidence: evidence), contentKey: nil)
        }
    }

    func decideNow(_ subject: LicenseSubject) -> LicenseDecision { decideWithGrant(subject).0 }

    func decideWithGrant(_ subject: LicenseSubject) -> (LicenseDecision, LicenseGrant?) {
        let bytes: [UInt8]
        do {
            bytes = try InputFile.readAll(path: file, limit: 1 << 20)
        } catch {
            return (.refused(details: ["\(error)"], evidence: []), nil)
        }
        guard let value = try? JSONParser.parse(bytes, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 4)),
            value["format"]?.stringValue == SignedGrant.licenseFileFormat, let signed = SignedGrant.parse(value)
        else {
            return (
                .refused(
                    details: ["\(file) is not an ivpack licence file (\(SignedGrant.licenseFileFormat))"], evidence: []),
                nil
            )
        }
        let expectation = GrantExpectation(
            product: subject.product, version: subject.version, manifestSHA256: subject.manifestSHA256.hex,
            siteID: siteID, nonce: nil)
        switch GrantVerifier.check(signed, expected: expectation, policy: policy, now: clock()) {
        case .success(let (grant, signer)):
            return (.licensed(evidence: LicenseCheck.evidence(grant, signer: signer) + [("file", file)]), grant)
        case .failure(let e):
            return (.refused(details: ["\(e.code): \(e.message)"], evidence: [("file", file)]), nil)
        }
    }
}

/// The licence check of `verify` on its own, as one check of a report: what `LicenseRequirement`
/// reports for the online and the offline authority.
public enum LicenseCheck {

    /// Online: asks the licence server (mutual TLS) and verifies the signed grant.
    public static func online(
        options: LicenseClientOptions, policy: TrustPolicy, product: String, version: String,
        manifestSHA256: SHA256Digest
    ) async -> Check {
        let authority = LicenseServerAuthority(options: options, policy: policy)
        let subject = LicenseSubject(product: product, version: version, manifestSHA256: manifestSHA256)
        return LicenseRequirement(title: authority.checkTitle, decision: await authority.decide(subject)).check
    }

    /// Offline: checks a signed licence file (for an air-gapped site) the same way, but for the nonce.
    public static func offline(
        file: String, siteID: String, policy: TrustPolicy, product: String, version: String,
        manifestSHA256: SHA256Digest, now: Int64
    ) -> Check {
        let authority = LicenseFileAuthority(file: file, siteID: siteID, policy: policy, clock: { now })
        let subject = LicenseSubject(product: product, version: version, manifestSHA256: manifestSHA256)
        return LicenseRequirement(title: authority.checkTitle, decision: authority.decideNow(subject)).check
    }

    static func evidence(_ g: LicenseGrant, signer: String) -> [(key: String, value: String)] {
        [
            ("licenseID", g.licenseID), ("site", g.siteID), ("versions", "\(g.minimumVersion) to \(g.maximumVersion)"),
            ("licenseValidUntil", Timestamp.iso8601(g.licenseNotAfter)),
            ("grantIssuedAt", Timestamp.iso8601(g.issuedAt)),
            ("grantValidUntil", Timestamp.iso8601(g.notAfter)), ("installer", g.installerSubject),
            ("installerCertificateSHA256", g.installerFingerprint),
            ("activation", g.activationID == 0 ? "offline" : String(g.activationID)),
            ("grantSigner", signer),
        ]
    }
}
