import Avro
import DataModel
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

    /// The value as a tree, for stages that read fields. Validated JSON is
    /// parsed on first use and kept parsed, so later stages do not pay again.
    /// Text and bytes have no fields: `nil`.
    public mutating func structuredValue() throws(PipelineError) -> Value? {
        switch value {
        case .structured(let tree):
            return tree
        case .json(let bytes, _):
            do {
                // The bytes were validated by the decoder; what can still fail
                // is a number out of double range.
                let tree = try JSONParser.parse(bytes, duplicateKeys: .lastWins)
                value = .structured(tree)
                return tree
            } catch {
                throw PipelineError(stage: .decode, message: "invalid JSON: \(error)", record: coordinates)
            }
        case .avro(let datum):
            // Consumers that read fields decode to trees in the first place
            // (see ``AvroRecordDecoder``): this is only a fallback.
            do {
                let tree = try AvroDecoder().decode(datum.bytes, writer: datum.writer, writerKey: -1)
                value = .structured(tree)
                return tree
            } catch {
                throw PipelineError(stage: .decode, message: "Avro: \(error.message)", record: coordinates)
            }
        case .null:
            return .null
        case .text, .bytes:
            return nil
        }
    }
}

/// A decoded value. Decoding validates; the bytes are shared with the message, not copied.
public enum RecordValue: Sendable, Equatable {
    /// A tombstone (null value).
    case null
    /// Syntactically valid JSON text, not parsed (the fast path); `multiline`
    /// when it contains line breaks between tokens, which JSON Lines output
    /// must flatten.
    case json([UInt8], multiline: Bool)
    /// A parsed value: Avro records, or JSON that a stage read or changed.
    case structured(Value)
    /// An Avro datum, checked, written as JSON when a sink encodes it: for
    /// consumers whose stages and sink read no field.
    case avro(AvroDatum)
    /// Valid UTF-8 text.
    case text([UInt8])
    /// Opaque bytes.
    case bytes([UInt8])
}
