import Foundation

/// Where the bytes a worker has just hashed go next: `install` writes each piece at its offset in
/// the staging file from the very buffer the worker read and hashed (one read of the bundle, no
/// second copy, no second hasher). Called from worker threads, each piece once.
protocol ChunkSink: AnyObject, Sendable {
    /// Writes all of `bytes` at `offset` of the destination; throws the system's error.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
}

/// One payload file's data as the bundle stores it, and the digests it is checked against: for a
/// file in the clear its plaintext chunks; for an encrypted file its encrypted chunks (each the
/// manifest's chunk size + 16 bytes of GCM tag, the last shorter) and their signed
/// `ciphertextChunks` digests, so that `verify` checks every stored byte without the key.
struct StoredData: Sendable {
    var path: String
    /// Bytes in the bundle.
    var size: Int64
    /// Bytes per stored chunk (the last may be shorter).
    var chunkSize: Int
    var digests: [SHA256Digest]
    var encrypted: Bool

    init(_ file: Manifest.FileEntry, chunkSize: Int) {
        path = file.path
        size = file.storedSize
        if let e = file.encryption {
            self.chunkSize = chunkSize + ChunkCipher.tagSize
            digests = e.ciphertextChunks
            encrypted = true
        } else {
            self.chunkSize = chunkSize
            digests = file.chunks
            encrypted = false
        }
    }

    /// The file's plaintext, as installed (the drift check of `status --check`).
    init(installed file: Manifest.FileEntry, chunkSize: Int) {
        path = file.path
        size = file.size
        self.chunkSize = chunkSize
        digests = file.chunks
        encrypted = false
    }

    /// Chunks the stored data has.
    var chunkCount: Int { Manifest.chunkCount(size: size, chunkSize: chunkSize) }
}

/// Checks files' chunk digests on several threads while the archive's headers are read on one.
///
/// Two ways in, chosen per file by its size:
/// - large files (at least `directThreshold` bytes) are not read by the archive reader at all: it
///   seeks over their data, and each chunk becomes a job in which a worker reads the chunk straight
///   from the bundle file (`pread`, in pieces of at most `pieceSize`) and hashes it. No copy in
///   user space, no single reading thread for the workers to wait on;
/// - small files are copied out of the archive reader's buffer into batches of about 1 MiB (many
///   files in one pooled buffer), each batch hashed by a worker, so thousands of small files cost
///   one sequential read and one hand-over per batch.
///
/// At most `workers + 2` buffers of `bufferSize` bytes (a piece, at least 1 MiB) exist at any
/// time, so memory is bounded by the piece size, not the bundle size. Chunks cover every byte of a file, so a file
/// whose chunks all match is the file the signed manifest describes; the whole-file digest in the
/// manifest (for `sha256sum` comparisons) is not recomputed. The outcome does not depend on the
/// number of workers.
final class ChunkVerifier: @unchecked Sendable {
    let chunkSize: Int
    let workers: Int
    /// Size of the pooled buffers: a chunk is read in pieces of at most this size.
    let pieceSize: Int
    /// Size of every pooled buffer: a piece, and at least a small file's largest chunk.
    let bufferSize: Int
    /// Files at least this large are read by the workers straight from the bundle file.
    static let directThreshold = 1 << 20
    static let maxPieceSize = 4 << 20
    /// Small files are collected into batches of about this many bytes, one job per batch: one
    /// hand-over per ~1 MiB instead of per file (20,000 files of 50 KiB made 20,000 jobs).
    let batchTarget = 1 << 20

    /// The batch being filled by the reading thread, its fill and its chunks.
    private var batchBuffer: UnsafeMutableRawBufferPointer?
    private var batchFill = 0
    private var batchSegments: [Segment] = []

    /// One queue of `workers` threads; `workers + 2` buffers of `bufferSize`.
    private let engine: HashingEngine
    private var pool: WorkerPool { engine.queues[0] }
    private let lock = NSLock()
    private var problems: [(file: Int, chunk: Int, text: String)] = []
    /// The first error of a sink: the check could not run (a full disk), not a mismatch.
    private var firstSinkFailure: (any Error)?
    private var order = 0
    private var hashedBytes: Int64 = 0
    private let onProgress: ((Int64) -> Void)?

    /// `workers`: hashing threads (default: active processor count). `progress` is called with the
    /// bytes hashed so far, under a lock, from whichever thread finished a piece.
    init(
        chunkSize: Int, workers: Int = ProcessInfo.processInfo.activeProcessorCount, progress: ((Int64) -> Void)? = nil
    ) {
        self.chunkSize = chunkSize
        self.workers = max(1, workers)
        self.pieceSize = min(chunkSize, Self.maxPieceSize)
        self.bufferSize = max(pieceSize, Self.directThreshold)
        self.onProgress = progress
        engine = HashingEngine(
            queues: [(self.workers, "ivpack.verify")], bufferSize: bufferSize, bufferCount: self.workers + 2)
    }

    deinit {
        engine.waitUntilIdle()
        if let batchBuffer { engine.buffers.giveBack(batchBuffer) }
    }

    private func takeBuffer() -> UnsafeMutableRawBufferPointer { engine.buffers.take() }

    private func giveBack(_ buffer: UnsafeMutableRawBufferPointer) { engine.buffers.giveBack(buffer) }

    private func record(_ file: Int, _ chunk: Int, _ text: String) {
        lock.lock()
        problems.append((file, chunk, text))
        lock.unlock()
    }

    private func recordSinkFailure(_ error: any Error) {
        lock.lock()
        if firstSinkFailure == nil { firstSinkFailure = error }
        lock.unlock()
    }

    private func hashed(_ count: Int) {
        lock.lock()
        hashedBytes += Int64(count)
        onProgress?(hashedBytes)
        lock.unlock()
    }

    private func nextFileOrder() -> Int {
        lock.lock()
        defer { lock.unlock() }
        order += 1
        return order - 1
    }

    private func mismatch(_ data: StoredData, _ index: Int, length: Int64) -> String {
        Self.mismatch(path: data.path, encrypted: data.encrypted, chunkSize: data.chunkSize, index, length: length)
    }

    fileprivate static func mismatch(path: String, encrypted: Bool, chunkSize: Int, _ index: Int, length: Int64)
        -> String
    {
        let start = Int64(index) * Int64(chunkSize)
        if encrypted {
            return
                "\(path): encrypted chunk \(index) (bytes \(start) to \(start + length - 1) of the stored ciphertext) does not match its SHA-256 in the manifest (ciphertextChunks)"
        }
        return
            "\(path): chunk \(index) (bytes \(start) to \(start + length - 1)) does not match its SHA-256 in the manifest"
    }

    /// Whether `verify(_:in:dataOffset:)` should be used for a file of this size.
    func readsDirectly(size: Int64) -> Bool { size >= Int64(Self.directThreshold) }

    /// Whether a mismatch or a sink failure has been seen so far (a caller may stop early).
    var hasProblems: Bool {
        lock.lock()
        defer { lock.unlock() }
        return !problems.isEmpty || firstSinkFailure != nil
    }

    /// The first error a sink threw, once `finish()` returned.
    var sinkFailure: (any Error)? {
        lock.lock()
        defer { lock.unlock() }
        return firstSinkFailure
    }

    /// Checks a file whose `expected.size` bytes of data start at `dataOffset` in `bundle`: one job
    /// per chunk, each read and hashed by a worker. Returns at once when every job is queued;
    /// mismatches and a file that ends early are returned by `finish()`. With a `sink`, every piece
    /// is also handed to it at its offset in the file, after it was hashed; a chunk that does not
    /// match may already be written (the caller discards the whole destination on any problem).
    func verify(_ expected: StoredData, in bundle: InputFile, dataOffset: Int64, sink: (any ChunkSink)? = nil) {
        let fileOrder = nextFileOrder()
        let size = expected.size
        let chunkSize = expected.chunkSize
        let count = expected.chunkCount
        for index in 0..<count {
            let start = Int64(index) * Int64(chunkSize)
            let length = min(Int64(chunkSize), size - start)
            let expectedDigest = index < expected.digests.count ? expected.digests[index] : nil
            nonisolated(unsafe) let buffer = takeBuffer()
            pool.submit { [self] in
                defer { giveBack(buffer) }
                let hasher = SHA256Hasher()
                var done: Int64 = 0
                while done < length {
                    let want = Int(min(Int64(pieceSize), length - done))
                    let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
                    let n: Int
                    do {
                        n = try bundle.readFully(into: piece, at: dataOffset + start + done)
                    } catch {
                        record(fileOrder, index, "\(expected.path): chunk \(index) cannot be read: \(error)")
                        return
                    }
                    if n < want {
                        record(
                            fileOrder, index,
                            "\(expected.path): the bundle ends inside chunk \(index) (at byte \(start + done + Int64(n)) of \(size)); the bundle is truncated"
                        )
                        return
                    }
                    hasher.update(UnsafeRawBufferPointer(piece))
                    if let sink {
                        do {
                            try sink.write(UnsafeRawBufferPointer(piece), at: start + done)
                        } catch {
                            recordSinkFailure(error)
                            return
                        }
                    }
                    done += Int64(n)
                    hashed(n)
                }
                if hasher.finish() != expectedDigest {
                    record(fileOrder, index, mismatch(expected, index, length: length))
                }
            }
        }
    }

    /// Decrypts an encrypted file while checking it (install): one job per chunk, in which a
    /// worker reads the chunk's tag, then its ciphertext in pieces into one pooled buffer, hashes
    /// each piece as stored, decrypts it in place (AES-256-GCM, `ChunkCipher` from `ciphers`) and
    /// hands the plaintext to `sink` at its plaintext offset; at the chunk's end the GCM tag is
    /// checked, then the stored chunk's digest against the signed `ciphertextChunks`. The tag
    /// alone is not enough: every recipient holds the bundle's key, and with it GCM lets anyone
    /// make a chunk that authenticates; the signed digest lets only the vendor's bytes through.
    /// A failed tag or digest is named by file and chunk; the plaintext of that chunk may
    /// already be written (the caller discards the whole destination on any problem).
    func verifyDecrypting(
        _ file: Manifest.FileEntry, ciphers: CipherPool, in bundle: InputFile, dataOffset: Int64, sink: any ChunkSink
    ) {
        let fileOrder = nextFileOrder()
        guard let encryption = file.encryption else {
            record(fileOrder, 0, "\(file.path): not an encrypted file")
            return
        }
        let fileIndex = UInt32(clamping: encryption.fileIndex)
        let count = encryption.ciphertextChunks.count
        let stride = Int64(chunkSize + ChunkCipher.tagSize)
        for index in 0..<count {
            let start = Int64(index) * Int64(chunkSize)
            let length = max(0, min(Int64(chunkSize), file.size - start))
            let storedStart = dataOffset + Int64(index) * stride
            let expectedDigest = encryption.ciphertextChunks[index]
            let isFinal = index == count - 1
            nonisolated(unsafe) let buffer = takeBuffer()
            pool.submit { [self] in
                defer { giveBack(buffer) }
                let cipher: ChunkCipher
                do {
                    cipher = try ciphers.take()
                } catch {
                    record(fileOrder, index, "\(file.path): chunk \(index) cannot be decrypted: \(error)")
                    return
                }
                defer { ciphers.giveBack(cipher) }
                var tag = (UInt64(0), UInt64(0))
                do {
                    let n = try withUnsafeMutableBytes(of: &tag) {
                        try bundle.readFully(into: $0, at: storedStart + length)
                    }
                    guard n == ChunkCipher.tagSize else {
                        record(
                            fileOrder, index,
                            "\(file.path): the bundle ends inside encrypted chunk \(index); the bundle is truncated")
                        return
                    }
                    try cipher.beginDecrypting(fileIndex: fileIndex, chunkIndex: UInt64(index), isFinal: isFinal)
                } catch {
                    record(fileOrder, index, "\(file.path): encrypted chunk \(index) cannot be read: \(error)")
                    return
                }
                let hasher = SHA256Hasher()
                var done: Int64 = 0
                while done < length {
                    let want = Int(min(Int64(pieceSize), length - done))
                    let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
                    do {
                        let n = try bundle.readFully(into: piece, at: storedStart + done)
                        guard n == want else {
                            record(
                                fileOrder, index,
                                "\(file.path): the bundle ends inside encrypted chunk \(index); the bundle is truncated"
                            )
                            return
                        }
                        hasher.update(UnsafeRawBufferPointer(piece))
                        try cipher.decryptPiece(piece)
                    } catch {
                        record(fileOrder, index, "\(file.path): encrypted chunk \(index) cannot be read: \(error)")
                        return
                    }
                    do {
                        try sink.write(UnsafeRawBufferPointer(piece), at: start + done)
                    } catch {
                        recordSinkFailure(error)
                        return
                    }
                    done += Int64(want)
                    hashed(want)
                }
                do {
                    try withUnsafeBytes(of: &tag) {
                        try cipher.finishDecrypting(tag: $0, fileIndex: fileIndex, chunkIndex: UInt64(index))
                    }
                } catch ContentCipherError.authenticationFailed {
                    record(
                        fileOrder, index,
                        "\(file.path): encrypted chunk \(index) fails authentication (AES-256-GCM tag mismatch): it was altered, moved from another position, or the key is not this bundle's"
                    )
                    return
                } catch {
                    record(fileOrder, index, "\(file.path): encrypted chunk \(index) cannot be decrypted: \(error)")
                    return
                }
                withUnsafeBytes(of: &tag) { hasher.update($0) }
                if hasher.finish() != expectedDigest {
                    record(
                        fileOrder, index,
                        "\(file.path): encrypted chunk \(index) authenticates under the key but does not match its SHA-256 in the manifest (ciphertextChunks): it was made by a holder of the key, not the vendor"
                    )
                }
            }
        }
    }

    /// Streams one small file's data through `read` into the current batch (see `batchTarget`).
    /// Returns a problem found on the reading side (a length mismatch) at once; digest mismatches
    /// are collected and returned by `finish()`. For files below `directThreshold` bytes.
    func verify(_ expected: StoredData, read: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws
        -> String?
    {
        let fileOrder = nextFileOrder()
        let size = expected.size
        let chunkSize = expected.chunkSize
        // Every chunk of a small file fits one buffer (buffers hold at least directThreshold bytes),
        // so each chunk lies in one piece in a batch. Data beyond the declared size (a lying
        // header) is reported, never written past a chunk's reserved room.
        func chunkLength(_ index: Int) -> Int {
            Int(max(0, min(Int64(chunkSize), size - Int64(index) * Int64(chunkSize))))
        }
        let lastChunk = expected.chunkCount - 1
        guard min(Int64(chunkSize), size) <= Int64(bufferSize) else {
            return "\(expected.path): \(size) bytes in chunks of \(chunkSize) do not fit the small-file path's buffers"
        }
        var chunkIndex = 0
        var want = chunkLength(0)
        var start = reserve(want)
        var have = 0
        var total: Int64 = 0
        var overflow = false
        func closeChunk() {
            let digest = chunkIndex < expected.digests.count ? expected.digests[chunkIndex] : nil
            batchSegments.append(
                Segment(
                    file: fileOrder, chunk: chunkIndex, expected: digest, path: expected.path,
                    encrypted: expected.encrypted, chunkSize: chunkSize, start: start, length: have))
            batchFill = start + have
            chunkIndex += 1
        }
        try read { block in
            total += Int64(block.count)
            if overflow { return }
            var i = 0
            while i < block.count {
                if have == want {
                    guard chunkIndex < lastChunk else {
                        overflow = true
                        return
                    }
                    closeChunk()
                    want = chunkLength(chunkIndex)
                    start = reserve(want)
                    have = 0
                }
                let take = min(block.count - i, want - have)
                UnsafeMutableRawBufferPointer(rebasing: batchBuffer![(start + have)..<(start + have + take)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: block[i..<(i + take)]))
                have += take
                i += take
            }
        }
        closeChunk()
        if batchFill >= batchTarget { submitBatch() }
        if overflow || total != size {
            return "\(expected.path): the archive holds \(total) bytes of data, the manifest says \(size)"
        }
        if chunkIndex != expected.digests.count {
            return "\(expected.path): \(chunkIndex) chunks of data, the manifest lists \(expected.digests.count)"
        }
        return nil
    }

    /// One chunk of a small file inside a batch buffer.
    private struct Segment {
        let file: Int
        let chunk: Int
        let expected: SHA256Digest?
        let path: String
        let encrypted: Bool
        let chunkSize: Int
        let start: Int
        let length: Int
    }

    /// Where the next `count` bytes go in the current batch: its fill, or 0 in a new batch when
    /// they do not fit (the full batch goes to a worker first). Reading thread only.
    private func reserve(_ count: Int) -> Int {
        if batchBuffer != nil, batchFill + count <= bufferSize { return batchFill }
        submitBatch()
        batchBuffer = takeBuffer()
        batchFill = 0
        return 0
    }

    /// Hands the current batch to a worker: each segment hashed and compared, then the buffer
    /// given back. Reading thread only.
    private func submitBatch() {
        guard let buffer = batchBuffer else { return }
        batchBuffer = nil
        let segments = batchSegments
        batchSegments = []
        batchFill = 0
        guard !segments.isEmpty else {
            giveBack(buffer)
            return
        }
        nonisolated(unsafe) let b = buffer
        pool.submit { [self] in
            let hasher = SHA256Hasher()
            var bytes = 0
            for segment in segments {
                hasher.update(UnsafeRawBufferPointer(rebasing: b[segment.start..<(segment.start + segment.length)]))
                if hasher.finish() != segment.expected {
                    record(
                        segment.file, segment.chunk,
                        Self.mismatch(
                            path: segment.path, encrypted: segment.encrypted, chunkSize: segment.chunkSize,
                            segment.chunk, length: Int64(segment.length)))
                }
                bytes += segment.length
            }
            hashed(bytes)
            giveBack(b)
        }
    }

    /// Waits until no chunk is being hashed (before leaving on an error: hashing threads must not
    /// outlive the command, whose exit handlers free OpenSSL's state).
    func waitUntilIdle() { engine.waitUntilIdle() }

    /// Waits for every chunk and returns the problems, first file and chunk first.
    func finish() -> [String] {
        submitBatch()
        pool.waitUntilIdle()
        lock.lock()
        defer { lock.unlock() }
        return problems.sorted { ($0.file, $0.chunk) < ($1.file, $1.chunk) }.map(\.text)
    }
}

/// `ChunkCipher` contexts for worker threads: a context is one worker's at a time (taken and
/// given back per chunk), all keyed with the same content key. At most one context per worker
/// is ever made.
final class CipherPool: @unchecked Sendable {
    private let key: ContentKey
    private let lock = NSLock()
    private var free: [ChunkCipher] = []

    init(key: ContentKey) { self.key = key }

    func take() throws -> ChunkCipher {
        lock.lock()
        if let cipher = free.popLast() {
            lock.unlock()
            return cipher
        }
        lock.unlock()
        return try ChunkCipher(key: key)
    }

    func giveBack(_ cipher: ChunkCipher) {
        lock.lock()
        free.append(cipher)
        lock.unlock()
    }
}
