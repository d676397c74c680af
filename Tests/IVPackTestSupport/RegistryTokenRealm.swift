import Foundation
import IVPack

#if canImport(Glibc)
    import Glibc
#endif

/// A registry token service on 127.0.0.1 (plain HTTP, one thread, one request per connection),
/// for `RegistryFixture(tokenAuth:)`: `GET /token?service=S&scope=repository:NAME:ACTIONS` with
/// the right basic credentials answers `{"token": JWT}`, a JWT signed RS256 (openssl CLI) by a
/// certificate the registry trusts (its `rootcertbundle`), granting the scope asked for; wrong or
/// missing credentials get 401.
public final class RegistryTokenRealm: @unchecked Sendable {
    public let port: Int
    public let issuer = "ivpack-test-issuer"
    public let service = "ivpack-test-registry"
    /// PEM of the signing certificate (the registry's `rootcertbundle`).
    public let certificate: String
    private let key: String
    private let folder: TemporaryFolder
    private let username: String
    private let password: String
    private let listener: Int32
    private let lock = NSLock()
    private var served = 0
    private var refused = 0

    /// Tokens issued and requests refused so far.
    public var counts: (issued: Int, refused: Int) { lock.withLock { (served, refused) } }

    public init(folder: TemporaryFolder, username: String, password: String) throws {
        self.folder = folder
        self.username = username
        self.password = password
        key = folder.url("token.key")
        certificate = folder.url("token.pem")
        let r = run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "2",
                "-subj", "/CN=ivpack test token signer",
            ])
        guard r.status == 0 else { throw RegistryFixture.FixtureError.setup("openssl token key: \(r.stderr)") }
        (listener, port) = try LoopbackSocket.bind()
        let thread = Thread { [self] in self.serve() }
        thread.start()
    }

    public var realm: String { "http://127.0.0.1:\(port)/token" }

    /// Closes the listener; the serving thread ends at its next accept.
    public func stop() { shutdown(listener, Int32(SHUT_RDWR)) }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            var request = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while request.count < 65536 {
                let n = read(client, &buffer, buffer.count)
                if n <= 0 { break }
                request += buffer[0..<n]
                if request.count >= 4, Array(request.suffix(4)) == Array("\r\n\r\n".utf8) { break }
            }
            let (status, body) = answer(String(decoding: request, as: UTF8.self))
            let head =
                "HTTP/1.1 \(status) \(status == 200 ? "OK" : "Unauthorized")\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
            let bytes = Array((head + body).utf8)
            _ = bytes.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            close(client)
        }
    }

    private func answer(_ request: String) -> (Int, String) {
        let lines = request.components(separatedBy: "\r\n")
        let target = lines.first?.split(separator: " ").dropFirst().first.map(String.init) ?? ""
        let expected = "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        let authorized = lines.contains {
            $0.lowercased().hasPrefix("authorization:")
                && $0.dropFirst(14).trimmingCharacters(in: .whitespaces) == expected
        }
        guard authorized, let components = URLComponents(string: "http://x" + target) else {
            lock.withLock { refused += 1 }
            return (401, "{\"details\":\"wrong user name or password\"}")
        }
        var access: [[String: Any]] = []
        for item in components.queryItems ?? [] where item.name == "scope" {
            // repository:NAME:ACTIONS (NAME may contain ':' only as a port of a host; not here).
            let parts = (item.value ?? "").split(separator: ":")
            if parts.count == 3 {
                access.append([
                    "type": String(parts[0]), "name": String(parts[1]),
                    "actions": parts[2].split(separator: ",").map(String.init),
                ])
            }
        }
        guard let token = try? sign(access: access) else { return (500, "{}") }
        lock.withLock { served += 1 }
        return (200, "{\"token\":\"\(token)\"}")
    }

    private func sign(access: [[String: Any]]) throws -> String {
        let pem = String(decoding: folder.read("token.pem"), as: UTF8.self)
        let der = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let now = Int(Date().timeIntervalSince1970)
        let header: [String: Any] = ["alg": "RS256", "typ": "JWT", "x5c": [der]]
        let claims: [String: Any] = [
            "iss": issuer, "sub": username, "aud": service, "exp": now + 300, "nbf": now - 30, "iat": now,
            "jti": UUID().uuidString, "access": access,
        ]
        func b64url(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let input =
            b64url(try JSONSerialization.data(withJSONObject: header)) + "."
            + b64url(try JSONSerialization.data(withJSONObject: claims))
        let name = "jwt-\(UUID().uuidString)"
        let inputFile = folder.write("\(name).in", input)
        let r = run(
            "/usr/bin/openssl", ["dgst", "-sha256", "-sign", key, "-binary", "-out", inputFile + ".sig", inputFile])
        guard r.status == 0, let signature = FileManager.default.contents(atPath: inputFile + ".sig") else {
            throw RegistryFixture.FixtureError.setup("openssl dgst -sign: \(r.stderr)")
        }
        return input + "." + b64url(signature)
    }
}
