import Foundation
import Kafka
import Pipeline
import Sinks

/// A batch whose sink write or dead letters failed transiently, waiting to
/// be tried again. Nothing of it is committed until it succeeds.
struct PendingFlush {
    var attempts = 0
    var since: ContinuousClock.Instant
    var nextAttempt: ContinuousClock.Instant
    var error: PipelineError
    /// The sink already has the records; only the dead letters are retried.
    var sinkWritten = false
}

/// Rounds of "the sink refused some records, write the rest" per attempt.
private let maxRejectionRounds = 3

extension ConsumerLoop {
    /// Completes the batch: records durably in the sink, dead letters
    /// acknowledged, then the offsets stored and committed. A transient
    /// failure leaves the batch pending (see ``PendingFlush``).
    func flushBatch() throws {
        guard pendingFlush == nil else { return }
        // One write at a time, in order: the previous batch is committed
        // (or waits for a retry) before this one is handed over.
        try settleInFlight()
        guard pendingFlush == nil else { return }
        if canWriteInBackground {
            startBackgroundWrite()
        } else {
            try attemptFlush()
        }
    }

    /// Completes the batch and waits for it: before a consumer stops at a
    /// record, pauses, or holds a partition back, what came before is committed.
    func flushBatchNow() throws {
        try flushBatch()
        try settleInFlight()
    }

    /// The common case goes to the background writer: a sink the consumer
    /// commits for, records to write, no dead letters to deliver first.
    /// Exactly-once sinks write offsets with the records and stay in line.
    private var canWriteInBackground: Bool {
        writesInBackground && !batch.records.isEmpty && batch.deadLetters.isEmpty
    }

    private func startBackgroundWrite() {
        guard let sink else { return }
        let writer = writer ?? BackgroundWrite(name: spec.name)
        self.writer = writer
        // Handed over, not copied: the writer frees the records.
        var handed = spareBatch ?? Batch(capacity: spec.batch.maxRecords)
        swap(&handed, &batch)
        spareBatch = nil
        writeInFlight = true
        let target = UncheckedSink(sink)
        let instruments = instruments
        let clock = clock
        writer.start(handed) { batch in
            let started = clock.now
            defer { instruments.sinkWriteDuration(sink: target.sink.kind).record(clock.now - started) }
            return Result { () throws(PipelineError) in try target.sink.write(SinkBatch(records: batch.records, offsets: batch.offsets)) }
        }
    }

    /// Waits for the batch being written in the background and completes it
    /// as the synchronous path would: commit it, dead-letter what the sink
    /// refused, or leave it pending for a retry. A batch that goes pending
    /// holds back the one filled meanwhile: that one is dropped unwritten
    /// and its partitions rewound, to be read again after the retry.
    func settleInFlight() throws {
        guard writeInFlight, let writer else { return }
        let (outcome, handed) = writer.wait()
        writeInFlight = false
        let newer = batch
        // Consumed, so `batch` holds the only reference and reuses its
        // storage; a second one made `removeAll` allocate anew (perf).
        batch = consume handed
        switch outcome {
        case .success(.written):
            commitBatch()
        case .success(.writtenExcept(let refused)):
            do throws(PipelineError) {
                try deadLetter(refused)
                try deliverDeadLetters()
                commitBatch()
            } catch {
                guard error.isRetriable else { throw error }
                try scheduleFlushRetry(error, sinkWritten: true)
            }
        case .success(.rejected):
            // Nothing was written: the synchronous path dead-letters and writes again.
            try attemptFlush()
        case .failure(let error):
            guard error.isRetriable else { throw error }
            try scheduleFlushRetry(error, sinkWritten: false)
        }
        if batch.isEmpty {
            spareBatch = batch
            batch = newer
        } else {
            rewind(newer)
        }
    }

    /// Drops a batch that was read but not written and seeks its partitions
    /// back to its first records, so they are read again in order.
    private func rewind(_ dropped: Batch) {
        guard !dropped.isEmpty else { return }
        let offsets = dropped.partitions.map { TopicPartitionOffset($0.partition, offset: $0.firstOffset) }
        do {
            try rewind(offsets)
        } catch {
            // A partition on its way out: its new owner reads from the committed offset.
            logger.warning("could not rewind partitions after a failed write", metadata: ["error": "\(error)"])
        }
        logger.info("a write failed; the batch read meanwhile is read again after it", metadata: ["records": "\(dropped.consumed)"])
    }

    func attemptFlush() throws {
        try settleInFlight()
        // After a failed flush in a revoke callback the batch was dropped
        // while later records may still arrive: storing their offsets would
        // skip the dropped ones.
        if let failure = pendingFailure { throw failure }
        guard !batch.isEmpty, let sink else {
            pendingFlush = nil
            return
        }
        var sinkWritten = pendingFlush?.sinkWritten ?? false
        do throws(PipelineError) {
            // Dead letters first: a sink that commits offsets itself moves
            // past them, so the dead-letter topic must have them before.
            try deliverDeadLetters()
            if !sinkWritten {
                try write(to: sink)
                sinkWritten = true
            }
            try deliverDeadLetters()
        } catch {
            guard error.isRetriable else { throw error }
            try scheduleFlushRetry(error, sinkWritten: sinkWritten)
            return
        }
        if let pending = pendingFlush {
            logger.info("recovered: the batch went through", metadata: ["attempts": "\(pending.attempts + 1)", "error": "\(pending.error.message)"])
            pendingFlush = nil
            try updatePausedPartitions()
        }
        commitBatch()
    }

    /// A sink handed to the writer thread; the consumer thread leaves it alone until the write is waited for.
    private struct UncheckedSink: @unchecked Sendable {
        let sink: any Sink
        init(_ sink: any Sink) { self.sink = sink }
    }

    /// Writes the batch's records. Records the sink refuses for good go to
    /// the dead-letter topic (or stop the consumer, without one).
    private func write(to sink: any Sink) throws(PipelineError) {
        for _ in 0..<maxRejectionRounds {
            let needsGroup = sink.commits == .transaction
            guard !batch.records.isEmpty || sink.commits != .consumer else { return }
            let started = clock.now
            let result = try sink.write(SinkBatch(records: batch.records, offsets: batch.offsets, group: needsGroup ? consumer?.groupMetadata() : nil))
            instruments.sinkWriteDuration(sink: sink.kind).record(clock.now - started)
            switch result {
            case .written:
                return
            case .writtenExcept(let refused):
                try deadLetter(refused)
                return
            case .rejected(let refused):
                try deadLetter(refused)
                try deliverDeadLetters()
            }
        }
        throw PipelineError(stage: .sink, message: "the sink kept refusing records of this batch", isRetriable: true, reason: "rejected")
    }

    /// Turns records the sink refused into dead letters; without a
    /// dead-letter topic the first of them stops the consumer before any commit.
    private func deadLetter(_ refused: [RejectedRecord]) throws(PipelineError) {
        guard let first = refused.first else { return }
        let record = batch.records[first.index]
        guard deadLetters != nil else {
            throw PipelineError(
                stage: .sink, message: "\(first.message) (the sink refuses \(RecordCoordinates(record.message)); no dead-letter topic)",
                reason: first.reason, record: RecordCoordinates(record.message))
        }
        for rejection in refused {
            logger.warning(
                "the sink refused a record; dead-lettering it",
                metadata: ["record": "\(RecordCoordinates(batch.records[rejection.index].message))", "reason": "\(rejection.reason)"])
        }
        batch.moveToDeadLetters(Dictionary(uniqueKeysWithValues: refused.map {
            ($0.index, Rejection(stage: .sink, reason: $0.reason, message: $0.message))
        }))
    }

    /// Sends the batch's dead letters and waits for the acknowledgements.
    private func deliverDeadLetters() throws(PipelineError) {
        guard let deadLetters, batch.undeliveredDeadLetters > 0 else { return }
        let results = deadLetters.deliver(batch.deadLetters)
        var delivered: [Int] = []
        var failure: KafkaError?
        for (index, result) in results.enumerated() where !batch.deadLetters[index].delivered {
            switch result {
            case .success:
                delivered.append(index)
                let rejection = batch.deadLetters[index].rejection
                instruments.deadLetters(stage: rejection.stage.rawValue, reason: rejection.reason).increment()
                stats.recordsDeadLettered += 1
            case .failure(let error):
                failure = failure ?? error
                if DeadLetterWriter.isPermanent(error) {
                    let letter = batch.deadLetters[index]
                    throw PipelineError(
                        stage: .deadLetter,
                        message: "\(RecordCoordinates(letter.message)) cannot be written to the dead-letter topic: \(error)",
                        record: RecordCoordinates(letter.message))
                }
            }
        }
        batch.markDelivered(delivered)
        if let failure {
            throw PipelineError(
                stage: .deadLetter, message: "dead-letter topic \(deadLetters.spec.topic): \(failure)", isRetriable: true,
                reason: "dead_letter_unavailable")
        }
    }

    /// Pauses every partition and schedules the next attempt; when the
    /// attempts run out, `retry.on_exhausted: fail` fails the consumer.
    private func scheduleFlushRetry(_ error: PipelineError, sinkWritten: Bool) throws {
        let now = clock.now
        var pending = pendingFlush ?? PendingFlush(since: now, nextAttempt: now, error: error)
        pending.attempts += 1
        pending.error = error
        pending.sinkWritten = sinkWritten
        stats.errors += 1
        instruments.errors(stage: error.stage.rawValue).increment()
        runtime.record(ConsumerFailure(stage: error.stage.rawValue, message: error.message))
        if !retry.allowsAttempt(after: pending.attempts), spec.retry.onExhausted == .fail {
            throw PipelineError(stage: error.stage, message: "gave up after \(pending.attempts) attempts: \(error.message)", reason: error.reason)
        }
        let delay = retry.jitteredBackoff(afterFailures: pending.attempts)
        pending.nextAttempt = now + delay
        pendingFlush = pending
        try updatePausedPartitions()
        logger.warning(
            "batch not completed; retrying",
            metadata: ["stage": "\(error.stage)", "error": "\(error.message)", "attempt": "\(pending.attempts)", "retry_in": "\(delay)",
                       "records": "\(batch.consumed)"])
        publish()
    }

    /// Stores and commits the completed batch's offsets and accounts for it.
    private func commitBatch() {
        guard let consumer else { return }
        let offsets = batch.offsets
        // Also after a Kafka sink's transaction, which committed the same
        // offsets already: committing them again is harmless, and clusters
        // that ignore transactional offsets (librdkafka's mock) still advance.
        do {
            try consumer.store(offsets)
            for offset in offsets { partitions[offset.topicPartition]?.stored = offset.offset }
        } catch {
            // Only possible for partitions no longer assigned; their records
            // are in the sink and the new owner re-reads them (duplicates, no loss).
            logger.warning("could not store offsets", metadata: ["error": "\(error)"])
        }
        commitStoredAsync()

        for entry in batch.partitions {
            count(entry.partition, consumed: entry.consumed, written: entry.written)
        }
        let finished = clock.now
        instruments.batches.increment()
        if let started = batch.startedAt {
            instruments.batchCompleted(after: finished - started, maxWait: maxWait)
            settings.onBatchCommitted?(finished - started, batch.consumed)
        }
        let written = batch.written
        stats.messagesConsumed += Int64(batch.consumed)
        stats.recordsWritten += Int64(written)
        stats.batches += 1
        stats.lastBatchAt = Date()
        stats.lastBatchRecords = written
        stats.lastBatchDuration = batch.startedAt.map { finished - $0 }
        logger.debug(
            "batch committed",
            metadata: ["batch_id": "\(stats.batches)", "records": "\(written)", "consumed": "\(batch.consumed)",
                       "dead_letters": "\(batch.deadLetters.count)", "partitions": "\(batch.partitions.count)"])
        batch.removeAll()
        batchProgressPending = true
    }

    /// Starts committing the stored offsets. The loop goes on polling; the
    /// result arrives in ``collectCommitResults()``.
    func commitStoredAsync() {
        guard let consumer else { return }
        do {
            try consumer.commitAsync()
            commitsInFlight += 1
        } catch {
            commitFailed(error)
        }
    }

    /// Commits the stored offsets and waits for the answer (revoke, stop).
    func commitStoredNow() {
        guard let consumer else { return }
        do {
            committed(try consumer.commit(timeout: Self.synchronousCommitTimeout))
        } catch {
            commitFailed(error)
        }
    }

    /// Takes the results of asynchronous commits that have arrived; a failed
    /// one is retried after a pause even if no new batch comes.
    func collectCommitResults(_ now: ContinuousClock.Instant) {
        guard let consumer else { return }
        if commitsInFlight > 0 {
            for result in consumer.takeCommitResults() {
                commitsInFlight -= 1
                heardFromBroker = heardFromBroker || result.error == nil
                if let error = result.error {
                    commitFailed(error)
                    recommitAt = now + Self.recommitDelay
                } else {
                    committed(result)
                }
            }
        }
        if let due = recommitAt, due <= now, commitsInFlight == 0 {
            recommitAt = nil
            commitStoredAsync()
        }
    }

    private func committed(_ result: KafkaConsumer.CommitResult) {
        guard !result.nothingToCommit else { return }
        stats.commits += 1
        stats.lastCommitAt = Date()
        instruments.commits(result: "success").increment()
        for entry in result.offsets {
            if let offset = entry.offset { partitions[entry.topicPartition]?.committed = offset }
        }
    }

    /// A failed commit is counted, not fatal: the offsets stay stored and go
    /// with the next commit.
    private func commitFailed(_ error: KafkaError) {
        stats.errors += 1
        instruments.commits(result: "failure").increment()
        instruments.errors(stage: "commit").increment()
        runtime.record(ConsumerFailure(stage: "commit", message: "\(error)"))
        logger.warning("offset commit failed; the offsets stay stored and are committed again", metadata: ["error": "\(error)"])
    }

    /// Adds to the per-partition counters (cached in the partition's
    /// progress while it is assigned).
    func count(_ partition: TopicPartition, consumed: Int, written: Int = 0) {
        let consumedCounter = partitions[partition]?.consumedCounter ?? instruments.consumed(partition)
        consumedCounter.increment(by: Int64(consumed))
        if written > 0 { (partitions[partition]?.writtenCounter ?? instruments.written(partition)).increment(by: Int64(written)) }
    }

    func dropBatch() {
        if !batch.isEmpty {
            logger.info("dropping unwritten records; they will be read again", metadata: ["records": "\(batch.consumed)"])
        }
        batch.removeAll()
    }
}
