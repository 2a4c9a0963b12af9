import DataModel
import Kafka

/// Turns a Kafka message into a ``Record``. Errors here are permanent for the
/// record: retrying cannot make malformed input valid.
public protocol RecordDecoder: Sendable {
    func decode(_ message: KafkaMessage) throws(PipelineError) -> Record
}

/// The value formats a consumer can declare.
public enum ValueFormat: String, Sendable, CaseIterable, Codable {
    /// JSON documents, validated strictly (RFC 8259, UTF-8, bounded nesting).
    case json
    /// UTF-8 text, written as a JSON string.
    case string
    /// Anything, written base64-encoded.
    case bytes

    public func makeDecoder() -> any RecordDecoder {
        switch self {
        case .json: JSONRecordDecoder()
        case .string: StringRecordDecoder()
        case .bytes: BytesRecordDecoder()
        }
    }
}

/// Validates each value as JSON without building a tree.
public struct JSONRecordDecoder: RecordDecoder {
    public var maxDepth: Int

    public init(maxDepth: Int = JSONSyntax.defaultMaxDepth) {
        self.maxDepth = maxDepth
    }

    public func decode(_ message: KafkaMessage) throws(PipelineError) -> Record {
        guard let bytes = message.value else { return Record(message: message, value: .null) }
        do {
            let summary = try JSONSyntax.validate(bytes, maxDepth: maxDepth)
            return Record(message: message, value: .json(bytes, multiline: summary.containsLineBreaks))
        } catch {
            throw PipelineError(stage: .decode, message: "invalid JSON: \(error)", record: RecordCoordinates(message))
        }
    }
}

/// Accepts UTF-8 text.
public struct StringRecordDecoder: RecordDecoder {
    public init() {}

    public func decode(_ message: KafkaMessage) throws(PipelineError) -> Record {
        guard let bytes = message.value else { return Record(message: message, value: .null) }
        if let offset = UTF8Validation.firstInvalidOffset(bytes) {
            throw PipelineError(
                stage: .decode, message: "invalid UTF-8 at byte \(offset)", record: RecordCoordinates(message))
        }
        return Record(message: message, value: .text(bytes))
    }
}

/// Accepts anything.
public struct BytesRecordDecoder: RecordDecoder {
    public init() {}

    public func decode(_ message: KafkaMessage) throws(PipelineError) -> Record {
        Record(message: message, value: message.value.map { .bytes($0) } ?? .null)
    }
}
