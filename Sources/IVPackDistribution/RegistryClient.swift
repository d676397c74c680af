import AsyncHTTPClient
import Foundation
import IVPack
import NIOCore
import NIOHTTP1
import NIOSSL

/// An HTTPS client for one registry's distribution API (`/v2/...`): TLS verified against a CA file
/// or the system's roots, basic and bearer-token authentication answered on the registry's
/// `401` challenge. Call `shutdown()` when done.
public final class RegistryClient: Sendable {
    public let registry: String
    let baseURL: String
    let options: RegistryOptions
    let http: HTTPClient
    private let authorization = AuthorizationState()

    /// Upper limit of an error body or token answer read into memory.
    static let maximumSmallBody = 1 << 20

    public init(reference: OCIReference, options: RegistryOptions) throws {
        registry = "\(reference.host)\(reference.port.map { ":\($0)" } ?? "")"
        baseURL = reference.baseURL
        self.options = options
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let caFile = options.caFile {
            do {
                let certificates = try NIOSSLCertificate.fromPEMFile(caFile)
                guard !certificates.isEmpty else { throw NIOSSLError.failedToLoadCertificate }
                tls.trustRoots = .certificates(certificates)
            } catch {
                throw DistributionError.file(
                    path: caFile, detail: "cannot read CA certificates (PEM) for --ca: \(error)")
            }
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .follow(max: 5, allowCycles: false),
            timeout: .init(connect: .seconds(10), read: .seconds(options.readTimeoutSeconds)))
        configuration.httpVersion = .http1Only
        // Fail at the first refused connection or handshake with its own error (an untrusted
        // certificate, a closed port), not after retrying to the deadline with a bare timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Closes the client's connections.
    public func shutdown() async {
        try? await http.shutdown()
    }

    /// `https://HOST[:PORT]` + `path`, or `location` itself when it is absolute.
    func url(_ location: String) -> String {
        location.hasPrefix("https://") || location.hasPrefix("http://") ? location : baseURL + location
    }

    /// Sends a request, answering one `401` challenge (basic, or a bearer token from the realm) and
    /// sending again; `body` is called for each sending. Connection and TLS failures become
    /// `DistributionError`s that name the URL.
    func send(
        _ method: HTTPMethod, _ location: String, headers: [(String, String)] = [],
        body: (@Sendable () -> HTTPClientRequest.Body)? = nil, timeoutSeconds: Int64 = 3600
    ) async throws -> HTTPClientResponse {
        let target = url(location)
        var answered = false
        while true {
            var request = HTTPClientRequest(url: target)
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let value = authorization.value { request.headers.replaceOrAdd(name: "Authorization", value: value) }
            if let body { request.body = body() }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .seconds(timeoutSeconds))
            } catch {
                throw classify(error, url: target)
            }
            guard response.status == .unauthorized else { return response }
            let challenge = response.headers.first(name: "WWW-Authenticate") ?? ""
            _ = try? await response.body.collect(upTo: Self.maximumSmallBody)
            guard !answered else {
                throw DistributionError.authenticationFailed(
                    registry: registry, username: options.credentials?.username,
                    detail:
                        "the registry refused the \(authorization.kind) credentials for \(method.rawValue) \(target) (401)"
                )
            }
            answered = true
            try await answer(challenge, for: target)
        }
    }

    /// Turns a `WWW-Authenticate` challenge into an `Authorization` value.
    private func answer(_ challenge: String, for target: String) async throws {
        let scheme = challenge.prefix { $0 != " " }.lowercased()
        let parameters = Self.challengeParameters(String(challenge.dropFirst(scheme.count)))
        switch scheme {
        case "basic":
            guard let credentials = options.credentials else {
                throw DistributionError.authenticationFailed(
                    registry: registry, username: nil,
                    detail: "the registry asks for a user name and password (basic auth)")
            }
            authorization.set(credentials.basicAuthorization, kind: "basic")
        case "bearer":
            guard let realm = parameters["realm"], realm.hasPrefix("https://") || realm.hasPrefix("http://") else {
                throw DistributionError.registry(
                    url: target, status: 401, detail: "a bearer challenge without an http(s) realm: \(challenge)")
            }
            var query: [String] = []
            for key in ["service", "scope"] {
                if let value = parameters[key] {
                    let encoded = value.addingPercentEncoding(withAllowedCharacters: Self.queryValueCharacters) ?? value
                    query.append("\(key)=\(encoded)")
                }
            }
            let tokenURL =
                realm + (query.isEmpty ? "" : (realm.contains("?") ? "&" : "?") + query.joined(separator: "&"))
            var request = HTTPClientRequest(url: tokenURL)
            if let credentials = options.credentials {
                request.headers.add(name: "Authorization", value: credentials.basicAuthorization)
            }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .seconds(60))
            } catch {
                throw classify(error, url: realm)
            }
            let body = try await response.body.collect(upTo: Self.maximumSmallBody)
            guard response.status == .ok else {
                throw DistributionError.authenticationFailed(
                    registry: registry, username: options.credentials?.username,
                    detail:
                        "the token service \(realm) answered \(response.status.code) for scope \(parameters["scope"] ?? "(none)")"
                )
            }
            struct TokenAnswer: Decodable {
                var token: String?
                var accessToken: String?
                // OAuth 2 spells it access_token; the distribution token spec accepts either.
                enum CodingKeys: String, CodingKey {
                    case token
                    case accessToken = "access_token"
                }
            }
            guard let answer = try? JSONDecoder().decode(TokenAnswer.self, from: Data(body.readableBytesView)),
                let token = answer.token ?? answer.accessToken, !token.isEmpty
            else {
                throw DistributionError.authenticationFailed(
                    registry: registry, username: options.credentials?.username,
                    detail:
                        "the token service \(realm) answered without a token (JSON with \"token\" or \"access_token\")")
            }
            authorization.set("Bearer \(token)", kind: "bearer token")
        default:
            throw DistributionError.authenticationFailed(
                registry: registry, username: options.credentials?.username,
                detail: "the registry's challenge \"\(scheme)\" is neither Basic nor Bearer")
        }
    }

    /// RFC 3986 unreserved characters: what a query value keeps unencoded (`:` and `,` of a scope
    /// are encoded).
    static let queryValueCharacters = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// `realm="...",service="...",scope="a:b:pull,push"`: key=value pairs, values quoted (commas
    /// inside quotes belong to the value) or bare.
    public static func challengeParameters(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var chars = Array(text)[...]
        while !chars.isEmpty {
            while let c = chars.first, c == " " || c == "," { chars = chars.dropFirst() }
            guard let eq = chars.firstIndex(of: "=") else { break }
            let key = String(chars[chars.startIndex..<eq]).trimmingCharacters(in: .whitespaces).lowercased()
            chars = chars[chars.index(after: eq)...]
            var value = ""
            if chars.first == "\"" {
                chars = chars.dropFirst()
                while let c = chars.first, c != "\"" {
                    if c == "\\", chars.count > 1 {
                        chars = chars.dropFirst()
                    }
                    value.append(chars.first!)
                    chars = chars.dropFirst()
                }
                chars = chars.dropFirst()
            } else {
                while let c = chars.first, c != "," {
                    value.append(c)
                    chars = chars.dropFirst()
                }
                value = value.trimmingCharacters(in: .whitespaces)
            }
            result[key] = value
        }
        return result
    }

    /// A connection or TLS failure as a `DistributionError`.
    func classify(_ error: any Error, url: String) -> DistributionError {
        if let error = error as? DistributionError { return error }
        let text = String(describing: error)
        // Only a failed handshake is about trust; NIOSSLError.uncleanShutdown (a connection cut
        // mid-body) is a network failure that a pull or push resumes after.
        var handshake = error is BoringSSLError || text.contains("CERTIFICATE_VERIFY_FAILED")
        if case .handshakeFailed? = error as? NIOSSLError { handshake = true }
        if handshake {
            return .tls(registry: registry, caFile: options.caFile, detail: text)
        }
        return .network(url: url, detail: text)
    }

    /// The registry's error answer as one line: `CODE: message` for each error of the JSON body
    /// the distribution specification defines, else the first 200 bytes of text.
    func errorDetail(_ response: HTTPClientResponse) async -> String {
        guard let body = try? await response.body.collect(upTo: Self.maximumSmallBody) else { return "" }
        struct Errors: Decodable {
            struct Item: Decodable {
                var code: String?
                var message: String?
            }
            var errors: [Item]
        }
        if let decoded = try? JSONDecoder().decode(Errors.self, from: Data(body.readableBytesView)),
            !decoded.errors.isEmpty
        {
            return decoded.errors.map { "\($0.code ?? "?"): \($0.message ?? "")" }.joined(separator: "; ")
        }
        return String(String(buffer: body).prefix(200)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Throws the registry's answer as an error unless its status is one of `expected`.
    func expect(_ response: HTTPClientResponse, _ expected: Set<UInt>, url target: String) async throws {
        guard !expected.contains(response.status.code) else { return }
        throw DistributionError.registry(
            url: url(target), status: Int(response.status.code), detail: await errorDetail(response))
    }
}

/// The `Authorization` value found by answering a challenge; later requests send it first.
final class AuthorizationState: @unchecked Sendable {
    private let lock = NSLock()
    private var current: String?
    private var currentKind = "no"

    var value: String? { lock.withLock { current } }
    var kind: String { lock.withLock { currentKind } }

    func set(_ value: String, kind: String) {
        lock.withLock {
            current = value
            currentKind = kind
        }
    }
}
