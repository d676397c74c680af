import Foundation
import IVPack
import NIOHTTP1
import NIOSSL

/// Why an admin request got no answer, or the answer was no.
public struct LicenseAdminFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server's error code (`license-exists`, `not-an-operator`, …) or a transport problem
    /// (`unreachable`, `timeout`, `tls-server-untrusted`, `tls-handshake-refused`, `bad-response`,
    /// `client-credential`, `bad-url`).
    public var code: String
    public var message: String
    /// The reply's HTTP status; nil when there was no reply.
    public var httpStatus: Int?
    public var description: String { "\(code): \(message)" }

    /// The command's exit status: a request the server refused as wrong (4xx) is bad input (2);
    /// no answer, an untrusted server, a refused handshake or a server failure (5xx) is the
    /// environment (3).
    public var exitStatus: ExitStatus {
        guard let httpStatus else { return .environment }
        return (400..<500).contains(httpStatus) ? .badInput : .environment
    }
}

/// The licence operator's side of the admin API: mutual TLS with the operator's certificate, the
/// server's certificate judged by a trust policy through ivpack's one path validator, exactly as
/// `LicenseClient` judges it for installers (host name, server-authentication usage, development
/// roots only when the policy accepts them). One attempt per call, bounded by the timeout.
public struct LicenseAdminClient: Sendable {
    public let serverURL: String
    public let policy: TrustPolicy
    public let timeoutSeconds: Int64
    private let context: Result<NIOSSLContext, LicenseAdminFailure>

    public init(
        serverURL: String, clientCertificate: String, clientKey: String, clientKeyPassphrase: [UInt8]? = nil,
        policy: TrustPolicy, timeoutSeconds: Int64 = 20
    ) {
        self.serverURL = serverURL
        self.policy = policy
        self.timeoutSeconds = timeoutSeconds
        do {
            context = .success(
                try LicenseClient.makeContext(
                    certificate: clientCertificate, key: clientKey, passphrase: clientKeyPassphrase))
        } catch let error as IVPackError {
            context = .failure(LicenseAdminFailure(code: "client-credential", message: "\(error)"))
        } catch {
            context = .failure(
                LicenseAdminFailure(
                    code: "client-credential",
                    message: "cannot use the client certificate \(clientCertificate) or its key: \(error)"))
        }
    }

    /// `POST /v1/admin/licenses`: the licence as issued.
    public func issue(_ request: LicenseIssueRequest) async -> Result<LicenseListing, LicenseAdminFailure> {
        await call(.POST, AdminProtocol.licensesPath, body: request.json) { LicenseListing.parse($0) }
    }

    /// `POST /v1/admin/licenses/{id}/revoke`: the licence as revoked.
    public func revoke(id: String) async -> Result<LicenseListing, LicenseAdminFailure> {
        guard AdminProtocol.isLicenseID(id) else {
            return .failure(
                LicenseAdminFailure(
                    code: "malformed-request",
                    message:
                        "the licence ID \"\(id)\" cannot be revoked over the admin API: IDs there are 1 to \(AdminProtocol.maxLicenseIDBytes) of A-Z a-z 0-9 . _ -; use --config on the server"
                ))
        }
        return await call(.POST, AdminProtocol.revokePath(id: id), body: .object([])) { LicenseListing.parse($0) }
    }

    /// `GET /v1/admin/licenses`: every licence with its activation count, by ID.
    public func licenses() async -> Result<[LicenseListing], LicenseAdminFailure> {
        await call(.GET, AdminProtocol.licensesPath, body: nil) { value in
            value["licenses"]?.arrayValue.flatMap { list in
                let parsed = list.compactMap(LicenseListing.parse)
                return parsed.count == list.count ? parsed : nil
            }
        }
    }

    /// `GET /v1/admin/activations[?license=ID]`: activations, oldest first.
    public func activations(licenseID: String? = nil) async -> Result<[ActivationListing], LicenseAdminFailure> {
        if let licenseID, !AdminProtocol.isLicenseID(licenseID) {
            return .failure(
                LicenseAdminFailure(
                    code: "malformed-request",
                    message:
                        "the licence ID \"\(licenseID)\" is not one the admin API takes (1 to \(AdminProtocol.maxLicenseIDBytes) of A-Z a-z 0-9 . _ -)"
                ))
        }
        let path = AdminProtocol.activationsPath + (licenseID.map { "?license=\($0)" } ?? "")
        return await call(.GET, path, body: nil) { value in
            value["activations"]?.arrayValue.flatMap { list in
                let parsed = list.compactMap(ActivationListing.parse)
                return parsed.count == list.count ? parsed : nil
            }
        }
    }

    /// `GET /v1/admin/audit?after=N&limit=M`: the audit rows as the server sends them.
    public func audit(after: Int64 = 0, limit: Int = AdminProtocol.maxAuditRows) async -> Result<
        [JSONValue], LicenseAdminFailure
    > {
        await call(.GET, "\(AdminProtocol.auditPath)?after=\(after)&limit=\(limit)", body: nil) {
            $0["audit"]?.arrayValue
        }
    }

    /// One request; a 2xx reply decoded by `decode`, anything else a failure with the server's words.
    private func call<T: Sendable>(
        _ method: HTTPMethod, _ path: String, body: JSONValue?, decode: (JSONValue) -> T?
    ) async -> Result<T, LicenseAdminFailure> {
        guard let components = URLComponents(string: serverURL), components.scheme == "https",
            let host = components.host, !host.isEmpty
        else {
            return .failure(
                LicenseAdminFailure(code: "bad-url", message: "\(serverURL) is not an https://host:port URL"))
        }
        let port = components.port ?? 443
        let context: NIOSSLContext
        switch self.context {
        case .success(let c): context = c
        case .failure(let f): return .failure(f)
        }
        let verifier = ServerVerifier(policy: policy, host: host)
        let reply = await LicenseClient.request(
            method: method, path: path, host: host, port: port, body: body.map { CanonicalJSON.encode($0) },
            context: context, verifier: verifier, timeout: timeoutSeconds)
        let status: HTTPResponseStatus
        let collected: [UInt8]
        switch reply {
        case .failure(let f):
            // The transport's words name the installer (LicenseClient); here it is the operator.
            return .failure(
                LicenseAdminFailure(
                    code: f.code,
                    message: f.message.replacingOccurrences(
                        of: "refused the installer certificate", with: "refused the client certificate")))
        case .success(let (s, c)):
            status = s
            collected = c
        }
        let value = try? JSONParser.parse(
            collected, limits: JSONLimits(maxBytes: LicenseProtocol.maxResponseBytes, maxDepth: 8))
        if (200..<300).contains(Int(status.code)), let value, let decoded = decode(value) { return .success(decoded) }
        if let code = value?["error"]?.stringValue {
            return .failure(
                LicenseAdminFailure(
                    code: code,
                    message: "the licence server refused (\(status.code)): \(value?["message"]?.stringValue ?? "")",
                    httpStatus: Int(status.code)))
        }
        return .failure(
            LicenseAdminFailure(
                code: "bad-response", message: "unexpected reply \(status.code) from \(serverURL)\(path)",
                httpStatus: Int(status.code)))
    }
}
