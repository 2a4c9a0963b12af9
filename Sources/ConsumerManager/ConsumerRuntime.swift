import Foundation
import Kafka
import Logging
import Pipeline
import Sinks
import Synchronization

/// One run of a consumer: a dedicated thread polling Kafka, from start until
/// it stops or fails. Other threads steer it through a mailbox of commands
/// (pause, resume, stop), read in order between polls so that none is lost
/// or reordered, and read the snapshot it publishes; neither blocks the loop.
final class ConsumerRuntime: Sendable {
    let spec: ConsumerSpec
    /// Increases with every run of the same consumer.
    let generation: Int
    private let settings: RunSettings
    private let shared: Mutex<Shared>
    /// Raised when a command is waiting, so the loop checks one atomic per
    /// poll instead of taking the lock.
    private let commandPending = Atomic<Bool>(false)
    /// Nanoseconds after `epoch` of the loop's last iteration (stall detection).
    private let heartbeat = Atomic<Int64>(0)
    /// Wakes the loop out of a blocking poll when a command arrives; set
    /// while the run's Kafka consumer exists.
    private let wakeLoop = Mutex<(@Sendable () -> Void)?>(nil)
    private static let epoch = ContinuousClock.now

    /// Everything a run needs besides its spec.
    struct RunSettings: Sendable {
        var kafka: KafkaConfig
        /// What the sink needs from the server.
        var sinkContext: SinkContext
        var instruments: ConsumerInstruments
        var logger: Logger
        /// Dead letters go through this producer configuration (the server's
        /// base properties and the spec's credentials).
        var producerKafka: KafkaConfig
        /// Shared by every run's decoders (Schema Registry clients and caches).
        var decoderServices: DecoderServices
        /// How often lag and positions are refreshed while idle.
        var refreshInterval: Duration = .seconds(1)
        /// Batch mode: stop (draining) after this many records.
        var maxMessages: Int?
        /// Where the run's first assignment starts instead of the group's offsets.
        var offsetReset: PendingOffsetReset?
        /// The run committed the reset's offsets of these partitions.
        var onOffsetReset: @Sendable ([TopicPartition]) -> Void = { _ in }
        /// Batch mode: each committed batch's duration (first record polled
        /// to its offsets committed) and records consumed, for the run's report.
        var onBatchCommitted: (@Sendable (Duration, Int) -> Void)?
        var onExit: @Sendable (ConsumerRuntime) -> Void
    }

    struct Shared {
        var state: ConsumerState = .starting
        var since = Date()
        var lastError: ConsumerFailure?
        var progress = RuntimeProgress()
        var mailbox: [RuntimeCommand] = []
        /// The run leaves the loop: later commands have nothing to act on.
        var stopping = false
    }

    /// `paused`: the run starts with every partition paused.
    init(spec: ConsumerSpec, generation: Int, settings: RunSettings, paused: Bool) {
        self.spec = spec
        self.generation = generation
        self.settings = settings
        var initial = Shared()
        if paused { initial.mailbox = [.pause] }
        self.shared = Mutex(initial)
        if paused { commandPending.store(true, ordering: .releasing) }
        beat(at: .now)
    }

    /// Starts the consumer thread.
    func start() {
        Thread.start(named: "cd-\(spec.name)") { [self] in
            DataPathPriority.applyToCurrentThread()
            ConsumerLoop(runtime: self, spec: spec, settings: settings).run()
            settings.onExit(self)
        }
    }

    // MARK: Commands (any thread)

    /// Queues a command for the loop, which takes commands in order.
    func send(_ command: RuntimeCommand) {
        shared.withLock { $0.mailbox.append(command) }
        commandPending.store(true, ordering: .releasing)
        // Under the lock: the loop clears it before the consumer goes away.
        wakeLoop.withLock { $0?() }
    }

    /// The loop's way to be woken (nil: none, from before its consumer closes).
    func setWake(_ wake: (@Sendable () -> Void)?) {
        wakeLoop.withLock { $0 = wake }
    }

    var snapshot: RuntimeSnapshot {
        let nanos = heartbeat.load(ordering: .relaxed)
        return shared.withLock { shared in
            RuntimeSnapshot(
                generation: generation, state: shared.state, since: shared.since, lastError: shared.lastError,
                progress: shared.progress, sinceLastLoop: ContinuousClock.now - (Self.epoch + .nanoseconds(nanos)))
        }
    }

    var state: ConsumerState { shared.withLock { $0.state } }

    // MARK: Loop side (consumer thread only)

    /// The commands sent since the last call, in order (usually none: one atomic load).
    @inline(__always)
    func takeCommands() -> [RuntimeCommand] {
        guard commandPending.load(ordering: .relaxed), commandPending.exchange(false, ordering: .acquiring) else { return [] }
        return shared.withLock { shared in
            defer { shared.mailbox.removeAll() }
            return shared.mailbox
        }
    }

    /// Whether a stop is waiting in the mailbox (checked while the loop sleeps
    /// through a backoff), without taking the other commands.
    var stopPending: Bool {
        shared.withLock { $0.mailbox.contains(.stop) }
    }

    /// Records that the loop came round at `instant` (the loop's own clock reading).
    @inline(__always)
    func beat(at instant: ContinuousClock.Instant) {
        let (seconds, attoseconds) = (instant - Self.epoch).components
        heartbeat.store(seconds * 1_000_000_000 + attoseconds / 1_000_000_000, ordering: .relaxed)
    }

    func publish(state: ConsumerState) {
        shared.withLock { shared in
            if shared.state != state {
                shared.state = state
                shared.since = Date()
            }
        }
        settings.instruments.setState(state)
    }

    func publish(_ progress: RuntimeProgress) {
        shared.withLock { $0.progress = progress }
    }

    func record(_ failure: ConsumerFailure) {
        shared.withLock { $0.lastError = failure }
    }

}

/// What a run has published: its state and progress.
struct RuntimeSnapshot: Sendable {
    var generation: Int
    var state: ConsumerState
    var since: Date
    var lastError: ConsumerFailure?
    var progress: RuntimeProgress
    /// Time since the loop last came round; long means a stuck call.
    var sinceLastLoop: Duration
}

/// What a run reports about its progress, published as one value.
public struct RuntimeProgress: Sendable, Equatable {
    public var partitions: [PartitionStatus] = []
    public var stats = RuntimeStats()
    /// Per record-path stage, decode first.
    public var stages: [StageCounts] = []
    public var qualityViolations: [String: Int64] = [:]
    public var sequence: SequenceStatistics?
    /// A transient error the run is waiting out; `nil` when it makes progress.
    public var retrying: RetryState?
    /// Connections to the cluster, from librdkafka's statistics.
    public var brokers: BrokerStatus?
    /// When positions, watermarks and lag were last read.
    public var measuredAt: Date?

    public init() {}
}

/// How many brokers the run is connected to, and since when none.
public struct BrokerStatus: Sendable, Equatable {
    public var up: Int
    public var known: Int
    /// The last report with a broker up (`nil`: none since the run started).
    public var lastContact: Date?
    public var reportedAt: Date
}

/// What a run retries, since when, and why.
public struct RetryState: Sendable, Equatable {
    /// The error of the last attempt.
    public var error: ConsumerFailure
    /// What waits: `batch of 120 records` or `partition t[2] from offset 41`.
    public var waiting: String
    public var attempts: Int
    public var since: Date
    public var nextAttempt: Date
    /// `retry.max_attempts` reached with `on_exhausted: keep_retrying`.
    public var exhausted: Bool

    public var description: String {
        "\(error.stage) error, retrying (\(waiting), attempt \(attempts)): \(error.message)"
    }
}

/// Counters of one run.
public struct RuntimeStats: Sendable, Equatable {
    /// Records that reached a disposition: written, dropped or dead-lettered.
    public var messagesConsumed: Int64 = 0
    public var recordsWritten: Int64 = 0
    /// Dropped by a stage (filtered, a quality rule, a duplicate, `on_*: drop`).
    public var recordsDropped: Int64 = 0
    /// Acknowledged by the dead-letter topic.
    public var recordsDeadLettered: Int64 = 0
    public var errors: Int64 = 0
    public var batches: Int64 = 0
    public var commits: Int64 = 0
    public var lastBatchAt: Date?
    /// When the run received its first record (throughput leaves out the group join).
    public var firstRecordAt: Date?
    /// When a commit of this run was last acknowledged (batch mode's
    /// throughput ends at its final commit, not after leaving the group).
    public var lastCommitAt: Date?
    public var lastBatchRecords = 0
    public var lastBatchDuration: Duration?

    public init() {}

    /// Counters of several runs added up (the latest batch is the later run's).
    public static func + (earlier: RuntimeStats, later: RuntimeStats) -> RuntimeStats {
        var sum = later
        sum.firstRecordAt = earlier.firstRecordAt ?? later.firstRecordAt
        sum.lastCommitAt = later.lastCommitAt ?? earlier.lastCommitAt
        sum.messagesConsumed += earlier.messagesConsumed
        sum.recordsWritten += earlier.recordsWritten
        sum.recordsDropped += earlier.recordsDropped
        sum.recordsDeadLettered += earlier.recordsDeadLettered
        sum.errors += earlier.errors
        sum.batches += earlier.batches
        sum.commits += earlier.commits
        if later.lastBatchAt == nil {
            sum.lastBatchAt = earlier.lastBatchAt
            sum.lastBatchRecords = earlier.lastBatchRecords
            sum.lastBatchDuration = earlier.lastBatchDuration
        }
        return sum
    }
}

/// One assigned partition as the status reports it.
public struct PartitionStatus: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    /// The group's committed offset (next offset to read), if known.
    public var committedOffset: Int64?
    /// The next offset this member will fetch.
    public var position: Int64?
    public var highWatermark: Int64?
    /// The log start, where a partition with nothing committed or consumed is read from.
    public var lowWatermark: Int64?
    public var paused: Bool

    /// High watermark minus the committed offset; before anything is
    /// committed, minus the position, or the log start when nothing was read yet.
    public var lag: Int64? {
        guard let highWatermark, let base = committedOffset ?? position ?? lowWatermark else { return nil }
        return max(0, highWatermark - base)
    }
}
