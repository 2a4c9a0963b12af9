import Foundation

/// Everything known about one consumer at one moment.
public struct ConsumerStatus: Sendable {
    public var name: String
    public var state: ConsumerState
    public var desiredState: DesiredState
    /// When `state` was entered.
    public var since: Date
    /// The run number; a restart increases it.
    public var generation: Int
    public var spec: ConsumerSpec
    /// Where the sink writes (an absolute path, or `stdout`).
    public var sinkTarget: String
    public var partitions: [PartitionStatus]
    public var stats: RuntimeStats
    public var rates: Rates
    public var lastError: ConsumerFailure?
    public var consecutiveFailures: Int
    public var restarts: Int
    /// When an automatic restart is due after a failure.
    public var nextRestartAt: Date?
    /// Stopping on its way to deletion.
    public var deleting: Bool
    public var health: ConsumerHealth
}

/// Throughput over the last health interval, in the seeds' terms.
public struct Rates: Sendable, Equatable {
    public var inputRowsPerSecond: Double
    public var processedRowsPerSecond: Double

    public init(inputRowsPerSecond: Double = 0, processedRowsPerSecond: Double = 0) {
        self.inputRowsPerSecond = inputRowsPerSecond
        self.processedRowsPerSecond = processedRowsPerSecond
    }

    /// Processed over input; 1 when idle (nothing is falling behind).
    public var processingRatio: Double {
        inputRowsPerSecond > 0 ? min(1, processedRowsPerSecond / inputRowsPerSecond) : 1
    }
}

public struct ConsumerHealth: Sendable, Equatable {
    public enum Status: String, Sendable {
        case healthy, unhealthy
    }

    public var status: Status
    /// Why the consumer is unhealthy.
    public var reason: String?
    /// When the health monitor last evaluated the consumer.
    public var lastCheck: Date?

    public var isHealthy: Bool { status == .healthy }
}

/// The `/health` summary: every consumer's health, in the seeds' shape.
public struct HealthReport: Sendable {
    public enum Overall: String, Sendable {
        /// Every consumer is healthy (or there are none).
        case healthy
        /// Some, not all, consumers are unhealthy.
        case degraded
        /// All consumers are unhealthy.
        case unhealthy
    }

    public var consumers: [ConsumerStatus]
    public var healthy: Int { consumers.count(where: \.health.isHealthy) }
    public var unhealthy: Int { consumers.count - healthy }

    public var overall: Overall {
        if unhealthy == 0 { return .healthy }
        return healthy == 0 ? .unhealthy : .degraded
    }

    public var unhealthyNames: [String] {
        consumers.filter { !$0.health.isHealthy }.map(\.name).sorted()
    }
}
