import Foundation
import IVPack

/// The licence and installer-credential check of `verify`, as one check of its report.
public enum LicenseCheck {

    /// Online: asks the licence server (mutual TLS) and verifies the signed grant.
    public static func online(options: LicenseClientOptions, policy: TrustPolicy, product: String, version: String,
                              manifestSHA256: SHA256Digest) async -> Check {
        let client = LicenseClient(options: options, policy: policy)
        let result = await client.activate(product: product, version: version, manifestSHA256: manifestSHA256.hex)
        switch result {
        case .success(let (grant, signer)):
            return Check(.license, status: .pass, evidence: evidence(grant, signer: signer) + [("server", options.serverURL)])
        case .failure(let failure):
            return Check(.license, status: .fail, details: ["\(failure.code): \(failure.message)"],
                         evidence: [("server", options.serverURL), ("site", options.siteID)])
        }
    }

    /// Offline: checks a signed licence file (for an air-gapped site) the same way, but for the nonce.
    public static func offline(file: String, siteID: String, policy: TrustPolicy, product: String, version: String,
                               manifestSHA256: SHA256Digest, now: Int64) -> Check {
        let title = "Licensed for this site, by a signed offline licence file"
        let bytes: [UInt8]
        do {
            bytes = try InputFile.readAll(path: file, limit: 1 << 20)
        } catch {
            return Check(.license, title: title, status: .fail, details: ["\(error)"])
        }
        guard let value = try? JSONParser.parse(bytes, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 4)),
              value["format"]?.stringValue == SignedGrant.licenseFileFormat, let signed = SignedGrant.parse(value) else {
            return Check(.license, title: title, status: .fail, details: ["\(file) is not an ivpack licence file (\(SignedGrant.licenseFileFormat))"])
        }
        let expectation = GrantExpectation(product: product, version: version, manifestSHA256: manifestSHA256.hex, siteID: siteID, nonce: nil)
        switch GrantVerifier.verify(signed, expected: expectation, policy: policy, now: now) {
        case .success(let (grant, signer)):
            return Check(.license, title: title, status: .pass, evidence: evidence(grant, signer: signer) + [("file", file)])
        case .failure(let e):
            return Check(.license, title: title, status: .fail, details: ["\(e.code): \(e.message)"], evidence: [("file", file)])
        }
    }

    static func evidence(_ g: LicenseGrant, signer: String) -> [(key: String, value: String)] {
        [("licenseID", g.licenseID), ("site", g.siteID), ("versions", "\(g.minimumVersion) to \(g.maximumVersion)"),
         ("licenseValidUntil", Timestamp.iso8601(g.licenseNotAfter)), ("grantIssuedAt", Timestamp.iso8601(g.issuedAt)),
         ("grantValidUntil", Timestamp.iso8601(g.notAfter)), ("installer", g.installerSubject),
         ("installerCertificateSHA256", g.installerFingerprint), ("activation", g.activationID == 0 ? "offline" : String(g.activationID)),
         ("grantSigner", signer)]
    }
}
