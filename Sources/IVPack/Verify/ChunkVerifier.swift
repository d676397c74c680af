import Foundation

/// Where the bytes a worker has just hashed go next: `install` writes each piece at its offset in
/// the staging file from the very buffer the worker read and hashed (one read of the bundle, no
/// second copy, no second hasher). Called from worker threads, each piece once.
protocol ChunkSink: AnyObject, Sendable {
    /// Writes all of `bytes` at `offset` of the destination; throws the system's error.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
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

    private func mismatch(_ path: String, _ index: Int, length: Int64) -> String {
        let start = Int64(index) * Int64(chunkSize)
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
    func verify(_ expected: Manifest.FileEntry, in bundle: InputFile, dataOffset: Int64, sink: (any ChunkSink)? = nil) {
        let fileOrder = nextFileOrder()
        let size = expected.size
        let count = Manifest.chunkCount(size: size, chunkSize: chunkSize)
        for index in 0..<count {
            let start = Int64(index) * Int64(chunkSize)
            let length = min(Int64(chunkSize), size - start)
            let expectedDigest = index < expected.chunks.count ? expected.chunks[index] : nil
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
                    record(fileOrder, index, mismatch(expected.path, index, length: length))
                }
            }
        }
    }

    /// Streams one small file's data through `read` into the current batch (see `batchTarget`).
    /// Returns a problem found on the reading side (a length mismatch) at once; digest mismatches
    /// are collected and returned by `finish()`. For files below `directThreshold` bytes.
    func verify(_ expected: Manifest.FileEntry, read: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws
        -> String?
    {
        let fileOrder = nextFileOrder()
        let size = expected.size
        // Every chunk of a small file fits one buffer (buffers hold at least directThreshold bytes),
        // so each chunk lies in one piece in a batch. Data beyond the declared size (a lying
        // header) is reported, never written past a chunk's reserved room.
        func chunkLength(_ index: Int) -> Int {
            Int(max(0, min(Int64(chunkSize), size - Int64(index) * Int64(chunkSize))))
        }
        let lastChunk = Manifest.chunkCount(size: size, chunkSize: chunkSize) - 1
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
            let digest = chunkIndex < expected.chunks.count ? expected.chunks[chunkIndex] : nil
            batchSegments.append(
                Segment(
                    file: fileOrder, chunk: chunkIndex, expected: digest, path: expected.path, start: start,
                    length: have))
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
        if chunkIndex != expected.chunks.count {
            return "\(expected.path): \(chunkIndex) chunks of data, the manifest lists \(expected.chunks.count)"
        }
        return nil
    }

    /// One chunk of a small file inside a batch buffer.
    private struct Segment {
        let file: Int
        let chunk: Int
        let expected: SHA256Digest?
        let path: String
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
                        mismatch(segment.path, segment.chunk, length: Int64(segment.length)))
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
