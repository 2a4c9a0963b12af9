import Foundation
import Kafka
import Logging
import Pipeline
import Prometheus
import Synchronization

/// Batch mode (seed 000's `-n N`): one consumer through the same record path
/// and sink as `serve`, until it has handled `maxMessages` records or
/// `timeout` passes; then it drains (writes, commits, leaves the group) and
/// reports what it did. No registry, no HTTP.
public enum BatchRun {
    public struct Result: Sendable {
        public var state: ConsumerState
        public var failure: ConsumerFailure?
        public var stats: RuntimeStats
        public var sequence: SequenceStatistics?
        public var duration: Duration

        /// When it ended; throughput counts from the first record to here.
        public var endedAt: Date
        /// Every committed batch's duration, in the order they committed.
        public var batchDurations: [Duration] = []

        public var seconds: Double { duration.timeInterval }

        /// From the first record to the end: the group join is not the consumer's speed.
        public var activeSeconds: Double {
            stats.firstRecordAt.map { endedAt.timeIntervalSince($0) } ?? 0
        }

        public var recordsPerSecond: Double {
            activeSeconds > 0 ? Double(stats.messagesConsumed) / activeSeconds : 0
        }

        /// The batch duration below which a fraction `q` of the batches
        /// completed (nearest rank); `nil` without batches.
        public func batchDuration(quantile q: Double) -> Duration? {
            guard !batchDurations.isEmpty else { return nil }
            let sorted = batchDurations.sorted()
            let rank = Int((q * Double(sorted.count)).rounded(.up))
            return sorted[min(sorted.count - 1, max(0, rank - 1))]
        }
    }

    public static func run(
        spec: ConsumerSpec, configuration: ConsumerManager.Configuration, maxMessages: Int?, timeout: Duration?, logger: Logger
    ) async throws(ConsumerManagerError) -> Result {
        try spec.validate()
        let exited = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let batchDurations = Mutex<[Duration]>([])
        let registry = PrometheusCollectorRegistry()
        let settings = ConsumerRuntime.RunSettings(
            kafka: configuration.kafkaConfig(for: spec),
            sinkContext: configuration.sinkContext(for: spec, logger: logger),
            instruments: ConsumerMetrics(registry: registry).instruments(for: spec.name),
            logger: logger,
            producerKafka: configuration.producerConfig(for: spec),
            decoderServices: DecoderServices(),
            refreshInterval: configuration.progressInterval,
            maxMessages: maxMessages,
            onBatchCommitted: { duration in batchDurations.withLock { $0.append(duration) } },
            onExit: { _ in exited.withLock { $0?.resume() } })
        let runtime = ConsumerRuntime(spec: spec, generation: 1, settings: settings, paused: false)
        let started = ContinuousClock.now
        await withCheckedContinuation { continuation in
            exited.withLock { $0 = continuation }
            runtime.start()
            if let timeout {
                Task {
                    try? await Task.sleep(for: timeout)
                    runtime.send(.stop)
                }
            }
        }
        let snapshot = runtime.snapshot
        return Result(
            state: snapshot.state, failure: snapshot.state == .failed ? snapshot.lastError : nil, stats: snapshot.progress.stats,
            sequence: snapshot.progress.sequence, duration: ContinuousClock.now - started, endedAt: Date(),
            batchDurations: batchDurations.withLock { $0 })
    }
}
