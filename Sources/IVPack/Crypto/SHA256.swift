internal import CLibCrypto

/// A SHA-256 digest: 32 bytes, written as 64 lower-case hex digits.
public struct SHA256Digest: Hashable, Sendable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a SHA-256 digest has 32 bytes")
        self.bytes = bytes
    }

    /// Parses 64 lower-case hex digits; nil for anything else.
    public init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        for i in 0..<32 {
            guard let hi = Self.nibble(utf8[2 * i]), let lo = Self.nibble(utf8[2 * i + 1]) else { return nil }
            out[i] = hi << 4 | lo
        }
        self.bytes = out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// 64 lower-case hex digits.
    public var hex: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { hex }

    /// The digest of `data`, in one call.
    public static func of(_ data: some Sequence<UInt8>) -> SHA256Digest {
        let hasher = SHA256Hasher()
        let bytes = Array(data)
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finish()
    }
}

/// An incremental SHA-256 computation backed by OpenSSL's EVP interface (which uses the CPU's
/// SHA extensions where present). Not safe to share between threads; make one per thread.
public final class SHA256Hasher {
    private let context: OpaquePointer

    /// Starts a new digest.
    public init() {
        guard let context = EVP_MD_CTX_new() else { fatalError("OpenSSL could not allocate a digest context") }
        self.context = context
        guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            fatalError("\(OpenSSLError.drain("SHA-256 initialisation"))")
        }
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Feeds `bytes` into the digest.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        // EVP_DigestUpdate cannot fail for SHA-256 with a valid context and buffer.
        _ = EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
    }

    /// Returns the digest and resets the hasher so that it can be used again.
    public func finish() -> SHA256Digest {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = EVP_DigestFinal_ex(context, &out, &length)
        _ = EVP_DigestInit_ex(context, EVP_sha256(), nil)
        return SHA256Digest(bytes: out)
    }
}
