internal import CLibCrypto

/// A SHA-256 digest: 32 bytes, written as 64 lower-case hex digits.
///
/// Held inline (four words, no heap allocation): a manifest of 20,000 files holds tens of
/// thousands of them.
public struct SHA256Digest: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes in order, eight per word, the first byte in the most significant bits.
    private var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// The 32 digest bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a SHA-256 digest has 32 bytes")
        self = .zero
        withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
    }

    /// Thirty-two zero bytes (a placeholder, never the digest of anything).
    public static let zero = SHA256Digest(w0: 0, w1: 0, w2: 0, w3: 0)

    private init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    /// Parses 64 lower-case hex digits; nil for anything else.
    public init?(hex: String) {
        var text = hex
        guard let digest = text.withUTF8({ Self(hexDigits: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = digest
    }

    /// Parses exactly 64 lower-case hex digits given as bytes; nil for anything else.
    public init?(hexDigits utf8: UnsafeRawBufferPointer) {
        guard utf8.count == 64 else { return nil }
        var digest = SHA256Digest.zero
        let valid = digest.withUnsafeMutableBytes { out -> Bool in
            for i in 0..<32 {
                guard let hi = LowerHex.value(utf8[2 * i]), let lo = LowerHex.value(utf8[2 * i + 1]) else {
                    return false
                }
                out[i] = hi << 4 | lo
            }
            return true
        }
        guard valid else { return nil }
        self = digest
    }

    /// Calls `body` with the 32 bytes in order.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var bigEndian = (w0.bigEndian, w1.bigEndian, w2.bigEndian, w3.bigEndian)
        return try Swift.withUnsafeBytes(of: &bigEndian) { try body($0) }
    }

    /// Lets `body` fill the 32 bytes in order.
    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        var bigEndian = (w0.bigEndian, w1.bigEndian, w2.bigEndian, w3.bigEndian)
        defer {
            (w0, w1, w2, w3) = (
                UInt64(bigEndian: bigEndian.0), UInt64(bigEndian: bigEndian.1),
                UInt64(bigEndian: bigEndian.2), UInt64(bigEndian: bigEndian.3)
            )
        }
        return try Swift.withUnsafeMutableBytes(of: &bigEndian) { try body($0) }
    }

    /// 64 lower-case hex digits.
    public var hex: String {
        String(unsafeUninitializedCapacity: 64) { out in
            writeHex(into: UnsafeMutableRawBufferPointer(out))
            return 64
        }
    }

    /// Writes the 64 hex digits into the first 64 bytes of `out`.
    func writeHex(into out: UnsafeMutableRawBufferPointer) {
        let digits: StaticString = "0123456789abcdef"
        let table = UnsafeRawBufferPointer(start: digits.utf8Start, count: 16)
        for i in 0..<64 {
            let word: UInt64
            switch i >> 4 {
            case 0: word = w0
            case 1: word = w1
            case 2: word = w2
            default: word = w3
            }
            out[i] = table[Int((word >> UInt64(60 - 4 * (i & 15))) & 0xF)]
        }
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
        var digest = SHA256Digest.zero
        var length: UInt32 = 0
        digest.withUnsafeMutableBytes { out in
            _ = EVP_DigestFinal_ex(context, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
        }
        _ = EVP_DigestInit_ex(context, EVP_sha256(), nil)
        return digest
    }
}

/// Lower-case hexadecimal digits, the only form ivpack writes (digests, `\u00xx` escapes).
enum LowerHex {
    /// The value of the digit `c` (`0`-`9`, `a`-`f`); nil for anything else, upper case included.
    static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }
}

extension SHA256Digest {
    /// The digest of raw bytes.
    static func of(_ bytes: UnsafeRawBufferPointer) -> SHA256Digest {
        let hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finish()
    }
}
