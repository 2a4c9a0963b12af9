import CRdKafka
import Logging

/// Cluster questions and topic management: partitions, watermarks, a group's
/// committed offsets and lag. Every call blocks up to its timeout, so call it
/// off the cooperative thread pool.
public final class KafkaAdmin: Sendable {
    private nonisolated(unsafe) let handle: OpaquePointer
    private let context: ClientContext
    private let config: KafkaConfig

    /// `config` needs `bootstrap.servers` (plus security settings for real clusters).
    public init(config: KafkaConfig, logger: Logger) throws(KafkaError) {
        let context = ClientContext(logger: logger)
        self.context = context
        self.config = config
        self.handle = try makeHandle(type: RD_KAFKA_PRODUCER, config: config, context: context)
    }

    deinit {
        rd_kafka_destroy(handle)
    }

    /// Creates a topic through the CreateTopics API. Throws
    /// ``KafkaError/Code/topicAlreadyExists`` if it exists.
    public func createTopic(
        _ name: String, partitions: Int32, replicationFactor: Int32 = -1,
        config topicConfig: [String: String] = [:], timeout: Duration = .seconds(10)
    ) throws(KafkaError) {
        var reason = ErrorText()
        guard let newTopic = rd_kafka_NewTopic_new(name, partitions, replicationFactor, &reason.buffer, reason.buffer.count) else {
            throw KafkaError.invalidArgument(reason.string)
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        for (key, value) in topicConfig {
            try check(rd_kafka_NewTopic_set_config(newTopic, key, value), "topic config \(key)")
        }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeout.kafkaMilliseconds, nil, 0)
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeout.kafkaMilliseconds, nil, 0)
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        var topics: [OpaquePointer?] = [newTopic]
        rd_kafka_CreateTopics(handle, &topics, 1, options, queue)
        // The admin request carries its own timeout; wait a little longer for its answer.
        guard let event = rd_kafka_queue_poll(queue, (timeout + .seconds(5)).kafkaMilliseconds) else {
            throw KafkaError(code: .timedOut, message: "create topic \(name): no answer", isRetriable: true)
        }
        defer { rd_kafka_event_destroy(event) }
        try check(rd_kafka_event_error(event), "create topic \(name)")
        var count = 0
        guard let result = rd_kafka_event_CreateTopics_result(event),
            let results = rd_kafka_CreateTopics_result_topics(result, &count), count == 1
        else {
            throw KafkaError.invalidArgument("create topic \(name): malformed result")
        }
        let err = rd_kafka_topic_result_error(results[0])
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let detail = rd_kafka_topic_result_error_string(results[0]).map { String(cString: $0) }
            throw KafkaError(err, context: "create topic \(name)" + (detail.map { " (\($0))" } ?? ""))
        }
    }

    /// Whether the cluster has the topic. Asks for every topic's metadata,
    /// which (unlike asking for one) never makes a broker auto-create it.
    public func topicExists(_ topic: String, timeout: Duration = .seconds(10)) throws(KafkaError) -> Bool {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        try check(rd_kafka_metadata(handle, 1, nil, &metadata, timeout.kafkaMilliseconds), "metadata")
        guard let metadata else { return false }
        defer { rd_kafka_metadata_destroy(metadata) }
        return (0..<Int(metadata.pointee.topic_cnt)).contains { index in
            metadata.pointee.topics[index].topic.map { String(cString: $0) } == topic
        }
    }

    /// The partition ids of a topic, from cluster metadata.
    public func partitions(of topic: String, timeout: Duration = .seconds(10)) throws(KafkaError) -> [Int32] {
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else {
            throw KafkaError.invalidArgument("invalid topic \(topic)")
        }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        try check(rd_kafka_metadata(handle, 0, rkt, &metadata, timeout.kafkaMilliseconds), "metadata for \(topic)")
        guard let metadata else { return [] }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0 else { return [] }
        let entry = metadata.pointee.topics[0]
        try check(entry.err, "metadata for \(topic)")
        return (0..<Int(entry.partition_cnt)).map { entry.partitions[$0].id }.sorted()
    }

    /// The low and high watermarks of a partition, asked of its leader.
    public func watermarks(_ partition: TopicPartition, timeout: Duration = .seconds(10)) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        try check(
            rd_kafka_query_watermark_offsets(handle, partition.topic, partition.partition, &low, &high, timeout.kafkaMilliseconds),
            "watermarks of \(partition)")
        return (low, high)
    }

    /// Per partition, the offset of the first record whose timestamp is at
    /// or after `timestampMs` (ListOffsets); `nil` where no record is that
    /// late (a reader starting there waits at the log end).
    public func offsets(
        atTimestamp timestampMs: Int64, of partitions: [TopicPartition], timeout: Duration = .seconds(10)
    ) throws(KafkaError) -> [TopicPartitionOffset] {
        guard !partitions.isEmpty else { return [] }
        let list = PartitionList(partitions.map { TopicPartitionOffset($0, offset: timestampMs) })
        try check(rd_kafka_offsets_for_times(handle, list.pointer, timeout.kafkaMilliseconds), "offsets for time \(timestampMs)")
        if let error = list.firstError(context: "offsets for time \(timestampMs)") { throw error }
        return list.offsets
    }

    /// A group's committed offsets, read from its coordinator without joining
    /// the group. For repeated reads keep a ``GroupOffsetReader``.
    public func committedOffsets(
        group: String, partitions: [TopicPartition], timeout: Duration = .seconds(10)
    ) throws(KafkaError) -> [TopicPartitionOffset] {
        try GroupOffsetReader(group: group, config: config, logger: context.logger).committedOffsets(partitions, timeout: timeout)
    }

    /// Per-partition lag of a group on a topic: high watermark minus committed
    /// offset (the whole partition when nothing is committed yet).
    public func lag(group: String, topic: String, timeout: Duration = .seconds(10)) throws(KafkaError) -> [PartitionLag] {
        let partitions = try partitions(of: topic, timeout: timeout).map { TopicPartition(topic: topic, partition: $0) }
        let committed = try committedOffsets(group: group, partitions: partitions, timeout: timeout)
        var result: [PartitionLag] = []
        for entry in committed {
            let (low, high) = try watermarks(entry.topicPartition, timeout: timeout)
            result.append(PartitionLag(
                partition: entry.topicPartition, committedOffset: entry.offset, lowWatermark: low, highWatermark: high))
        }
        return result
    }
}

/// How far a group is behind on one partition.
public struct PartitionLag: Sendable, Equatable {
    public var partition: TopicPartition
    public var committedOffset: Int64?
    public var lowWatermark: Int64
    public var highWatermark: Int64

    public init(partition: TopicPartition, committedOffset: Int64?, lowWatermark: Int64, highWatermark: Int64) {
        self.partition = partition
        self.committedOffset = committedOffset
        self.lowWatermark = lowWatermark
        self.highWatermark = highWatermark
    }

    /// Records not yet committed; from the low watermark when nothing is committed.
    public var lag: Int64 { max(0, highWatermark - max(committedOffset ?? lowWatermark, lowWatermark)) }
}
