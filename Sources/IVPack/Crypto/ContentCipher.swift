internal import CLibCrypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The AES-256 key that encrypts one bundle's confidential components (docs/encryption.md).
///
/// Thirty-two bytes from OpenSSL's private random generator, in memory that only this value owns
/// and that is overwritten (`OPENSSL_cleanse`) when the value is released. The bytes are never
/// printed: `description`, `debugDescription` and reflection show no key material, and the only
/// ways out are `export(to:)` (a new file, mode 0600) and `EnvelopedKey.wrap(_:to:)`.
///
/// One key encrypts one bundle. GCM's nonces are unique only within a bundle (file index and chunk
/// index), so a key used for two bundles would repeat nonces: always `generate()` a key for a
/// build. `load(file:)` exists for reproducible builds in tests and is marked by `origin`.
public final class ContentKey: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// Bytes in a key: AES-256.
    public static let byteCount = 32

    /// Where a key came from.
    public enum Origin: Sendable, Equatable {
        /// Generated for this bundle: the only origin a release build should accept.
        case generated
        /// Read from a key file (tests, reproducible builds): the file's path.
        case file(String)
        /// Unwrapped from a recipient's EnvelopedData (an install).
        case unwrapped
    }

    /// Where the key came from.
    public let origin: Origin

    private let storage: UnsafeMutableRawPointer

    /// A key whose bytes `fill` writes; the storage is cleansed if `fill` throws.
    init(origin: Origin, fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        storage = .allocate(byteCount: Self.byteCount, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: Self.byteCount)
        self.origin = origin
        do {
            try fill(UnsafeMutableRawBufferPointer(start: storage, count: Self.byteCount))
        } catch {
            OPENSSL_cleanse(storage, Self.byteCount)
            throw error
        }
    }

    deinit {
        OPENSSL_cleanse(storage, Self.byteCount)
        storage.deallocate()
    }

    /// A fresh key from OpenSSL's private DRBG (`RAND_priv_bytes`).
    public static func generate() throws -> ContentKey {
        try ContentKey(origin: .generated) { bytes in
            ERR_clear_error()
            guard RAND_priv_bytes(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(bytes.count)) == 1
            else { throw OpenSSLError.drain("generate a content key") }
        }
    }

    /// Reads a key file: exactly 32 raw bytes, as `export(to:)` and `openssl cms -decrypt` write it.
    /// A file that users other than its owner and group can read or write is refused. Meant for
    /// reproducible builds in tests: a release build generates its key (see the type's comment).
    public static func load(file: String) throws -> ContentKey {
        let input = try InputFile(path: file)
        try SecretFileAccess.refuseIfOpenToOthers(input, what: "content key")
        guard input.size == Int64(byteCount) else {
            throw InputError.credential(
                file: file, problem: "a content key file holds exactly \(byteCount) bytes, this one \(input.size)",
                hint: "Give the file written by --export-content-key or by `openssl cms -decrypt`")
        }
        // Read straight into the key's storage: no other copy of the bytes is made.
        return try ContentKey(origin: .file(file)) { bytes in
            let n = try input.readFully(into: bytes, at: 0)
            guard n == byteCount else {
                throw InputError.credential(
                    file: file, problem: "the content key file changed while it was read", hint: "")
            }
        }
    }

    /// Writes the key's 32 raw bytes to a new file at `path`, mode 0600. Refuses to overwrite
    /// anything (`O_EXCL`, no symbolic link followed); a failed write removes the file.
    public func export(to path: String) throws {
        try writeNewFile(
            path, mode: 0o600, what: "the content key file",
            UnsafeRawBufferPointer(start: storage, count: Self.byteCount))
    }

    /// Whether `other` holds the same bytes (compared in constant time).
    public func sameKey(as other: ContentKey) -> Bool {
        CRYPTO_memcmp(storage, other.storage, Self.byteCount) == 0
    }

    /// The label the key check value is computed over.
    public static let checkLabel = "ivpack-content-key-check/1"

    /// The key's check value: HMAC-SHA256 under the key of the ASCII label
    /// `ivpack-content-key-check/1`, 64 lower-case hex digits. The manifest carries it (signed),
    /// so that a key from a recipient entry, a licence grant or a key file is known right or
    /// wrong before a byte is decrypted or written: a forged or damaged wrapped key is refused by
    /// name, not at the first chunk's tag. It reveals nothing of the key (HMAC is a PRF keyed by
    /// it); it does let whoever holds a candidate key test it, which the first chunk's tag
    /// would allow anyway.
    public func checkValue() throws -> String {
        var out = [UInt8](repeating: 0, count: 32)
        var written = 0
        let label = Array(Self.checkLabel.utf8)
        ERR_clear_error()
        let ok = out.withUnsafeMutableBufferPointer { o in
            label.withUnsafeBufferPointer { l in
                EVP_Q_mac(
                    nil, "HMAC", nil, "SHA256", nil, storage, Self.byteCount, l.baseAddress, l.count,
                    o.baseAddress, o.count, &written)
            }
        }
        guard ok != nil, written == 32 else { throw OpenSSLError.drain("compute the content key's check value") }
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: out.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }

    /// Calls `body` with the key bytes. `body` must not copy them anywhere that outlives the call.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage, count: Self.byteCount))
    }

    /// Never the bytes.
    public var description: String { "content key (AES-256, redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }
}

/// A failure to decrypt a chunk: its ciphertext is not what this key encrypted at this position.
public enum ContentCipherError: IVPackError, Equatable {
    /// The AES-256-GCM tag does not match: the chunk was altered, moved from another position or
    /// file, marked final when it is not (or the reverse), or the key is not the bundle's.
    case authenticationFailed(fileIndex: UInt32, chunkIndex: UInt64)
    /// The encrypted chunk is shorter than its tag.
    case truncatedChunk(fileIndex: UInt32, chunkIndex: UInt64, size: Int)

    public var exitStatus: ExitStatus { .checkFailed }

    public var description: String {
        switch self {
        case .authenticationFailed(let file, let chunk):
            return
                "encrypted file \(file), chunk \(chunk): fails authentication (AES-256-GCM tag mismatch): "
                + "the chunk was altered, moved from another position, or the file cut short, "
                + "or the key is not this bundle's. Nothing decrypted from it may be used"
        case .truncatedChunk(let file, let chunk, let size):
            return
                "encrypted file \(file), chunk \(chunk): \(size) bytes, shorter than its \(ChunkCipher.tagSize)-byte "
                + "tag. The bundle is damaged"
        }
    }
}

/// AES-256-GCM over one chunk at a time, for one worker: the OpenSSL context and the key schedule
/// are set up once and reused for every chunk, and every output goes into the caller's buffer, so
/// the hot path allocates nothing. Not thread-safe: give each worker its own.
///
/// Layout of an encrypted chunk: the ciphertext (as long as the plaintext) then the 16-byte tag,
/// so `ciphertextSize(plaintextSize:)` is the plaintext size + 16. An empty file is one empty
/// chunk, encrypted to its tag alone.
///
/// Nonce (96 bits): the file index as 4 bytes then the chunk index as 8 bytes, big-endian. Unique
/// for every chunk of a bundle, and each bundle has its own random key, so no (key, nonce) pair
/// repeats. Associated data (27 bytes): `ivpack-chunk/1`, the file index (4 bytes), the chunk
/// index (8 bytes), then 1 for the file's last chunk and 0 otherwise; so a chunk moved to another
/// position or file, and a file whose last chunks were cut off, fail authentication.
public final class ChunkCipher {
    /// Bytes of the GCM tag after each chunk.
    public static let tagSize = 16
    /// Bytes of the nonce.
    public static let nonceSize = 12
    /// The label that starts every chunk's associated data, versioned with the layout.
    public static let label: [UInt8] = Array("ivpack-chunk/1".utf8)
    /// Largest plaintext chunk: OpenSSL's update takes an `int` length, and the manifest's largest
    /// chunk size is 64 MiB.
    public static let maxChunkSize = 1 << 30

    private let context: OpaquePointer
    private let cipher: OpaquePointer
    /// Kept alive with the context, which holds its key schedule.
    private let key: ContentKey
    /// Nonce and associated data, rewritten for each chunk.
    private let nonce: UnsafeMutablePointer<UInt8>
    private let aad: UnsafeMutablePointer<UInt8>
    private static let aadSize = label.count + 4 + 8 + 1

    /// The encrypted size of a chunk of `plaintextSize` bytes.
    public static func ciphertextSize(plaintextSize: Int) -> Int { plaintextSize + tagSize }

    /// A context keyed with `key`.
    public init(key: ContentKey) throws {
        ERR_clear_error()
        guard let cipher = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil) else {
            throw OpenSSLError.drain("fetch AES-256-GCM")
        }
        guard let context = EVP_CIPHER_CTX_new() else {
            EVP_CIPHER_free(cipher)
            throw OpenSSLError.drain("create a cipher context")
        }
        let keyed = key.withUnsafeBytes { bytes in
            EVP_EncryptInit_ex2(context, cipher, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, nil)
        }
        guard keyed == 1 else {
            EVP_CIPHER_CTX_free(context)
            EVP_CIPHER_free(cipher)
            throw OpenSSLError.drain("set the content key")
        }
        self.context = context
        self.cipher = cipher
        self.key = key
        nonce = .allocate(capacity: Self.nonceSize)
        aad = .allocate(capacity: Self.aadSize)
        aad.initialize(from: Self.label, count: Self.label.count)
    }

    deinit {
        // EVP_CIPHER_CTX_free cleanses the key schedule.
        EVP_CIPHER_CTX_free(context)
        EVP_CIPHER_free(cipher)
        nonce.deallocate()
        aad.deallocate()
    }

    /// The 12-byte nonce of chunk `chunkIndex` of file `fileIndex`.
    public static func nonce(fileIndex: UInt32, chunkIndex: UInt64) -> [UInt8] {
        bigEndianBytes(fileIndex) + bigEndianBytes(chunkIndex)
    }

    /// The associated data of a chunk: label, file index, chunk index, final flag.
    public static func associatedData(fileIndex: UInt32, chunkIndex: UInt64, isFinal: Bool) -> [UInt8] {
        label + nonce(fileIndex: fileIndex, chunkIndex: chunkIndex) + [isFinal ? 1 : 0]
    }

    private static func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian, Array.init)
    }

    private func setPosition(fileIndex: UInt32, chunkIndex: UInt64, isFinal: Bool) {
        let raw = UnsafeMutableRawPointer(nonce)
        raw.storeBytes(of: fileIndex.bigEndian, toByteOffset: 0, as: UInt32.self)
        raw.storeBytes(of: chunkIndex.bigEndian, toByteOffset: 4, as: UInt64.self)
        let a = UnsafeMutableRawPointer(aad) + Self.label.count
        a.copyMemory(from: raw, byteCount: Self.nonceSize)
        aad[Self.aadSize - 1] = isFinal ? 1 : 0
    }

    /// Encrypts one chunk: writes `plaintext.count` bytes of ciphertext then the tag into
    /// `ciphertext`, which must be exactly `ciphertextSize(plaintextSize: plaintext.count)` bytes.
    /// `isFinal` is true for the file's last chunk (its only one when the file is empty).
    public func encrypt(
        chunk plaintext: UnsafeRawBufferPointer, into ciphertext: UnsafeMutableRawBufferPointer, fileIndex: UInt32,
        chunkIndex: UInt64, isFinal: Bool
    ) throws {
        precondition(plaintext.count <= Self.maxChunkSize, "chunk larger than ChunkCipher.maxChunkSize")
        precondition(ciphertext.count == Self.ciphertextSize(plaintextSize: plaintext.count), "wrong output size")
        setPosition(fileIndex: fileIndex, chunkIndex: chunkIndex, isFinal: isFinal)
        var n: Int32 = 0
        let out = ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard EVP_EncryptInit_ex2(context, nil, nil, nonce, nil) == 1,
            EVP_EncryptUpdate(context, nil, &n, aad, Int32(Self.aadSize)) == 1,
            EVP_EncryptUpdate(
                context, out, &n, plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(plaintext.count))
                == 1,
            EVP_EncryptFinal_ex(context, out + plaintext.count, &n) == 1,
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, Int32(Self.tagSize), out + plaintext.count) == 1
        else { throw OpenSSLError.drain("encrypt file \(fileIndex), chunk \(chunkIndex)") }
    }

    // MARK: One chunk in pieces (install: a chunk of 4 MiB is read, decrypted, hashed and written
    // in pieces from one pooled buffer, so a worker needs no second chunk-sized buffer)

    /// Starts decrypting chunk `chunkIndex` of file `fileIndex` in pieces: `decryptPiece` for its
    /// ciphertext in order, then `finishDecrypting(tag:)`, which authenticates the whole chunk.
    /// Plaintext comes out of `decryptPiece` before the tag is checked: the caller must discard
    /// everything it made of a chunk whose `finishDecrypting` throws.
    public func beginDecrypting(fileIndex: UInt32, chunkIndex: UInt64, isFinal: Bool) throws {
        setPosition(fileIndex: fileIndex, chunkIndex: chunkIndex, isFinal: isFinal)
        var n: Int32 = 0
        guard EVP_DecryptInit_ex2(context, nil, nil, nonce, nil) == 1,
            EVP_DecryptUpdate(context, nil, &n, aad, Int32(Self.aadSize)) == 1
        else { throw OpenSSLError.drain("decrypt file \(fileIndex), chunk \(chunkIndex)") }
    }

    /// Decrypts the next piece of the chunk's ciphertext in place (the buffer then holds plaintext).
    public func decryptPiece(_ bytes: UnsafeMutableRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        precondition(bytes.count <= Self.maxChunkSize, "piece larger than ChunkCipher.maxChunkSize")
        var n: Int32 = 0
        let p = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard EVP_DecryptUpdate(context, p, &n, p, Int32(bytes.count)) == 1, Int(n) == bytes.count else {
            throw OpenSSLError.drain("decrypt a piece of a chunk")
        }
    }

    /// Authenticates the chunk begun with `beginDecrypting` against its 16-byte `tag`; throws
    /// `ContentCipherError.authenticationFailed` when it does not match.
    public func finishDecrypting(tag: UnsafeRawBufferPointer, fileIndex: UInt32, chunkIndex: UInt64) throws {
        guard tag.count == Self.tagSize else {
            throw ContentCipherError.truncatedChunk(fileIndex: fileIndex, chunkIndex: chunkIndex, size: tag.count)
        }
        var n: Int32 = 0
        var end: UInt8 = 0
        guard
            EVP_CIPHER_CTX_ctrl(
                context, EVP_CTRL_AEAD_SET_TAG, Int32(Self.tagSize), UnsafeMutableRawPointer(mutating: tag.baseAddress!)
            )
                == 1
        else { throw OpenSSLError.drain("decrypt file \(fileIndex), chunk \(chunkIndex)") }
        guard EVP_DecryptFinal_ex(context, &end, &n) == 1 else {
            ERR_clear_error()
            throw ContentCipherError.authenticationFailed(fileIndex: fileIndex, chunkIndex: chunkIndex)
        }
    }

    /// Decrypts and authenticates one encrypted chunk (ciphertext then tag) into `plaintext`, which
    /// must be exactly `ciphertext.count - tagSize` bytes. When the tag does not match, throws
    /// `ContentCipherError.authenticationFailed` naming the file and chunk, and zeroes `plaintext`:
    /// nothing unauthenticated is left for the caller to use by mistake.
    public func decrypt(
        chunk ciphertext: UnsafeRawBufferPointer, into plaintext: UnsafeMutableRawBufferPointer, fileIndex: UInt32,
        chunkIndex: UInt64, isFinal: Bool
    ) throws {
        guard ciphertext.count >= Self.tagSize else {
            throw ContentCipherError.truncatedChunk(
                fileIndex: fileIndex, chunkIndex: chunkIndex, size: ciphertext.count)
        }
        let size = ciphertext.count - Self.tagSize
        precondition(size <= Self.maxChunkSize, "chunk larger than ChunkCipher.maxChunkSize")
        precondition(plaintext.count == size, "wrong output size")
        setPosition(fileIndex: fileIndex, chunkIndex: chunkIndex, isFinal: isFinal)
        var n: Int32 = 0
        let input = ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let out = plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard EVP_DecryptInit_ex2(context, nil, nil, nonce, nil) == 1,
            EVP_DecryptUpdate(context, nil, &n, aad, Int32(Self.aadSize)) == 1,
            EVP_DecryptUpdate(context, out, &n, input, Int32(size)) == 1,
            // The tag is only read: OpenSSL copies it into the context.
            EVP_CIPHER_CTX_ctrl(
                context, EVP_CTRL_AEAD_SET_TAG, Int32(Self.tagSize), UnsafeMutableRawPointer(mutating: input + size))
                == 1
        else {
            if size > 0 { memset(plaintext.baseAddress!, 0, size) }
            throw OpenSSLError.drain("decrypt file \(fileIndex), chunk \(chunkIndex)")
        }
        var end: UInt8 = 0
        guard EVP_DecryptFinal_ex(context, &end, &n) == 1 else {
            if size > 0 { memset(plaintext.baseAddress!, 0, size) }
            // A tag mismatch leaves no reason on the queue; whatever is there is not news.
            ERR_clear_error()
            throw ContentCipherError.authenticationFailed(fileIndex: fileIndex, chunkIndex: chunkIndex)
        }
    }
}
