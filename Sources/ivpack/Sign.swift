import ArgumentParser
import Foundation
import IVPack

struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a CMS/X.509 signature for one role to a bundle, without rewriting its payload.",
        discussion: """
        Signs the bundle's manifest (CMS SignedData, DER, detached, SHA-256, with the signer's \
        certificate chain and signing time) and appends it as ivpack/signatures/NNN-ROLE.p7s. \
        Several roles may sign at different times; one certificate signs a bundle once. The cost \
        does not depend on the bundle's size. A passphrase for an encrypted key comes from \
        $IVPACK_KEY_PASSPHRASE or --passphrase-file, never from the command line.

        A --key starting with pkcs11: is a PKCS#11 URI (RFC 7512) naming a key inside an HSM; \
        the key never leaves it. The module is the URI's ?module-path=, else \
        $IVPACK_PKCS11_MODULE, else SoftHSM2 (/usr/lib/softhsm/libsofthsm2.so). The PIN comes \
        from $IVPACK_PKCS11_PIN or --pin-file, never from the command line: a URI with \
        pin-value= is refused.

        Example:
          ivpack sign out/pulmoscan-V2.3.1.1024.ivp --role release-manager \\
            --key keys/signers/release-manager.key --cert keys/signers/release-manager.pem \\
            --chain keys/intermediate-ca.pem

        With --tsa URL, an RFC 3161 time-stamp token from that authority is embedded in the \
        signature, so that the signature stays verifiable after the signing certificate expires.

        Example with the key in an HSM:
          IVPACK_PKCS11_PIN=... ivpack sign out/pulmoscan-V2.3.1.1024.ivp --role release-manager \\
            --key 'pkcs11:token=release-signing;object=release-manager' \\
            --cert keys/signers/release-manager.pem --chain keys/intermediate-ca.pem
        """
    )

    @Argument(help: "The bundle to sign (changed in place).")
    var bundle: String

    @Option(name: .long, help: "The signer's private key: a PEM file (PKCS#8, possibly encrypted), or a pkcs11: URI for a key in an HSM.")
    var key: String

    @Option(name: .long, help: "The signer's certificate (PEM).")
    var cert: String

    @Option(name: .long, help: "Intermediate certificates to include (PEM).")
    var chain: String?

    @Option(name: .long, help: "The role this signature stands for, e.g. release-manager or quality.")
    var role: String

    @Option(name: .long, help: "A file whose first line is the key's passphrase.")
    var passphraseFile: String?

    @Option(name: .long, help: "An RFC 3161 time-stamping authority (http:// or https://) to time-stamp the signature.")
    var tsa: String?

    @Option(name: .long, help: "Seconds to wait for the time-stamping authority.")
    var tsaTimeout: Int = 20

    @Option(name: .long, help: "A file whose first line is the HSM user PIN, for a pkcs11: key.")
    var pinFile: String?

    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    /// Whether --key names a key in an HSM.
    private var keyIsPKCS11: Bool { key.hasPrefix("pkcs11:") }

    func validate() throws {
        if keyIsPKCS11, passphraseFile != nil {
            throw ValidationError("--passphrase-file is for a key file; a pkcs11: key takes --pin-file")
        }
        if !keyIsPKCS11, pinFile != nil {
            throw ValidationError("--pin-file is for a pkcs11: key; a key file takes --passphrase-file")
        }
    }

    mutating func run() throws {
        try reportingErrors {
            let privateKey: PrivateKey
            if keyIsPKCS11 {
                privateKey = try PrivateKey.loadPKCS11(uri: key, pin: try readSecret(file: pinFile, variable: "IVPACK_PKCS11_PIN"))
            } else {
                let passphrase = try readPassphrase(file: passphraseFile)
                if let warning = SecretFileAccess.groupAccessWarning(path: key, what: "private key") { printError("warning: \(warning)") }
                privateKey = try PrivateKey.load(file: key, passphrase: passphrase)
            }
            let certificates = try Certificate.load(file: cert)
            let chainCertificates = try chain.map { try Certificate.load(file: $0) } ?? []
            let result = try BundleSigner.sign(bundlePath: bundle, certificate: certificates[0], key: privateKey,
                                               chain: Array(certificates.dropFirst()) + chainCertificates, role: role, now: Timestamp.now(),
                                               timestampAuthority: tsa, timestampTimeout: tsaTimeout)
            if json {
                printJSON(.object([("bundle", .string(bundle)), ("entry", .string(result.entry)), ("role", .string(result.role)),
                                   ("signer", .string(result.signer)), ("manifestSHA256", .string(result.manifestDigest.hex)),
                                   ("signatures", .integer(result.signatureCount))]))
            } else {
                print("Signed \(bundle) as \(result.role): \(result.entry)")
                print("  signer \(result.signer)")
                print("  manifest sha256 \(result.manifestDigest.hex); \(result.signatureCount) signature\(result.signatureCount == 1 ? "" : "s") in the bundle")
            }
        }
    }
}

/// The key passphrase from --passphrase-file or $IVPACK_KEY_PASSPHRASE; nil when neither is set.
func readPassphrase(file: String?) throws -> [UInt8]? {
    try readSecret(file: file, variable: "IVPACK_KEY_PASSPHRASE")
}

/// A secret from the first line of `file`, else from the environment `variable`; nil when neither is set.
func readSecret(file: String?, variable: String) throws -> [UInt8]? {
    if let file {
        let input = try InputFile(path: file)
        try SecretFileAccess.refuseIfOpenToOthers(input, what: variable == "IVPACK_PKCS11_PIN" ? "PIN" : "passphrase")
        var bytes = try input.readBytes(count: Int(min(input.size, 4096)), at: 0)
        if let newline = bytes.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) { bytes.removeSubrange(newline...) }
        return bytes
    }
    if let value = ProcessInfo.processInfo.environment[variable] { return Array(value.utf8) }
    return nil
}
