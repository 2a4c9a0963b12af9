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
        /// The process's CPU time from the first batch's commit to the
        /// last's, and the records of the batches after the first: CPU per
        /// record without the start-up, the group join or leaving the
        /// group, as a consumer loop's own measurement would have it.
        public var steadyCPU: Duration?
        public var steadyRecords = 0

        public var cpuMicrosecondsPerRecord: Double? {
            guard let steadyCPU, steadyRecords > 0 else { return nil }
            return steadyCPU.timeInterval * 1_000_000 / Double(steadyRecords)
        }

        public var seconds: Double { duration.timeInterval }

        /// From the first record to the last acknowledged commit, as the C
        /// and Python baselines in bench/ time theirs: neither the group
        /// join before it nor leaving the group after it is the consumer's
        /// speed. Without a commit, to the end.
        public var activeSeconds: Double {
            guard let first = stats.firstRecordAt else { return 0 }
            return (stats.lastCommitAt ?? endedAt).timeIntervalSince(first)
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
        let batches = Mutex(Batches())
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
            onBatchCommitted: { duration, records in
                let cpu = processCPU()
                batches.withLock { batches in
                    batches.durations.append(duration)
                    if let first = batches.cpuAtFirst {
                        batches.steadyCPU = cpu - first
                        batches.steadyRecords += records
                    } else {
                        batches.cpuAtFirst = cpu
                    }
                }
            },
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
        let seen = batches.withLock { $0 }
        return Result(
            state: snapshot.state, failure: snapshot.state == .failed ? snapshot.lastError : nil, stats: snapshot.progress.stats,
            sequence: snapshot.progress.sequence, duration: ContinuousClock.now - started, endedAt: Date(),
            batchDurations: seen.durations, steadyCPU: seen.steadyCPU, steadyRecords: seen.steadyRecords)
    }

    private struct Batches {
        var durations: [Duration] = []
        var cpuAtFirst: Duration?
        var steadyCPU: Duration?
        var steadyRecords = 0
    }

    /// User and system CPU time of the whole process so far.
    private static func processCPU() -> Duration {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func duration(_ time: timeval) -> Duration { .seconds(time.tv_sec) + .microseconds(time.tv_usec) }
        return duration(usage.ru_utime) + duration(usage.ru_stime)
    }
}
