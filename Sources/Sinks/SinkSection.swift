import DataModel
import Pipeline

/// A consumer spec's `sink` section: one of the registered ``SinkSpec``
/// kinds, chosen by its `type`.
public struct SinkSection: Sendable, Equatable, Codable {
    /// Every kind of sink, by `type`. Adding a sink adds a line here.
    public static let kinds: [any SinkSpec.Type] = [
        FileSinkSpec.self, StdoutSinkSpec.self, KafkaSinkSpec.self, PostgresSinkSpec.self, HTTPSinkSpec.self, RedisSinkSpec.self,
        IcebergSinkSpec.self,
    ]

    public let spec: any SinkSpec

    public init(_ spec: any SinkSpec) {
        self.spec = spec
    }

    public var type: String { Swift.type(of: spec).type }

    /// A file sink at `path`, relative to the sink directory (`nil`: the consumer's default).
    public static func file(_ path: String? = nil) -> SinkSection { SinkSection(FileSinkSpec(path: path)) }
    public static let stdout = SinkSection(StdoutSinkSpec())

    public static func == (lhs: SinkSection, rhs: SinkSection) -> Bool {
        func same<S: SinkSpec>(_ left: S) -> Bool { (rhs.spec as? S) == left }
        return same(lhs.spec)
    }

    enum TypeKey: String, CodingKey { case type }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: TypeKey.self)
        let type = try container.decode(String.self, forKey: .type)
        guard let kind = Self.kinds.first(where: { $0.type == type }) else {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container,
                debugDescription: "'\(type)' is not a sink type (one of: \(Self.kinds.map { $0.type }.joined(separator: ", ")))")
        }
        spec = try kind.init(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try spec.encode(to: encoder)
    }

    /// Checks the section, and what in it depends on the shape of the
    /// consumer's records; errors name fields under `sink`.
    public func validate(records: RecordSchemas) throws(SpecError) {
        do {
            try spec.validate()
            try spec.validate(records: records)
        } catch {
            throw error.under("sink")
        }
    }

    public var defaultBatch: SinkBatchDefaults? { spec.defaultBatch }
    public var readsRecordFields: Bool { spec.readsRecordFields }

    public var commits: SinkCommits { spec.commits }
    public var holdsMaskedSecret: Bool { spec.holdsMaskedSecret }
    public func conflictKey(in context: SinkContext) -> String? { spec.conflictKey(in: context) }
    public func keysCollide(_ key: String, _ other: String) -> Bool { Swift.type(of: spec).keysCollide(key, other) }
    /// `sink.path` for a file sink: where a conflict error points.
    public var conflictField: String { spec.conflictField.map { "sink.\($0)" } ?? "sink" }
    public func target(in context: SinkContext) -> String { spec.target(in: context) }
    public func makeSink(in context: SinkContext) throws(PipelineError) -> any Sink { try spec.makeSink(in: context) }
    public func redacted() -> SinkSection { SinkSection(spec.redacted()) }
    public func resolvingDefaults(consumer: String) -> SinkSection { SinkSection(spec.resolvingDefaults(consumer: consumer)) }

    public func restoringSecrets(from previous: SinkSection) -> SinkSection {
        func restore<S: SinkSpec>(_ current: S) -> SinkSection {
            guard let stored = previous.spec as? S else { return self }
            return SinkSection(current.restoringSecrets(from: stored))
        }
        return restore(spec)
    }
}
