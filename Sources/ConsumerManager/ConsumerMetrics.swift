import DataModel
import Kafka
import Prometheus
import Synchronization
import Sinks

/// The Prometheus series consumerd exports, all from one injected registry.
/// Names carry the `consumerd_` prefix and a unit suffix; every name has one
/// type and one help text.
public final class ConsumerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let instruments = Mutex<[String: ConsumerInstruments]>([:])

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// The instruments of one consumer, created on first use and shared by
    /// all of its runs so counters stay monotonic across restarts.
    public func instruments(for consumer: String) -> ConsumerInstruments {
        instruments.withLock { all in
            if let existing = all[consumer] { return existing }
            let created = ConsumerInstruments(consumer: consumer, registry: registry)
            all[consumer] = created
            return created
        }
    }

    /// Drops every series of a deleted consumer.
    public func remove(consumer: String) {
        instruments.withLock { $0.removeValue(forKey: consumer) }?.unregisterAll()
    }

    static func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "consumerd", metricName: name, unitName: unit, helpText: help)
    }

    /// One layout for every consumer (Prometheus allows one per metric
    /// name), dense around the common `max_wait_ms` values so that a batch
    /// closed by time is told apart from one that waited on a slow write.
    static let batchBuckets: [Double] = [
        0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 5, 10, 30, 60, 300,
    ]
    /// A batch's duration over its consumer's `max_wait_ms`: below 1 it
    /// filled up first, about 1 it closed on time, above 1 the write was slow.
    static let batchWaitRatioBuckets: [Double] = [0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 5, 10]
    /// Seconds, as every duration histogram's buckets (see ``SecondsHistogram``).
    static let decodeBuckets: [Double] = [0.000001, 0.000002, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.001, 0.01, 0.1, 1]
    static let writeBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]

    /// Descriptors are rebuilt on use: `MetricNameDescriptor` is not `Sendable`.
    enum Name {
        static var consumed: MetricNameDescriptor { descriptor("messages_consumed", "total", "Records read from Kafka.") }
        static var written: MetricNameDescriptor { descriptor("records_written", "total", "Records written durably to the sink.") }
        static var batches: MetricNameDescriptor { descriptor("batches", "total", "Batches written and committed.") }
        static var batchDuration: MetricNameDescriptor { descriptor(
            "batch_duration", "seconds", "Time from polling a batch's first record to committing its offsets.") }
        static var batchWaitRatio: MetricNameDescriptor { descriptor(
            "batch_wait_ratio", "", "Batch duration over the consumer's max_wait_ms: <1 filled up, ~1 closed on time, >1 slow write.") }
        static var sinkWrite: MetricNameDescriptor { descriptor("sink_write_duration", "seconds", "Time to write one batch durably to the sink.") }
        static var errors: MetricNameDescriptor { descriptor("errors", "total", "Errors by pipeline stage (decode, sink, kafka, commit).") }
        static var commits: MetricNameDescriptor { descriptor("commits", "total", "Offset commits by result.") }
        static var rebalances: MetricNameDescriptor { descriptor("rebalances", "total", "Group rebalance events by kind (assign, revoke, lost).") }
        static var lag: MetricNameDescriptor { descriptor("consumer_lag", "messages", "High watermark minus committed offset per partition.") }
        static var groupLag: MetricNameDescriptor { descriptor(
            "group_lag", "messages", "The group's lag per partition of its topics, owned by any member or none (the lag monitor).") }
        static var state: MetricNameDescriptor { descriptor("consumer_state", "", "1 for the consumer's current state, 0 for the others.") }
        static var restarts: MetricNameDescriptor { descriptor("restarts", "total", "Consumer restarts by reason (failure, manual, spec_update).") }
        static var failures: MetricNameDescriptor { descriptor("consumer_consecutive_failures", "", "Failed runs since the last successful batch.") }
        static var stageRecords: MetricNameDescriptor { descriptor(
            "stage_records", "total", "Records through each record-path stage by outcome (in, kept, dropped, dead_lettered, failed).") }
        static var stageRejections: MetricNameDescriptor { descriptor(
            "stage_rejections", "total", "Records a stage dropped, dead-lettered or failed on, by reason.") }
        static var deadLetters: MetricNameDescriptor { descriptor(
            "dead_letter_records", "total", "Records the dead-letter topic acknowledged, by stage and reason.") }
        static var qualityViolations: MetricNameDescriptor { descriptor("quality_violations", "total", "Data-quality rule violations by rule.") }
        static var sequenceGaps: MetricNameDescriptor { descriptor("sequence_gaps", "total", "Sequence numbers skipped ahead (gap events).") }
        static var sequenceDuplicates: MetricNameDescriptor { descriptor("sequence_duplicates", "total", "Sequence numbers seen twice in a row.") }
        static var sequenceOutOfOrder: MetricNameDescriptor { descriptor("sequence_out_of_order", "total", "Sequence numbers below the last one seen.") }
        static var decodeDuration: MetricNameDescriptor { descriptor(
            "decode_duration", "seconds", "Time to decode one record (every 64th record is timed).") }
    }
}

/// Handles for one consumer's series. Per-partition series are created on
/// first use; the consumer thread caches what it uses, so the lock here is
/// taken per new partition, not per record.
public final class ConsumerInstruments: Sendable {
    public let consumer: String
    private let registry: PrometheusCollectorRegistry
    let batches: Counter
    private let batchDuration: SecondsHistogram
    private let batchWaitRatio: ValueHistogram
    let consecutiveFailures: Gauge
    let sequenceGaps: Counter
    let sequenceDuplicates: Counter
    let sequenceOutOfOrder: Counter
    private let states: [ConsumerState: Gauge]
    private let keyed = Mutex<KeyedSeries>(KeyedSeries())

    private struct KeyedSeries {
        var counters: [String: Counter] = [:]
        var gauges: [String: Gauge] = [:]
        var histograms: [String: SecondsHistogram] = [:]
        /// The consumer was deleted: a lag gauge set afterwards (the lag
        /// monitor's pass may still hold these instruments) would register
        /// a series nothing removes again.
        var retired = false
    }

    init(consumer: String, registry: PrometheusCollectorRegistry) {
        self.consumer = consumer
        self.registry = registry
        let labels = [("consumer", consumer)]
        typealias Name = ConsumerMetrics.Name
        batches = registry.makeCounter(descriptor: Name.batches, labels: labels)
        batchDuration = registry.makeSecondsHistogram(descriptor: Name.batchDuration, labels: labels, buckets: ConsumerMetrics.batchBuckets)
        batchWaitRatio = registry.makeValueHistogram(
            descriptor: Name.batchWaitRatio, labels: labels, buckets: ConsumerMetrics.batchWaitRatioBuckets)
        consecutiveFailures = registry.makeGauge(descriptor: Name.failures, labels: labels)
        sequenceGaps = registry.makeCounter(descriptor: Name.sequenceGaps, labels: labels)
        sequenceDuplicates = registry.makeCounter(descriptor: Name.sequenceDuplicates, labels: labels)
        sequenceOutOfOrder = registry.makeCounter(descriptor: Name.sequenceOutOfOrder, labels: labels)
        states = Dictionary(uniqueKeysWithValues: ConsumerState.allCases.map { state in
            (state, registry.makeGauge(descriptor: Name.state, labels: labels + [("state", state.rawValue)]))
        })
    }

    public func setState(_ current: ConsumerState) {
        for (state, gauge) in states {
            gauge.set(Int64(state == current ? 1 : 0))
        }
    }

    public func consumed(_ partition: TopicPartition) -> Counter {
        counter(ConsumerMetrics.Name.consumed, partitionLabels(partition))
    }

    public func written(_ partition: TopicPartition) -> Counter {
        counter(ConsumerMetrics.Name.written, partitionLabels(partition))
    }

    public func errors(stage: String) -> Counter {
        counter(ConsumerMetrics.Name.errors, [("consumer", consumer), ("stage", stage)])
    }

    public func commits(result: String) -> Counter {
        counter(ConsumerMetrics.Name.commits, [("consumer", consumer), ("result", result)])
    }

    public func rebalances(kind: String) -> Counter {
        counter(ConsumerMetrics.Name.rebalances, [("consumer", consumer), ("kind", kind)])
    }

    public func restarts(reason: String) -> Counter {
        counter(ConsumerMetrics.Name.restarts, [("consumer", consumer), ("reason", reason)])
    }

    public func stageRecords(stage: String, outcome: String) -> Counter {
        counter(ConsumerMetrics.Name.stageRecords, [("consumer", consumer), ("stage", stage), ("outcome", outcome)])
    }

    public func stageRejections(stage: String, outcome: String, reason: String) -> Counter {
        counter(ConsumerMetrics.Name.stageRejections, [("consumer", consumer), ("stage", stage), ("outcome", outcome), ("reason", reason)])
    }

    public func deadLetters(stage: String, reason: String) -> Counter {
        counter(ConsumerMetrics.Name.deadLetters, [("consumer", consumer), ("stage", stage), ("reason", reason)])
    }

    public func qualityViolations(rule: String) -> Counter {
        counter(ConsumerMetrics.Name.qualityViolations, [("consumer", consumer), ("rule", rule)])
    }

    /// Records a committed batch's duration, in seconds and against `maxWait`.
    func batchCompleted(after duration: Duration, maxWait: Duration) {
        batchDuration.record(duration)
        batchWaitRatio.record(duration / maxWait)
    }

    public func sinkWriteDuration(sink: String) -> SecondsHistogram {
        histogram(ConsumerMetrics.Name.sinkWrite, [("consumer", consumer), ("sink", sink)], buckets: ConsumerMetrics.writeBuckets)
    }

    public func decodeDuration(format: String) -> SecondsHistogram {
        histogram(ConsumerMetrics.Name.decodeDuration, [("consumer", consumer), ("format", format)], buckets: ConsumerMetrics.decodeBuckets)
    }

    fileprivate func histogram(_ descriptor: MetricNameDescriptor, _ labels: [(String, String)], buckets: [Double]) -> SecondsHistogram {
        keyed.withLock { series in
            series.histograms.kept(Self.key(descriptor, labels)) {
                registry.makeSecondsHistogram(descriptor: descriptor, labels: labels, buckets: buckets)
            }
        }
    }

    public func setLag(_ lag: Int64, for partition: TopicPartition) {
        gauge(ConsumerMetrics.Name.lag, partitionLabels(partition))?.set(lag)
    }

    public func setGroupLag(_ lag: Int64, for partition: TopicPartition) {
        gauge(ConsumerMetrics.Name.groupLag, partitionLabels(partition))?.set(lag)
    }

    /// `nil` once the consumer's series are unregistered.
    private func gauge(_ descriptor: MetricNameDescriptor, _ labels: [(String, String)]) -> Gauge? {
        keyed.withLock { series in
            let key = Self.key(descriptor, labels)
            if let existing = series.gauges[key] { return existing }
            if series.retired { return nil }
            let gauge = registry.makeGauge(descriptor: descriptor, labels: labels)
            series.gauges[key] = gauge
            return gauge
        }
    }

    /// Partitions that moved to another member stop reporting lag here.
    public func removeLag(for partitions: [TopicPartition]) {
        let removed = keyed.withLock { series in
            partitions.compactMap { series.gauges.removeValue(forKey: Self.key(ConsumerMetrics.Name.lag, partitionLabels($0))) }
        }
        removed.forEach(registry.unregisterGauge)
    }

    fileprivate func counter(_ descriptor: MetricNameDescriptor, _ labels: [(String, String)]) -> Counter {
        keyed.withLock { series in
            series.counters.kept(Self.key(descriptor, labels)) { registry.makeCounter(descriptor: descriptor, labels: labels) }
        }
    }

    private func partitionLabels(_ partition: TopicPartition) -> [(String, String)] {
        [("consumer", consumer), ("topic", partition.topic), ("partition", String(partition.partition))]
    }

    private static func key(_ descriptor: MetricNameDescriptor, _ labels: [(String, String)]) -> String {
        descriptor.name + labels.map { "|\($0.0)=\($0.1)" }.joined()
    }

    func unregisterAll() {
        let series = keyed.withLock { series in
            defer { series = KeyedSeries(retired: true) }
            return series
        }
        series.counters.values.forEach(registry.unregisterCounter)
        series.gauges.values.forEach(registry.unregisterGauge)
        series.histograms.values.forEach(registry.unregister)
        registry.unregister(batchDuration)
        registry.unregisterValueHistogram(batchWaitRatio)
        registry.unregisterCounter(batches)
        registry.unregisterGauge(consecutiveFailures)
        [sequenceGaps, sequenceDuplicates, sequenceOutOfOrder].forEach(registry.unregisterCounter)
        states.values.forEach(registry.unregisterGauge)
    }
}

/// A sink's own series (an Iceberg table's commits), kept with the
/// consumer's so that deleting the consumer drops them too.
extension ConsumerInstruments: SinkMeter {
    public func count(_ metric: SinkMetric, by amount: Int64, labels: [(String, String)]) {
        counter(ConsumerMetrics.descriptor(metric.name, metric.unit, metric.help), [("consumer", consumer)] + labels).increment(by: amount)
    }

    public func record(_ metric: SinkMetric, _ duration: Duration, labels: [(String, String)]) {
        histogram(ConsumerMetrics.descriptor(metric.name, metric.unit, metric.help), [("consumer", consumer)] + labels, buckets: ConsumerMetrics.writeBuckets)
            .record(duration)
    }
}
