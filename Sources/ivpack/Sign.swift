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

        Example:
          ivpack sign out/pulmoscan-V2.3.1.1024.ivp --role release-manager \\
            --key keys/signers/release-manager.key --cert keys/signers/release-manager.pem \\
            --chain keys/intermediate-ca.pem
        """
    )

    @Argument(help: "The bundle to sign (changed in place).")
    var bundle: String

    @Option(name: .long, help: "The signer's private key (PEM, PKCS#8, possibly encrypted).")
    var key: String

    @Option(name: .long, help: "The signer's certificate (PEM).")
    var cert: String

    @Option(name: .long, help: "Intermediate certificates to include (PEM).")
    var chain: String?

    @Option(name: .long, help: "The role this signature stands for, e.g. release-manager or quality.")
    var role: String

    @Option(name: .long, help: "A file whose first line is the key's passphrase.")
    var passphraseFile: String?

    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    mutating func run() throws {
        try reportingErrors {
            let passphrase = try readPassphrase(file: passphraseFile)
            let privateKey = try PrivateKey.load(file: key, passphrase: passphrase)
            let certificates = try Certificate.load(file: cert)
            let chainCertificates = try chain.map { try Certificate.load(file: $0) } ?? []
            let result = try BundleSigner.sign(bundlePath: bundle, certificate: certificates[0], key: privateKey,
                                               chain: Array(certificates.dropFirst()) + chainCertificates, role: role, now: Timestamp.now())
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
    if let file {
        var bytes = try InputFile.readAll(path: file, limit: 4096)
        if let newline = bytes.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) { bytes.removeSubrange(newline...) }
        return bytes
    }
    if let value = ProcessInfo.processInfo.environment["IVPACK_KEY_PASSPHRASE"] { return Array(value.utf8) }
    return nil
}
