import ArgumentParser
import Foundation
import IVPack

/// What a command's --key may name; its help says so.
protocol SigningKeyForms {
    /// The help text of --key.
    static var keyHelp: String { get }
    /// Whether a `pkcs11:` URI names a key in an HSM (else every --key is a file).
    static var allowsPKCS11: Bool { get }
}

/// A PEM key file or a key in an HSM (`sign`).
enum KeyFileOrHSM: SigningKeyForms {
    static let keyHelp =
        "The signer's private key: a PEM file (PKCS#8, possibly encrypted), or a pkcs11: URI for a key in an HSM."
    static let allowsPKCS11 = true
}

/// A PEM key file only (`sign-report`).
enum KeyFile: SigningKeyForms {
    static let keyHelp = "The signer's private key (PEM, PKCS#8, possibly encrypted)."
    static let allowsPKCS11 = false
}

/// The signer's identity: --key, --cert, --chain and --passphrase-file, the same for every
/// command that signs. `load(pinFile:)` turns them into a `SigningIdentity`.
struct SigningIdentityOptions<Forms: SigningKeyForms>: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(Forms.keyHelp), completion: .file())
    var key: String

    @Option(name: .long, help: "The signer's certificate (PEM).", completion: .file())
    var cert: String

    @Option(name: .long, help: "Intermediate certificates to include (PEM).", completion: .file())
    var chain: String?

    @Option(name: .long, help: "A file whose first line is the key's passphrase.", completion: .file())
    var passphraseFile: String?

    /// Whether --key names a key in an HSM.
    var keyIsPKCS11: Bool { Forms.allowsPKCS11 && SigningIdentity.KeySource.isPKCS11(key) }

    /// Loads the identity: the key (with its passphrase, or for an HSM key the PIN from `pinFile`
    /// or $IVPACK_PKCS11_PIN), the certificate and the chain. A key file its group may read is
    /// allowed with a warning.
    func load(pinFile: String? = nil) throws -> SigningIdentity {
        let source: SigningIdentity.KeySource
        if keyIsPKCS11 {
            source = .pkcs11(uri: key, pin: try readSecret(file: pinFile, variable: "IVPACK_PKCS11_PIN"))
        } else {
            let passphrase = try readPassphrase(file: passphraseFile, key: key)
            if let warning = SecretFileAccess.groupAccessWarning(path: key, what: "private key") {
                printError("warning: \(warning)")
            }
            source = .file(path: key, passphrase: passphrase)
        }
        return try SigningIdentity.load(key: source, certificateFile: cert, chainFiles: chain.map { [$0] } ?? [])
    }
}

/// The key passphrase from --passphrase-file or $IVPACK_KEY_PASSPHRASE; nil when neither is set.
/// With `key`, a key file that is encrypted is asked for on the terminal when neither is set
/// and standard input is one (`TerminalPrompt`).
func readPassphrase(file: String?, key: String? = nil) throws -> [UInt8]? {
    if let given = try readSecret(file: file, variable: "IVPACK_KEY_PASSPHRASE") { return given }
    guard let key else { return nil }
    return try TerminalPrompt.passphrase(forKey: key)
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
