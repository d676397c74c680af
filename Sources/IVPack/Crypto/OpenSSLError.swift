internal import CLibCrypto

/// A failure inside OpenSSL, with OpenSSL's own reasons drained from its error queue.
public struct OpenSSLError: IVPackError, Equatable {
    /// What ivpack asked OpenSSL to do.
    public let operation: String
    /// OpenSSL's error strings, oldest first.
    public let reasons: [String]

    public var exitStatus: ExitStatus { .environment }

    public var description: String {
        reasons.isEmpty
            ? "OpenSSL: \(operation) failed" : "OpenSSL: \(operation) failed: \(reasons.joined(separator: "; "))"
    }

    /// Builds the error from, and empties, the calling thread's OpenSSL error queue.
    static func drain(_ operation: String) -> OpenSSLError {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return OpenSSLError(operation: operation, reasons: reasons)
    }
}

/// The OpenSSL that this process runs with.
enum OpenSSLLibrary {
    /// OpenSSL's own version text of the loaded libcrypto (`OpenSSL_version`), e.g. "OpenSSL 3.0.17 1 Jul 2025".
    static var runtimeVersion: String { String(cString: OpenSSL_version(OPENSSL_VERSION)) }
}
