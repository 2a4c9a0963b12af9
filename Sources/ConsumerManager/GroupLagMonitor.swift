import Foundation
import Kafka
import Logging
import Synchronization

/// Watches each consumer's group from the outside, the way Burrow does: the
/// group's committed offsets against the log ends of every partition of the
/// consumer's topics, sampled over a window. It sees what a member cannot:
/// partitions nobody owns (a group stranded after a quick stop and start),
/// commits that stopped while records keep coming, lag that only grows.
///
/// Runs on a thread of its own: every call blocks on the cluster, and a
/// dead broker must not slow the supervisor or the HTTP threads.
public final class GroupLagMonitor: Sendable {
    /// One consumer to watch.
    struct Target: Sendable {
        var name: String
        var group: String
        var topics: [String]
        /// Paused consumers are expected not to move.
        var paused: Bool
        var instruments: ConsumerInstruments
    }

    struct Sample: Sendable, Equatable {
        var at: ContinuousClock.Instant
        var committed: Int64?
        var high: Int64

        var lag: Int64 { max(0, high - (committed ?? 0)) }
    }

    /// A consumer's group as last measured.
    public struct Report: Sendable {
        public var measuredAt: Date
        public var partitions: [GroupPartitionLag]
        public var verdict: LagVerdict?
        /// The last measurement failed (the cluster did not answer).
        public var error: String?

        public var total: Int64 { partitions.reduce(0) { $0 + $1.lag } }
    }

    private struct State {
        var windows: [String: [TopicPartition: [Sample]]] = [:]
        var reports: [String: Report] = [:]
        var stopped = false
        var partitionCache: [String: (partitions: [Int32], at: ContinuousClock.Instant)] = [:]
        /// One per watched group, dropped with the last consumer of the group.
        var readers: [String: GroupOffsetReader] = [:]
    }

    private let admin: KafkaAdmin
    private let config: KafkaConfig
    private let window: Duration
    private let interval: Duration
    private let logger: Logger
    private let state = Mutex<State>(State())

    init(admin: KafkaAdmin, config: KafkaConfig, window: Duration, interval: Duration, logger: Logger) {
        self.admin = admin
        self.config = config
        self.window = window
        self.interval = interval
        self.logger = logger
    }

    /// Samples every `interval` until ``stop()``; `targets` says whom.
    func start(targets: @escaping @Sendable () -> [Target]) {
        Thread.start(named: "cd-lag-monitor") { [self] in
            while !state.withLock({ $0.stopped }) {
                let started = ContinuousClock.now
                measure(targets())
                let rest = interval - (ContinuousClock.now - started)
                if rest > .zero { Thread.sleep(forTimeInterval: rest.timeInterval) }
            }
        }
    }

    func stop() {
        state.withLock { $0.stopped = true }
    }

    func report(for consumer: String) -> Report? {
        state.withLock { $0.reports[consumer] }
    }

    func forget(_ consumer: String) {
        state.withLock { state in
            state.windows[consumer] = nil
            state.reports[consumer] = nil
        }
    }

    /// One round over every target.
    func measure(_ targets: [Target]) {
        let watched = Set(targets.map(\.name))
        let groups = Set(targets.map(\.group))
        state.withLock { state in
            for name in state.windows.keys where !watched.contains(name) {
                state.windows[name] = nil
                state.reports[name] = nil
            }
            for group in state.readers.keys where !groups.contains(group) { state.readers[group] = nil }
        }
        for target in targets where !state.withLock({ $0.stopped }) {
            do {
                try measure(target)
            } catch {
                let message = "\(error)"
                state.withLock { state in
                    var report = state.reports[target.name] ?? Report(measuredAt: Date(), partitions: [])
                    report.error = message
                    state.reports[target.name] = report
                }
            }
        }
    }

    private func measure(_ target: Target) throws(KafkaError) {
        let now = ContinuousClock.now
        var partitions: [TopicPartition] = []
        for topic in target.topics {
            partitions += try partitionIDs(of: topic, now: now).map { TopicPartition(topic: topic, partition: $0) }
        }
        let committed = Dictionary(
            try reader(for: target.group).committedOffsets(partitions, timeout: .seconds(5)).map { ($0.topicPartition, $0.offset) },
            uniquingKeysWith: { first, _ in first })
        var samples: [TopicPartition: Sample] = [:]
        for partition in partitions {
            let (low, high) = try admin.watermarks(partition, timeout: .seconds(2))
            // Nothing committed yet: the log start is where reading begins.
            samples[partition] = Sample(at: now, committed: (committed[partition] ?? nil) ?? low, high: high)
            target.instruments.setGroupLag(samples[partition]!.lag, for: partition)
        }
        state.withLock { state in
            var windows = state.windows[target.name] ?? [:]
            for (partition, sample) in samples {
                var series = windows[partition] ?? []
                series.append(sample)
                series.removeAll { now - $0.at > window + interval }
                windows[partition] = series
            }
            for partition in windows.keys where samples[partition] == nil { windows[partition] = nil }
            state.windows[target.name] = windows
            state.reports[target.name] = Report(
                measuredAt: Date(),
                partitions: samples.sorted { $0.key < $1.key }.map { partition, sample in
                    GroupPartitionLag(topic: partition.topic, partition: partition.partition, committedOffset: sample.committed,
                                      highWatermark: sample.high, lag: sample.lag)
                },
                verdict: target.paused ? nil : Self.evaluate(windows, window: window))
        }
    }

    private func reader(for group: String) throws(KafkaError) -> GroupOffsetReader {
        if let reader = state.withLock({ $0.readers[group] }) { return reader }
        let reader = try GroupOffsetReader(group: group, config: config, logger: logger)
        state.withLock { $0.readers[group] = reader }
        return reader
    }

    /// Topic metadata, cached for a minute (partitions are rarely added).
    private func partitionIDs(of topic: String, now: ContinuousClock.Instant) throws(KafkaError) -> [Int32] {
        if let cached = state.withLock({ $0.partitionCache[topic] }), now - cached.at < .seconds(60) { return cached.partitions }
        let partitions = try admin.partitions(of: topic, timeout: .seconds(5))
        state.withLock { $0.partitionCache[topic] = (partitions, now) }
        return partitions
    }

    /// Burrow's rules, over a full window: a partition whose committed offset
    /// has not moved while it had lag throughout is stalled; one whose lag
    /// rose at every sample is falling behind. The worst partition decides.
    static func evaluate(_ windows: [TopicPartition: [Sample]], window: Duration) -> LagVerdict? {
        var behind: LagVerdict?
        for (partition, samples) in windows.sorted(by: { $0.key < $1.key }) {
            guard let first = samples.first, let last = samples.last, samples.count >= 3, last.at - first.at >= window else { continue }
            if samples.allSatisfy({ $0.lag > 0 }), first.committed == last.committed {
                return .stalled(
                    partition: partition, committed: last.committed, lag: last.lag, seconds: Int((last.at - first.at).timeInterval))
            }
            let rising = zip(samples, samples.dropFirst()).allSatisfy { $1.lag > $0.lag }
            if rising, behind == nil {
                behind = .fallingBehind(partition: partition, from: first.lag, to: last.lag, seconds: Int((last.at - first.at).timeInterval))
            }
        }
        return behind
    }
}

/// A partition of a consumer's group as the lag monitor last saw it.
public struct GroupPartitionLag: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var committedOffset: Int64?
    public var highWatermark: Int64
    public var lag: Int64
}

/// What the lag window says about a group.
public enum LagVerdict: Sendable, Equatable, CustomStringConvertible {
    /// Commits stopped while records waited.
    case stalled(partition: TopicPartition, committed: Int64?, lag: Int64, seconds: Int)
    /// Lag rose at every sample of the window.
    case fallingBehind(partition: TopicPartition, from: Int64, to: Int64, seconds: Int)

    public var description: String {
        switch self {
        case .stalled(let partition, let committed, let lag, let seconds):
            "stalled: the group's committed offset of \(partition) (\(committed.map(String.init) ?? "none")) has not moved for \(seconds)s while \(lag) records wait"
        case .fallingBehind(let partition, let from, let to, let seconds):
            "falling behind: lag of \(partition) rose from \(from) to \(to) over \(seconds)s"
        }
    }
}
