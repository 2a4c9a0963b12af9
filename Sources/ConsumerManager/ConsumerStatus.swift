import Foundation
import Pipeline

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
    /// Assignment, counters, per-stage counts, sequence tracking, degradation.
    public var progress: RuntimeProgress
    public var partitions: [PartitionStatus] { progress.partitions }
    /// Counters of the current run (they start at zero with each run).
    public var stats: RuntimeStats { progress.stats }
    /// Counters of every run since the server started (as the Prometheus counters count).
    public var totals: RuntimeStats
    public var rates: Rates
    public var lastError: ConsumerFailure?
    /// The last error is over: a batch went through after it and nothing is retried.
    public var lastErrorResolved: Bool
    public var consecutiveFailures: Int
    public var restarts: Int
    /// When an automatic restart is due after a failure.
    public var nextRestartAt: Date?
    /// Stopping on its way to deletion.
    public var deleting: Bool
    /// The group as the lag monitor last measured it (all partitions, owned or not).
    public var groupLag: GroupLagReport?
    public var health: ConsumerHealth
    /// In cluster mode, every instance's member of the consumer's group as
    /// it last reported (``ConsumerManager/ClusterMember``); empty otherwise.
    public var members: [ConsumerManager.ClusterMember] = []
}

/// How consumerd writes instants in JSON: ISO 8601 in UTC with milliseconds.
public func timestamp(_ date: Date) -> String {
    date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
}

/// The group's lag across every partition of the consumer's topics.
public typealias GroupLagReport = GroupLagMonitor.Report

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
        /// Doing what the operator asked.
        case healthy
        /// Running, but held back by something transient (an unreachable
        /// Schema Registry); still ready.
        case degraded
        /// Not doing what the operator asked; `/health/ready` answers 503.
        case unhealthy
    }

    public var status: Status
    /// Why the consumer is unhealthy.
    public var reason: String?
    /// When the health monitor last evaluated the consumer.
    public var lastCheck: Date?

    public var isHealthy: Bool { status == .healthy }
    /// Counts against readiness.
    public var isUnhealthy: Bool { status == .unhealthy }
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
    /// In cluster mode, the cluster as this instance sees it.
    public var cluster: ConsumerManager.ClusterView?
    public var healthy: Int { consumers.count(where: \.health.isHealthy) }
    public var degraded: Int { consumers.count(where: { $0.health.status == .degraded }) }
    public var unhealthy: Int { consumers.count(where: \.health.isUnhealthy) }

    public var overall: Overall {
        if unhealthy > 0, unhealthy == consumers.count { return .unhealthy }
        return healthy == consumers.count ? .healthy : .degraded
    }

    public var unhealthyNames: [String] {
        consumers.filter(\.health.isUnhealthy).map(\.name).sorted()
    }
}
