/// Receives a consumer's group events. All methods run on the thread that
/// calls ``KafkaConsumer/poll(timeout:)`` or ``KafkaConsumer/close()``, inside
/// that call, so they may use the consumer (store, commit, pause) directly.
public protocol KafkaConsumerDelegate: AnyObject {
    /// Partitions are about to be assigned: where to start reading each
    /// (next offset), for offsets kept outside the group. Those left out
    /// start from the group's committed offset.
    func consumer(_ consumer: KafkaConsumer, startingOffsetsFor partitions: [TopicPartition]) -> [TopicPartition: Int64]
    /// Partitions were added to the assignment (already assigned when called).
    func consumer(_ consumer: KafkaConsumer, didAssign partitions: [TopicPartition])
    /// Partitions are about to be taken away: the last moment to write and
    /// commit what was read from them.
    func consumer(_ consumer: KafkaConsumer, willRevoke partitions: [TopicPartition])
    /// Partitions were lost (session timed out, fenced): another member may
    /// already own them, so their offsets must not be committed.
    func consumer(_ consumer: KafkaConsumer, didLose partitions: [TopicPartition])
    /// A non-fatal client error (broker down, unknown topic, ...). librdkafka keeps retrying.
    func consumer(_ consumer: KafkaConsumer, didReport error: KafkaError)
}

public enum RebalanceProtocol: String, Sendable {
    case eager, cooperative
}

extension KafkaConsumerDelegate {
    public func consumer(_ consumer: KafkaConsumer, startingOffsetsFor partitions: [TopicPartition]) -> [TopicPartition: Int64] { [:] }
}
