/// One HTTP(S) request of a qualification probe, with every value resolved (`{port}` replaced).
public struct ProbeRequest: Sendable, Equatable {
    public var method: String
    public var url: URLParts
    /// The URL as text, for reports.
    public var urlText: String
    public var body: [UInt8]
    public var contentType: String?

    public init(method: String, url: URLParts, urlText: String, body: [UInt8] = [], contentType: String? = nil) {
        self.method = method
        self.url = url
        self.urlText = urlText
        self.body = body
        self.contentType = contentType
    }
}

/// The answer to a probe.
public struct ProbeResponse: Sendable, Equatable {
    public var status: Int
    public var body: [UInt8]
    /// From the request's first byte sent to the answer's last byte read.
    public var microseconds: Int64

    public init(status: Int, body: [UInt8], microseconds: Int64) {
        self.status = status
        self.body = body
        self.microseconds = microseconds
    }
}

/// Why a probe has no answer: refused, timed out, TLS, a reply too big or malformed.
public struct ProbeFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// `unreachable`, `timeout`, `tls`, `bad-response`, `too-large`.
    public var code: String
    public var message: String
    public var microseconds: Int64

    public init(code: String, message: String, microseconds: Int64) {
        self.code = code
        self.message = message
        self.microseconds = microseconds
    }

    public var description: String { message }
}

/// Sends probes: the HTTP/1.1 client over TCP or TLS lives with the other network code
/// (IVPackLicense's `NIOHTTPProber`); tests and `ivpack qualify` pass it in.
public protocol HTTPProber: Sendable {
    /// Sends `request` and reads the whole answer (at most `maxResponseBytes`), within `timeoutMilliseconds`.
    func send(_ request: ProbeRequest, timeoutMilliseconds: Int64) async -> Result<ProbeResponse, ProbeFailure>
}

/// Largest answer body a probe keeps.
public let maxProbeResponseBytes = 16 << 20
