import CRdKafka
import Logging

/// Reads one group's committed offsets from its coordinator (OffsetFetch)
/// without joining the group: a consumer handle that never subscribes.
///
/// Not the ListConsumerGroupOffsets admin API: librdkafka 2.0.2 (Debian 12)
/// aborts on `rd_kafka_enq_once_del_source_return: eonce->refcnt > 0` when a
/// broker goes down while such a coordinator request is outstanding; the
/// consumer's own OffsetFetch path rides the outage out. Keep one reader per
/// watched group: a handle costs threads and connections to create.
public final class GroupOffsetReader: Sendable {
    public let group: String
    private nonisolated(unsafe) let handle: OpaquePointer
    private let context: ClientContext

    /// `config` needs `bootstrap.servers` (plus security settings for real clusters).
    public init(group: String, config: KafkaConfig, logger: Logger) throws(KafkaError) {
        let context = ClientContext(logger: logger)
        self.group = group
        self.context = context
        self.handle = try makeHandle(
            type: RD_KAFKA_CONSUMER, config: config.merging(["group.id": group, "enable.auto.commit": "false"]),
            context: context)
    }

    deinit {
        // Never subscribed, so there is no membership to leave.
        rd_kafka_destroy_flags(handle, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
    }

    /// The committed offset of each partition; `nil` where nothing is committed.
    public func committedOffsets(_ partitions: [TopicPartition], timeout: Duration = .seconds(10)) throws(KafkaError) -> [TopicPartitionOffset] {
        guard !partitions.isEmpty else { return [] }
        let list = PartitionList(partitions)
        try check(rd_kafka_committed(handle, list.pointer, timeout.kafkaMilliseconds), "committed offsets of \(group)")
        if let error = list.firstError(context: "committed offset") { throw error }
        return list.offsets
    }
}
