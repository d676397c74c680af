import Foundation
import Hummingbird
import IVPack
import Logging
import NIOCore
import NIOSSL

/// The admin API's handlers (AdminProtocol): every route needs a validated client certificate with
/// the licence operator policy, and every action is a row of the audit table with the operator's
/// certificate subject and SHA-256 as the actor. Store calls stay in these async handlers.
extension LicenseServer {
    /// Adds the admin routes; without `clientAuthentication.operatorPolicy` they answer 404
    /// `admin-api-disabled`.
    func registerAdminRoutes(on router: Router<LicenseRequestContext>) {
        let server = self
        router.post(RouterPath(stringLiteral: AdminProtocol.licensesPath)) { request, context -> Response in
            await server.admin(request, context) { op in await server.adminIssue(request, operator: op) }
        }
        router.post(RouterPath(stringLiteral: AdminProtocol.licensesPath + "/{id}/revoke")) {
            request, context -> Response in
            await server.admin(request, context) { op in
                await server.adminRevoke(request, id: context.parameters.get("id") ?? "", operator: op)
            }
        }
        router.get(RouterPath(stringLiteral: AdminProtocol.licensesPath)) { request, context -> Response in
            await server.admin(request, context) { op in await server.adminLicenses(request, operator: op) }
        }
        router.get(RouterPath(stringLiteral: AdminProtocol.activationsPath)) { request, context -> Response in
            await server.admin(request, context) { op in await server.adminActivations(request, operator: op) }
        }
        router.get(RouterPath(stringLiteral: AdminProtocol.auditPath)) { request, context -> Response in
            await server.admin(request, context) { op in await server.adminAudit(request, operator: op) }
        }
    }

    /// The validated client certificate of the connection (the handshake's callback judged it).
    func peerCertificate(_ context: LicenseRequestContext) async -> Certificate? {
        guard let peer = try? await context.channel.nioSSL_peerCertificate().get(), let der = try? peer.toDERBytes()
        else { return nil }
        return try? Certificate(der: der, source: "client certificate")
    }

    /// The operator of an admin request, from the handshake's certificate, or the refusal.
    private func admin(
        _ request: Request, _ context: LicenseRequestContext, _ handler: (AdminOperator) async -> Response
    ) async -> Response {
        guard let operatorPolicy = config.operatorPolicy else {
            return json(
                .notFound,
                ProtocolError(
                    code: "admin-api-disabled",
                    message:
                        "the admin API is off on this server: its configuration has no clientAuthentication.operatorPolicy"
                ).json)
        }
        guard let certificate = await peerCertificate(context) else {
            return json(
                .unauthorized,
                ProtocolError(code: "no-client-certificate", message: "no validated client certificate").json)
        }
        guard authenticator.roles(of: certificate).contains(.licenseOperator) else {
            logger.warning(
                "admin request refused",
                metadata: [
                    "client": .string(certificate.subject), "path": .string(request.uri.path),
                    "reason": "not-an-operator",
                ])
            return json(
                .forbidden,
                ProtocolError(
                    code: "not-an-operator",
                    message:
                        "the client certificate \"\(certificate.subject)\" is not a licence operator certificate (certificate policy \(operatorPolicy)); the admin API needs one"
                ).json)
        }
        return await handler(AdminOperator(certificate))
    }

    private func storeUnavailable(_ error: any Error) -> Response {
        logger.error("licence store failure", metadata: ["error": .string("\(error)")])
        return json(
            .serviceUnavailable,
            ProtocolError(
                code: "store-unavailable", message: "the licence database is unavailable; try again later"
            ).json)
    }

    private func badRequest(_ error: ProtocolError, _ op: AdminOperator) -> Response {
        logger.notice(
            "admin request refused", metadata: ["operator": .string(op.subject), "reason": .string(error.code)])
        return json(.badRequest, error.json)
    }

    /// The body within the limit, or the 413 to answer.
    private func body(_ request: Request, _ op: AdminOperator) async -> Parsed<[UInt8]> {
        var request = request
        do {
            return .ok(Array(buffer: try await request.collectBody(upTo: AdminProtocol.maxRequestBytes)))
        } catch {
            logger.notice(
                "admin request refused", metadata: ["operator": .string(op.subject), "reason": "body too large"])
            return .refused(
                json(
                    .contentTooLarge,
                    ProtocolError(
                        code: "body-too-large",
                        message: "the request body exceeds \(AdminProtocol.maxRequestBytes) bytes"
                    ).json))
        }
    }

    /// Refuses any query parameter but `allowed`.
    private func query(_ request: Request, allowed: [String], _ op: AdminOperator) -> Parsed<[String: String]> {
        var values: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard allowed.contains(name), values[name] == nil else {
                return .refused(
                    badRequest(
                        ProtocolError(
                            code: "unknown-parameter",
                            message: allowed.contains(name)
                                ? "query parameter \"\(name)\" is given twice"
                                : "unknown query parameter \"\(name)\""
                                    + (allowed.isEmpty
                                        ? "; this route takes none"
                                        : "; this route takes "
                                            + allowed.joined(separator: ", "))), op))
            }
            values[name] = String(value)
        }
        return .ok(values)
    }

    func adminIssue(_ request: Request, operator op: AdminOperator) async -> Response {
        let bytes: [UInt8]
        switch await body(request, op) {
        case .ok(let b): bytes = b
        case .refused(let response): return response
        }
        let req: LicenseIssueRequest
        switch LicenseIssueRequest.parse(bytes) {
        case .success(let r): req = r
        case .failure(let e): return badRequest(e, op)
        }
        let now = Timestamp.now()
        let license = License(
            id: req.id, siteID: req.siteID, product: req.product, minimumVersion: req.minimumVersion,
            maximumVersion: req.maximumVersion, notBefore: now, notAfter: now + Int64(req.validDays) * 86_400,
            seats: req.seats, createdAt: now)
        do {
            try await store.issue(license, actor: op.actor)
        } catch let error as LicenseStoreError where error.status == .badInput {
            // The store refuses an existing ID inside its transaction: a second operator racing for
            // the same ID gets this too.
            try? await store.recordAudit(
                at: now, actor: op.actor, action: "issue", result: "refused", detail: "\(req.id) exists")
            return json(
                .conflict,
                ProtocolError(
                    code: "license-exists", message: "a licence \(req.id) exists already; choose another ID"
                ).json)
        } catch {
            return storeUnavailable(error)
        }
        logger.info("licence issued", metadata: ["operator": .string(op.subject), "license": .string(req.id)])
        return json(.created, LicenseListing(license, activations: 0).json)
    }

    func adminRevoke(_ request: Request, id: String, operator op: AdminOperator) async -> Response {
        let bytes: [UInt8]
        switch await body(request, op) {
        case .ok(let b): bytes = b
        case .refused(let response): return response
        }
        // No body, or an empty object: nothing about a revocation comes from the body.
        if !bytes.isEmpty {
            switch AdminProtocol.parseBody(bytes) {
            case .failure(let e): return badRequest(e, op)
            case .success(let value):
                guard let object = value.objectValue else {
                    return badRequest(
                        ProtocolError(code: "malformed-request", message: "the body must be empty or {}"), op)
                }
                if let first = object.first {
                    return badRequest(
                        ProtocolError(
                            code: "unknown-field", message: "unknown field \"\(first.key)\"; a revocation has no fields"
                        ),
                        op)
                }
            }
        }
        guard AdminProtocol.isLicenseID(id) else {
            return badRequest(
                ProtocolError(
                    code: "malformed-request",
                    message:
                        "the licence ID in the path must be 1 to \(AdminProtocol.maxLicenseIDBytes) of A-Z a-z 0-9 . _ -"
                ),
                op)
        }
        let now = Timestamp.now()
        do {
            guard try await store.license(id: id) != nil else {
                try await store.recordAudit(
                    at: now, actor: op.actor, action: "revoke", result: "no-such-license", detail: id)
                return json(
                    .notFound,
                    ProtocolError(code: "no-such-license", message: "there is no licence \(id)").json)
            }
            guard try await store.revoke(id: id, at: now, actor: op.actor) else {
                return json(
                    .conflict,
                    ProtocolError(
                        code: "license-already-revoked", message: "the licence \(id) is revoked already"
                    ).json)
            }
            guard let license = try await store.license(id: id) else {
                return json(
                    .notFound, ProtocolError(code: "no-such-license", message: "there is no licence \(id)").json)
            }
            logger.info("licence revoked", metadata: ["operator": .string(op.subject), "license": .string(id)])
            return json(.ok, LicenseListing(license, activations: try await store.activationCount(licenseID: id)).json)
        } catch {
            return storeUnavailable(error)
        }
    }

    func adminLicenses(_ request: Request, operator op: AdminOperator) async -> Response {
        if case .refused(let response) = query(request, allowed: [], op) { return response }
        do {
            let licenses = try await store.licenses()
            var listed: [JSONValue] = []
            for license in licenses {
                listed.append(
                    LicenseListing(license, activations: try await store.activationCount(licenseID: license.id)).json)
            }
            try await store.recordAudit(
                at: Timestamp.now(), actor: op.actor, action: "list-licenses", result: "ok",
                detail: "\(licenses.count) licence(s)")
            return json(.ok, .object([("licenses", .array(listed))]))
        } catch {
            return storeUnavailable(error)
        }
    }

    func adminActivations(_ request: Request, operator op: AdminOperator) async -> Response {
        let parameters: [String: String]
        switch query(request, allowed: ["license"], op) {
        case .ok(let p): parameters = p
        case .refused(let response): return response
        }
        let now = Timestamp.now()
        do {
            let activations: [Activation]
            if let id = parameters["license"] {
                guard AdminProtocol.isLicenseID(id) else {
                    return badRequest(
                        ProtocolError(
                            code: "malformed-request",
                            message:
                                "license must be 1 to \(AdminProtocol.maxLicenseIDBytes) of A-Z a-z 0-9 . _ -"),
                        op)
                }
                guard try await store.license(id: id) != nil else {
                    try await store.recordAudit(
                        at: now, actor: op.actor, action: "list-activations", result: "no-such-license",
                        detail: "license=\(id)")
                    return json(
                        .notFound, ProtocolError(code: "no-such-license", message: "there is no licence \(id)").json)
                }
                activations = try await store.activations(licenseID: id)
            } else {
                activations = try await store.activations()
            }
            try await store.recordAudit(
                at: now, actor: op.actor, action: "list-activations", result: "ok",
                detail: (parameters["license"].map { "license=\($0) " } ?? "") + "\(activations.count) activation(s)")
            return json(.ok, .object([("activations", .array(activations.map { ActivationListing($0).json }))]))
        } catch {
            return storeUnavailable(error)
        }
    }

    func adminAudit(_ request: Request, operator op: AdminOperator) async -> Response {
        let parameters: [String: String]
        switch query(request, allowed: ["after", "limit"], op) {
        case .ok(let p): parameters = p
        case .refused(let response): return response
        }
        var after: Int64 = 0
        var limit = AdminProtocol.maxAuditRows
        if let text = parameters["after"] {
            guard let n = Int64(text), n >= 0 else {
                return badRequest(
                    ProtocolError(code: "malformed-request", message: "after must be a row number, 0 or more"), op)
            }
            after = n
        }
        if let text = parameters["limit"] {
            guard let n = Int(text), (1...AdminProtocol.maxAuditRows).contains(n) else {
                return badRequest(
                    ProtocolError(
                        code: "malformed-request",
                        message: "limit must be an integer from 1 to \(AdminProtocol.maxAuditRows)"),
                    op)
            }
            limit = n
        }
        do {
            // Read before this read is recorded, so that a page never shows its own row.
            let entries = try await store.auditEntries(afterID: after, limit: limit)
            try await store.recordAudit(
                at: Timestamp.now(), actor: op.actor, action: "read-audit", result: "ok",
                detail: "after=\(after) rows=\(entries.count)")
            return json(.ok, .object([("audit", .array(entries.map(\.json)))]))
        } catch {
            return storeUnavailable(error)
        }
    }
}

/// A part of a request as parsed, or the reply that refuses it.
enum Parsed<T> {
    case ok(T)
    case refused(Response)
}

/// The licence operator of an admin request, as the handshake proved it.
struct AdminOperator: Sendable {
    let subject: String
    let fingerprint: String

    init(_ certificate: Certificate) {
        subject = certificate.subject
        fingerprint = certificate.fingerprint.hex
    }

    /// The audit table's actor: from the certificate, never from the request.
    var actor: String { "operator \(subject) (sha256 \(fingerprint))" }
}
