import Avro
import DataModel
import Kafka

/// Reads a Kafka message's value in the consumer's format: the first stage
/// of the record path. Errors are permanent (malformed bytes) or retriable
/// (a Schema Registry that cannot be reached); see
/// ``PipelineError/isRetriable``.
///
/// A decoder only reads the message: the record path moves the message
/// into its ``Record`` (a decoder that built the record copied the
/// message, a retain and a release of each of its arrays).
///
/// A decoder belongs to one consumer thread: Avro decoders reuse their
/// avro-c values between records.
public protocol RecordDecoder: AnyObject {
    func value(of message: KafkaMessage) throws(PipelineError) -> RecordValue
}

extension RecordDecoder {
    /// The message and its decoded value.
    public func decode(_ message: KafkaMessage) throws(PipelineError) -> Record {
        Record(message: message, value: try value(of: message))
    }
}

/// The value formats a consumer can declare.
public enum ValueFormat: String, Sendable, CaseIterable, Codable {
    /// JSON documents, validated strictly (RFC 8259, UTF-8, bounded nesting).
    case json
    /// UTF-8 text, written as a JSON string.
    case string
    /// Anything, written base64-encoded.
    case bytes
    /// Avro binary: Confluent-framed with a Schema Registry, or plain with an inline writer schema.
    case avro

    /// Whether records have fields that stages can read.
    public var isStructured: Bool { self == .json || self == .avro }
}

/// Validates each value as JSON without building a tree.
public final class JSONRecordDecoder: RecordDecoder {
    public let maxDepth: Int

    public init(maxDepth: Int = JSONSyntax.defaultMaxDepth) {
        precondition(JSONSyntax.supportedDepths.contains(maxDepth), "JSON nesting limit \(maxDepth) outside \(JSONSyntax.supportedDepths)")
        self.maxDepth = maxDepth
    }

    public func value(of message: KafkaMessage) throws(PipelineError) -> RecordValue {
        guard let bytes = message.value else { return .null }
        do {
            let summary = try JSONSyntax.validate(bytes, maxDepth: maxDepth)
            return .json(bytes, multiline: summary.containsLineBreaks)
        } catch {
            throw PipelineError(stage: .decode, message: "invalid JSON: \(error)", reason: "invalid_json", record: RecordCoordinates(message))
        }
    }
}

/// Accepts UTF-8 text.
public final class StringRecordDecoder: RecordDecoder {
    public init() {}

    public func value(of message: KafkaMessage) throws(PipelineError) -> RecordValue {
        guard let bytes = message.value else { return .null }
        if let offset = UTF8Validation.firstInvalidOffset(bytes) {
            throw PipelineError(
                stage: .decode, message: "invalid UTF-8 at byte \(offset)", reason: "invalid_utf8", record: RecordCoordinates(message))
        }
        return .text(bytes)
    }
}

/// Accepts anything.
public final class BytesRecordDecoder: RecordDecoder {
    public init() {}

    public func value(of message: KafkaMessage) throws(PipelineError) -> RecordValue {
        message.value.map { .bytes($0) } ?? .null
    }
}

/// Avro values into structured records. With a registry, each message is
/// Confluent-framed and names its writer schema by id; without one, every
/// message is a plain datum of the inline writer schema. A reader schema,
/// when given, is what every record is resolved to.
public final class AvroRecordDecoder: RecordDecoder {
    public enum WriterSchemas {
        case registry(SchemaRegistryClient)
        case inline(AvroSchema)
    }

    private let writers: WriterSchemas
    private let decoder: AvroDecoder
    /// Keep values as checked datums written straight to JSON (see
    /// ``AvroDatum``) rather than trees: nothing downstream reads a field.
    private let keepsDatums: Bool
    /// The registry schema of the previous record: a topic's records mostly
    /// share one, and a registry id never changes its schema, so asking the
    /// shared client (a lock, its LRU bookkeeping) once per change is enough.
    private var lastWriter: (id: Int32, schema: AvroSchema)?

    /// `valuesAsJSON`: no stage or sink reads a field of the records, so
    /// they may be JSON text rather than trees. Only values read with their
    /// writer's schema can be; a reader schema always builds trees.
    public init(writers: WriterSchemas, readerSchema: AvroSchema?, valuesAsJSON: Bool = false) {
        self.writers = writers
        self.decoder = AvroDecoder(readerSchema: readerSchema)
        self.keepsDatums = valuesAsJSON && readerSchema == nil
    }

    public func value(of message: KafkaMessage) throws(PipelineError) -> RecordValue {
        guard let bytes = message.value else { return .null }
        do throws(PipelineError) {
            let payload: ArraySlice<UInt8>
            let writer: AvroSchema
            let writerKey: Int64
            switch writers {
            case .inline(let schema):
                (payload, writer, writerKey) = (bytes[...], schema, -1)
            case .registry(let registry):
                let id = try avro { () throws(AvroError) in try ConfluentWireFormat.schemaID(of: bytes) }
                if let last = lastWriter, last.id == id {
                    writer = last.schema
                } else {
                    do {
                        writer = try registry.schema(id: id)
                    } catch {
                        throw PipelineError(stage: .decode, message: error.description, isRetriable: error.isTransient, reason: Self.reason(error))
                    }
                    lastWriter = (id, writer)
                }
                (payload, writerKey) = (bytes[ConfluentWireFormat.headerSize...], Int64(id))
            }
            if keepsDatums, let datum = try avro({ () throws(AvroError) in try AvroDatum(checking: payload, writer: writer) }) {
                return .avro(datum)
            }
            let value = try avro { () throws(AvroError) in try decoder.decode(payload, writer: writer, writerKey: writerKey) }
            return .structured(value)
        } catch {
            // Built only for a failure: it copies the topic name, whose
            // reference count every record of the topic shares.
            throw error.at(RecordCoordinates(message))
        }
    }

    /// Avro errors are permanent: the bytes or schemas will not change.
    private func avro<T>(_ body: () throws(AvroError) -> T) throws(PipelineError) -> T {
        do {
            return try body()
        } catch {
            throw PipelineError(stage: .decode, message: "Avro: \(error.message)", reason: "avro_\(error.kind.rawValue)")
        }
    }

    private static func reason(_ error: SchemaRegistryError) -> String {
        switch error {
        case .notFound: "schema_not_found"
        case .notAvro: "schema_not_avro"
        case .invalidSchema: "schema_invalid"
        case .unavailable: "registry_unavailable"
        }
    }
}
