import Dispatch
import Foundation

/// What build's `PayloadHasher` and verify's `ChunkVerifier` share: worker threads of their own,
/// a bounded pool of page-aligned buffers, and the rule that the threads are joined before the
/// command goes on.
///
/// Why one engine: the two grew the same pool, semaphore and "wait before leaving" code side by
/// side, and a fix to one (the join after an error) had to be made twice. What differs stays with
/// them: build hashes whole files in order on one queue and chunks on serial lanes; verify hashes
/// chunks on one wide pool, reading large files itself with `pread`.
///
/// The join rule: hashing threads must not outlive the command, because OpenSSL's exit handler
/// frees state they use. Callers wait with `waitUntilIdle()` before they leave, on success and on
/// error (a `defer`); the engine also waits when it is freed.
final class HashingEngine: @unchecked Sendable {
    /// The job queues, in the order given to `init`.
    let queues: [WorkerPool]
    /// The buffers the queued jobs read from.
    let buffers: BufferPool

    /// `queues`: one worker pool per entry, `threads` wide (1 gives a serial queue: jobs in
    /// submission order). `bufferCount` buffers of `bufferSize` bytes at most exist at once.
    init(queues: [(threads: Int, name: String)], bufferSize: Int, bufferCount: Int) {
        self.queues = queues.map { WorkerPool(threads: $0.threads, name: $0.name) }
        buffers = BufferPool(bufferSize: bufferSize, capacity: bufferCount)
    }

    deinit {
        waitUntilIdle()
        for queue in queues { queue.shutdown() }
    }

    /// Waits until no job is queued or running on any queue.
    func waitUntilIdle() {
        for queue in queues { queue.waitUntilIdle() }
    }
}

/// A bounded pool of page-aligned buffers of one size: `take` waits while all `capacity` buffers
/// are in use, so memory is `capacity × bufferSize` whatever the size of the input.
final class BufferPool: @unchecked Sendable {
    let bufferSize: Int
    private let slots: DispatchSemaphore
    private let lock = NSLock()
    private var free: [UnsafeMutableRawBufferPointer] = []

    init(bufferSize: Int, capacity: Int) {
        precondition(bufferSize > 0 && capacity > 0)
        self.bufferSize = bufferSize
        slots = DispatchSemaphore(value: capacity)
    }

    /// Every buffer must have been given back (the engine's join rule sees to it).
    deinit {
        for b in free { b.deallocate() }
    }

    /// A buffer of `bufferSize` bytes, 4096-aligned (for O_DIRECT reads); waits while none is free.
    func take() -> UnsafeMutableRawBufferPointer {
        slots.wait()
        lock.lock()
        defer { lock.unlock() }
        return free.popLast() ?? .allocate(byteCount: bufferSize, alignment: 4096)
    }

    /// Returns a buffer from `take()` for reuse.
    func giveBack(_ buffer: UnsafeMutableRawBufferPointer) {
        lock.lock()
        free.append(buffer)
        lock.unlock()
        slots.signal()
    }
}
