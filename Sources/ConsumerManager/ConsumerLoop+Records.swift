import Foundation
import Kafka
import Pipeline

/// A partition waiting out a transient error before its record is retried.
struct HeldPartition {
    /// The record to retry; the partition is seeked back to it.
    let offset: Int64
    var attempts = 0
    var until: ContinuousClock.Instant
    var error: PipelineError
    /// Fetching again, the retry under way.
    var resumed = false
}

extension ConsumerLoop {
    /// Sends one message down the record path and acts on where it ends up.
    func handle(_ message: KafkaMessage) throws {
        guard let path else { return }
        switch path.process(message) {
        case .keep(let record):
            settle(message)
            batch.add(record, at: clock.now)
        case .drop:
            settle(message)
            stats.recordsDropped += 1
            batch.complete(message, at: clock.now)
        case .deadLetter(let record, let rejection):
            // No dead-letter topic yet: stop before the record, committing
            // everything before it, exactly as for a poison record.
            try flushBatch()
            throw PipelineError(
                stage: rejection.stage,
                message: "\(rejection.message) (its disposition is dead_letter, and this consumer has no dead-letter topic)",
                reason: rejection.reason, record: record.coordinates)
        case .fail(let error) where error.isRetriable:
            // Everything before the record is safe to commit; the record waits.
            try flushBatch()
            try holdBack(message, error)
        case .fail(let error):
            stats.errors += 1
            instruments.errors(stage: error.stage.rawValue).increment()
            try flushBatch()
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
    /// other partitions go on. Retried after a growing backoff.
    private func holdBack(_ message: KafkaMessage, _ error: PipelineError) throws {
        guard let consumer else { return }
        let partition = message.topicPartition
        var held = heldBack[partition].flatMap { $0.offset == message.offset ? $0 : nil }
            ?? HeldPartition(offset: message.offset, until: clock.now, error: error)
        held.attempts += 1
        let delay = settings.recordRetry.backoff(afterFailures: held.attempts)
        held.until = clock.now + delay
        held.error = error
        held.resumed = false
        heldBack[partition] = held
        stats.errors += 1
        instruments.errors(stage: error.stage.rawValue).increment()
        try consumer.pause([partition])
        try consumer.seek([TopicPartitionOffset(partition, offset: message.offset)])
        runtime.record(ConsumerFailure(stage: error.stage.rawValue, message: error.description))
        logger.warning(
            "transient error; holding the partition back",
            metadata: ["error": "\(error.message)", "partition": "\(partition)", "offset": "\(message.offset)",
                       "attempt": "\(held.attempts)", "retry_in": "\(delay)"])
        publish()
    }

    /// Lets held partitions fetch again once their backoff has passed.
    func resumeDueHolds(_ now: ContinuousClock.Instant) {
        guard !paused, let consumer else { return }
        let due = heldBack.filter { !$0.value.resumed && $0.value.until <= now }.map(\.key)
        guard !due.isEmpty else { return }
        do {
            try consumer.resume(due)
            for partition in due { heldBack[partition]?.resumed = true }
        } catch {
            report(error)
        }
    }

    /// Why the consumer cannot make full progress, for its health.
    var degradedReason: String? {
        guard let (partition, held) = heldBack.min(by: { $0.key < $1.key }) else { return nil }
        let others = heldBack.count > 1 ? " and \(heldBack.count - 1) more partition(s)" : ""
        return "\(held.error.stage) error, retrying: \(held.error.message) (holding back \(partition)\(others) from offset \(held.offset), attempt \(held.attempts))"
    }
}
