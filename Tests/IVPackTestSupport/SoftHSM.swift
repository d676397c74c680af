import Foundation
import IVPack

/// SoftHSM2 could not be set up for the tests: missing packages or a failing `softhsm2-util`.
public struct SoftHSMSetupError: Error, CustomStringConvertible {
    /// What went wrong and what to do.
    public let description: String
}

/// A SoftHSM2 token for HSM tests, one per test process.
///
/// SoftHSM reads `SOFTHSM2_CONF` once, when the module is first loaded into a process, and the
/// PKCS#11 engine lists the tokens once, so the whole process uses one configuration (in a folder
/// created on first use and removed at exit) and one token, `ivpack-test`. Tests add their own
/// keys to it under labels from `uniqueLabel(_:)`; SoftHSM sees objects added by other processes,
/// but never a token initialised after it was loaded. Suites using it must be `.serialized`.
public final class SoftHSM: @unchecked Sendable {
    /// The label of the token.
    public static let tokenLabel = "ivpack-test"
    /// The token's user PIN.
    public static let userPIN = "1234"
    /// The token's security officer PIN.
    public static let securityOfficerPIN = "5678"
    /// The PKCS#11 module ivpack uses by default.
    public static let modulePath = PrivateKey.defaultPKCS11Module
    /// SoftHSM's command-line tool.
    public static let utility = "/usr/bin/softhsm2-util"

    /// The folder holding the configuration and the token directory.
    public let folder: String
    /// The `SOFTHSM2_CONF` file.
    public let configurationPath: String
    /// What a child process needs to see the token: `SOFTHSM2_CONF`.
    public var environment: [String: String] { ["SOFTHSM2_CONF": configurationPath] }

    private let lock = NSLock()
    private var nextNumber = 1

    private static let sharedResult: Result<SoftHSM, SoftHSMSetupError> = Result {
        () throws(SoftHSMSetupError) -> SoftHSM in try SoftHSM()
    }

    /// The process's token, created (and `SOFTHSM2_CONF` set for this process) on first use.
    /// Throws, naming `scripts/install-deps.sh`, when SoftHSM2 or the OpenSSL engine is missing.
    public static func shared() throws -> SoftHSM { try sharedResult.get() }

    private init() throws(SoftHSMSetupError) {
        let install = "run scripts/install-deps.sh (it installs softhsm2 and libengine-pkcs11-openssl)"
        guard FileManager.default.isExecutableFile(atPath: Self.utility),
            FileManager.default.fileExists(atPath: Self.modulePath)
        else {
            throw SoftHSMSetupError(
                description: "SoftHSM2 is not installed (\(Self.utility) or \(Self.modulePath) is missing): \(install)")
        }
        let engines = run("/usr/bin/openssl", ["version", "-e"]).stdout
        if let quote = engines.firstIndex(of: "\""),
            let end = engines[engines.index(after: quote)...].firstIndex(of: "\"")
        {
            let engine = String(engines[engines.index(after: quote)..<end]) + "/pkcs11.so"
            guard FileManager.default.fileExists(atPath: engine) else {
                throw SoftHSMSetupError(
                    description: "OpenSSL's PKCS#11 engine is not installed (\(engine) is missing): \(install)")
            }
        }
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("ivpack-softhsm-XXXXXX").path
        var bytes = Array(template.utf8CString)
        guard bytes.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw SoftHSMSetupError(description: "cannot create a folder for the SoftHSM token from \(template)")
        }
        folder = bytes.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        configurationPath = folder + "/softhsm2.conf"
        let tokens = folder + "/tokens"
        do {
            try FileManager.default.createDirectory(atPath: tokens, withIntermediateDirectories: false)
            try
                "directories.tokendir = \(tokens)\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
                .write(toFile: configurationPath, atomically: true, encoding: .utf8)
        } catch {
            throw SoftHSMSetupError(description: "cannot write the SoftHSM configuration in \(folder): \(error)")
        }
        Self.folderToRemove = folder
        atexit { SoftHSM.removeFolder() }
        // For the PKCS#11 module this process loads; children get it through `environment`.
        setenv("SOFTHSM2_CONF", configurationPath, 1)
        let result = run(
            Self.utility,
            [
                "--init-token", "--free", "--label", Self.tokenLabel, "--pin", Self.userPIN, "--so-pin",
                Self.securityOfficerPIN,
            ],
            environment: ["SOFTHSM2_CONF": configurationPath])
        guard result.status == 0 else {
            throw SoftHSMSetupError(
                description: "softhsm2-util --init-token failed (\(result.status)): \(result.stderr)\(result.stdout)")
        }
    }

    nonisolated(unsafe) private static var folderToRemove: String?

    private static func removeFolder() {
        if let folder = folderToRemove { try? FileManager.default.removeItem(atPath: folder) }
    }

    /// A label not used before in this process: `prefix`-N.
    public func uniqueLabel(_ prefix: String) -> String {
        "\(prefix)-\(takeNumber())"
    }

    private func takeNumber() -> Int {
        lock.lock()
        defer { lock.unlock() }
        let number = nextNumber
        nextNumber += 1
        return number
    }

    /// The PKCS#11 URI of the private key labelled `label` in the token.
    public func uri(label: String) -> String { "pkcs11:token=\(Self.tokenLabel);object=\(label)" }

    /// Imports the PKCS#8 PEM private key in `keyFile` (as a key pair) under `label` with a fresh
    /// id; returns its PKCS#11 URI.
    @discardableResult
    public func importKey(file keyFile: String, label: String) throws -> String {
        let id = String(takeNumber(), radix: 16)
        let result = run(
            Self.utility,
            [
                "--import", keyFile, "--token", Self.tokenLabel, "--label", label,
                "--id", id.count % 2 == 0 ? id : "0" + id, "--pin", Self.userPIN,
            ],
            environment: environment)
        guard result.status == 0 else {
            throw SoftHSMSetupError(
                description:
                    "softhsm2-util --import \(keyFile) failed (\(result.status)): \(result.stderr)\(result.stdout)")
        }
        return uri(label: label)
    }

    /// Imports the private key of a development PKI signer under a fresh label starting with the
    /// signer's role, so that the signer's certificate matches the key in the token; returns its URI.
    @discardableResult
    public func importSigner(_ signer: DevelopmentPKILayout.Signer) throws -> String {
        try importKey(file: signer.key, label: uniqueLabel(signer.role))
    }
}
