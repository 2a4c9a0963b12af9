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
///
/// The batch travels here and back: the consumer thread keeps no copy, so
/// once the sink has the records this thread frees them, off the consumer
/// thread (the busier one: freeing a batch was 5 % of it in `perf`).
final class BackgroundWrite: @unchecked Sendable {
    typealias Write = (Batch) -> Result<SinkWriteResult, PipelineError>
    typealias Outcome = (result: Result<SinkWriteResult, PipelineError>, batch: Batch)

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var job: (batch: Batch, write: Write)?
    private var outcome: Outcome?
    private var stopped = false
    /// Mirrors `outcome != nil` for ``isDone``, which the loop asks once
    /// per poll while a write runs: an atomic load, not the lock.
    private let finished = Atomic<Bool>(false)

    init(name: String) {
        Thread.start(named: "cd-write-\(name)") { [self] in
            DataPathPriority.applyToCurrentThread()
            run()
        }
    }

    /// Starts writing `batch`; the previous write must have been waited for.
    func start(_ batch: Batch, _ write: @escaping Write) {
        condition.lock()
        precondition(job == nil && outcome == nil, "a write is already under way")
        job = (batch, write)
        condition.signal()
        condition.unlock()
    }

    /// The write has ended (``wait()`` will not block).
    var isDone: Bool { finished.load(ordering: .acquiring) }

    /// Blocks until the write has ended; its outcome and the batch, whose
    /// records are gone if the sink took them all (``Batch/releaseRecords()``).
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
            guard let (handed, write) = job.take() else {
                condition.unlock()
                return
            }
            var batch = consume handed
            condition.unlock()
            let result = write(batch)
            // The only reference now: freed here, in place, capacity kept.
            if case .success(.written) = result { batch.releaseRecords() }
            condition.lock()
            outcome = (result, batch)
            finished.store(true, ordering: .releasing)
            condition.broadcast()
            condition.unlock()
        }
    }
}
