import ArgumentParser
import Foundation
import IVPack

struct SignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Add a CMS/X.509 signature for one role to a bundle, without rewriting its payload.",
        discussion: """
            Signs the bundle's manifest (CMS SignedData, DER, detached, SHA-256, with the signer's \
            certificate chain and signing time) and appends it as ivpack/signatures/NNN-ROLE.p7s. \
            Several roles may sign at different times; one certificate signs a bundle once. The cost \
            does not depend on the bundle's size. A passphrase for an encrypted key comes from \
            $IVPACK_KEY_PASSPHRASE or --passphrase-file, never from the command line; on a terminal \
            ivpack asks for it (echo off) when neither is set.

            A --key starting with pkcs11: is a PKCS#11 URI (RFC 7512) naming a key inside an HSM; \
            the key never leaves it. The module is the URI's ?module-path=, else \
            $IVPACK_PKCS11_MODULE, else SoftHSM2 (/usr/lib/softhsm/libsofthsm2.so). The PIN comes \
            from $IVPACK_PKCS11_PIN or --pin-file, never from the command line: a URI with \
            pin-value= is refused.

            Example:
              ivpack sign out/pulmoscan-V2.3.1.1024.ivp --role release-manager \\
                --key keys/signers/release-manager.key \\
                --cert keys/signers/release-manager.pem \\
                --chain keys/intermediate-ca.pem

            With --tsa URL, an RFC 3161 time-stamp token from that authority is embedded in the \
            signature, so that the signature stays verifiable after the signing certificate expires.

            The certificate must prove the role: under the rules of --trust POLICY when given, \
            else by ivpack's role certificate policies (what `ivpack keys csr --role` requests). \
            Without --role, the one role the certificate proves is used. A signature made with the \
            wrong role or certificate is replaced with --replace ROLE: the bundle is rewritten \
            beside itself and renamed into place (a kill leaves the old or the new bundle; needs \
            the bundle's size in free space).

            Example, a quality signature mistakenly made as qa:
              ivpack sign out/pulmoscan-V2.3.1.1024.ivp --replace qa --role quality \\
                --key keys/signers/quality.key --cert keys/signers/quality.pem

            Example with the key in an HSM:
              IVPACK_PKCS11_PIN=... ivpack sign out/pulmoscan-V2.3.1.1024.ivp \\
                --role release-manager \\
                --key 'pkcs11:token=release-signing;object=release-manager' \\
                --cert keys/signers/release-manager.pem \\
                --chain keys/intermediate-ca.pem
            """
    )

    @Argument(help: "The bundle to sign (changed in place).", completion: .file())
    var bundle: String

    @OptionGroup var identity: SigningIdentityOptions<KeyFileOrHSM>

    @Option(
        name: .long,
        help:
            "The role this signature stands for, e.g. release-manager or quality (default: the one role the certificate proves)."
    )
    var role: String?

    @Option(
        name: .long,
        help: "Replace the signature that claims this role (a wrong role or certificate), in place and crash-safely.")
    var replace: String?

    @Option(name: .long, help: "An RFC 3161 time-stamping authority (http:// or https://) to time-stamp the signature.")
    var tsa: String?

    @Option(name: .long, help: "Seconds to wait for the time-stamping authority.")
    var tsaTimeout: Int = 20

    @Option(name: .long, help: "A file whose first line is the HSM user PIN, for a pkcs11: key.", completion: .file())
    var pinFile: String?

    @Option(
        name: .long,
        help: "A trust policy: with requireGate, a valid passing gate attestation is a condition of signing.",
        completion: .file(extensions: ["yaml", "yml"]))
    var trust: String?

    @Flag(name: .long, help: "Approve although the release gate did not pass; needs --reason.")
    var overrideGate = false

    @Option(name: .long, help: "Why the gate is overridden: signed and recorded in the bundle, shown by verify.")
    var reason: String?

    @OptionGroup var outputOptions: JSONOutputOptions

    func validate() throws {
        if overrideGate && reason == nil { throw ValidationError("--override-gate needs --reason TEXT") }
        if reason != nil && !overrideGate { throw ValidationError("--reason goes with --override-gate") }
        if identity.keyIsPKCS11, identity.passphraseFile != nil {
            throw ValidationError("--passphrase-file is for a key file; a pkcs11: key takes --pin-file")
        }
        if !identity.keyIsPKCS11, pinFile != nil {
            throw ValidationError("--pin-file is for a pkcs11: key; a key file takes --passphrase-file")
        }
    }

    mutating func run() throws {
        try reportingErrors {
            let signer = try identity.load(pinFile: pinFile)
            let result = try BundleSigner.sign(
                bundlePath: bundle, identity: signer, role: role, now: Timestamp.now(),
                timestampAuthority: tsa, timestampTimeout: tsaTimeout,
                gate: GateApproval(
                    trust: try trust.map { try TrustPolicy.load(path: $0) }, overrideReason: overrideGate ? reason : nil
                ), replace: replace)
            if outputOptions.json {
                printJSON(
                    .object(
                        [
                            ("bundle", .string(bundle)), ("entry", .string(result.entry)),
                            ("role", .string(result.role)),
                            ("signer", .string(result.signer)), ("manifestSHA256", .string(result.manifestDigest.hex)),
                            ("signatures", .integer(result.signatureCount)), ("roleCheck", .string(result.roleCheck)),
                        ] + (result.gateOverride.map { [("gateOverride", JSONValue.string($0))] } ?? [])
                            + (result.replaced.map { [("replaced", JSONValue.string($0))] } ?? [])))
            } else {
                print("Signed \(bundle) as \(result.role): \(result.entry)")
                if let replaced = result.replaced { print("  replaced \(replaced)") }
                print("  \(result.roleCheck)")
                if let entry = result.gateOverride { print("  gate overridden, reason recorded in \(entry)") }
                print("  signer \(result.signer)")
                print(
                    "  manifest sha256 \(result.manifestDigest.hex); \(result.signatureCount) signature\(result.signatureCount == 1 ? "" : "s") in the bundle"
                )
            }
        }
    }
}
