import Foundation
import Kafka
import Pipeline

extension ConsumerLoop {
    /// Writes the batch's records durably, then stores and commits the
    /// offsets it completes (including those of records it dropped).
    func flushBatch() throws {
        // After a failed flush in a revoke callback the batch was dropped
        // while later records may still arrive: storing their offsets would
        // skip the dropped ones.
        if let failure = pendingFailure { throw failure }
        guard !batch.isEmpty, let consumer, let sink else { return }
        if !batch.records.isEmpty {
            let writeStarted = clock.now
            try writeWithRetry(sink)
            instruments.sinkWriteDuration(sink: sink.kind).record(clock.now - writeStarted)
        }

        let offsets = batch.offsets
        do {
            try consumer.store(offsets)
            for offset in offsets { partitions[offset.topicPartition]?.stored = offset.offset }
        } catch {
            // Only possible for partitions no longer assigned; their records
            // are in the sink and the new owner re-reads them (duplicates, no loss).
            logger.warning("could not store offsets", metadata: ["error": "\(error)"])
        }
        commitStored()

        for entry in batch.partitions {
            count(entry.partition, consumed: entry.consumed, written: entry.written)
        }
        let finished = clock.now
        instruments.batches.increment()
        if let started = batch.startedAt { instruments.batchDuration.record(finished - started) }
        stats.messagesConsumed += Int64(batch.consumed)
        stats.recordsWritten += Int64(batch.records.count)
        stats.batches += 1
        stats.lastBatchAt = Date()
        stats.lastBatchRecords = batch.records.count
        stats.lastBatchDuration = batch.startedAt.map { finished - $0 }
        logger.debug(
            "batch committed",
            metadata: ["batch_id": "\(stats.batches)", "records": "\(batch.records.count)", "consumed": "\(batch.consumed)",
                       "partitions": "\(batch.partitions.count)"])
        batch.removeAll()
        reportStageCounts()
        publish()
    }

    /// Commits stored offsets synchronously; a failed commit is retried with
    /// the next batch (the offsets stay stored), so it is counted, not fatal.
    func commitStored() {
        guard let consumer else { return }
        do {
            if try consumer.commit() {
                stats.commits += 1
                instruments.commits(result: "success").increment()
                for (partition, progress) in partitions where progress.stored != nil {
                    partitions[partition]?.committed = progress.stored
                }
            }
        } catch {
            stats.errors += 1
            instruments.commits(result: "failure").increment()
            instruments.errors(stage: "commit").increment()
            runtime.record(ConsumerFailure(stage: "commit", message: "\(error)"))
            logger.warning("offset commit failed; retrying with the next batch", metadata: ["error": "\(error)"])
        }
    }

    private func writeWithRetry(_ sink: any Sink) throws {
        var failures = 0
        while let error = attemptWrite(sink) {
            failures += 1
            stats.errors += 1
            instruments.errors(stage: "sink").increment()
            runtime.record(ConsumerFailure(stage: "sink", message: error.message))
            guard error.isRetriable, settings.sinkRetry.allowsAttempt(after: failures) else { throw error }
            let delay = settings.sinkRetry.backoff(afterFailures: failures)
            let attempt = failures
            logger.warning(
                "sink write failed; retrying",
                metadata: ["error": "\(error.message)", "attempt": "\(attempt)", "retry_in": "\(delay)"])
            guard sleep(delay) else {
                throw PipelineError(stage: .sink, message: "stopped while retrying a failed write: \(error.message)")
            }
        }
    }

    /// One write attempt; the error, or `nil` on success.
    private func attemptWrite(_ sink: any Sink) -> PipelineError? {
        do {
            try sink.write(batch.records)
            return nil
        } catch {
            return error
        }
    }

    /// Sleeps in short steps, staying responsive to stop requests. Returns
    /// `false` if a stop was requested.
    private func sleep(_ duration: Duration) -> Bool {
        let deadline = clock.now + duration
        while clock.now < deadline {
            runtime.beat(at: clock.now)
            if runtime.requests.stop { return false }
            Thread.sleep(forTimeInterval: min(0.1, (deadline - clock.now).timeInterval))
        }
        return true
    }

    func count(_ partition: TopicPartition, consumed: Int, written: Int = 0) {
        if partitions[partition] == nil {
            partitions[partition] = PartitionProgress(partition: partition, instruments: instruments)
        }
        partitions[partition]?.consumedCounter.increment(by: Int64(consumed))
        if written > 0 { partitions[partition]?.writtenCounter.increment(by: Int64(written)) }
    }

    func dropBatch() {
        if !batch.isEmpty {
            logger.info("dropping unwritten records; they will be read again", metadata: ["records": "\(batch.consumed)"])
        }
        batch.removeAll()
    }
}
