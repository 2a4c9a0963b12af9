import Foundation
import Kafka
import Pipeline

/// A partition waiting out a transient error before its record is retried.
struct HeldPartition {
    /// The record to retry; the partition is seeked back to it.
    let offset: Int64
    var attempts = 0
    var since: ContinuousClock.Instant
    var until: ContinuousClock.Instant
    var error: PipelineError
    /// Fetching again: the retry is under way.
    var resumed = false
}

extension ConsumerLoop {
    /// Sends one message down the record path and acts on where it ends up.
    /// The message moves into the path's record (see ``RecordPath/process(_:)``).
    func handle(_ message: consuming KafkaMessage) throws {
        guard let path else { return }
        switch path.process(message) {
        case .keep(let record):
            settle(record.message)
            batch.add(record, at: clock.now)
        case .drop(let record, _, _):
            settle(record.message)
            stats.recordsDropped += 1
            batch.complete(record.message, at: clock.now)
        case .deadLetter(let record, let rejection) where deadLetters != nil:
            settle(record.message)
            batch.addDeadLetter(DeadLetter(message: record.message, rejection: rejection), at: clock.now)
        case .deadLetter(let record, let rejection):
            // No dead-letter topic (a validated spec never gets here: unset
            // policies fall back to fail): stop before the record, committing
            // everything before it, exactly as for a poison record.
            try flushBatchNow()
            throw PipelineError(
                stage: rejection.stage,
                message: "\(rejection.message) (its disposition is dead_letter, and this consumer has no dead-letter topic)",
                reason: rejection.reason, record: record.coordinates)
        case .fail(let record, let error) where error.isRetriable:
            // Everything before the record is safe to commit; the record waits.
            try flushBatchNow()
            try holdBack(record.message, error)
        case .fail(_, let error):
            stats.errors += 1
            instruments.errors(stage: error.stage.rawValue).increment()
            try flushBatchNow()
            throw error
        }
    }

    /// A record of a held partition made it through: the partition is free again.
    @inline(__always)
    private func settle(_ message: KafkaMessage) {
        guard !heldBack.isEmpty, let held = heldBack[message.topicPartition], message.offset >= held.offset else { return }
        heldBack[message.topicPartition] = nil
        logger.info(
            "partition released after a transient error",
            metadata: ["partition": "\(message.topicPartition)", "attempts": "\(held.attempts)"])
        publish()
    }

    /// Holds the partition back: paused, and seeked back to the record, so
    /// that nothing after it is read (or committed) before it succeeds. The
    /// other partitions go on. Retried after a growing backoff; when the
    /// attempts run out, `retry.on_exhausted: fail` fails the consumer.
    private func holdBack(_ message: KafkaMessage, _ error: PipelineError) throws {
        guard consumer != nil else { return }
        let partition = message.topicPartition
        let now = clock.now
        var held = heldBack[partition].flatMap { $0.offset == message.offset ? $0 : nil }
            ?? HeldPartition(offset: message.offset, since: now, until: now, error: error)
        held.attempts += 1
        if !retry.allowsAttempt(after: held.attempts), spec.retry.onExhausted == .fail {
            throw PipelineError(
                stage: error.stage, message: "gave up after \(held.attempts) attempts: \(error.message)", reason: error.reason,
                record: RecordCoordinates(message))
        }
        let delay = retry.jitteredBackoff(afterFailures: held.attempts)
        held.until = now + delay
        held.error = error
        held.resumed = false
        heldBack[partition] = held
        stats.errors += 1
        instruments.errors(stage: error.stage.rawValue).increment()
        try updatePausedPartitions()
        try rewind(to: message)
        runtime.record(ConsumerFailure(stage: error.stage.rawValue, message: error.description))
        logger.warning(
            "transient error; holding the partition back",
            metadata: ["error": "\(error.message)", "partition": "\(partition)", "offset": "\(message.offset)",
                       "attempt": "\(held.attempts)", "retry_in": "\(delay)"])
        publish()
    }

    /// Lets held partitions fetch again once their backoff has passed.
    func resumeDueHolds(_ now: ContinuousClock.Instant) throws {
        let due = heldBack.filter { !$0.value.resumed && $0.value.until <= now }.map(\.key)
        guard !due.isEmpty, !operatorPaused, pendingFlush == nil else { return }
        for partition in due { heldBack[partition]?.resumed = true }
        try updatePausedPartitions()
    }

    /// What the run waits out, for its health: a pending batch first, else
    /// the partition held back longest.
    var retrying: RetryState? {
        let now = clock.now
        func date(_ instant: ContinuousClock.Instant) -> Date { Date().addingTimeInterval((instant - now).timeInterval) }
        if let pending = pendingFlush {
            return RetryState(
                error: ConsumerFailure(stage: pending.error.stage.rawValue, message: pending.error.message),
                waiting: "a batch of \(batch.consumed) records", attempts: pending.attempts, since: date(pending.since),
                nextAttempt: date(pending.nextAttempt), exhausted: !retry.allowsAttempt(after: pending.attempts))
        }
        guard let (partition, held) = heldBack.min(by: { $0.value.since < $1.value.since }) else { return nil }
        let others = heldBack.count > 1 ? " and \(heldBack.count - 1) more partition(s)" : ""
        return RetryState(
            error: ConsumerFailure(stage: held.error.stage.rawValue, message: held.error.message),
            waiting: "partition \(partition) from offset \(held.offset)\(others)", attempts: held.attempts, since: date(held.since),
            nextAttempt: date(held.until), exhausted: !retry.allowsAttempt(after: held.attempts))
    }
}
