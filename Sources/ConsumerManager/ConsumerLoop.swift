import Foundation
import Kafka
import Logging
import Pipeline
import Sinks
import Prometheus

/// The body of a consumer thread: poll → record path (decode, validate,
/// quality, sequence, transform) → batch → sink write and dead letters →
/// store offsets → commit. Thread-confined; rebalance callbacks arrive
/// inside `poll` and `close` on this same thread.
///
/// At-least-once: an offset is stored and committed only after every record
/// before it is durable in the sink, acknowledged by the dead-letter topic,
/// or was dropped by a stage's decision. Anything not yet there when a run
/// ends is not committed and is read again.
final class ConsumerLoop {
    let runtime: ConsumerRuntime
    let spec: ConsumerSpec
    let settings: ConsumerRuntime.RunSettings
    var logger: Logger
    let instruments: ConsumerInstruments
    let clock = ContinuousClock()
    let retry: RetryPolicy

    var consumer: KafkaConsumer?
    var sink: (any Sink)?
    var path: RecordPath?
    var deadLetters: DeadLetterWriter?

    var batch: Batch
    /// The background writer has a batch (and holds it); `batch` fills meanwhile.
    var writeInFlight = false
    /// An emptied batch kept for its capacity.
    var spareBatch: Batch?
    /// Writes batches while the loop goes on (sinks the consumer commits
    /// for); its thread starts with the first batch, so an idle consumer has none.
    var writer: BackgroundWrite?
    var writesInBackground = false
    let maxWait: Duration
    /// The batch's sink write or dead letters failed transiently; retried at
    /// `nextAttempt`, every partition paused meanwhile.
    var pendingFlush: PendingFlush? {
        didSet { flushIsPending = pendingFlush != nil }
    }
    /// `pendingFlush != nil`, asked once per record: testing the optional
    /// itself copied the pending state out each time (perf).
    private(set) var flushIsPending = false

    /// Assigned partitions and what we know about them.
    var partitions: [TopicPartition: PartitionProgress] = [:]
    /// Paused by the operator (every assigned partition).
    var operatorPaused = false
    /// Partitions held back by a transient record error, waiting to retry it.
    var heldBack: [TopicPartition: HeldPartition] = [:]
    /// What this loop has paused in librdkafka, whatever the reason.
    var pausedPartitions: Set<TopicPartition> = []
    /// Assigned partitions whose resume point the sink could not say yet
    /// (it keeps the offsets and was unreachable): paused until it answers.
    var awaitingSinkOffsets: Set<TopicPartition> = []
    var sinkOffsetsRetryAt: ContinuousClock.Instant?
    /// An operator's reset not yet applied, and what the current assignment
    /// seeked to and must commit.
    var offsetReset: PendingOffsetReset?
    var resetToCommit: [TopicPartitionOffset] = []

    /// Asynchronous commits not yet answered.
    var commitsInFlight = 0
    /// When to commit the stored offsets again after a failed commit.
    var recommitAt: ContinuousClock.Instant?
    static let recommitDelay: Duration = .seconds(1)
    /// How long a commit on revoke or stop may wait for the coordinator.
    static let synchronousCommitTimeout: Duration = .seconds(10)

    var brokers: BrokerStatus?
    var lastMeasured: Date?
    var lastBrokerContact: Date?
    /// A record or a commit answer arrived since the last progress refresh.
    var heardFromBroker = false
    var stats = RuntimeStats()
    /// Stage counts already added to the Prometheus counters.
    var reported = ReportedCounts()
    var nextRefresh: ContinuousClock.Instant
    /// A batch completed since its progress (status snapshot, stage
    /// counters) was last published; see ``publishBatchProgress(_:)``.
    var batchProgressPending = false
    var nextBatchProgress: ContinuousClock.Instant
    /// The freshest a busy consumer's status and stage counters are kept:
    /// publishing them after every batch cost more than storing and
    /// committing its offsets (perf, 1,000-record batches: 4.3 % of a JSON
    /// drain's consumer thread against 2.7 %).
    static let batchProgressInterval: Duration = .milliseconds(10)
    /// The last poll returned records (the next one need not compute a timeout).
    var lastPollHadRecord = false
    /// The records of the current poll, and the partitions seeked back while
    /// handling them (their later records in the burst are skipped).
    var burst: [KafkaMessage] = []
    var rewound: [TopicPartition] = []
    /// Records handled in this run (batch mode stops at `maxMessages`).
    var handled = 0
    /// A failure raised inside a rebalance callback, surfaced by the loop.
    var pendingFailure: (any Error)?
    var lastKafkaErrorLog: [KafkaError.Code: ContinuousClock.Instant] = [:]

    /// The longest an idle loop blocks in poll: commands wake it at once
    /// (``ConsumerRuntime/send(_:)``), and it wakes for its own deadlines
    /// (batch age, retries, the progress refresh) when they come.
    static let idlePollTimeout: Duration = .seconds(1)
    /// How often an idle loop looks whether the background write has ended.
    static let writeCheckInterval: Duration = .milliseconds(5)
    /// The most records one poll takes: enough to amortise the loop's
    /// per-iteration checks, few enough that commands and deadlines are
    /// looked at well within a millisecond at full speed.
    static let burstSize = 256

    init(runtime: ConsumerRuntime, spec: ConsumerSpec, settings: ConsumerRuntime.RunSettings) {
        self.runtime = runtime
        self.spec = spec
        self.settings = settings
        self.instruments = settings.instruments
        self.retry = spec.retry.policy
        self.maxWait = .milliseconds(spec.batch.maxWaitMilliseconds)
        self.nextRefresh = clock.now
        self.nextBatchProgress = clock.now
        self.batch = Batch(capacity: spec.batch.maxRecords)
        self.offsetReset = settings.offsetReset
        var logger = settings.logger
        logger[metadataKey: "consumer"] = .string(spec.name)
        logger[metadataKey: "generation"] = .stringConvertible(runtime.generation)
        self.logger = logger
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
        writer?.stop()
        instruments.removeLag(for: Array(partitions.keys))
        partitions.removeAll()
        heldBack.removeAll()
        pendingFlush = nil
        publish()
    }

    private func open() throws {
        let recordPath = spec.effectiveRecordPath
        let hasDeadLetterTopic = spec.deadLetter != nil
        do {
            let stages = try recordPath.makeStages(deadLetterAvailable: hasDeadLetterTopic)
            let decoder = try spec.format.makeDecoder(
                services: settings.decoderServices, valuesAsJSON: stages.isEmpty && !spec.sink.readsRecordFields)
            let fallback: RejectionPolicy = hasDeadLetterTopic ? .deadLetter : .fail
            path = RecordPath(decoder: decoder, decodePolicy: recordPath.onError.decode ?? fallback, stages: stages)
        } catch {
            throw PipelineError(stage: .decode, message: "the record path cannot be built: \(error)")
        }
        if let deadLetter = spec.deadLetter {
            deadLetters = try DeadLetterWriter(
                spec: deadLetter, producerConfig: settings.producerKafka, consumer: spec.name, group: spec.groupID, logger: logger)
        }
        var sinkContext = settings.sinkContext
        sinkContext.logger = logger
        sinkContext.meter = instruments
        let sink = try spec.sink.makeSink(in: sinkContext)
        self.sink = sink
        writesInBackground = sink.commits == .consumer
        let consumer = try KafkaConsumer(config: settings.kafka, logger: logger)
        consumer.delegate = self
        let wakeable = Wakeable(consumer: consumer)
        runtime.setWake { wakeable.consumer.wake() }
        // Dead letters carry the original headers, and so does a Kafka sink.
        consumer.readsHeaders = deadLetters != nil || spec.sink.type == KafkaSinkSpec.type
        self.consumer = consumer
        if let pattern = spec.topicPattern {
            try consumer.subscribe(pattern: pattern)
        } else {
            try consumer.subscribe(topics: spec.topics ?? [])
        }
        logger.info(
            "consumer started",
            metadata: [
                "subscription": "\(spec.subscriptionDescription)", "group_id": "\(spec.groupID)", "sink": "\(sink.kind) \(sink.target)", "delivery": "\(sink.commits == .consumer ? "at-least-once" : "exactly-once")",
                "format": "\(spec.format.type.rawValue)", "stages": "\(stageNames)",
                "dead_letter_topic": "\(spec.deadLetter?.topic ?? "none")",
            ])
    }

    private var stageNames: String {
        (path?.counts.map(\.stage.rawValue) ?? []).joined(separator: ",")
    }

    private func loop() throws {
        guard let consumer else { return }
        while true {
            // One clock reading per iteration: at full speed it runs once per burst.
            let now = clock.now
            runtime.beat(at: now)
            for command in runtime.takeCommands() where try apply(command) == .stop { return }
            if let failure = pendingFailure { throw failure }
            if writeInFlight, writer?.isDone == true { try settleInFlight() }
            if let pending = pendingFlush {
                if now >= pending.nextAttempt { try attemptFlush() }
            } else if let started = batch.startedAt, now - started >= maxWait {
                try flushBatch()
            }
            if !heldBack.isEmpty { try resumeDueHolds(now) }
            if !awaitingSinkOffsets.isEmpty, let due = sinkOffsetsRetryAt, now >= due { try askSinkForOffsets() }
            if commitsInFlight > 0 || recommitAt != nil { collectCommitResults(now) }
            if now >= nextRefresh { refreshProgress() }
            if batchProgressPending, !lastPollHadRecord || now >= nextBatchProgress { publishBatchProgress(now) }
            do {
                // While records flow, take what is fetched without waiting;
                // only an idle loop blocks, and then for its first record.
                try consumer.poll(
                    into: &burst, maximum: Self.burstSize, timeout: lastPollHadRecord ? .zero : pollTimeout(now))
                lastPollHadRecord = !burst.isEmpty
                if try !handleBurst() { return }
            } catch let error as KafkaError where !error.isFatal {
                report(error)
            }
        }
    }

    /// The records of one poll, in order. Returns false once batch mode has
    /// read its limit (the shutdown drains and commits what was handled).
    private func handleBurst() throws -> Bool {
        // Seeks made inside the poll (rebalance callbacks) came before the
        // burst was taken: librdkafka already left out what they outdated.
        rewound.removeAll(keepingCapacity: true)
        guard !burst.isEmpty else { return true }
        heardFromBroker = true
        if stats.firstRecordAt == nil { stats.firstRecordAt = Date() }
        // Messages are moved out of the burst one by one (reversed once,
        // then taken from the end), not copied out and destroyed with the
        // burst afterwards (perf: 3 % of a JSON drain). The burst's storage
        // goes back for the next poll; what batch mode leaves is dropped.
        var messages: [KafkaMessage] = []
        swap(&messages, &burst)
        defer {
            messages.removeAll(keepingCapacity: true)
            swap(&messages, &burst)
        }
        // Through the buffer, whose swaps move: Array's own copied each message.
        messages.withUnsafeMutableBufferPointer { $0.reverse() }
        while let message = messages.popLast() {
            // librdkafka forgets what it fetched past a seek; this burst was
            // taken before it, so the rest of a rewound partition goes too.
            if !rewound.isEmpty, rewound.contains(message.topicPartition) { continue }
            if flushIsPending || (!awaitingSinkOffsets.isEmpty && awaitingSinkOffsets.contains(message.topicPartition)) {
                // Every partition is paused while a flush waits; a record
                // fetched before the pause is read again later.
                try rewind(to: message)
                continue
            }
            try handle(message)
            if batch.consumed >= spec.batch.maxRecords || batch.bytes >= spec.batch.maxBytes { try flushBatch() }
            handled += 1
            // Batch mode: enough.
            if let limit = settings.maxMessages, handled >= limit { return false }
        }
        return true
    }

    /// Seeks the record's partition back to it, so it is read again.
    func rewind(to message: KafkaMessage) throws {
        try rewind([TopicPartitionOffset(message.topicPartition, offset: message.offset)])
    }

    /// Every seek made while a burst is handled goes through here: the rest
    /// of the burst was taken before the seek, so what it still holds of
    /// these partitions is skipped (handling it would move them past the
    /// seek). Seeks inside rebalance callbacks need not: they come before
    /// the burst is taken.
    func rewind(_ offsets: [TopicPartitionOffset]) throws {
        rewound.append(contentsOf: offsets.map(\.topicPartition))
        try consumer?.seek(offsets)
    }

    /// Graceful end: write and commit what was read, then leave the group.
    private func shutdown() throws {
        runtime.publish(state: .stopping)
        try settleInFlight()
        if !batch.isEmpty {
            // One last attempt; what still fails is not committed and is read again.
            try attemptFlush()
            if !batch.isEmpty {
                logger.warning(
                    "stopping with records the sink or the dead-letter topic did not take; they are not committed and will be read again",
                    metadata: ["records": "\(batch.consumed)"])
                dropBatch()
            }
        }
        // What is stored goes in before the group is left.
        commitStoredNow()
        runtime.setWake(nil)
        try consumer?.close()
        consumer = nil
        sink?.close()
        reportStageCounts()
    }

    /// Failure path: nothing unwritten may be committed, so the batch is
    /// dropped before closing (closing runs the revoke callback).
    private func abandon() {
        // The sink may be closed only once the writer has let go of it.
        if writeInFlight {
            _ = writer?.wait()
            writeInFlight = false
        }
        dropBatch()
        pendingFlush = nil
        runtime.setWake(nil)
        if let consumer {
            do {
                try consumer.close()
            } catch {
                logger.warning("closing the consumer failed", metadata: ["error": "\(error)"])
            }
        }
        consumer = nil
        sink?.close()
        reportStageCounts()
    }

    private enum CommandOutcome { case stop, proceed }

    private func apply(_ command: RuntimeCommand) throws -> CommandOutcome {
        switch command {
        case .stop:
            return .stop
        case .pause:
            guard !operatorPaused else { return .proceed }
            // Everything read so far goes out before the pause takes effect.
            if pendingFlush == nil { try flushBatchNow() }
            operatorPaused = true
            try updatePausedPartitions()
            runtime.publish(state: .paused)
            logger.info("consumer paused", metadata: ["partitions": "\(partitions.count)"])
        case .resume:
            guard operatorPaused else { return .proceed }
            operatorPaused = false
            // Held partitions get their retry again after a resume.
            for partition in heldBack.keys { heldBack[partition]?.resumed = false }
            try updatePausedPartitions()
            runtime.publish(state: .running)
            logger.info("consumer resumed", metadata: ["partitions": "\(partitions.count)"])
        }
        nextRefresh = clock.now
        return .proceed
    }

    /// Pauses and resumes partitions in librdkafka to match why they should
    /// not fetch: the operator paused, a flush waits for a retry, or the
    /// partition is held back by a transient record error.
    func updatePausedPartitions() throws {
        guard let consumer else { return }
        let assigned = Set(partitions.keys)
        let wanted: Set<TopicPartition> = operatorPaused || pendingFlush != nil
            ? assigned
            : Set(heldBack.filter { !$0.value.resumed }.keys).union(awaitingSinkOffsets).intersection(assigned)
        let pause = wanted.subtracting(pausedPartitions)
        let resume = pausedPartitions.intersection(assigned).subtracting(wanted)
        try consumer.pause(pause.sorted())
        try consumer.resume(resume.sorted())
        pausedPartitions = wanted
    }

    /// Until the loop's next deadline: a retry, the batch's age, a commit to
    /// retry, a held partition's retry, the progress refresh.
    private func pollTimeout(_ now: ContinuousClock.Instant) -> Duration {
        // A background write's commit should not wait for the next record.
        var wake = now + (writeInFlight ? Self.writeCheckInterval : Self.idlePollTimeout)
        wake = min(wake, nextRefresh)
        if let pending = pendingFlush {
            wake = min(wake, pending.nextAttempt)
        } else if let started = batch.startedAt {
            wake = min(wake, started + maxWait)
        }
        if let due = recommitAt { wake = min(wake, due) }
        // A commit's answer comes within milliseconds; the status shows it.
        if commitsInFlight > 0 { wake = min(wake, now + Self.writeCheckInterval * 10) }
        if let due = sinkOffsetsRetryAt, !awaitingSinkOffsets.isEmpty { wake = min(wake, due) }
        if !heldBack.isEmpty {
            for held in heldBack.values where !held.resumed { wake = min(wake, held.until) }
        }
        return wake > now ? wake - now : .zero
    }

    func report(_ error: KafkaError) {
        stats.errors += 1
        instruments.errors(stage: "kafka").increment()
        runtime.record(ConsumerFailure(stage: "kafka", message: "\(error)"))
        // The same broker error can repeat many times a second; log it at most every 10 s.
        let now = clock.now
        if let last = lastKafkaErrorLog[error.code], now - last < .seconds(10) { return }
        lastKafkaErrorLog[error.code] = now
        logger.warning("kafka error", metadata: ["error": "\(error)"])
    }

    var statsMetadata: Logger.Metadata {
        [
            "consumed": "\(stats.messagesConsumed)", "written": "\(stats.recordsWritten)", "dropped": "\(stats.recordsDropped)",
            "dead_lettered": "\(stats.recordsDeadLettered)", "batches": "\(stats.batches)",
        ]
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

/// The run's consumer, for the one call other threads may make on it (``KafkaConsumer/wake()``).
private struct Wakeable: @unchecked Sendable {
    let consumer: KafkaConsumer
}
