import IVPack

/// Why a push or pull through an OCI registry stopped. Never carries a password or token.
public enum DistributionError: IVPackError, Equatable {
    /// The reference does not parse; `reason` says which part and how to write it.
    case badReference(String, reason: String)
    /// A credential source could not be read or is incomplete (a file, an environment variable).
    case badCredentials(String)
    /// The registry refused the credentials (or none were given and it wants some).
    case authenticationFailed(registry: String, username: String?, detail: String)
    /// The TLS handshake failed: the registry's certificate is not trusted by the CA file or roots.
    case tls(registry: String, caFile: String?, detail: String)
    /// The connection failed or was cut.
    case network(url: String, detail: String)
    /// The registry answered with an unexpected status; `detail` is its error code and message.
    case registry(url: String, status: Int, detail: String)
    /// The reference names no manifest in the registry.
    case notFound(reference: String)
    /// The manifest is not an ivpack bundle artifact (another artifact type, layers, media type).
    case notABundle(reference: String, detail: String)
    /// Bytes from the registry do not have the digest the manifest (or reference) promises.
    case digestMismatch(what: String, expected: String, actual: String)
    /// A local file could not be read or written.
    case file(path: String, detail: String)

    public var exitStatus: ExitStatus {
        switch self {
        case .badReference, .badCredentials, .notFound, .file: .badInput
        case .authenticationFailed, .tls, .network, .registry: .environment
        case .notABundle, .digestMismatch: .checkFailed
        }
    }

    public var description: String {
        switch self {
        case .badReference(let text, let reason):
            return "\(text): not a registry reference: \(reason)."
        case .badCredentials(let detail):
            return "registry credentials: \(detail)."
        case .authenticationFailed(let registry, let username, let detail):
            let who = username.map { "as \"\($0)\"" } ?? "without credentials"
            return
                "\(registry): authentication failed \(who): \(detail). Check --username and the password "
                + "(IVPACK_REGISTRY_PASSWORD or --password-file) with the registry's administrator."
        case .tls(let registry, let caFile, let detail):
            let trust = caFile.map { "the CA file \($0)" } ?? "the system's root certificates"
            return
                "\(registry): TLS handshake failed, the registry's certificate is not trusted by \(trust): \(detail). "
                + "Give the CA that issued the registry's certificate with --ca FILE."
        case .network(let url, let detail):
            return "\(url): connection failed: \(detail). Check the host, the port and that the registry runs."
        case .registry(let url, let status, let detail):
            return "\(url): the registry answered \(status)\(detail.isEmpty ? "" : ": \(detail)")."
        case .notFound(let reference):
            return "\(reference): the registry has no such manifest. Check the repository and tag (ivpack push first)."
        case .notABundle(let reference, let detail):
            return "\(reference): not an ivpack bundle artifact: \(detail)."
        case .digestMismatch(let what, let expected, let actual):
            return
                "\(what): digest mismatch: expected \(expected), received \(actual); nothing was kept. "
                + "The registry's copy is damaged or was changed: push the bundle again."
        case .file(let path, let detail):
            return "\(path): \(detail)."
        }
    }
}
