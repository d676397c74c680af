import Dispatch
import Foundation

/// Checks files' chunk digests on several threads while the archive's headers are read on one.
///
/// Two ways in, chosen per file by its size:
/// - large files (at least `directThreshold` bytes) are not read by the archive reader at all: it
///   seeks over their data, and each chunk becomes a job in which a worker reads the chunk straight
///   from the bundle file (`pread`, in pieces of at most `pieceSize`) and hashes it. No copy in
///   user space, no single reading thread for the workers to wait on;
/// - small files are copied out of the archive reader's buffer into a pooled buffer and hashed by
///   a worker, so thousands of small files cost one sequential read.
///
/// At most `workers + 2` jobs (and buffers of at most `pieceSize` bytes) exist at any time, so memory
/// is bounded by the piece size, not the bundle size. Chunks cover every byte of a file, so a file
/// whose chunks all match is the file the signed manifest describes; the whole-file digest in the
/// manifest (for `sha256sum` comparisons) is not recomputed. The outcome does not depend on the
/// number of workers.
final class ChunkVerifier: @unchecked Sendable {
    let chunkSize: Int
    let workers: Int
    /// Size of the pooled buffers: a chunk is read in pieces of at most this size.
    let pieceSize: Int
    /// Files at least this large are read by the workers straight from the bundle file.
    static let directThreshold = 1 << 20
    static let maxPieceSize = 4 << 20

    private let pool: WorkerPool
    private let slots: DispatchSemaphore
    private let lock = NSLock()
    private var buffers: [UnsafeMutableRawBufferPointer] = []
    private var problems: [(file: Int, chunk: Int, text: String)] = []
    private var order = 0
    private var hashedBytes: Int64 = 0
    private let onProgress: ((Int64) -> Void)?

    /// `workers`: hashing threads (default: active processor count). `progress` is called with the
    /// bytes hashed so far, under a lock, from whichever thread finished a piece.
    init(chunkSize: Int, workers: Int = ProcessInfo.processInfo.activeProcessorCount, progress: ((Int64) -> Void)? = nil) {
        self.chunkSize = chunkSize
        self.workers = max(1, workers)
        self.pieceSize = min(chunkSize, Self.maxPieceSize)
        self.onProgress = progress
        pool = WorkerPool(threads: max(1, workers), name: "ivpack.verify")
        slots = DispatchSemaphore(value: max(1, workers) + 2)
    }

    deinit {
        pool.waitUntilIdle()
        pool.shutdown()
        for b in buffers { b.deallocate() }
    }

    private func takeBuffer() -> UnsafeMutableRawBufferPointer {
        slots.wait()
        lock.lock()
        defer { lock.unlock() }
        return buffers.popLast() ?? UnsafeMutableRawBufferPointer.allocate(byteCount: pieceSize, alignment: 4096)
    }

    private func giveBack(_ buffer: UnsafeMutableRawBufferPointer) {
        lock.lock()
        buffers.append(buffer)
        lock.unlock()
        slots.signal()
    }

    private func record(_ file: Int, _ chunk: Int, _ text: String) {
        lock.lock()
        problems.append((file, chunk, text))
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

    private func mismatch(_ expected: Manifest.FileEntry, _ index: Int, length: Int64) -> String {
        let start = Int64(index) * Int64(chunkSize)
        return "\(expected.path): chunk \(index) (bytes \(start) to \(start + length - 1)) does not match its SHA-256 in the manifest"
    }

    /// Whether `verify(_:in:dataOffset:)` should be used for a file of this size.
    func readsDirectly(size: Int64) -> Bool { size >= Int64(Self.directThreshold) }

    /// Checks a file whose `expected.size` bytes of data start at `dataOffset` in `bundle`: one job
    /// per chunk, each read and hashed by a worker. Returns at once when every job is queued;
    /// mismatches and a file that ends early are returned by `finish()`.
    func verify(_ expected: Manifest.FileEntry, in bundle: InputFile, dataOffset: Int64) {
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
                        record(fileOrder, index, "\(expected.path): the bundle ends inside chunk \(index) (at byte \(start + done + Int64(n)) of \(size)); the bundle is truncated")
                        return
                    }
                    hasher.update(UnsafeRawBufferPointer(piece))
                    done += Int64(n)
                    hashed(n)
                }
                if hasher.finish() != expectedDigest {
                    record(fileOrder, index, mismatch(expected, index, length: length))
                }
            }
        }
    }

    /// Streams one small file's data through `read`, handing each chunk to a worker. Returns a
    /// problem found on the reading side (a length mismatch) at once; digest mismatches are
    /// collected and returned by `finish()`.
    func verify(_ expected: Manifest.FileEntry, read: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> String? {
        let fileOrder = nextFileOrder()
        // A chunk must fit one buffer; anything longer is the caller's mistake or a lying header,
        // and is reported as a size problem instead of overrunning the buffer.
        let capacity = min(chunkSize, pieceSize)
        var buffer = takeBuffer()
        var fill = 0
        var chunkIndex = 0
        var total: Int64 = 0
        var overflow = false
        func submit(_ length: Int) {
            // The buffer belongs to exactly one worker until it is given back.
            nonisolated(unsafe) let b = buffer
            let index = chunkIndex
            let expectedDigest = index < expected.chunks.count ? expected.chunks[index] : nil
            pool.submit { [self] in
                let digest = SHA256Digest.of(UnsafeRawBufferPointer(rebasing: b[0..<length]))
                if digest != expectedDigest {
                    record(fileOrder, index, mismatch(expected, index, length: Int64(length)))
                }
                hashed(length)
                giveBack(b)
            }
            chunkIndex += 1
        }
        do {
            try read { block in
                var start = 0
                total += Int64(block.count)
                if overflow { return }
                while start < block.count {
                    let take = min(block.count - start, capacity - fill)
                    UnsafeMutableRawBufferPointer(rebasing: buffer[fill..<(fill + take)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: block[start..<(start + take)]))
                    fill += take
                    start += take
                    if fill == capacity {
                        if capacity < chunkSize {
                            overflow = true
                            return
                        }
                        submit(fill)
                        buffer = takeBuffer()
                        fill = 0
                    }
                }
            }
        } catch {
            giveBack(buffer)
            throw error
        }
        if overflow {
            giveBack(buffer)
            return "\(expected.path): the archive holds \(total) bytes of data, more than one read buffer; the manifest says \(expected.size)"
        }
        if fill > 0 || chunkIndex == 0 {
            submit(fill)
        } else {
            giveBack(buffer)
        }
        if total != expected.size {
            return "\(expected.path): the archive holds \(total) bytes of data, the manifest says \(expected.size)"
        }
        if chunkIndex != expected.chunks.count {
            return "\(expected.path): \(chunkIndex) chunks of data, the manifest lists \(expected.chunks.count)"
        }
        return nil
    }

    /// Waits until no chunk is being hashed (before leaving on an error: hashing threads must not
    /// outlive the command, whose exit handlers free OpenSSL's state).
    func waitUntilIdle() { pool.waitUntilIdle() }

    /// Waits for every chunk and returns the problems, first file and chunk first.
    func finish() -> [String] {
        pool.waitUntilIdle()
        lock.lock()
        defer { lock.unlock() }
        return problems.sorted { ($0.file, $0.chunk) < ($1.file, $1.chunk) }.map(\.text)
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
