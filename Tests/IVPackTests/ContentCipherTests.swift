import Foundation
import IVPack
import IVPackTestSupport
import Testing

/// AES-256-GCM chunk encryption (docs/encryption.md): layout, nonce and associated data, and
/// every way a ciphertext can be tampered with.
struct ContentCipherTests {
    /// A file's chunks, encrypted as the bundle will hold them.
    struct EncryptedFile {
        var plaintext: [[UInt8]]
        var ciphertext: [[UInt8]]
    }

    static func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

    static func encrypt(_ chunks: [[UInt8]], fileIndex: UInt32, with cipher: ChunkCipher) throws -> EncryptedFile {
        var out: [[UInt8]] = []
        for (index, chunk) in chunks.enumerated() {
            var ciphertext = [UInt8](repeating: 0, count: ChunkCipher.ciphertextSize(plaintextSize: chunk.count))
            try chunk.withUnsafeBytes { input in
                try ciphertext.withUnsafeMutableBytes { output in
                    try cipher.encrypt(
                        chunk: input, into: output, fileIndex: fileIndex, chunkIndex: UInt64(index),
                        isFinal: index == chunks.count - 1)
                }
            }
            out.append(ciphertext)
        }
        return EncryptedFile(plaintext: chunks, ciphertext: out)
    }

    static func decrypt(
        _ ciphertext: [UInt8], fileIndex: UInt32, chunkIndex: UInt64, isFinal: Bool, with cipher: ChunkCipher
    ) throws -> [UInt8] {
        var plaintext = [UInt8](repeating: 0xAA, count: max(0, ciphertext.count - ChunkCipher.tagSize))
        try ciphertext.withUnsafeBytes { input in
            try plaintext.withUnsafeMutableBytes { output in
                try cipher.decrypt(
                    chunk: input, into: output, fileIndex: fileIndex, chunkIndex: chunkIndex, isFinal: isFinal)
            }
        }
        return plaintext
    }

    /// Decrypts every chunk of a file as a reader would: the last one present is the final one.
    static func decryptFile(_ chunks: [[UInt8]], fileIndex: UInt32, with cipher: ChunkCipher) throws -> [[UInt8]] {
        try chunks.enumerated().map { index, chunk in
            try decrypt(
                chunk, fileIndex: fileIndex, chunkIndex: UInt64(index), isFinal: index == chunks.count - 1, with: cipher
            )
        }
    }

    /// The error `body` throws, or a test failure.
    static func failure(_ body: () throws -> Void) -> (any Error)? {
        do {
            try body()
            Issue.record("expected an error")
            return nil
        } catch { return error }
    }

    @Test func chunksRoundTripAndCiphertextIsPlaintextPlusTag() throws {
        let key = try ContentKey.generate()
        let cipher = try ChunkCipher(key: key)
        let chunks = [Self.randomBytes(65536), Self.randomBytes(65536), Self.randomBytes(1000)]
        let file = try Self.encrypt(chunks, fileIndex: 7, with: cipher)
        for (plain, sealed) in zip(file.plaintext, file.ciphertext) {
            #expect(sealed.count == plain.count + 16)
            #expect(Array(sealed.prefix(plain.count)) != plain)
        }
        // The same context decrypts after encrypting, and a second context with the same key agrees.
        #expect(try Self.decryptFile(file.ciphertext, fileIndex: 7, with: cipher) == chunks)
        #expect(try Self.decryptFile(file.ciphertext, fileIndex: 7, with: try ChunkCipher(key: key)) == chunks)
    }

    @Test func workersWithTheirOwnContextsShareOneKey() throws {
        let key = try ContentKey.generate()
        let chunks = (0..<16).map { _ in Self.randomBytes(8192) }
        let reference = try Self.encrypt(chunks, fileIndex: 1, with: try ChunkCipher(key: key))
        nonisolated(unsafe) var sealed = [[UInt8]](repeating: [], count: chunks.count)
        nonisolated(unsafe) var failures = 0
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            do {
                let cipher = try ChunkCipher(key: key)
                for index in stride(from: worker, to: chunks.count, by: 4) {
                    var out = [UInt8](repeating: 0, count: chunks[index].count + 16)
                    try chunks[index].withUnsafeBytes { input in
                        try out.withUnsafeMutableBytes { output in
                            try cipher.encrypt(
                                chunk: input, into: output, fileIndex: 1, chunkIndex: UInt64(index),
                                isFinal: index == chunks.count - 1)
                        }
                    }
                    lock.withLock { sealed[index] = out }
                }
            } catch { lock.withLock { failures += 1 } }
        }
        #expect(failures == 0)
        // Deterministic nonces: the parallel result is byte-identical to the sequential one.
        #expect(sealed == reference.ciphertext)
    }

    @Test func emptyFileIsOneChunkOfTagAlone() throws {
        let cipher = try ChunkCipher(key: try ContentKey.generate())
        let file = try Self.encrypt([[]], fileIndex: 0, with: cipher)
        #expect(file.ciphertext[0].count == 16)
        #expect(try Self.decrypt(file.ciphertext[0], fileIndex: 0, chunkIndex: 0, isFinal: true, with: cipher) == [])
        let error = Self.failure {
            _ = try Self.decrypt(file.ciphertext[0], fileIndex: 0, chunkIndex: 0, isFinal: false, with: cipher)
        }
        #expect(error as? ContentCipherError == .authenticationFailed(fileIndex: 0, chunkIndex: 0))
    }

    @Test(arguments: [0, 500, 4095, 4096 + 3])
    func flippedCiphertextOrTagByteFailsNamingFileAndChunk(_ offset: Int) throws {
        let cipher = try ChunkCipher(key: try ContentKey.generate())
        var file = try Self.encrypt([Self.randomBytes(4096), Self.randomBytes(4096)], fileIndex: 3, with: cipher)
        file.ciphertext[1][offset] ^= 0x01
        var output = [UInt8](repeating: 0xAA, count: 4096)
        let error = Self.failure {
            try file.ciphertext[1].withUnsafeBytes { input in
                try output.withUnsafeMutableBytes { out in
                    try cipher.decrypt(chunk: input, into: out, fileIndex: 3, chunkIndex: 1, isFinal: true)
                }
            }
        }
        #expect(error as? ContentCipherError == .authenticationFailed(fileIndex: 3, chunkIndex: 1))
        #expect("\(error!)".hasPrefix("encrypted file 3, chunk 1: fails authentication (AES-256-GCM tag mismatch)"))
        // Nothing unauthenticated is left in the caller's buffer.
        #expect(output.allSatisfy { $0 == 0 })
        // The context is still usable after a failure.
        #expect(
            try Self.decrypt(file.ciphertext[0], fileIndex: 3, chunkIndex: 0, isFinal: false, with: cipher)
                == file.plaintext[0])
    }

    @Test func exchangedChunksAreDetected() throws {
        let cipher = try ChunkCipher(key: try ContentKey.generate())
        let file = try Self.encrypt(
            [Self.randomBytes(4096), Self.randomBytes(4096), Self.randomBytes(4096)], fileIndex: 0, with: cipher)
        let swapped = [file.ciphertext[1], file.ciphertext[0], file.ciphertext[2]]
        let error = Self.failure { _ = try Self.decryptFile(swapped, fileIndex: 0, with: cipher) }
        #expect(error as? ContentCipherError == .authenticationFailed(fileIndex: 0, chunkIndex: 0))
    }

    @Test func chunkMovedToAnotherFileIsDetected() throws {
        let cipher = try ChunkCipher(key: try ContentKey.generate())
        let a = try Self.encrypt([Self.randomBytes(4096)], fileIndex: 0, with: cipher)
        let b = try Self.encrypt([Self.randomBytes(4096)], fileIndex: 1, with: cipher)
        // The same position in another file: only the file index differs.
        let error = Self.failure { _ = try Self.decryptFile(b.ciphertext, fileIndex: 0, with: cipher) }
        #expect(error as? ContentCipherError == .authenticationFailed(fileIndex: 0, chunkIndex: 0))
        #expect(try Self.decryptFile(a.ciphertext, fileIndex: 0, with: cipher) == a.plaintext)
    }

    @Test func droppedLastChunksAreDetectedByTheFinalFlag() throws {
        let cipher = try ChunkCipher(key: try ContentKey.generate())
        let file = try Self.encrypt((0..<4).map { _ in Self.randomBytes(1024) }, fileIndex: 9, with: cipher)
        for kept in 1..<4 {
            let error = Self.failure {
                _ = try Self.decryptFile(Array(file.ciphertext.prefix(kept)), fileIndex: 9, with: cipher)
            }
            #expect(error as? ContentCipherError == .authenticationFailed(fileIndex: 9, chunkIndex: UInt64(kept - 1)))
        }
        // A chunk cut short (its tag gone) is also refused, by size or by tag.
        let short = Self.failure {
            _ = try Self.decrypt(
                Array(file.ciphertext[3].prefix(10)), fileIndex: 9, chunkIndex: 3, isFinal: true, with: cipher)
        }
        #expect(short as? ContentCipherError == .truncatedChunk(fileIndex: 9, chunkIndex: 3, size: 10))
        let cut = Self.failure {
            _ = try Self.decrypt(
                Array(file.ciphertext[3].dropLast(1)), fileIndex: 9, chunkIndex: 3, isFinal: true, with: cipher)
        }
        #expect(cut as? ContentCipherError == .authenticationFailed(fileIndex: 9, chunkIndex: 3))
    }

    @Test func anotherKeyFailsAuthentication() throws {
        let file = try Self.encrypt(
            [Self.randomBytes(100)], fileIndex: 0, with: try ChunkCipher(key: try ContentKey.generate()))
        let other = try ChunkCipher(key: try ContentKey.generate())
        let error = Self.failure { _ = try Self.decryptFile(file.ciphertext, fileIndex: 0, with: other) }
        #expect(error as? ContentCipherError == .authenticationFailed(fileIndex: 0, chunkIndex: 0))
    }

    /// Known answers, computed outside ivpack with Python's `cryptography` (`AESGCM(key).encrypt(
    /// nonce, plaintext, associated_data)`) from the layout of docs/encryption.md: key bytes 0...31,
    /// plaintext byte i = 7i + 3. Any change to nonce, associated data or tag placement breaks them.
    @Test func chunksMatchKnownAnswersOfTheDocumentedLayout() throws {
        let folder = TemporaryFolder()
        let key = try ContentKey.load(file: folder.write("kat.key", Array(0...31), mode: 0o600))
        let cipher = try ChunkCipher(key: key)
        let plaintext = (0..<40).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        let a = try Self.encryptOne(plaintext, fileIndex: 5, chunkIndex: 1, isFinal: true, with: cipher)
        #expect(
            hex(a)
                == "6eae5a00f436aaa90f56c96e0b4f42050f98b72d396116cb02313ede44007ccdefdbb7fb3518363e"
                + "2548fdd79a1f09d0b51973852f00a3c7")
        let b = try Self.encryptOne([], fileIndex: 0, chunkIndex: 0, isFinal: true, with: cipher)
        #expect(hex(b) == "52b79d76467146aec125e1b4f6ec2a21")
    }

    static func encryptOne(
        _ plaintext: [UInt8], fileIndex: UInt32, chunkIndex: UInt64, isFinal: Bool, with cipher: ChunkCipher
    ) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + ChunkCipher.tagSize)
        try plaintext.withUnsafeBytes { input in
            try out.withUnsafeMutableBytes { output in
                try cipher.encrypt(
                    chunk: input, into: output, fileIndex: fileIndex, chunkIndex: chunkIndex, isFinal: isFinal)
            }
        }
        return out
    }

    @Test func noncesAreTheDocumentedLayoutAndUnique() throws {
        #expect(ChunkCipher.nonce(fileIndex: 0x0102_0304, chunkIndex: 0x0506_0708_090A_0B0C) == Array(1...12))
        #expect(
            ChunkCipher.associatedData(fileIndex: 1, chunkIndex: 2, isFinal: true)
                == Array("ivpack-chunk/1".utf8) + [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1])
        var seen = Set<[UInt8]>()
        let files: [UInt32] = Array(0..<64) + [0xFFFF, 0x1_0000, UInt32.max]
        let chunks: [UInt64] = Array(0..<64) + [0xFFFF_FFFF, 0x1_0000_0000, UInt64.max]
        for file in files {
            for chunk in chunks {
                let nonce = ChunkCipher.nonce(fileIndex: file, chunkIndex: chunk)
                #expect(nonce.count == 12)
                seen.insert(nonce)
            }
        }
        #expect(seen.count == files.count * chunks.count)
    }

    /// The auditor's procedure of docs/encryption.md: GCM's keystream is AES-CTR from the counter
    /// block nonce || 00000002, so `openssl enc -aes-256-ctr` decrypts a chunk (without its tag).
    @Test func opensslEncCTRDecryptsAChunkAsTheAuditorDoes() throws {
        let folder = TemporaryFolder()
        let key = try ContentKey.generate()
        try key.export(to: folder.url("content.key"))
        let cipher = try ChunkCipher(key: key)
        let plaintext = Self.randomBytes(5000)
        let file = try Self.encrypt([Self.randomBytes(5000), plaintext], fileIndex: 2, with: cipher)
        let chunk = folder.write("chunk.enc", Array(file.ciphertext[1].dropLast(16)))
        let keyHex = folder.read("content.key").map { String(format: "%02x", $0) }.joined()
        let iv = ChunkCipher.nonce(fileIndex: 2, chunkIndex: 1).map { String(format: "%02x", $0) }.joined() + "00000002"
        let result = run(
            "/usr/bin/openssl",
            ["enc", "-d", "-aes-256-ctr", "-K", keyHex, "-iv", iv, "-in", chunk, "-out", folder.url("chunk.bin")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(folder.read("chunk.bin") == plaintext)
    }

    @Test func keyIsNeverPrintedAndExportIsPrivateAndExclusive() throws {
        let folder = TemporaryFolder()
        let key = try ContentKey.generate()
        let path = folder.url("content.key")
        try key.export(to: path)
        let bytes = folder.read("content.key")
        #expect(bytes.count == 32)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let printed = [
            "\(key)", String(reflecting: key),
            {
                var s = ""
                dump(key, to: &s)
                return s
            }(),
        ]
        for text in printed {
            for spelling in secretSpellings(bytes) { #expect(!text.contains(spelling)) }
        }
        #expect("\(key)" == "content key (AES-256, redacted)")
        // Never overwrites.
        let again = Self.failure { try key.export(to: path) }
        #expect((again as? FileSystemError)?.code == EEXIST)
        let loaded = try ContentKey.load(file: path)
        #expect(loaded.sameKey(as: key))
        #expect(loaded.origin == .file(path))
        #expect(key.origin == .generated)
        #expect(!(try ContentKey.generate()).sameKey(as: key))
    }

    @Test func keyFileOpenToOthersOrOfWrongSizeIsRefused() throws {
        let folder = TemporaryFolder()
        let open = folder.write("open.key", Self.randomBytes(32), mode: 0o644)
        let openError = Self.failure { _ = try ContentKey.load(file: open) }
        #expect("\(openError!)".contains("the content key file can be read by every user of this machine"))
        let short = folder.write("short.key", Self.randomBytes(31), mode: 0o600)
        let shortError = Self.failure { _ = try ContentKey.load(file: short) }
        #expect("\(shortError!)".contains("a content key file holds exactly 32 bytes, this one 31"))
        for (error, file) in [(openError, "open.key"), (shortError, "short.key")] {
            for spelling in secretSpellings(folder.read(file)) { #expect(!"\(error!)".contains(spelling)) }
        }
    }
}

@Suite struct ContentKeyCheckTests {
    @Test func checkValueIsHMACSHA256OfTheLabelAsOpenSSLComputesIt() throws {
        let folder = TemporaryFolder()
        let key = try ContentKey.generate()
        try key.export(to: folder.url("content.key"))
        let keyHex = folder.read("content.key").map { String(format: "%02x", $0) }.joined()
        let label = folder.write("label", Array(ContentKey.checkLabel.utf8))
        let result = run(
            "/usr/bin/openssl", ["mac", "-digest", "SHA256", "-macopt", "hexkey:\(keyHex)", "-in", label, "HMAC"])
        #expect(result.status == 0, "\(result.stderr)")
        let check = try key.checkValue()
        #expect(check.count == 64)
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() == check)
        #expect(try ContentKey.generate().checkValue() != check)
        for spelling in secretSpellings(folder.read("content.key")) { #expect(!check.contains(spelling)) }
    }
}
