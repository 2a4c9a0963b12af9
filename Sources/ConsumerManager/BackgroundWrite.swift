import Foundation
import Kafka
import Pipeline
import Sinks
import Synchronization

/// A consumer's sink writes on a thread of their own, one batch at a time,
/// so the consumer thread polls, decodes and fills the next batch while the
/// last one is written and made durable (an fdatasync, a round trip).
///
/// Only the write runs here: what happens next (dead letters, commits,
/// retries, counters) stays on the consumer thread, which waits for the
/// result before it touches the sink again (see `ConsumerLoop+Batch`).
final class BackgroundWrite: @unchecked Sendable {
    typealias Outcome = Result<SinkWriteResult, PipelineError>

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var job: (() -> Outcome)?
    private var outcome: Outcome?
    private var stopped = false
    /// Mirrors `outcome != nil` for ``isDone``, which the loop asks once
    /// per poll while a write runs: an atomic load, not the lock.
    private let finished = Atomic<Bool>(false)

    init(name: String) {
        let thread = Thread { [self] in
            DataPathPriority.applyToCurrentThread()
            run()
        }
        thread.name = String("cd-write-\(name)".prefix(15))
        thread.start()
    }

    /// Starts writing; the previous write must have been waited for.
    func start(_ write: @escaping () -> Outcome) {
        condition.lock()
        precondition(job == nil && outcome == nil, "a write is already under way")
        job = write
        condition.signal()
        condition.unlock()
    }

    /// The write has ended (``wait()`` will not block).
    var isDone: Bool { finished.load(ordering: .acquiring) }

    /// Blocks until the write has ended; its outcome.
    func wait() -> Outcome {
        condition.lock()
        defer { condition.unlock() }
        while outcome == nil { condition.wait() }
        let result = outcome!
        outcome = nil
        finished.store(false, ordering: .relaxed)
        return result
    }

    /// Ends the thread once the current write, if any, is done.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while job == nil && !stopped { condition.wait() }
            guard let write = job else {
                condition.unlock()
                return
            }
            condition.unlock()
            let result = write()
            condition.lock()
            job = nil
            outcome = result
            finished.store(true, ordering: .releasing)
            condition.broadcast()
            condition.unlock()
        }
    }
}
