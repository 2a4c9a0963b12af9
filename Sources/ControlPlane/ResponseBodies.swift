import ConsumerManager
import DataModel
import Foundation
import Pipeline

// The REST representation. Field names are part of the API (snake_case) and
// documented in openapi.yaml; domain types stay free of wire concerns.

/// A consumer with its spec and status (`GET /consumers/{name}`).
public struct ConsumerResource: Codable, Sendable {
    public var name: String
    public var spec: ConsumerSpec
    public var status: StatusBody

    init(_ status: ConsumerStatus) {
        name = status.name
        spec = status.spec
        self.status = StatusBody(status)
    }
}

public struct ConsumerList: Codable, Sendable {
    public var consumers: [StatusBody]
    public var count: Int
}

/// `GET /consumers/{name}/status` and the body of lifecycle verbs.
public struct StatusBody: Codable, Sendable {
    public var name: String
    public var state: String
    public var desiredState: String
    public var since: String
    public var generation: Int
    public var deleting: Bool
    public var groupID: String
    public var sink: SinkBody
    public var assignment: [PartitionBody]
    @Nullable public var lagTotal: Int64?
    /// When positions, watermarks and lag were read.
    @Nullable public var measuredAt: String?
    @Nullable public var groupLag: GroupLagBody?
    @Nullable public var brokers: BrokersBody?
    @Nullable public var retrying: RetryingBody?
    public var stats: StatsBody
    public var totals: StatsBody
    public var stages: [StageBody]
    public var qualityViolations: [String: Int64]
    @Nullable public var sequence: SequenceBody?
    public var rates: RatesBody
    @Nullable public var lastError: ErrorBody?
    public var consecutiveFailures: Int
    public var restarts: Int
    @Nullable public var nextRestartAt: String?
    public var health: HealthBody
    /// Cluster mode only: every instance's member, as it last reported.
    public var members: [MemberBody]?

    init(_ status: ConsumerStatus) {
        name = status.name
        state = status.state.rawValue
        desiredState = status.desiredState.rawValue
        since = timestamp(status.since)
        generation = status.generation
        deleting = status.deleting
        groupID = status.spec.groupID
        sink = SinkBody(type: status.spec.sink.type, target: status.sinkTarget)
        let partitions = status.partitions
        assignment = partitions.map(PartitionBody.init)
        let lags = partitions.compactMap(\.lag)
        lagTotal = partitions.isEmpty || lags.count < partitions.count ? nil : lags.reduce(0, +)
        measuredAt = status.progress.measuredAt.map(timestamp)
        groupLag = status.groupLag.map(GroupLagBody.init)
        brokers = status.progress.brokers.map(BrokersBody.init)
        retrying = status.progress.retrying.map(RetryingBody.init)
        stats = StatsBody(status.stats)
        totals = StatsBody(status.totals)
        stages = status.progress.stages.map(StageBody.init)
        qualityViolations = status.progress.qualityViolations
        sequence = status.progress.sequence.map(SequenceBody.init)
        rates = RatesBody(status.rates)
        lastError = status.lastError.map { ErrorBody($0, resolved: status.lastErrorResolved) }
        consecutiveFailures = status.consecutiveFailures
        restarts = status.restarts
        nextRestartAt = status.nextRestartAt.map(timestamp)
        health = HealthBody(status.health)
        members = status.members.isEmpty ? nil : status.members.map(MemberBody.init)
    }

    public enum CodingKeys: String, CodingKey {
        case name, state, since, generation, deleting, sink, assignment, stats, totals, stages, sequence, rates, restarts, health, members
        case brokers, retrying
        case measuredAt = "measured_at"
        case groupLag = "group_lag"
        case qualityViolations = "quality_violations"
        case desiredState = "desired_state"
        case groupID = "group_id"
        case lagTotal = "lag_total"
        case lastError = "last_error"
        case consecutiveFailures = "consecutive_failures"
        case nextRestartAt = "next_restart_at"
    }
}

public struct SinkBody: Codable, Sendable {
    public var type: String
    public var target: String
}

public struct PartitionBody: Codable, Sendable {
    public var topic: String
    public var partition: Int32
    @Nullable public var committedOffset: Int64?
    @Nullable public var position: Int64?
    @Nullable public var highWatermark: Int64?
    @Nullable public var lag: Int64?
    public var paused: Bool

    init(_ status: PartitionStatus) {
        topic = status.topic
        partition = status.partition
        committedOffset = status.committedOffset
        position = status.position
        highWatermark = status.highWatermark
        lag = status.lag
        paused = status.paused
    }

    public enum CodingKeys: String, CodingKey {
        case topic, partition, position, lag, paused
        case committedOffset = "committed_offset"
        case highWatermark = "high_watermark"
    }
}

public struct StatsBody: Codable, Sendable {
    public var messagesConsumed: Int64
    public var recordsWritten: Int64
    public var recordsDropped: Int64
    public var recordsDeadLettered: Int64
    public var errors: Int64
    public var batches: Int64
    public var commits: Int64
    @Nullable public var lastBatchAt: String?
    public var lastBatchRecords: Int
    @Nullable public var lastBatchDurationSeconds: Double?

    init(_ stats: RuntimeStats) {
        messagesConsumed = stats.messagesConsumed
        recordsWritten = stats.recordsWritten
        recordsDropped = stats.recordsDropped
        recordsDeadLettered = stats.recordsDeadLettered
        errors = stats.errors
        batches = stats.batches
        commits = stats.commits
        lastBatchAt = stats.lastBatchAt.map(timestamp)
        lastBatchRecords = stats.lastBatchRecords
        lastBatchDurationSeconds = stats.lastBatchDuration.map(seconds)
    }

    public enum CodingKeys: String, CodingKey {
        case errors, batches, commits
        case messagesConsumed = "messages_consumed"
        case recordsWritten = "records_written"
        case recordsDropped = "records_dropped"
        case recordsDeadLettered = "records_dead_lettered"
        case lastBatchAt = "last_batch_at"
        case lastBatchRecords = "last_batch_records"
        case lastBatchDurationSeconds = "last_batch_duration_seconds"
    }
}

/// What one record-path stage did in the current run.
public struct StageBody: Codable, Sendable {
    public var stage: String
    public var input: Int64
    public var kept: Int64
    public var dropped: Int64
    public var deadLettered: Int64
    public var failed: Int64
    /// Per outcome, per reason.
    public var reasons: [String: [String: Int64]]
    @Nullable public var lastError: StageErrorBody?

    init(_ counts: StageCounts) {
        stage = counts.stage.rawValue
        input = counts.input
        kept = counts.kept
        dropped = counts.total(.dropped)
        deadLettered = counts.total(.deadLettered)
        failed = counts.total(.failed)
        reasons = Dictionary(uniqueKeysWithValues: counts.rejected.map { ($0.key.rawValue, $0.value) })
        lastError = counts.lastError.map(StageErrorBody.init)
    }

    public enum CodingKeys: String, CodingKey {
        case stage, kept, dropped, failed, reasons
        case input = "in"
        case deadLettered = "dead_lettered"
        case lastError = "last_error"
    }
}

public struct StageErrorBody: Codable, Sendable {
    public var reason: String
    public var message: String
    @Nullable public var record: String?
    public var at: String

    init(_ error: StageError) {
        reason = error.reason
        message = error.message
        record = error.record?.description
        at = timestamp(error.at)
    }
}

public struct SequenceBody: Codable, Sendable {
    public var gaps: Int64
    public var missing: Int64
    public var duplicates: Int64
    public var outOfOrder: Int64
    public var unsequenced: Int64
    public var trackedKeys: Int
    public var recentGaps: [Gap]

    public struct Gap: Codable, Sendable {
        public var key: String
        public var expected: Int64
        public var received: Int64
        public var record: String
        public var at: String
    }

    init(_ statistics: SequenceStatistics) {
        gaps = statistics.gaps
        missing = statistics.missing
        duplicates = statistics.duplicates
        outOfOrder = statistics.outOfOrder
        unsequenced = statistics.unsequenced
        trackedKeys = statistics.trackedKeys
        recentGaps = statistics.recentGaps.map {
            Gap(key: $0.key, expected: $0.expected, received: $0.received, record: $0.record.description, at: timestamp($0.at))
        }
    }

    public enum CodingKeys: String, CodingKey {
        case gaps, missing, duplicates, unsequenced
        case outOfOrder = "out_of_order"
        case trackedKeys = "tracked_keys"
        case recentGaps = "recent_gaps"
    }
}

public struct RatesBody: Codable, Sendable {
    public var inputRowsPerSecond: Double
    public var processedRowsPerSecond: Double
    public var processingRatio: Double

    init(_ rates: Rates) {
        inputRowsPerSecond = rounded(rates.inputRowsPerSecond)
        processedRowsPerSecond = rounded(rates.processedRowsPerSecond)
        processingRatio = rounded(rates.processingRatio)
    }

    public enum CodingKeys: String, CodingKey {
        case inputRowsPerSecond = "input_rows_per_second"
        case processedRowsPerSecond = "processed_rows_per_second"
        case processingRatio = "processing_ratio"
    }
}

public struct ErrorBody: Codable, Sendable {
    public var stage: String
    public var message: String
    public var at: String
    /// Over: a batch went through after it and nothing is retried.
    public var resolved: Bool

    init(_ failure: ConsumerFailure, resolved: Bool = false) {
        stage = failure.stage
        message = failure.message
        at = timestamp(failure.at)
        self.resolved = resolved
    }
}

/// The group's lag over every partition of the consumer's topics, owned by
/// any member or none, as the lag monitor last measured it.
public struct GroupLagBody: Codable, Sendable {
    public var measuredAt: String
    public var total: Int64
    public var partitions: [Partition]
    @Nullable public var verdict: String?
    @Nullable public var error: String?

    public struct Partition: Codable, Sendable {
        public var topic: String
        public var partition: Int32
        @Nullable public var committedOffset: Int64?
        public var highWatermark: Int64
        public var lag: Int64

        public enum CodingKeys: String, CodingKey {
            case topic, partition, lag
            case committedOffset = "committed_offset"
            case highWatermark = "high_watermark"
        }
    }

    init(_ report: GroupLagReport) {
        measuredAt = timestamp(report.measuredAt)
        total = report.total
        partitions = report.partitions.map {
            Partition(topic: $0.topic, partition: $0.partition, committedOffset: $0.committedOffset, highWatermark: $0.highWatermark, lag: $0.lag)
        }
        verdict = report.verdict?.description
        error = report.error
    }

    public enum CodingKeys: String, CodingKey {
        case total, partitions, verdict, error
        case measuredAt = "measured_at"
    }
}

public struct BrokersBody: Codable, Sendable {
    public var up: Int
    public var known: Int
    @Nullable public var lastContact: String?
    public var reportedAt: String

    init(_ status: BrokerStatus) {
        up = status.up
        known = status.known
        lastContact = status.lastContact.map(timestamp)
        reportedAt = timestamp(status.reportedAt)
    }

    public enum CodingKeys: String, CodingKey {
        case up, known
        case lastContact = "last_contact"
        case reportedAt = "reported_at"
    }
}

/// A transient error being waited out.
public struct RetryingBody: Codable, Sendable {
    public var stage: String
    public var message: String
    public var waiting: String
    public var attempts: Int
    public var since: String
    public var nextAttemptAt: String
    public var exhausted: Bool

    init(_ state: RetryState) {
        stage = state.error.stage
        message = state.error.message
        waiting = state.waiting
        attempts = state.attempts
        since = timestamp(state.since)
        nextAttemptAt = timestamp(state.nextAttempt)
        exhausted = state.exhausted
    }

    public enum CodingKeys: String, CodingKey {
        case stage, message, waiting, attempts, since, exhausted
        case nextAttemptAt = "next_attempt_at"
    }
}

/// One instance's member of a consumer's group (cluster mode).
public struct MemberBody: Codable, Sendable {
    public var instance: String
    public var state: String
    public var generation: Int
    public var assignment: [Partition]
    public var updatedAt: String

    public struct Partition: Codable, Sendable {
        public var topic: String
        public var partition: Int32
        @Nullable public var lag: Int64?
    }

    init(_ member: ConsumerManager.ClusterMember) {
        instance = member.instance
        state = member.state
        generation = member.generation
        assignment = member.partitions.map { Partition(topic: $0.topic, partition: $0.partition, lag: $0.lag) }
        updatedAt = timestamp(member.updatedAt)
    }

    public enum CodingKeys: String, CodingKey {
        case instance, state, generation, assignment
        case updatedAt = "updated_at"
    }
}

public struct HealthBody: Codable, Sendable {
    public var status: String
    @Nullable public var reason: String?
    @Nullable public var lastCheck: String?

    init(_ health: ConsumerHealth) {
        status = health.status.rawValue
        reason = health.reason
        lastCheck = health.lastCheck.map(timestamp)
    }

    public enum CodingKeys: String, CodingKey {
        case status, reason
        case lastCheck = "last_check"
    }
}

/// `GET /health`: the seeds' summary shape.
public struct HealthSummaryBody: Codable, Sendable {
    public var totalConsumers: Int
    public var healthyConsumers: Int
    public var degradedConsumers: Int
    public var unhealthyConsumers: Int
    public var overallStatus: String
    public var consumerDetails: [String: Detail]
    /// Cluster mode only: this instance and the instances it hears from.
    public var cluster: ClusterBody?

    public struct ClusterBody: Codable, Sendable {
        public var id: String
        public var instance: String
        public var instances: [Instance]

        public struct Instance: Codable, Sendable {
            public var instance: String
        }
    }

    public struct Detail: Codable, Sendable {
        public var status: String
        public var state: String
        public var desiredState: String
        @Nullable public var reason: String?
        public var consecutiveFailures: Int
        @Nullable public var lastCheck: String?
        @Nullable public var lastError: ErrorBody?
        public var metrics: RatesBody

        public enum CodingKeys: String, CodingKey {
            case status, state, reason, metrics
            case desiredState = "desired_state"
            case consecutiveFailures = "consecutive_failures"
            case lastCheck = "last_check"
            case lastError = "last_error"
        }
    }

    init(_ report: HealthReport) {
        totalConsumers = report.consumers.count
        healthyConsumers = report.healthy
        degradedConsumers = report.degraded
        unhealthyConsumers = report.unhealthy
        overallStatus = report.overall.rawValue
        consumerDetails = Dictionary(uniqueKeysWithValues: report.consumers.map { status in
            (status.name, Detail(
                status: status.health.status.rawValue, state: status.state.rawValue,
                desiredState: status.desiredState.rawValue, reason: status.health.reason,
                consecutiveFailures: status.consecutiveFailures, lastCheck: status.health.lastCheck.map(timestamp),
                lastError: status.lastError.map { ErrorBody($0, resolved: status.lastErrorResolved) }, metrics: RatesBody(status.rates)))
        })
        cluster = report.cluster.map { view in
            ClusterBody(id: view.id, instance: view.instance, instances: view.instances.map(ClusterBody.Instance.init))
        }
    }

    public enum CodingKeys: String, CodingKey {
        case totalConsumers = "total_consumers"
        case healthyConsumers = "healthy_consumers"
        case degradedConsumers = "degraded_consumers"
        case unhealthyConsumers = "unhealthy_consumers"
        case overallStatus = "overall_status"
        case consumerDetails = "consumer_details"
        case cluster
    }
}

public struct ProbeBody: Codable, Sendable {
    public var status: String
    public var reason: String?
    public var unhealthyConsumers: [String]?

    public enum CodingKeys: String, CodingKey {
        case status, reason
        case unhealthyConsumers = "unhealthy_consumers"
    }
}

/// `GET /presets`: each preset's name, summary and the sections it fills.
public struct PresetList: Codable, Sendable {
    public var presets: [PresetBody]
}

public struct PresetBody: Codable, Sendable {
    public var name: String
    public var summary: String
    public var content: Value

    init(_ preset: Preset) {
        name = preset.rawValue
        summary = preset.summary
        // The texts are fixed and tested to parse.
        content = (try? JSONParser.parse(preset.json)) ?? .null
    }
}

/// `POST /consumers/start-all|stop-all`: one entry per consumer.
public struct BulkResultBody: Codable, Sendable {
    public var results: [String: Entry]

    public init(results: [String: Entry]) {
        self.results = results
    }

    public struct Entry: Codable, Sendable {
        public var changed: Bool?
        public var status: StatusBody?
        public var error: ErrorDetail?

        public init(changed: Bool? = nil, status: StatusBody? = nil, error: ErrorDetail? = nil) {
            self.changed = changed
            self.status = status
            self.error = error
        }
    }

    public struct ErrorDetail: Codable, Sendable {
        public var code: String
        public var message: String

        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }
}

/// Encodes `nil` as `null` instead of leaving the key out, so every
/// documented field is always present in a response.
@propertyWrapper
public struct Nullable<Value: Codable & Sendable>: Codable, Sendable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue {
            try container.encode(wrappedValue)
        } else {
            try container.encodeNil()
        }
    }
}

/// RFC 3339 with milliseconds, UTC.
private func seconds(_ duration: Duration) -> Double {
    rounded(duration.timeInterval)
}

private func rounded(_ value: Double) -> Double {
    (value * 1000).rounded() / 1000
}
