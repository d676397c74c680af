import Foundation
import IVPack

/// Self-signed recipient certificates and their key files, made with the openssl CLI in a
/// temporary folder, for the content-key wrapping tests.
public final class RecipientCertificates: @unchecked Sendable {
    /// One recipient: its certificate and private key files.
    public struct Recipient: Sendable {
        public let name: String
        public let certificate: String
        public let key: String

        /// The certificate, loaded.
        public func loadCertificate() throws -> Certificate { try Certificate.load(file: certificate)[0] }
        /// The private key, loaded.
        public func loadKey() throws -> PrivateKey { try PrivateKey.load(file: key, passphrase: nil) }
    }

    /// The kind of key pair to make.
    public enum KeyType: Sendable {
        case rsa2048
        case p256
        case ed25519

        var arguments: [String] {
            switch self {
            case .rsa2048: return ["-newkey", "rsa:2048"]
            case .p256: return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
            case .ed25519: return ["-newkey", "ed25519"]
            }
        }
    }

    public let folder = TemporaryFolder("ivpack-recipients")

    public init() {}

    /// Makes a self-signed certificate `CN=name` with `keyUsage` (e.g. "keyEncipherment"; nil for
    /// no key usage extension).
    public func make(_ name: String, _ type: KeyType, keyUsage: String?) throws -> Recipient {
        let certificate = folder.url("\(name).pem")
        let key = folder.url("\(name).key")
        var arguments =
            ["req", "-x509", "-nodes"] + type.arguments + [
                "-keyout", key, "-out", certificate, "-subj", "/CN=\(name)/O=ivpack test", "-days", "30",
            ]
        if let keyUsage { arguments += ["-addext", "keyUsage=critical,\(keyUsage)"] }
        let result = run("/usr/bin/openssl", arguments)
        guard result.status == 0 else {
            throw SoftHSMSetupError(description: "openssl req for \(name) failed: \(result.stderr)")
        }
        chmod(key, 0o600)
        return Recipient(name: name, certificate: certificate, key: key)
    }

    /// An RSA recipient allowed key encipherment.
    public func rsa(_ name: String) throws -> Recipient { try make(name, .rsa2048, keyUsage: "keyEncipherment") }
    /// An EC P-256 recipient allowed key agreement.
    public func ec(_ name: String) throws -> Recipient { try make(name, .p256, keyUsage: "keyAgreement") }
}

/// The strings under which a secret could show in a message: lower- and upper-case hex, and
/// base64 (standard and URL-safe, with and without padding), and Swift's own `[UInt8]` description.
public func secretSpellings(_ bytes: [UInt8]) -> [String] {
    let hex = bytes.map { String(format: "%02x", $0) }.joined()
    let base64 = Data(bytes).base64EncodedString()
    let unpadded = base64.replacingOccurrences(of: "=", with: "")
    let urlSafe = unpadded.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    return [hex, hex.uppercased(), base64, unpadded, urlSafe, bytes.description]
}
