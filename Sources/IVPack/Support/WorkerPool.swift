import Foundation

/// A fixed set of threads of its own running submitted jobs in submission order (one thread:
/// strictly one after the other).
///
/// Not Dispatch: on Linux, Dispatch's global pool is as wide as the machine has processors, and a
/// command's own thread waiting for the hashing (a Dispatch thread when the command runs on Swift
/// concurrency's pool) takes one of those places, so hashing on a 2-core machine ran on about 1.4
/// cores. Dedicated threads hash on every core whatever the caller's thread does.
final class WorkerPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var head = 0
    private var unfinished = 0
    private var stopping = false

    init(threads: Int, name: String) {
        for i in 0..<max(1, threads) {
            let thread = Thread { [self] in work() }
            thread.name = "\(name).\(i)"
            thread.start()
        }
    }

    /// Queues a job.
    func submit(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        unfinished += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until every submitted job has finished.
    func waitUntilIdle() {
        condition.lock()
        while unfinished > 0 { condition.wait() }
        condition.unlock()
    }

    /// Lets the threads end once the queue is empty (they hold the pool until then).
    func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == jobs.count && !stopping { condition.wait() }
            if head == jobs.count {
                condition.unlock()
                return
            }
            let job = jobs[head]
            jobs[head] = {}
            head += 1
            if head >= 1024 && head * 2 >= jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
            condition.lock()
            unfinished -= 1
            if unfinished == 0 { condition.broadcast() }
            condition.unlock()
        }
    }
}
