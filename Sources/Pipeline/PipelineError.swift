import Kafka

/// An error in one stage of a consumer's pipeline.
public struct PipelineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where in the pipeline the error happened; also the `stage` metric label.
    public enum Stage: String, Sendable {
        case decode, sink
    }

    public let stage: Stage
    public let message: String
    /// A later attempt may succeed (I/O errors); decode errors never do.
    public let isRetriable: Bool
    /// The record that failed, when the error belongs to one record.
    public let record: RecordCoordinates?

    public init(stage: Stage, message: String, isRetriable: Bool = false, record: RecordCoordinates? = nil) {
        self.stage = stage
        self.message = message
        self.isRetriable = isRetriable
        self.record = record
    }

    public var description: String {
        if let record { return "\(stage) error at \(record): \(message)" }
        return "\(stage) error: \(message)"
    }
}

/// Where a record lives in Kafka: enough to find it again or deduplicate it.
public struct RecordCoordinates: Sendable, Equatable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    public init(_ message: KafkaMessage) {
        self.init(topic: message.topic, partition: message.partition, offset: message.offset)
    }

    public var description: String { "\(topic)[\(partition)]@\(offset)" }
}
