import Kafka

/// A consumed record after decoding: the Kafka message (coordinates, key, raw
/// bytes) plus its value in the consumer's format.
public struct Record: Sendable {
    public var message: KafkaMessage
    public var value: RecordValue

    public init(message: KafkaMessage, value: RecordValue) {
        self.message = message
        self.value = value
    }

    public var coordinates: RecordCoordinates { RecordCoordinates(message) }
}

/// A decoded value. Decoding validates; the bytes are shared with the message, not copied.
public enum RecordValue: Sendable, Equatable {
    /// A tombstone (null value).
    case null
    /// Syntactically valid JSON text; `multiline` when it contains line breaks
    /// between tokens, which JSON Lines output must flatten.
    case json([UInt8], multiline: Bool)
    /// Valid UTF-8 text.
    case text([UInt8])
    /// Opaque bytes.
    case bytes([UInt8])
}
