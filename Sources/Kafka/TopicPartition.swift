import CRdKafka

/// A partition of a topic.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }

    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// A partition with an offset: the next offset to read when stored or committed.
public struct TopicPartitionOffset: Hashable, Sendable, CustomStringConvertible {
    public var topicPartition: TopicPartition
    /// `nil` when the group has no committed offset for the partition.
    public var offset: Int64?

    public init(_ topicPartition: TopicPartition, offset: Int64?) {
        self.topicPartition = topicPartition
        self.offset = offset
    }

    public var topic: String { topicPartition.topic }
    public var partition: Int32 { topicPartition.partition }
    public var description: String { "\(topicPartition)@\(offset.map(String.init) ?? "-")" }
}

/// Owns an `rd_kafka_topic_partition_list_t` for the duration of one C call.
struct PartitionList: ~Copyable {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(capacity: Int) {
        pointer = rd_kafka_topic_partition_list_new(Int32(clamping: capacity))
    }

    init(_ partitions: [TopicPartition]) {
        self.init(capacity: partitions.count)
        for tp in partitions {
            rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition)
        }
    }

    init(_ offsets: [TopicPartitionOffset]) {
        self.init(capacity: offsets.count)
        for tpo in offsets {
            let element = rd_kafka_topic_partition_list_add(pointer, tpo.topic, tpo.partition)
            element?.pointee.offset = tpo.offset ?? crd_offset_invalid
        }
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    var offsets: [TopicPartitionOffset] { Self.offsets(of: pointer) }

    /// The first per-partition error, which list-based calls report element by element.
    func firstError(context: String) -> KafkaError? {
        for i in 0..<Int(pointer.pointee.cnt) {
            let element = pointer.pointee.elems[i]
            if element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                let name = String(cString: element.topic)
                return KafkaError(element.err, context: "\(context) \(name)[\(element.partition)]")
            }
        }
        return nil
    }

    /// Sets the starting offset of the listed partitions found in `offsets`.
    static func setOffsets(_ offsets: [TopicPartition: Int64], in list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        for i in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems[i]
            let partition = TopicPartition(topic: String(cString: element.topic), partition: element.partition)
            if let offset = offsets[partition] { list.pointee.elems[i].offset = offset }
        }
    }

    static func partitions(of list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartition] {
        (0..<Int(list.pointee.cnt)).map { i in
            let element = list.pointee.elems[i]
            return TopicPartition(topic: String(cString: element.topic), partition: element.partition)
        }
    }

    static func offsets(of list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartitionOffset] {
        (0..<Int(list.pointee.cnt)).map { i in
            let element = list.pointee.elems[i]
            let tp = TopicPartition(topic: String(cString: element.topic), partition: element.partition)
            return TopicPartitionOffset(tp, offset: element.offset >= 0 ? element.offset : nil)
        }
    }
}

extension Duration {
    /// Whole milliseconds, clamped to what librdkafka's `int` timeouts accept.
    var kafkaMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        let ms = seconds.multipliedReportingOverflow(by: 1000)
        if ms.overflow { return seconds < 0 ? 0 : Int32.max }
        return Int32(clamping: max(0, ms.partialValue + attoseconds / 1_000_000_000_000_000))
    }
}

extension TopicPartitionOffset {
    /// The partition's first offset still held (librdkafka's logical `OFFSET_BEGINNING`).
    public static let beginning = Int64(RD_KAFKA_OFFSET_BEGINNING)
}
