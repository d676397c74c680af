import FuzzSupport

// Fuzz target: the licence protocol's parsers, on both sides:
//   - LicenseGrant.parse (the grant bytes the installer receives, signed or in a licence file);
//   - ActivationRequest.parse (the body the licence server receives from any authenticated client);
//   - an offline licence file as `verify --license-file` reads it: JSON, the format tag,
//     SignedGrant.parse (base64 grant and CMS signature), then GrantVerifier.verify against the
//     fuzzing PKI's trust policy at the fixed time, expecting the seed licence's bundle and site.
// Invariant: a grant that parses is in canonical form and parses again to itself.
@testable import IVPack

@main enum FuzzLicenseGrantMain {
    static func main() { runFuzzer(fuzzLicense) }
}

/// What the seed licence file (corpus/FuzzLicenseGrant/licence-file.json) was issued for.
let expectation = GrantExpectation(
    product: "PulmoScan AI", version: "V2.3.1.1024",
    manifestSHA256: (try? String(contentsOfFile: fuzzDirectory + "/pki/licence-manifest-sha256", encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines) ?? String(repeating: "0", count: 64),
    siteID: "SITE-FUZZ", nonce: nil)

func fuzzLicense(_ bytes: [UInt8]) {
    switch LicenseGrant.parse(bytes) {
    case .success(let grant):
        fuzzCheck(grant.canonicalBytes == bytes, "a parsed grant is not its canonical bytes")
        fuzzCheck(
            (try? LicenseGrant.parse(grant.canonicalBytes).get()) == grant, "a grant does not parse again to itself")
    case .failure(let e):
        _ = e.json
    }
    switch ActivationRequest.parse(bytes) {
    case .success(let request):
        fuzzCheck(
            (try? ActivationRequest.parse(CanonicalJSON.encode(request.json)).get()) == request,
            "a request does not parse again to itself")
    case .failure(let e):
        _ = e.json
    }
    guard let value = try? JSONParser.parse(bytes, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 4)) else { return }
    // LicenseCheck.offline refuses a file without the format tag; the fuzzer may still reach the
    // signature check without it.
    _ = value["format"]?.stringValue == SignedGrant.licenseFileFormat
    guard let signed = SignedGrant.parse(value) else { return }
    switch GrantVerifier.verify(signed, expected: expectation, policy: fuzzTrustPolicy, now: fuzzNow) {
    case .success(let (grant, signer)):
        _ = (grant.licenseID, signer)
    case .failure(let e):
        _ = e.message
    }
    var online = expectation
    online.nonce = String(repeating: "ab", count: 32)
    _ = GrantVerifier.verify(signed, expected: online, policy: fuzzTrustPolicy, now: fuzzNow)
}
