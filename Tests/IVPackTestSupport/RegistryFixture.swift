import Foundation
import IVPack

#if canImport(Glibc)
    import Glibc
#endif

/// A real OCI registry on 127.0.0.1 (a free port) for tests: Debian's `docker-registry` (CNCF
/// distribution), filesystem storage in a temporary folder, TLS with a server certificate from a
/// test CA made with the openssl CLI, htpasswd (bcrypt) basic auth. Stop it with `stop()`.
public final class RegistryFixture: @unchecked Sendable {
    public static let executable = "/usr/bin/docker-registry"
    public let folder: TemporaryFolder
    public let port: Int
    /// PEM of the CA that issued the registry's certificate (`--ca`).
    public let caFile: String
    /// PEM of another CA, which did not (an untrusted registry).
    public let otherCAFile: String
    /// The registry's storage root: blobs are under `docker/registry/v2/blobs/sha256/XX/HEX/data`.
    public let storage: String
    public let username = "release-ci"
    public let password = "correct-horse-battery"
    /// A file holding `password`, for `--password-file`.
    public let passwordFile: String
    private let process: Process
    /// With `tokenAuth`: the token service the registry sends clients to (bearer challenges).
    public let tokenRealm: RegistryTokenRealm?

    public enum FixtureError: Error, CustomStringConvertible {
        case notInstalled
        case setup(String)
        public var description: String {
            switch self {
            case .notInstalled:
                "\(RegistryFixture.executable) is missing: run: apt-get install docker-registry apache2-utils"
            case .setup(let text): "registry fixture: \(text)"
            }
        }
    }

    /// `tokenAuth`: registry token authentication (bearer challenges naming `tokenRealm`, which
    /// checks the same user name and password) instead of htpasswd basic auth.
    public init(tokenAuth: Bool = false) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else { throw FixtureError.notInstalled }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/htpasswd") else {
            throw FixtureError.setup("htpasswd is missing: run: apt-get install apache2-utils")
        }
        let folder = TemporaryFolder("ivpack-registry")
        self.folder = folder
        func openssl(_ arguments: [String]) throws {
            let r = run("/usr/bin/openssl", arguments, in: folder.path)
            guard r.status == 0 else { throw FixtureError.setup("openssl \(arguments.first ?? ""): \(r.stderr)") }
        }
        for ca in ["ca", "other-ca"] {
            try openssl([
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                "\(ca).key", "-out", "\(ca).pem", "-days", "2", "-subj", "/CN=ivpack test \(ca)",
            ])
        }
        try openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1",
        ])
        _ = folder.write(
            "server.ext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        try openssl([
            "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "server.pem", "-days", "2", "-extfile", "server.ext",
        ])
        let htpasswd = run("/usr/bin/htpasswd", ["-Bbn", username, password])
        guard htpasswd.status == 0 else { throw FixtureError.setup("htpasswd: \(htpasswd.stderr)") }
        _ = folder.write("htpasswd", htpasswd.stdout)
        passwordFile = folder.write("password.txt", password + "\n", mode: 0o600)
        caFile = folder.url("ca.pem")
        otherCAFile = folder.url("other-ca.pem")
        storage = folder.url("storage")
        port = try Self.freePort()
        let realm = tokenAuth ? try RegistryTokenRealm(folder: folder, username: username, password: password) : nil
        tokenRealm = realm
        let authSection =
            if let realm {
                """
                auth:
                  token:
                    realm: \(realm.realm)
                    service: \(realm.service)
                    issuer: \(realm.issuer)
                    rootcertbundle: \(realm.certificate)
                """
            } else {
                """
                auth:
                  htpasswd:
                    realm: ivpack-test
                    path: \(folder.url("htpasswd"))
                """
            }
        let config = folder.write(
            "config.yml",
            """
            version: 0.1
            log:
              level: warn
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: \(storage)
            http:
              addr: 127.0.0.1:\(port)
              secret: ivpack-test-upload-state
              tls:
                certificate: \(folder.url("server.pem"))
                key: \(folder.url("server.key"))
            \(authSection)

            """)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["serve", config]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: folder.write("registry.log", ""))
        process.standardError = process.standardOutput
        try process.run()
        self.process = process
        // Ready when it answers /v2/ (401 without credentials); seen within 0.2 s when idle.
        for _ in 0..<150 {
            let r = await runDetached(
                "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", caFile, "\(url)/v2/"])
            if r.stdout == "401" { return }
            guard process.isRunning else {
                throw FixtureError.setup(
                    "docker-registry exited: \(String(decoding: folder.read("registry.log"), as: UTF8.self))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        process.terminate()
        throw FixtureError.setup("docker-registry did not answer on port \(port) within 15 s")
    }

    public var url: String { "https://127.0.0.1:\(port)" }

    /// `oci://127.0.0.1:PORT/repository:tag`.
    public func reference(_ repository: String = "med/pulmoscan", tag: String = "V2.3.1") -> String {
        "oci://127.0.0.1:\(port)/\(repository):\(tag)"
    }

    /// The stored data file of a blob.
    public func blobFile(_ digestHex: String) -> String {
        "\(storage)/docker/registry/v2/blobs/sha256/\(digestHex.prefix(2))/\(digestHex)/data"
    }

    /// `curl --cacert CA -u USER:PASSWORD` against the API, as an independent client.
    public func curl(_ arguments: [String]) async -> ProcessResult {
        await runDetached(
            "/usr/bin/curl", ["-s", "--cacert", caFile, "-u", "\(username):\(password)"] + arguments)
    }

    /// SIGTERM, then waits.
    public func stop() {
        tokenRealm?.stop()
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { stop() }

    /// A port that was free a moment ago (bound to port 0 and released).
    static func freePort() throws -> Int {
        let (fd, port) = try LoopbackSocket.bind(listening: false)
        close(fd)
        return port
    }
}
