import ConsumerManager
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
    var lagTotal: Int64?
    var stats: StatsBody
    var rates: RatesBody
    var lastError: ErrorBody?
    var consecutiveFailures: Int
    var restarts: Int
    var nextRestartAt: String?
    var health: HealthBody

    init(_ status: ConsumerStatus) {
        name = status.name
        state = status.state.rawValue
        desiredState = status.desiredState.rawValue
        since = timestamp(status.since)
        generation = status.generation
        deleting = status.deleting
        groupID = status.spec.groupID
        sink = SinkBody(type: status.spec.sink.type.rawValue, target: status.sinkTarget)
        assignment = status.partitions.map(PartitionBody.init)
        let lags = status.partitions.compactMap(\.lag)
        lagTotal = status.partitions.isEmpty || lags.count < status.partitions.count ? nil : lags.reduce(0, +)
        stats = StatsBody(status.stats)
        rates = RatesBody(status.rates)
        lastError = status.lastError.map(ErrorBody.init)
        consecutiveFailures = status.consecutiveFailures
        restarts = status.restarts
        nextRestartAt = status.nextRestartAt.map(timestamp)
        health = HealthBody(status.health)
    }

    enum CodingKeys: String, CodingKey {
        case name, state, since, generation, deleting, sink, assignment, stats, rates, restarts, health
        case desiredState = "desired_state"
        case groupID = "group_id"
        case lagTotal = "lag_total"
        case lastError = "last_error"
        case consecutiveFailures = "consecutive_failures"
        case nextRestartAt = "next_restart_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(state, forKey: .state)
        try c.encode(desiredState, forKey: .desiredState)
        try c.encode(since, forKey: .since)
        try c.encode(generation, forKey: .generation)
        try c.encode(deleting, forKey: .deleting)
        try c.encode(groupID, forKey: .groupID)
        try c.encode(sink, forKey: .sink)
        try c.encode(assignment, forKey: .assignment)
        try c.encode(lagTotal, forKey: .lagTotal)
        try c.encode(stats, forKey: .stats)
        try c.encode(rates, forKey: .rates)
        try c.encode(lastError, forKey: .lastError)
        try c.encode(consecutiveFailures, forKey: .consecutiveFailures)
        try c.encode(restarts, forKey: .restarts)
        try c.encode(nextRestartAt, forKey: .nextRestartAt)
        try c.encode(health, forKey: .health)
    }
}

struct SinkBody: Encodable {
    var type: String
    var target: String
}

struct PartitionBody: Encodable {
    var topic: String
    var partition: Int32
    var committedOffset: Int64?
    var position: Int64?
    var highWatermark: Int64?
    var lag: Int64?
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

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(topic, forKey: .topic)
        try c.encode(partition, forKey: .partition)
        try c.encode(committedOffset, forKey: .committedOffset)
        try c.encode(position, forKey: .position)
        try c.encode(highWatermark, forKey: .highWatermark)
        try c.encode(lag, forKey: .lag)
        try c.encode(paused, forKey: .paused)
    }
}

struct StatsBody: Encodable {
    var messagesConsumed: Int64
    var recordsWritten: Int64
    var errors: Int64
    var batches: Int64
    var commits: Int64
    var lastBatchAt: String?
    var lastBatchRecords: Int
    var lastBatchDurationSeconds: Double?

    init(_ stats: RuntimeStats) {
        messagesConsumed = stats.messagesConsumed
        recordsWritten = stats.recordsWritten
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
        case lastBatchAt = "last_batch_at"
        case lastBatchRecords = "last_batch_records"
        case lastBatchDurationSeconds = "last_batch_duration_seconds"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(messagesConsumed, forKey: .messagesConsumed)
        try c.encode(recordsWritten, forKey: .recordsWritten)
        try c.encode(errors, forKey: .errors)
        try c.encode(batches, forKey: .batches)
        try c.encode(commits, forKey: .commits)
        try c.encode(lastBatchAt, forKey: .lastBatchAt)
        try c.encode(lastBatchRecords, forKey: .lastBatchRecords)
        try c.encode(lastBatchDurationSeconds, forKey: .lastBatchDurationSeconds)
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

    init(_ failure: ConsumerFailure) {
        stage = failure.stage
        message = failure.message
        at = timestamp(failure.at)
    }
}

struct HealthBody: Encodable {
    var status: String
    var reason: String?
    var lastCheck: String?

    init(_ health: ConsumerHealth) {
        status = health.status.rawValue
        reason = health.reason
        lastCheck = health.lastCheck.map(timestamp)
    }

    enum CodingKeys: String, CodingKey {
        case status, reason
        case lastCheck = "last_check"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(reason, forKey: .reason)
        try c.encode(lastCheck, forKey: .lastCheck)
    }
}

/// `GET /health`: the seeds' summary shape.
struct HealthSummaryBody: Encodable {
    var totalConsumers: Int
    var healthyConsumers: Int
    var unhealthyConsumers: Int
    var overallStatus: String
    var consumerDetails: [String: Detail]

    struct Detail: Encodable {
        var status: String
        var state: String
        var desiredState: String
        var reason: String?
        var consecutiveFailures: Int
        var lastCheck: String?
        var lastError: ErrorBody?
        var metrics: RatesBody

        enum CodingKeys: String, CodingKey {
            case status, state, reason, metrics
            case desiredState = "desired_state"
            case consecutiveFailures = "consecutive_failures"
            case lastCheck = "last_check"
            case lastError = "last_error"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(status, forKey: .status)
            try c.encode(state, forKey: .state)
            try c.encode(desiredState, forKey: .desiredState)
            try c.encode(reason, forKey: .reason)
            try c.encode(consecutiveFailures, forKey: .consecutiveFailures)
            try c.encode(lastCheck, forKey: .lastCheck)
            try c.encode(lastError, forKey: .lastError)
            try c.encode(metrics, forKey: .metrics)
        }
    }

    init(_ report: HealthReport) {
        totalConsumers = report.consumers.count
        healthyConsumers = report.healthy
        unhealthyConsumers = report.unhealthy
        overallStatus = report.overall.rawValue
        consumerDetails = Dictionary(uniqueKeysWithValues: report.consumers.map { status in
            (status.name, Detail(
                status: status.health.status.rawValue, state: status.state.rawValue,
                desiredState: status.desiredState.rawValue, reason: status.health.reason,
                consecutiveFailures: status.consecutiveFailures, lastCheck: status.health.lastCheck.map(timestamp),
                lastError: status.lastError.map(ErrorBody.init), metrics: RatesBody(status.rates)))
        })
    }

    enum CodingKeys: String, CodingKey {
        case totalConsumers = "total_consumers"
        case healthyConsumers = "healthy_consumers"
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

/// RFC 3339 with milliseconds, UTC.
func timestamp(_ date: Date) -> String {
    date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
}

private func seconds(_ duration: Duration) -> Double {
    rounded(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
}

private func rounded(_ value: Double) -> Double {
    (value * 1000).rounded() / 1000
}
