import Foundation
import Kafka
import Logging
import Pipeline
import Prometheus

/// The body of a consumer thread: poll → record path (decode, validate,
/// quality, sequence, transform) → batch → sink write → store offsets →
/// commit. Thread-confined; rebalance callbacks arrive inside `poll` and
/// `close` on this same thread.
///
/// At-least-once: an offset is stored and committed only after every record
/// before it is durable in the sink or was dropped by a stage's decision.
/// Anything not yet written when a run ends is not committed and is read again.
final class ConsumerLoop {
    let runtime: ConsumerRuntime
    let spec: ConsumerSpec
    let settings: ConsumerRuntime.RunSettings
    var logger: Logger
    let instruments: ConsumerInstruments
    let clock = ContinuousClock()

    var consumer: KafkaConsumer?
    var sink: (any Sink)?
    var path: RecordPath?
    /// Paused by the operator (every assigned partition).
    var paused = false

    var batch: Batch
    let maxWait: Duration

    /// Assigned partitions and what we know about them.
    var partitions: [TopicPartition: PartitionProgress] = [:]
    /// Partitions held back by a transient error, waiting to retry a record.
    var heldBack: [TopicPartition: HeldPartition] = [:]
    var stats = RuntimeStats()
    /// Stage counts already added to the Prometheus counters.
    var reported = ReportedCounts()
    var nextRefresh: ContinuousClock.Instant
    /// A failure raised inside a rebalance callback, surfaced by the loop.
    var pendingFailure: (any Error)?
    var lastKafkaErrorLog: [KafkaError.Code: ContinuousClock.Instant] = [:]

    static let idlePollTimeout: Duration = .milliseconds(100)

    init(runtime: ConsumerRuntime, spec: ConsumerSpec, settings: ConsumerRuntime.RunSettings) {
        self.runtime = runtime
        self.spec = spec
        self.settings = settings
        self.instruments = settings.instruments
        self.maxWait = .milliseconds(spec.batch.maxWaitMilliseconds)
        self.nextRefresh = clock.now
        self.batch = Batch(capacity: spec.batch.maxRecords)
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
        instruments.removeLag(for: Array(partitions.keys))
        partitions.removeAll()
        heldBack.removeAll()
        publish()
    }

    private func open() throws {
        let recordPath = spec.effectiveRecordPath
        do {
            let decoder = try spec.format.makeDecoder(services: settings.decoderServices)
            let stages = try recordPath.makeStages(deadLetterAvailable: false)
            path = RecordPath(decoder: decoder, decodePolicy: recordPath.onError.decode ?? .fail, stages: stages)
        } catch {
            throw PipelineError(stage: .decode, message: "the record path cannot be built: \(error)")
        }
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
            metadata: [
                "subscription": "\(spec.subscriptionDescription)", "group_id": "\(spec.groupID)", "sink": "\(sink.target)",
                "format": "\(spec.format.type.rawValue)", "stages": "\(stageNames)",
            ])
    }

    private var stageNames: String {
        (path?.counts.map(\.stage.rawValue) ?? []).joined(separator: ",")
    }

    private func loop() throws {
        guard let consumer else { return }
        while true {
            // One clock reading per iteration: the loop runs once per record.
            let now = clock.now
            runtime.beat(at: now)
            if runtime.takeRequestFlag(), try applyRequests() == .stop { return }
            if let failure = pendingFailure { throw failure }
            if let started = batch.startedAt, now - started >= maxWait { try flushBatch() }
            if !heldBack.isEmpty { resumeDueHolds(now) }
            if now >= nextRefresh { refreshProgress() }
            do {
                if let message = try consumer.poll(timeout: pollTimeout(now)) {
                    try handle(message)
                    if batch.consumed >= spec.batch.maxRecords || batch.bytes >= spec.batch.maxBytes { try flushBatch() }
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
        reportStageCounts()
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
        reportStageCounts()
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
            // Partitions held back by a transient error stay paused until their retry.
            try consumer.resume(assigned.filter { heldBack[$0] == nil })
            for partition in heldBack.keys { heldBack[partition]?.resumed = false }
            paused = false
            runtime.publish(state: .running)
            logger.info("consumer resumed", metadata: ["partitions": "\(assigned.count)"])
        }
        nextRefresh = clock.now
        return .proceed
    }

    private func pollTimeout(_ now: ContinuousClock.Instant) -> Duration {
        guard let started = batch.startedAt else { return Self.idlePollTimeout }
        let remaining = started + maxWait - now
        return remaining <= .zero ? .zero : min(remaining, Self.idlePollTimeout)
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
            "batches": "\(stats.batches)",
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

extension Duration {
    /// Seconds as a `Double`, for APIs that take a `TimeInterval`.
    var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
