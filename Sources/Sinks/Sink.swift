import Kafka
import Pipeline

/// Where a consumer's records go. A sink is used by one consumer thread at a
/// time; ``write(_:)`` returns once the batch is durable in the sink.
public protocol Sink: AnyObject {
    /// The sink type, the `sink` metric label (`file`, `postgresql`, ...).
    var kind: String { get }
    /// What the sink writes to, for logs and status (a path, a URL without credentials).
    var target: String { get }
    /// Who makes the batch's offsets durable.
    var commits: SinkCommits { get }
    /// Writes the whole batch, or nothing: a failed write can be retried as a
    /// whole. A sink that stores offsets writes `batch.offsets` in the same
    /// transaction. `.rejected` means nothing was written: the named records
    /// can never be (the loop dead-letters them and writes the rest).
    func write(_ batch: SinkBatch) throws(PipelineError) -> SinkWriteResult
    /// For ``SinkCommits/sinkStoresOffsets``: the next offset the sink holds
    /// per partition (none: the sink has nothing of that partition yet).
    func storedOffsets(for partitions: [TopicPartition]) throws(PipelineError) -> [TopicPartition: Int64]
    /// Releases resources; later writes fail.
    func close()
}

extension Sink {
    public func storedOffsets(for partitions: [TopicPartition]) throws(PipelineError) -> [TopicPartition: Int64] { [:] }
}

/// How a batch's offsets become durable, and so what a sink can promise.
public enum SinkCommits: String, Sendable {
    /// At-least-once: the sink writes, then the consumer commits the offsets
    /// to its group. A crash in between repeats the batch.
    case consumer
    /// Exactly-once: the sink writes the records and the offsets in one
    /// transaction of its own and, on assignment, says where to resume. The
    /// consumer also commits to its group afterwards, for lag and tooling
    /// only (the group's offsets are never ahead of the sink's).
    case sinkStoresOffsets = "sink"
    /// Exactly-once through Kafka: the sink's transaction commits the offsets
    /// to the consumer's group itself (`send_offsets_to_transaction`), so
    /// records and offsets are visible together or not at all. The consumer
    /// commits the same offsets again only after the transaction succeeded.
    case transaction
}

/// What a sink gets to write.
public struct SinkBatch: Sendable {
    /// The records, in arrival order (per partition, offset order).
    public var records: [Record]
    /// The next offset of every partition the batch completes (including
    /// partitions whose records were all dropped or dead-lettered).
    public var offsets: [TopicPartitionOffset]
    /// The consumer's group membership, for a transactional sink's offsets.
    public var group: ConsumerGroupMetadata?

    public init(records: [Record], offsets: [TopicPartitionOffset], group: ConsumerGroupMetadata? = nil) {
        self.records = records
        self.offsets = offsets
        self.group = group
    }
}

public enum SinkWriteResult: Sendable, Equatable {
    case written
    /// Nothing was written; these records (indexes into the batch's records)
    /// are refused for good, each with the sink's reason. The loop
    /// dead-letters them and writes the rest again.
    case rejected([RejectedRecord])
    /// Every record was written but these, refused for good.
    case writtenExcept([RejectedRecord])
}

/// A record a sink refuses for good (a constraint, an HTTP 4xx for it alone).
public struct RejectedRecord: Sendable, Equatable {
    public var index: Int
    public var reason: String
    public var message: String

    public init(index: Int, reason: String, message: String) {
        self.index = index
        self.reason = reason
        self.message = message
    }
}
