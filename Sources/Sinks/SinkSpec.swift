import DataModel
import Kafka
import Logging
import Pipeline

/// One kind of sink: its spec section and everything that depends on it.
/// Adding a sink is one file with a type conforming to this, plus its line
/// in ``SinkSection/kinds``.
///
/// Conforming types decode their section strictly (unknown fields are
/// errors, `type` included in their coding keys) and encode it back with
/// `type`, so a spec round-trips through GET and PUT.
public protocol SinkSpec: Sendable, Codable, Equatable {
    /// The `type` of the sink section.
    static var type: String { get }
    /// Checks what decoding cannot; errors name fields inside the section.
    func validate() throws(SpecError)
    /// Consumers whose sinks have the same key may not run side by side
    /// (`nil`: any number may share the target).
    func conflictKey(in context: SinkContext) -> String?
    /// The field that names the exclusive target, for the conflict error.
    var conflictField: String? { get }
    /// Whether two conflict keys of this kind of sink collide (equal, by default).
    static func keysCollide(_ key: String, _ other: String) -> Bool
    /// Who commits: decides the delivery guarantee.
    var commits: SinkCommits { get }
    /// What it writes to, for status and logs; never a secret.
    func target(in context: SinkContext) -> String
    /// The section with its secrets masked (for responses and logs).
    func redacted() -> Self
    /// Takes back secrets masked in `self` from the stored `previous`, so a
    /// spec read with GET can be PUT back unchanged.
    func restoringSecrets(from previous: Self) -> Self
    /// Whether a secret field still holds the mask GET shows (then refused).
    var holdsMaskedSecret: Bool { get }
    /// Opens the sink for one run (connections are made here or on first write).
    func makeSink(in context: SinkContext) throws(PipelineError) -> any Sink
    /// The section with defaults that depend on the consumer filled in, so
    /// that GET shows what runs (a file sink's path is `<consumer>.jsonl`).
    func resolvingDefaults(consumer: String) -> Self
    /// Checks what depends on the shape of the consumer's records (the
    /// columns of a table the sink creates); errors name fields inside the section.
    func validate(records: RecordSchemas) throws(SpecError)
    /// The batching a consumer of this sink gets when its spec has no
    /// `batch` section (`nil`: the consumer's defaults).
    var defaultBatch: SinkBatchDefaults? { get }
    /// Whether the sink reads fields of record values (a key, a topic, a
    /// column), rather than writing each value whole as JSON. When neither
    /// the sink nor a stage does, Avro values are written straight to JSON.
    var readsRecordFields: Bool { get }
}

/// Batch bounds a sink asks for: an Iceberg table wants few, large commits.
public struct SinkBatchDefaults: Sendable, Equatable {
    public var maxRecords: Int
    public var maxWaitMilliseconds: Int
    public var maxBytes: Int

    public init(maxRecords: Int, maxWaitMilliseconds: Int, maxBytes: Int) {
        self.maxRecords = maxRecords
        self.maxWaitMilliseconds = maxWaitMilliseconds
        self.maxBytes = maxBytes
    }
}

extension SinkSpec {
    public func conflictKey(in context: SinkContext) -> String? { nil }
    public var conflictField: String? { nil }
    public static func keysCollide(_ key: String, _ other: String) -> Bool { key == other }
    public var commits: SinkCommits { .consumer }
    public func redacted() -> Self { self }
    public func restoringSecrets(from previous: Self) -> Self { self }
    public var holdsMaskedSecret: Bool { false }
    public func resolvingDefaults(consumer: String) -> Self { self }
    public func validate(records: RecordSchemas) throws(SpecError) {}
    public var defaultBatch: SinkBatchDefaults? { nil }
    public var readsRecordFields: Bool { true }
}

/// What is known of a consumer's records before any arrives: where a sink
/// that creates a table takes its columns from.
public struct RecordSchemas: Sendable, Equatable {
    /// The consumer's validation schema (JSON Schema).
    public var validation: Value?
    /// The Avro schema records are decoded to: the reader schema, else the
    /// inline writer schema (a registry's schemas are known only later).
    public var avro: Value?

    public init(validation: Value? = nil, avro: Value? = nil) {
        self.validation = validation
        self.avro = avro
    }
}

/// What a sink needs from the server and the consumer around it.
public struct SinkContext: Sendable {
    /// The consumer's name: offsets tables, transactional ids, keys.
    public var consumer: String
    public var groupID: String
    /// This server, stable across its restarts (transactional ids).
    public var instance: String
    /// File sinks are confined here.
    public var sinkDirectory: String
    /// The server's client properties (`bootstrap.servers`, security), the
    /// base of a Kafka sink's producer.
    public var kafka: KafkaConfig
    /// The shape of the consumer's records: columns for a table a sink creates.
    public var records: RecordSchemas
    /// Where the sink's own measurements go (`nil`: nowhere).
    public var meter: (any SinkMeter)?
    public var logger: Logger

    public init(
        consumer: String, groupID: String, instance: String = "0", sinkDirectory: String, kafka: KafkaConfig = KafkaConfig([:]),
        records: RecordSchemas = RecordSchemas(), meter: (any SinkMeter)? = nil, logger: Logger
    ) {
        self.consumer = consumer
        self.groupID = groupID
        self.instance = instance
        self.sinkDirectory = sinkDirectory
        self.kafka = kafka
        self.records = records
        self.meter = meter
        self.logger = logger
    }
}

/// The masked form of a secret, as every response shows it.
public let maskedSecret = KafkaConfig.redactedValue

/// A URL with its password masked: `postgresql://app:********@db/x`.
public func maskingPassword(in url: String) -> String {
    guard let schemeEnd = url.range(of: "://") else { return url }
    let rest = url[schemeEnd.upperBound...]
    let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
    let authority = rest[..<authorityEnd]
    guard let at = authority.lastIndex(of: "@") else { return url }
    let userInfo = authority[..<at]
    guard let colon = userInfo.firstIndex(of: ":") else { return url }
    return String(url[..<colon]) + ":" + maskedSecret + String(url[at...])
}

/// Restores a password masked by ``maskingPassword(in:)`` when the rest of
/// the URL is unchanged.
public func restoringPassword(in url: String, from previous: String) -> String {
    url == maskingPassword(in: previous) ? previous : url
}
