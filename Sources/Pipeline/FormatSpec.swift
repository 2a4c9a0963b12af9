import Avro
import DataModel
import HTTPClient
import Synchronization

/// How a consumer's values are encoded (`"format"` in a spec):
///
///     {"type": "json"}
///     {"type": "avro", "schema_registry": {"url": "http://registry:8081", "username": "u", "password": "p"},
///      "reader_schema": {...}}
///     {"type": "avro", "writer_schema": {...}}
public struct FormatSpec: Sendable, Equatable {
    public var type: ValueFormat
    public var schemaRegistry: SchemaRegistrySpec?
    /// Avro without a registry: every message is a plain datum of this schema.
    public var writerSchema: Value?
    /// Avro: the schema every record is resolved to (schema evolution).
    public var readerSchema: Value?

    public init(type: ValueFormat = .json, schemaRegistry: SchemaRegistrySpec? = nil, writerSchema: Value? = nil, readerSchema: Value? = nil) {
        self.type = type
        self.schemaRegistry = schemaRegistry
        self.writerSchema = writerSchema
        self.readerSchema = readerSchema
    }

    public struct SchemaRegistrySpec: Sendable, Equatable {
        public var url: String
        public var username: String?
        /// A secret: masked in responses and logs.
        public var password: String?

        public init(url: String, username: String? = nil, password: String? = nil) {
            self.url = url
            self.username = username
            self.password = password
        }
    }

    /// Checks the section: the combination of fields, the URL, the schemas.
    public func validate() throws(SpecError) {
        guard type == .avro else {
            if schemaRegistry != nil { throw SpecError("schema_registry", "only an avro format reads from a schema registry") }
            if writerSchema != nil { throw SpecError("writer_schema", "only an avro format takes a writer schema") }
            if readerSchema != nil { throw SpecError("reader_schema", "only an avro format takes a reader schema") }
            return
        }
        switch (schemaRegistry, writerSchema) {
        case (nil, nil): throw SpecError("schema_registry", "an avro format needs schema_registry or writer_schema")
        case (.some, .some): throw SpecError("writer_schema", "give either schema_registry or writer_schema, not both")
        default: break
        }
        if let registry = schemaRegistry {
            guard HTTPClient.isAcceptable(registry.url, maxBytes: 1024) else {
                throw SpecError("schema_registry.url", "must be an http:// or https:// URL of at most 1024 bytes")
            }
            if registry.password != nil, registry.username == nil {
                throw SpecError("schema_registry.username", "is required with a password")
            }
        }
        _ = try compiledSchemas()
    }

    /// The inline writer schema and the reader schema, parsed.
    func compiledSchemas() throws(SpecError) -> (writer: AvroSchema?, reader: AvroSchema?) {
        func parse(_ json: Value?, _ field: String) throws(SpecError) -> AvroSchema? {
            guard let json else { return nil }
            do {
                return try AvroSchema(json: json)
            } catch {
                throw SpecError(field, error.message)
            }
        }
        return (try parse(writerSchema, "writer_schema"), try parse(readerSchema, "reader_schema"))
    }

    /// A decoder for one consumer run. `valuesAsJSON`: nothing downstream
    /// reads a field, so Avro values may stay datums written straight to JSON.
    public func makeDecoder(services: DecoderServices, valuesAsJSON: Bool = false) throws(SpecError) -> any RecordDecoder {
        switch type {
        case .json: return JSONRecordDecoder()
        case .string: return StringRecordDecoder()
        case .bytes: return BytesRecordDecoder()
        case .avro:
            let (writer, reader) = try compiledSchemas()
            if let writer { return AvroRecordDecoder(writers: .inline(writer), readerSchema: reader, valuesAsJSON: valuesAsJSON) }
            guard let registry = schemaRegistry else { throw SpecError("schema_registry", "is required") }
            return AvroRecordDecoder(
                writers: .registry(services.registry(for: registry)), readerSchema: reader, valuesAsJSON: valuesAsJSON)
        }
    }
}

/// What decoders share across every consumer of a server: one Schema
/// Registry client (and schema cache) per registry and credentials.
public final class DecoderServices: Sendable {
    private let registries = Mutex<[FormatSpec.SchemaRegistrySpec: SchemaRegistryClient]>([:])
    private let timeout: Duration

    public init(registryTimeout: Duration = .seconds(5)) {
        self.timeout = registryTimeout
    }

    public func registry(for spec: FormatSpec.SchemaRegistrySpec) -> SchemaRegistryClient {
        registries.withLock { registries in
            if let existing = registries[spec] { return existing }
            let client = SchemaRegistryClient(configuration: .init(
                url: spec.url, username: spec.username, password: spec.password, timeout: timeout))
            registries[spec] = client
            return client
        }
    }
}

extension FormatSpec.SchemaRegistrySpec: Hashable {}

// MARK: - JSON

extension FormatSpec: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case type
        case schemaRegistry = "schema_registry"
        case writerSchema = "writer_schema"
        case readerSchema = "reader_schema"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            type: try container.decodeEnumIfPresent(ValueFormat.self, forKey: .type) ?? .json,
            schemaRegistry: try container.decodeUnlessAbsent(SchemaRegistrySpec.self, forKey: .schemaRegistry),
            writerSchema: try container.decodeUnlessAbsent(Value.self, forKey: .writerSchema),
            readerSchema: try container.decodeUnlessAbsent(Value.self, forKey: .readerSchema))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        try container.encodeIfPresent(schemaRegistry, forKey: .schemaRegistry)
        try container.encodeIfPresent(writerSchema, forKey: .writerSchema)
        try container.encodeIfPresent(readerSchema, forKey: .readerSchema)
    }
}

extension FormatSpec.SchemaRegistrySpec: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable { case url, username, password }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            url: try container.decode(String.self, forKey: .url),
            username: try container.decodeUnlessAbsent(String.self, forKey: .username),
            password: try container.decodeUnlessAbsent(String.self, forKey: .password))
    }
}
