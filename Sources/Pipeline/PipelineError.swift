import Kafka

/// An error in one stage of a consumer's record path.
public struct PipelineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where in the record path the error happened; the `stage` metric label
    /// and the dead-letter `consumerd.stage` header.
    public enum Stage: String, Sendable, CaseIterable, Codable {
        case decode, validation, quality, sequence, transform, sink
        /// Writing to the dead-letter topic (never a record's own stage).
        case deadLetter = "dead_letter"
    }

    public let stage: Stage
    public let message: String
    /// A later attempt may succeed (I/O, an unreachable registry); malformed
    /// input never does.
    public let isRetriable: Bool
    /// A short, stable code for metrics labels and dead-letter headers
    /// (`invalid_json`, `schema_not_found`, `registry_unavailable`).
    public let reason: String
    /// The record that failed, when the error belongs to one record.
    public let record: RecordCoordinates?

    public init(stage: Stage, message: String, isRetriable: Bool = false, reason: String? = nil, record: RecordCoordinates? = nil) {
        self.stage = stage
        self.message = message
        self.isRetriable = isRetriable
        self.reason = reason ?? (isRetriable ? "unavailable" : "invalid")
        self.record = record
    }

    /// The same error, tied to a record.
    public func at(_ coordinates: RecordCoordinates) -> PipelineError {
        PipelineError(stage: stage, message: message, isRetriable: isRetriable, reason: reason, record: coordinates)
    }

    public var description: String {
        if let record { return "\(stage) error at \(record): \(message)" }
        return "\(stage) error: \(message)"
    }
}

/// Where a record lives in Kafka: enough to find it again or deduplicate it.
public struct RecordCoordinates: Sendable, Equatable, Hashable, CustomStringConvertible {
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
