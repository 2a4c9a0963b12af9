import Foundation
import Kafka
import Logging
import Pipeline
import Prometheus

/// The body of a consumer thread: poll → decode → batch → sink write →
/// store offsets → commit. Thread-confined; rebalance callbacks arrive inside
/// `poll` and `close` on this same thread.
///
/// At-least-once: an offset is stored and committed only after the sink has
/// durably written every record before it. Anything not yet written when a
/// run ends is simply not committed and will be read again.
final class ConsumerLoop {
    private let runtime: ConsumerRuntime
    private let spec: ConsumerSpec
    private let settings: ConsumerRuntime.RunSettings
    private let decoder: any RecordDecoder
    private var logger: Logger
    private let instruments: ConsumerInstruments
    private let clock = ContinuousClock()

    private var consumer: KafkaConsumer?
    private var sink: (any Sink)?
    private var paused = false

    // The batch being built.
    private var batch: [Record] = []
    private var batchBytes = 0
    private var batchStartedAt: ContinuousClock.Instant?
    private var batchPartitions: [BatchPartition] = []
    private var lastBatchPartition = 0
    private let maxWait: Duration

    /// Assigned partitions and what we know about them.
    private var partitions: [TopicPartition: PartitionProgress] = [:]
    private var stats = RuntimeStats()
    private var nextRefresh: ContinuousClock.Instant
    /// A failure raised inside a rebalance callback, surfaced by the loop.
    private var pendingFailure: (any Error)?
    private var lastKafkaErrorLog: [KafkaError.Code: ContinuousClock.Instant] = [:]

    private static let idlePollTimeout: Duration = .milliseconds(100)

    init(runtime: ConsumerRuntime, spec: ConsumerSpec, settings: ConsumerRuntime.RunSettings) {
        self.runtime = runtime
        self.spec = spec
        self.settings = settings
        self.decoder = spec.format.type.makeDecoder()
        self.instruments = settings.instruments
        self.maxWait = .milliseconds(spec.batch.maxWaitMilliseconds)
        self.nextRefresh = clock.now
        var logger = settings.logger
        logger[metadataKey: "consumer"] = .string(spec.name)
        logger[metadataKey: "generation"] = .stringConvertible(runtime.generation)
        self.logger = logger
        batch.reserveCapacity(spec.batch.maxRecords)
    }

    // MARK: Run

    func run() {
        runtime.publish(state: .starting)
        do {
            try open()
            try loop()
            try shutdown()
            runtime.publish(state: .stopped)
            logger.info("consumer stopped", metadata: statsMetadata)
        } catch {
            let failure = Self.failure(from: error)
            abandon()
            runtime.record(failure)
            runtime.publish(state: .failed)
            logger.error("consumer failed", metadata: ["stage": "\(failure.stage)", "error": "\(failure.message)"])
        }
        instruments.removeLag(for: Array(partitions.keys))
        runtime.publish(partitions: [], stats: stats)
    }

    private func open() throws {
        let sink: any Sink
        switch spec.sink.type {
        case .file:
            let fileSink = try FileSink(path: settings.sinkPath ?? spec.sink.path ?? spec.name)
            if fileSink.repairedBytes > 0 {
                logger.warning(
                    "trimmed a torn last line from the sink file", metadata: ["bytes": "\(fileSink.repairedBytes)", "path": "\(fileSink.target)"])
            }
            sink = fileSink
        case .stdout:
            sink = StdoutSink()
        }
        self.sink = sink
        let consumer = try KafkaConsumer(config: settings.kafka, logger: logger)
        consumer.delegate = self
        self.consumer = consumer
        if let pattern = spec.topicPattern {
            try consumer.subscribe(pattern: pattern)
        } else {
            try consumer.subscribe(topics: spec.topics ?? [])
        }
        paused = runtime.requests.pause
        runtime.publish(state: paused ? .paused : .running)
        logger.info(
            "consumer started",
            metadata: ["subscription": "\(spec.subscriptionDescription)", "group_id": "\(spec.groupID)", "sink": "\(sink.target)"])
    }

    private func loop() throws {
        guard let consumer else { return }
        while true {
            // One clock reading per iteration: the loop runs once per record.
            let now = clock.now
            runtime.beat(at: now)
            if runtime.takeRequestFlag(), try applyRequests() == .stop { return }
            if let failure = pendingFailure { throw failure }
            if let started = batchStartedAt, now - started >= maxWait { try flushBatch() }
            if now >= nextRefresh { refreshProgress() }
            do {
                if let message = try consumer.poll(timeout: pollTimeout(now)) {
                    try append(message)
                    if batch.count >= spec.batch.maxRecords || batchBytes >= spec.batch.maxBytes { try flushBatch() }
                }
            } catch let error as KafkaError where !error.isFatal {
                report(error)
            }
        }
    }

    /// Graceful end: write and commit what was read, then leave the group.
    private func shutdown() throws {
        runtime.publish(state: .stopping)
        try flushBatch()
        try consumer?.close()
        consumer = nil
        sink?.close()
    }

    /// Failure path: nothing unwritten may be committed, so the batch is
    /// dropped before closing (closing runs the revoke callback).
    private func abandon() {
        dropBatch()
        if let consumer {
            do {
                try consumer.close()
            } catch {
                logger.warning("closing the consumer failed", metadata: ["error": "\(error)"])
            }
        }
        consumer = nil
        sink?.close()
    }

    private enum RequestOutcome { case stop, proceed }

    private func applyRequests() throws -> RequestOutcome {
        let requests = runtime.requests
        if requests.stop { return .stop }
        guard requests.pause != paused, let consumer else { return .proceed }
        let assigned = try consumer.assignment()
        if requests.pause {
            // Everything read so far goes out before the pause takes effect.
            try flushBatch()
            try consumer.pause(assigned)
            paused = true
            runtime.publish(state: .paused)
            logger.info("consumer paused", metadata: ["partitions": "\(assigned.count)"])
        } else {
            try consumer.resume(assigned)
            paused = false
            runtime.publish(state: .running)
            logger.info("consumer resumed", metadata: ["partitions": "\(assigned.count)"])
        }
        nextRefresh = clock.now
        return .proceed
    }

    // MARK: Batch

    private func pollTimeout(_ now: ContinuousClock.Instant) -> Duration {
        guard let started = batchStartedAt else { return Self.idlePollTimeout }
        let remaining = started + maxWait - now
        return remaining <= .zero ? .zero : min(remaining, Self.idlePollTimeout)
    }

    private func append(_ message: KafkaMessage) throws {
        stats.messagesConsumed += 1
        add(try decode(message))
    }

    private func add(_ record: Record) {
        // A fresh reading for the first record: the batch-duration metric
        // starts when the record arrived, not when the poll began.
        if batchStartedAt == nil { batchStartedAt = clock.now }
        batch.append(record)
        batchBytes += (record.message.value?.count ?? 0) + (record.message.key?.count ?? 0)
        track(record.message)
    }

    private func decode(_ message: KafkaMessage) throws -> Record {
        do {
            return try decoder.decode(message)
        } catch {
            // A record that can never be decoded. Write and commit everything
            // before it, then fail without committing it: nothing is skipped.
            count(message.topicPartition, consumed: 1)
            try flushBatch()
            stats.errors += 1
            instruments.errors(stage: error.stage.rawValue).increment()
            throw error
        }
    }

    /// Remembers the highest offset per partition in the batch. Consecutive
    /// records mostly share a partition, so the last one is checked first.
    @inline(__always)
    private func track(_ message: KafkaMessage) {
        if lastBatchPartition < batchPartitions.count,
            batchPartitions[lastBatchPartition].partition.partition == message.partition,
            batchPartitions[lastBatchPartition].partition.topic == message.topic
        {
            batchPartitions[lastBatchPartition].lastOffset = message.offset
            batchPartitions[lastBatchPartition].count += 1
            return
        }
        let key = message.topicPartition
        if let index = batchPartitions.firstIndex(where: { $0.partition == key }) {
            batchPartitions[index].lastOffset = message.offset
            batchPartitions[index].count += 1
            lastBatchPartition = index
        } else {
            batchPartitions.append(BatchPartition(partition: key, lastOffset: message.offset, count: 1))
            lastBatchPartition = batchPartitions.count - 1
        }
    }

    /// Writes the batch durably, then stores and commits its offsets.
    private func flushBatch() throws {
        // After a failed flush in a revoke callback the batch was dropped
        // while later records may still arrive: storing their offsets would
        // skip the dropped ones.
        if let failure = pendingFailure { throw failure }
        guard !batch.isEmpty, let consumer, let sink else { return }
        let writeStarted = clock.now
        try writeWithRetry(sink)
        let written = clock.now
        instruments.sinkWriteDuration(sink: sink.kind).record(written - writeStarted)

        let offsets = batchPartitions.map { TopicPartitionOffset($0.partition, offset: $0.lastOffset + 1) }
        do {
            try consumer.store(offsets)
            for offset in offsets { partitions[offset.topicPartition]?.stored = offset.offset }
        } catch {
            // Only possible for partitions no longer assigned; their records
            // are in the sink and the new owner re-reads them (duplicates, no loss).
            logger.warning("could not store offsets", metadata: ["error": "\(error)"])
        }
        commitStored()

        for entry in batchPartitions {
            count(entry.partition, consumed: entry.count, written: entry.count)
        }
        instruments.batches.increment()
        if let started = batchStartedAt { instruments.batchDuration.record(clock.now - started) }
        stats.recordsWritten += Int64(batch.count)
        stats.batches += 1
        stats.lastBatchAt = Date()
        stats.lastBatchRecords = batch.count
        stats.lastBatchDuration = batchStartedAt.map { clock.now - $0 }
        logger.debug(
            "batch committed",
            metadata: ["batch_id": "\(stats.batches)", "records": "\(batch.count)", "partitions": "\(batchPartitions.count)"])
        resetBatch()
        publish()
    }

    /// Commits stored offsets synchronously; a failed commit is retried with
    /// the next batch (the offsets stay stored), so it is counted, not fatal.
    private func commitStored() {
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
            try sink.write(batch)
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

    private func count(_ partition: TopicPartition, consumed: Int, written: Int = 0) {
        if partitions[partition] == nil {
            partitions[partition] = PartitionProgress(partition: partition, instruments: instruments)
        }
        partitions[partition]?.consumedCounter.increment(by: Int64(consumed))
        if written > 0 { partitions[partition]?.writtenCounter.increment(by: Int64(written)) }
    }

    private func resetBatch() {
        batch.removeAll(keepingCapacity: true)
        batchPartitions.removeAll(keepingCapacity: true)
        lastBatchPartition = 0
        batchBytes = 0
        batchStartedAt = nil
    }

    private func dropBatch() {
        if !batch.isEmpty {
            logger.info("dropping unwritten records; they will be read again", metadata: ["records": "\(batch.count)"])
        }
        resetBatch()
    }

    /// Removes records of partitions we no longer own (lost, not revoked).
    private func dropRecords(of lost: Set<TopicPartition>) {
        guard batchPartitions.contains(where: { lost.contains($0.partition) }) else { return }
        let kept = batch.filter { !lost.contains($0.message.topicPartition) }
        let dropped = batch.count - kept.count
        let started = batchStartedAt
        resetBatch()
        kept.forEach(add)
        if !kept.isEmpty { batchStartedAt = started }
        logger.warning("dropped records of lost partitions", metadata: ["records": "\(dropped)"])
    }

    // MARK: Progress

    /// Refreshes positions, watermarks and lag from librdkafka's local state.
    /// Committed offsets are asked of the coordinator once per assignment.
    private func refreshProgress() {
        nextRefresh = clock.now + settings.refreshInterval
        guard let consumer, !partitions.isEmpty else {
            publish()
            return
        }
        let assigned = Array(partitions.keys)
        let now = clock.now
        let unknown = assigned.filter { partitions[$0]?.needsCommittedQuery(at: now) == true }
        if !unknown.isEmpty {
            for partition in unknown { partitions[partition]?.committedQueriedAt = now }
            do {
                for entry in try consumer.committed(unknown, timeout: .seconds(2)) {
                    partitions[entry.topicPartition]?.committedKnown = true
                    if partitions[entry.topicPartition]?.committed == nil {
                        partitions[entry.topicPartition]?.committed = entry.offset
                    }
                }
            } catch {
                // Asked again after a while: until then lag falls back to the position.
                logger.debug("could not read committed offsets", metadata: ["error": "\(error)"])
            }
        }
        if let positions = try? consumer.positions(assigned) {
            for entry in positions { partitions[entry.topicPartition]?.position = entry.offset }
        }
        if paused {
            // Paused partitions are not fetched, so their cached watermarks are
            // stale: ask the leaders (one request), or lag would stand still.
            for entry in (try? consumer.queryHighWatermarks(assigned, timeout: .seconds(1))) ?? [] {
                if let high = entry.offset { partitions[entry.topicPartition]?.highWatermark = high }
            }
        }
        for partition in assigned {
            // A paused partition's cached low watermark is old but still a
            // valid lower bound; its high watermark came from the query above.
            if let marks = consumer.cachedWatermarks(partition) {
                partitions[partition]?.lowWatermark = marks.low
                if !paused { partitions[partition]?.highWatermark = marks.high }
            }
            if let lag = partitions[partition]?.status(paused: paused).lag {
                instruments.setLag(lag, for: partition)
            }
        }
        publish()
    }

    private func publish() {
        let statuses = partitions.values.map { $0.status(paused: paused) }.sorted {
            ($0.topic, $0.partition) < ($1.topic, $1.partition)
        }
        runtime.publish(partitions: statuses, stats: stats)
    }

    private func report(_ error: KafkaError) {
        stats.errors += 1
        instruments.errors(stage: "kafka").increment()
        runtime.record(ConsumerFailure(stage: "kafka", message: "\(error)"))
        // The same broker error can repeat many times a second; log it at most every 10 s.
        let now = clock.now
        if let last = lastKafkaErrorLog[error.code], now - last < .seconds(10) { return }
        lastKafkaErrorLog[error.code] = now
        logger.warning("kafka error", metadata: ["error": "\(error)"])
    }

    private var statsMetadata: Logger.Metadata {
        ["consumed": "\(stats.messagesConsumed)", "written": "\(stats.recordsWritten)", "batches": "\(stats.batches)"]
    }

    static func failure(from error: any Error) -> ConsumerFailure {
        switch error {
        case let error as PipelineError:
            ConsumerFailure(stage: error.stage.rawValue, message: error.description)
        case let error as KafkaError:
            ConsumerFailure(stage: "kafka", message: error.description)
        default:
            ConsumerFailure(stage: "internal", message: "\(error)")
        }
    }
}

// MARK: - Rebalance

extension ConsumerLoop: KafkaConsumerDelegate {
    func consumer(_ consumer: KafkaConsumer, didAssign assigned: [TopicPartition]) {
        instruments.rebalances(kind: "assign").increment()
        for partition in assigned where partitions[partition] == nil {
            partitions[partition] = PartitionProgress(partition: partition, instruments: instruments)
        }
        if paused {
            do {
                try consumer.pause(assigned)
            } catch {
                pendingFailure = error
            }
        }
        nextRefresh = clock.now
        logger.info(
            "partitions assigned",
            metadata: ["partitions": "\(assigned.map(\.description).joined(separator: ","))", "protocol": "\(consumer.rebalanceProtocol)"])
    }

    func consumer(_ consumer: KafkaConsumer, willRevoke revoked: [TopicPartition]) {
        instruments.rebalances(kind: "revoke").increment()
        // Last chance to commit what was read from these partitions.
        do {
            if batch.isEmpty {
                commitStored()
            } else {
                try flushBatch()
            }
        } catch {
            pendingFailure = error
            dropBatch()
        }
        forget(revoked)
        logger.info("partitions revoked", metadata: ["partitions": "\(revoked.map(\.description).joined(separator: ","))"])
    }

    func consumer(_ consumer: KafkaConsumer, didLose lost: [TopicPartition]) {
        instruments.rebalances(kind: "lost").increment()
        // Another member may own these already: committing would be wrong.
        dropRecords(of: Set(lost))
        forget(lost)
        logger.warning("partitions lost", metadata: ["partitions": "\(lost.map(\.description).joined(separator: ","))"])
    }

    func consumer(_ consumer: KafkaConsumer, didReport error: KafkaError) {
        report(error)
    }

    private func forget(_ gone: [TopicPartition]) {
        for partition in gone { partitions.removeValue(forKey: partition) }
        instruments.removeLag(for: gone)
        publish()
    }
}

/// A partition's share of the current batch.
private struct BatchPartition {
    let partition: TopicPartition
    var lastOffset: Int64
    var count: Int
}

/// What the loop knows about one assigned partition.
private struct PartitionProgress {
    let partition: TopicPartition
    let consumedCounter: Counter
    let writtenCounter: Counter
    var committed: Int64?
    /// The group's committed offset has been read (it may be none).
    var committedKnown = false
    var committedQueriedAt: ContinuousClock.Instant?
    /// Stored but maybe not yet committed.
    var stored: Int64?
    var position: Int64?
    var highWatermark: Int64?
    var lowWatermark: Int64?

    init(partition: TopicPartition, instruments: ConsumerInstruments) {
        self.partition = partition
        self.consumedCounter = instruments.consumed(partition)
        self.writtenCounter = instruments.written(partition)
    }

    /// Committed offsets are read once per assignment; a failed read is
    /// retried after a pause rather than on every refresh.
    func needsCommittedQuery(at now: ContinuousClock.Instant) -> Bool {
        guard !committedKnown, committed == nil else { return false }
        guard let last = committedQueriedAt else { return true }
        return now - last >= .seconds(5)
    }

    func status(paused: Bool) -> PartitionStatus {
        // The cached watermark is refreshed periodically; a committed offset
        // proves the log already reaches at least that far.
        let high = highWatermark.map { max($0, committed ?? $0) }
        return PartitionStatus(
            topic: partition.topic, partition: partition.partition, committedOffset: committed,
            position: position, highWatermark: high, lowWatermark: lowWatermark, paused: paused)
    }
}

extension Duration {
    /// Seconds as a `Double`, for APIs that take a `TimeInterval`.
    var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
