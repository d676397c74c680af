import ArgumentParser
import Foundation
import IVPack
import IVPackLicense

/// Where an operator command acts: the server's database on this machine (`--config`), or a
/// licence server's admin API over mutual TLS with the operator's certificate (`--server`).
struct LicenseTargetOptions: ParsableArguments {
    @Option(
        name: .long, help: "The server configuration (its database is used on this machine).",
        completion: .file(extensions: ["yaml", "yml"]))
    var config: String?

    @Option(name: .long, help: "A licence server's admin API instead of --config: https://host:port.")
    var server: String?

    @Option(
        name: .long, help: "With --server: the licence operator's client certificate (PEM).", completion: .file())
    var clientCert: String?

    @Option(
        name: .long,
        help:
            "With --server: the operator's private key (PEM); an encrypted key's passphrase comes from $IVPACK_CLIENT_KEY_PASSPHRASE.",
        completion: .file())
    var clientKey: String?

    @Option(
        name: .long, help: "With --server: the root CA certificate(s) (PEM) the server's certificate must chain to.",
        completion: .file())
    var ca: String?

    @Option(
        name: .long, help: "With --server, instead of --ca: a trust policy (YAML) or trust state folder.",
        completion: .file())
    var trust: String?

    @Option(name: .long, help: "With --server: seconds for the request (connect, handshake, reply).")
    var timeout: Int64 = 20

    func validate() throws {
        switch (config, server) {
        case (nil, nil): throw ValidationError("give --config FILE (on the server) or --server URL (its admin API)")
        case (.some, .some): throw ValidationError("give --config or --server, not both")
        case (.some, nil):
            if clientCert != nil || clientKey != nil || ca != nil || trust != nil {
                throw ValidationError("--client-cert, --client-key, --ca and --trust go with --server, not --config")
            }
        case (nil, .some(let url)):
            guard let c = URLComponents(string: url), c.scheme == "https", let host = c.host, !host.isEmpty else {
                throw ValidationError("--server \(url) is not an https://host:port URL")
            }
            if clientCert == nil || clientKey == nil {
                throw ValidationError("--server needs the operator's --client-cert and --client-key")
            }
            if (ca == nil) == (trust == nil) {
                throw ValidationError(
                    "--server needs --ca FILE (the root that issued the server's certificate) or --trust POLICY, one of them"
                )
            }
            if !(1...300).contains(timeout) { throw ValidationError("--timeout is 1 to 300 seconds") }
        }
    }

    /// Runs `body` on the server's database (`--config`: SQLite or PostgreSQL), closing the store
    /// afterwards whatever `body` does.
    func withLocalStore<T: Sendable>(_ body: (any LicenseStoring) async throws -> T) async throws -> T {
        let store = try await LicenseStores.open(try LicenseServerConfig.load(path: config ?? ""))
        do {
            let value = try await body(store)
            await store.close()
            return value
        } catch {
            await store.close()
            throw error
        }
    }

    /// The admin API client, when the command runs with `--server`.
    func adminClient() throws -> LicenseAdminClient? {
        guard let server, let clientCert, let clientKey else { return nil }
        let policy: TrustPolicy
        if let ca {
            policy = TrustPolicy.serverRoots(try Certificate.load(file: ca), file: ca)
        } else {
            policy = try TrustPolicy.load(path: trust ?? "")
        }
        return LicenseAdminClient(
            serverURL: server, clientCertificate: clientCert, clientKey: clientKey,
            clientKeyPassphrase: ProcessInfo.processInfo.environment["IVPACK_CLIENT_KEY_PASSPHRASE"].map {
                Array($0.utf8)
            }, policy: policy, timeoutSeconds: timeout)
    }

    /// The value of a remote call, or the server's refusal printed and the command's exit.
    func value<T>(_ result: Result<T, LicenseAdminFailure>) throws -> T {
        switch result {
        case .success(let value): return value
        case .failure(let failure):
            printError("error: \(server ?? ""): \(failure)")
            throw ExitCode(failure.exitStatus.rawValue)
        }
    }
}
