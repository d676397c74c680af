import FuzzSupport

// Fuzz target: the site trust policy (YAML), as `verify`, `check` and the licence client read it:
// TrustPolicy.parse (the step of TrustPolicy.load after reading the file). Certificate and CRL
// paths are taken from Fuzz/pki, which holds the public part of the fuzzing PKI, so a policy
// naming root-ca.pem, intermediate-ca.pem or crl/*.pem loads them; a policy that parses is then
// asked which roles each signer certificate proves.
@testable import IVPack

@main enum FuzzTrustPolicyMain {
    static func main() { runFuzzer(fuzzTrustPolicyInput) }
}

let pkiFolder = fuzzDirectory + "/pki"
let signerCertificates: [Certificate] = {
    var out: [Certificate] = []
    for name in ["signers/release-manager.pem", "signers/quality.pem"] {
        guard let certs = try? Certificate.load(file: pkiFolder + "/" + name) else {
            fatalError("fuzz setup: cannot load \(pkiFolder)/\(name)")
        }
        out += certs
    }
    return out
}()

func fuzzTrustPolicyInput(_ bytes: [UInt8]) {
    let policy: TrustPolicy
    do {
        policy = try TrustPolicy.parse(bytes: bytes, file: "trust-policy.yaml", folder: pkiFolder)
    } catch {
        _ = "\(error)"
        return
    }
    fuzzCheck(!policy.trustedRoots.isEmpty, "a policy without trusted roots was accepted")
    for role in policy.requiredRoles { fuzzCheck(policy.roles[role] != nil, "required role \(role) is not defined") }
    for certificate in signerCertificates { _ = policy.roles(of: certificate) }
    for (_, minimum) in policy.minimumVersions { _ = VersionOrder.compare("V2.3.1.1024", minimum) }
}
