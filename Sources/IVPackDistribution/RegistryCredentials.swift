import Foundation
import IVPack

/// A user name and password for a registry. The password never appears in a description, an
/// error or a log line: `description` redacts it.
public struct RegistryCredentials: Sendable, CustomStringConvertible, Equatable {
    public let username: String
    let password: String

    /// The environment variable the password may come from.
    public static let passwordVariable = "IVPACK_REGISTRY_PASSWORD"
    /// A password file larger than this is not a password file.
    public static let maximumPasswordFileSize = 4096

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// The credentials the command line gives: `--username` with the password from `--password-file`
    /// (first line, without its newline) or else `$IVPACK_REGISTRY_PASSWORD`; nil with neither.
    public static func resolve(username: String?, passwordFile: String?, environment: [String: String]) throws
        -> RegistryCredentials?
    {
        var password: String?
        if let passwordFile {
            guard let data = FileManager.default.contents(atPath: passwordFile) else {
                throw DistributionError.badCredentials("cannot read the password file \(passwordFile)")
            }
            guard data.count <= maximumPasswordFileSize else {
                throw DistributionError.badCredentials(
                    "the password file \(passwordFile) is larger than \(maximumPasswordFileSize) bytes")
            }
            let text = String(decoding: data, as: UTF8.self)
            password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
                .trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
        } else if let value = environment[passwordVariable], !value.isEmpty {
            password = value
        }
        switch (username, password) {
        case (nil, nil): return nil
        case (nil, .some):
            throw DistributionError.badCredentials(
                "a password was given (\(passwordFile != nil ? "--password-file" : passwordVariable)) without --username"
            )
        case (.some(let user), nil):
            throw DistributionError.badCredentials(
                "--username \(user) was given without a password: set \(passwordVariable) or give --password-file")
        case (.some(let user), .some(let secret)):
            guard !user.contains(":") else {
                throw DistributionError.badCredentials(
                    "the user name \"\(user)\" contains ':', which basic auth cannot carry")
            }
            return RegistryCredentials(username: user, password: secret)
        }
    }

    /// The `Authorization` value for HTTP basic authentication.
    var basicAuthorization: String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    public var description: String { "RegistryCredentials(username: \(username), password: <redacted>)" }
}

/// How to reach a registry: trust, credentials, chunking.
public struct RegistryOptions: Sendable {
    /// PEM file of the CA certificates that issued the registry's certificate; nil: the system's roots.
    public var caFile: String?
    public var credentials: RegistryCredentials?
    /// Bytes per PATCH request of a chunked upload.
    public var chunkSize: Int64
    /// How many times a cut connection is resumed before the command gives up.
    public var attempts: Int
    /// Seconds without a byte from the registry before a request fails.
    public var readTimeoutSeconds: Int64

    /// 64 MiB: a 2 GiB bundle is 32 PATCH requests; each is one resumable unit.
    public static let defaultChunkSize: Int64 = 64 << 20

    public init(
        caFile: String? = nil, credentials: RegistryCredentials? = nil, chunkSize: Int64 = defaultChunkSize,
        attempts: Int = 3, readTimeoutSeconds: Int64 = 60
    ) {
        self.caFile = caFile
        self.credentials = credentials
        self.chunkSize = chunkSize
        self.attempts = attempts
        self.readTimeoutSeconds = readTimeoutSeconds
    }
}
