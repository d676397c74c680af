import ArgumentParser
import Foundation
import IVPack

/// How `install` opens an encrypted bundle without the licence server: a recipient's key and
/// certificate, or a content key file (docs/encryption.md). With the licence check, the server
/// releases the key to a licensed installer and none of these is needed.
struct ContentKeyOptions: ParsableArguments {
    @Option(
        name: .long,
        help:
            "For an encrypted bundle: the private key of a recipient the content key is wrapped for (a PEM file, or a pkcs11: URI for a key in an HSM; PIN from --recipient-pin-file or $IVPACK_PKCS11_PIN).",
        completion: .file())
    var recipientKey: String?

    @Option(name: .long, help: "The certificate of --recipient-key (PEM).", completion: .file())
    var recipientCert: String?

    @Option(
        name: .long, help: "A file whose first line is --recipient-key's passphrase (or PIN for a pkcs11: key).",
        completion: .file())
    var recipientPinFile: String?

    @Option(
        name: .long,
        help:
            "For an encrypted bundle: a file holding its content key (32 bytes, mode 0600), e.g. from `openssl cms -decrypt`.",
        completion: .file())
    var contentKey: String?

    func validate() throws {
        if (recipientKey == nil) != (recipientCert == nil) {
            throw ValidationError("--recipient-key and --recipient-cert go together")
        }
        if recipientPinFile != nil && recipientKey == nil {
            throw ValidationError("--recipient-pin-file is for --recipient-key")
        }
    }

    /// The sources given, in the order tried: the recipient's key, then the key file.
    func sources() throws -> [ContentKeySource] {
        var sources: [ContentKeySource] = []
        if let recipientKey, let recipientCert {
            let key: PrivateKey
            if SigningIdentity.KeySource.isPKCS11(recipientKey) {
                key = try PrivateKey.loadPKCS11(
                    uri: recipientKey, pin: try readSecret(file: recipientPinFile, variable: "IVPACK_PKCS11_PIN"))
            } else {
                if let warning = SecretFileAccess.groupAccessWarning(path: recipientKey, what: "private key") {
                    printError("warning: \(warning)")
                }
                key = try PrivateKey.load(
                    file: recipientKey, passphrase: try readPassphrase(file: recipientPinFile, key: recipientKey))
            }
            sources.append(
                .recipient(
                    key: key, certificate: try BuildCommand.oneCertificate(recipientCert, option: "--recipient-cert")))
        }
        if let contentKey { sources.append(.keyFile(contentKey)) }
        return sources
    }
}
