import ConsumerManager
import DataModel
import Foundation
import Pipeline

// The REST representation. Field names are part of the API (snake_case) and
// documented in openapi.yaml; domain types stay free of wire concerns.

/// A consumer with its spec and status (`GET /consumers/{name}`).
struct ConsumerResource: Encodable {
    var name: String
    var spec: ConsumerSpec
    var status: StatusBody

    init(_ status: ConsumerStatus) {
        name = status.name
        spec = status.spec
        self.status = StatusBody(status)
    }
}

struct ConsumerList: Encodable {
    var consumers: [StatusBody]
    var count: Int
}

/// `GET /consumers/{name}/status` and the body of lifecycle verbs.
struct StatusBody: Encodable {
    var name: String
    var state: String
    var desiredState: String
    var since: String
    var generation: Int
    var deleting: Bool
    var groupID: String
    var sink: SinkBody
    var assignment: [PartitionBody]
    @Nullable var lagTotal: Int64?
    /// When positions, watermarks and lag were read.
    @Nullable var measuredAt: String?
    @Nullable var groupLag: GroupLagBody?
    @Nullable var brokers: BrokersBody?
    @Nullable var retrying: RetryingBody?
    var stats: StatsBody
    var totals: StatsBody
    var stages: [StageBody]
    var qualityViolations: [String: Int64]
    @Nullable var sequence: SequenceBody?
    var rates: RatesBody
    @Nullable var lastError: ErrorBody?
    var consecutiveFailures: Int
    var restarts: Int
    @Nullable var nextRestartAt: String?
    var health: HealthBody

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
    }

    enum CodingKeys: String, CodingKey {
        case name, state, since, generation, deleting, sink, assignment, stats, totals, stages, sequence, rates, restarts, health
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

struct SinkBody: Encodable {
    var type: String
    var target: String
}

struct PartitionBody: Encodable {
    var topic: String
    var partition: Int32
    @Nullable var committedOffset: Int64?
    @Nullable var position: Int64?
    @Nullable var highWatermark: Int64?
    @Nullable var lag: Int64?
    var paused: Bool

    init(_ status: PartitionStatus) {
        topic = status.topic
        partition = status.partition
        committedOffset = status.committedOffset
        position = status.position
        highWatermark = status.highWatermark
        lag = status.lag
        paused = status.paused
    }

    enum CodingKeys: String, CodingKey {
        case topic, partition, position, lag, paused
        case committedOffset = "committed_offset"
        case highWatermark = "high_watermark"
    }
}

struct StatsBody: Encodable {
    var messagesConsumed: Int64
    var recordsWritten: Int64
    var recordsDropped: Int64
    var recordsDeadLettered: Int64
    var errors: Int64
    var batches: Int64
    var commits: Int64
    @Nullable var lastBatchAt: String?
    var lastBatchRecords: Int
    @Nullable var lastBatchDurationSeconds: Double?

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

    enum CodingKeys: String, CodingKey {
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
struct StageBody: Encodable {
    var stage: String
    var input: Int64
    var kept: Int64
    var dropped: Int64
    var deadLettered: Int64
    var failed: Int64
    /// Per outcome, per reason.
    var reasons: [String: [String: Int64]]
    @Nullable var lastError: StageErrorBody?

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

    enum CodingKeys: String, CodingKey {
        case stage, kept, dropped, failed, reasons
        case input = "in"
        case deadLettered = "dead_lettered"
        case lastError = "last_error"
    }
}

struct StageErrorBody: Encodable {
    var reason: String
    var message: String
    @Nullable var record: String?
    var at: String

    init(_ error: StageError) {
        reason = error.reason
        message = error.message
        record = error.record?.description
        at = timestamp(error.at)
    }
}

struct SequenceBody: Encodable {
    var gaps: Int64
    var missing: Int64
    var duplicates: Int64
    var outOfOrder: Int64
    var unsequenced: Int64
    var trackedKeys: Int
    var recentGaps: [Gap]

    struct Gap: Encodable {
        var key: String
        var expected: Int64
        var received: Int64
        var record: String
        var at: String
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

    enum CodingKeys: String, CodingKey {
        case gaps, missing, duplicates, unsequenced
        case outOfOrder = "out_of_order"
        case trackedKeys = "tracked_keys"
        case recentGaps = "recent_gaps"
    }
}

struct RatesBody: Encodable {
    var inputRowsPerSecond: Double
    var processedRowsPerSecond: Double
    var processingRatio: Double

    init(_ rates: Rates) {
        inputRowsPerSecond = rounded(rates.inputRowsPerSecond)
        processedRowsPerSecond = rounded(rates.processedRowsPerSecond)
        processingRatio = rounded(rates.processingRatio)
    }

    enum CodingKeys: String, CodingKey {
        case inputRowsPerSecond = "input_rows_per_second"
        case processedRowsPerSecond = "processed_rows_per_second"
        case processingRatio = "processing_ratio"
    }
}

struct ErrorBody: Encodable {
    var stage: String
    var message: String
    var at: String
    /// Over: a batch went through after it and nothing is retried.
    var resolved: Bool

    init(_ failure: ConsumerFailure, resolved: Bool = false) {
        stage = failure.stage
        message = failure.message
        at = timestamp(failure.at)
        self.resolved = resolved
    }
}

/// The group's lag over every partition of the consumer's topics, owned by
/// any member or none, as the lag monitor last measured it.
struct GroupLagBody: Encodable {
    var measuredAt: String
    var total: Int64
    var partitions: [Partition]
    @Nullable var verdict: String?
    @Nullable var error: String?

    struct Partition: Encodable {
        var topic: String
        var partition: Int32
        @Nullable var committedOffset: Int64?
        var highWatermark: Int64
        var lag: Int64

        enum CodingKeys: String, CodingKey {
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

    enum CodingKeys: String, CodingKey {
        case total, partitions, verdict, error
        case measuredAt = "measured_at"
    }
}

struct BrokersBody: Encodable {
    var up: Int
    var known: Int
    @Nullable var lastContact: String?
    var reportedAt: String

    init(_ status: BrokerStatus) {
        up = status.up
        known = status.known
        lastContact = status.lastContact.map(timestamp)
        reportedAt = timestamp(status.reportedAt)
    }

    enum CodingKeys: String, CodingKey {
        case up, known
        case lastContact = "last_contact"
        case reportedAt = "reported_at"
    }
}

/// A transient error being waited out.
struct RetryingBody: Encodable {
    var stage: String
    var message: String
    var waiting: String
    var attempts: Int
    var since: String
    var nextAttemptAt: String
    var exhausted: Bool

    init(_ state: RetryState) {
        stage = state.error.stage
        message = state.error.message
        waiting = state.waiting
        attempts = state.attempts
        since = timestamp(state.since)
        nextAttemptAt = timestamp(state.nextAttempt)
        exhausted = state.exhausted
    }

    enum CodingKeys: String, CodingKey {
        case stage, message, waiting, attempts, since, exhausted
        case nextAttemptAt = "next_attempt_at"
    }
}

struct HealthBody: Encodable {
    var status: String
    @Nullable var reason: String?
    @Nullable var lastCheck: String?

    init(_ health: ConsumerHealth) {
        status = health.status.rawValue
        reason = health.reason
        lastCheck = health.lastCheck.map(timestamp)
    }

    enum CodingKeys: String, CodingKey {
        case status, reason
        case lastCheck = "last_check"
    }
}

/// `GET /health`: the seeds' summary shape.
struct HealthSummaryBody: Encodable {
    var totalConsumers: Int
    var healthyConsumers: Int
    var degradedConsumers: Int
    var unhealthyConsumers: Int
    var overallStatus: String
    var consumerDetails: [String: Detail]

    struct Detail: Encodable {
        var status: String
        var state: String
        var desiredState: String
        @Nullable var reason: String?
        var consecutiveFailures: Int
        @Nullable var lastCheck: String?
        @Nullable var lastError: ErrorBody?
        var metrics: RatesBody

        enum CodingKeys: String, CodingKey {
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
    }

    enum CodingKeys: String, CodingKey {
        case totalConsumers = "total_consumers"
        case healthyConsumers = "healthy_consumers"
        case degradedConsumers = "degraded_consumers"
        case unhealthyConsumers = "unhealthy_consumers"
        case overallStatus = "overall_status"
        case consumerDetails = "consumer_details"
    }
}

struct ProbeBody: Encodable {
    var status: String
    var reason: String?
    var unhealthyConsumers: [String]?

    enum CodingKeys: String, CodingKey {
        case status, reason
        case unhealthyConsumers = "unhealthy_consumers"
    }
}

/// `GET /presets`: each preset's name, summary and the sections it fills.
struct PresetList: Encodable {
    var presets: [PresetBody]
}

struct PresetBody: Encodable {
    var name: String
    var summary: String
    var content: Value

    init(_ preset: Preset) {
        name = preset.rawValue
        summary = preset.summary
        // The texts are fixed and tested to parse.
        content = (try? JSONParser.parse(preset.json)) ?? .null
    }
}

/// `POST /consumers/start-all|stop-all`: one entry per consumer.
struct BulkResultBody: Encodable {
    var results: [String: Entry]

    struct Entry: Encodable {
        var changed: Bool?
        var status: StatusBody?
        var error: ErrorDetail?
    }

    struct ErrorDetail: Encodable {
        var code: String
        var message: String
    }
}

/// Encodes `nil` as `null` instead of leaving the key out, so every
/// documented field is always present in a response.
@propertyWrapper
struct Nullable<Value: Encodable>: Encodable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    func encode(to encoder: any Encoder) throws {
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
