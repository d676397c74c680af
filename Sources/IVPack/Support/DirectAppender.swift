import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Appends a large output (a bundle being built) to an `AtomicOutputFile` with direct I/O: the
/// bytes go from two aligned staging buffers to the disk without passing through the page cache.
///
/// Why: on this kind of machine a buffered `write` of 2 GiB cost 1.5-3 s of CPU in the kernel
/// (copying into freshly allocated page-cache pages) plus the flush at the end, and that CPU was
/// taken from the hashing threads. With `O_DIRECT` the copy into a staging buffer is the only one,
/// the disk transfer runs on a writer thread of its own while the next buffer fills, and the
/// final `fsync` finds the data already written.
///
/// Staging buffers are written whole at offsets that are multiples of their size, so every direct
/// write is aligned. The tail is written at `finish()`: its aligned part directly, the rest after
/// switching the file back to buffered I/O. Where the file system refuses direct I/O (tmpfs on
/// older kernels, some network file systems), the appender falls back to plain buffered writes,
/// at open or at the first refused write, without losing a byte.
final class DirectAppender: @unchecked Sendable {
    private let output: AtomicOutputFile
    private let bufferSize: Int
    private var direct: Bool
    /// The buffer being filled (reading thread) and its fill.
    private var current: UnsafeMutableRawBufferPointer
    private var fill = 0
    /// Where the current buffer starts in the file.
    private var bufferOffset: Int64 = 0
    private var spare: [UnsafeMutableRawBufferPointer] = []
    private var allBuffers: [UnsafeMutableRawBufferPointer] = []
    private let free: DispatchSemaphore
    private let writer = WorkerPool(threads: 1, name: "ivpack.build.writer")
    private let lock = NSLock()
    /// The first error of the writer thread; reported by the next `append` or by `finish`.
    private var failure: FileSystemError?
    private var finished = false

    /// Alignment for direct I/O: the page size covers every logical block size in use.
    static let alignment = 4096

    /// Switches `output` to direct I/O if its file system allows it. Nothing may have been
    /// appended to `output` yet.
    init(output: AtomicOutputFile, bufferSize: Int = 2 << 20, buffers: Int = 2) {
        precondition(bufferSize % Self.alignment == 0 && buffers >= 1)
        self.output = output
        self.bufferSize = bufferSize
        allBuffers = (0..<buffers).map { _ in .allocate(byteCount: bufferSize, alignment: Self.alignment) }
        current = allBuffers[0]
        spare = Array(allBuffers.dropFirst())
        free = DispatchSemaphore(value: buffers - 1)
        let flags = fcntl(output.fd, F_GETFL)
        direct = flags >= 0 && fcntl(output.fd, F_SETFL, flags | LinuxConstants.oDirect) == 0
    }

    deinit {
        writer.waitUntilIdle()
        writer.shutdown()
        for b in allBuffers { b.deallocate() }
    }

    /// Whether writes currently bypass the page cache (for tests and the benchmark's notes).
    var isDirect: Bool {
        lock.lock()
        defer { lock.unlock() }
        return direct
    }

    /// Appends `bytes` after everything appended before.
    func append(_ bytes: UnsafeRawBufferPointer) throws {
        if let failure = currentFailure() { throw failure }
        var done = 0
        while done < bytes.count {
            let take = min(bytes.count - done, bufferSize - fill)
            UnsafeMutableRawBufferPointer(rebasing: current[fill..<(fill + take)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[done..<(done + take)]))
            fill += take
            done += take
            if fill == bufferSize { try handOver() }
        }
    }

    /// Writes everything still staged and waits for the disk transfers; afterwards the file is in
    /// buffered mode again (for the manifest written into its reserved place) and holds every
    /// appended byte. Returns the file's length.
    @discardableResult
    func finish() throws -> Int64 {
        precondition(!finished)
        finished = true
        writer.waitUntilIdle()
        if let failure = currentFailure() { throw failure }
        let tail = UnsafeRawBufferPointer(rebasing: current[0..<fill])
        let aligned = fill / Self.alignment * Self.alignment
        // Directly while the file is in direct mode; writeOut falls back to buffered otherwise.
        try writeOut(UnsafeRawBufferPointer(rebasing: tail[0..<aligned]), at: bufferOffset)
        leaveDirectMode()
        try writeBuffered(UnsafeRawBufferPointer(rebasing: tail[aligned..<fill]), at: bufferOffset + Int64(aligned))
        return bufferOffset + Int64(fill)
    }

    private func currentFailure() -> FileSystemError? {
        lock.lock()
        defer { lock.unlock() }
        return failure
    }

    /// Gives the full current buffer to the writer thread and continues in a free one.
    private func handOver() throws {
        nonisolated(unsafe) let full = current
        let offset = bufferOffset
        writer.submit { [self] in
            do {
                try writeOut(UnsafeRawBufferPointer(full), at: offset)
            } catch let error as FileSystemError {
                lock.lock()
                if failure == nil { failure = error }
                lock.unlock()
            } catch {}
            lock.lock()
            spare.append(full)
            lock.unlock()
            free.signal()
        }
        bufferOffset += Int64(bufferSize)
        fill = 0
        free.wait()
        lock.lock()
        current = spare.removeLast()
        lock.unlock()
        if let failure = currentFailure() { throw failure }
    }

    /// Writes `bytes` at `offset` directly; falls back to buffered I/O for good if the file
    /// system refuses (EINVAL), and finishes any short write buffered.
    private func writeOut(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count, isDirect {
            let n = pwrite(output.fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EINVAL {
                    leaveDirectMode()
                    break
                }
                throw FileSystemError(operation: "write", path: output.temporaryPath, code: errno, isInput: false)
            }
            done += n
            // A short direct write leaves an unaligned rest: that goes buffered.
            if done < bytes.count, done % Self.alignment != 0 { leaveDirectMode() }
        }
        try writeBuffered(UnsafeRawBufferPointer(rebasing: bytes[done...]), at: offset + Int64(done))
    }

    private func writeBuffered(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try writeFully(output.fd, bytes, at: offset, path: output.temporaryPath)
    }

    private func leaveDirectMode() {
        lock.lock()
        defer { lock.unlock() }
        guard direct else { return }
        direct = false
        let flags = fcntl(output.fd, F_GETFL)
        if flags >= 0 { _ = fcntl(output.fd, F_SETFL, flags & ~LinuxConstants.oDirect) }
    }
}
