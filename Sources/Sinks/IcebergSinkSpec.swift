import DataModel
import Iceberg
import Pipeline

/// `{"type": "iceberg", "table": "market.trades", ...}`: records into an
/// Apache Iceberg table (format v2, Parquet data files), exactly once.
///
/// - `catalog`: `{"type": "filesystem"}` (default; `metadata/vN.metadata.json`
///   and `version-hint.text` in the table directory) or `{"type": "sql",
///   "uri": "sqlite:///<path under the sink directory>" | "postgresql://...",
///   "name": "default"}` (pyiceberg's `SqlCatalog` layout).
/// - `warehouse`: the directory tables live in, under the sink directory.
/// - `partition_by`: `[{"field": "timestamp", "transform": "day"}]`
///   (`identity`, `day`, `hour`).
/// - `schema`: the table's columns as a JSON Schema subset
///   (``IcebergSchema/init(jsonSchema:)``); the consumer's validation schema
///   when left out.
/// - `target_file_bytes`, `commit_interval_ms`: how big files get and how
///   often the table commits, through the consumer's batch defaults.
/// - `compression`: `zstd` (default) or `uncompressed`.
public struct IcebergSinkSpec: SinkSpec {
    public static let type = "iceberg"

    public enum Catalog: Sendable, Equatable {
        case filesystem
        /// A SQLite database under the sink directory or a PostgreSQL
        /// database, and the catalog name pyiceberg is given
        /// (`SqlCatalog("default", ...)`).
        case sql(uri: String, name: String)
    }

    public enum Compression: String, Sendable, Codable, CaseIterable {
        case zstd, uncompressed
    }

    public struct PartitionBy: Sendable, Equatable, Codable {
        public var field: String
        public var transform: PartitionTransform

        public init(field: String, transform: PartitionTransform) {
            self.field = field
            self.transform = transform
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case field, transform }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            field = try container.decode(String.self, forKey: .field)
            transform = try container.decodeEnum(PartitionTransform.self, forKey: .transform)
        }
    }

    public var catalog: Catalog
    public var warehouse: String
    public var table: String
    public var partitionBy: [PartitionBy]
    public var schema: Value?
    public var targetFileBytes: Int
    public var commitIntervalMilliseconds: Int
    public var compression: Compression

    public static let defaultWarehouse = "warehouse"
    public static let targetFileBytesRange = (1 << 20)...(512 << 20)
    public static let commitIntervalRange = 100...300_000
    static let maxPathLength = 512
    static let maxPartitionFields = 4

    public init(
        table: String, catalog: Catalog = .filesystem, warehouse: String = Self.defaultWarehouse, partitionBy: [PartitionBy] = [],
        schema: Value? = nil, targetFileBytes: Int = 64 << 20, commitIntervalMilliseconds: Int = 60_000, compression: Compression = .zstd
    ) {
        self.table = table
        self.catalog = catalog
        self.warehouse = warehouse
        self.partitionBy = partitionBy
        self.schema = schema
        self.targetFileBytes = targetFileBytes
        self.commitIntervalMilliseconds = commitIntervalMilliseconds
        self.compression = compression
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, catalog, warehouse, table, schema, compression
        case partitionBy = "partition_by"
        case targetFileBytes = "target_file_bytes"
        case commitIntervalMilliseconds = "commit_interval_ms"
    }

    enum CatalogKeys: String, CodingKey, CaseIterable { case type, uri, name }
    enum CatalogType: String, CaseIterable { case filesystem, sql }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var catalog = Catalog.filesystem
        if container.contains(.catalog), try !container.decodeNil(forKey: .catalog) {
            let section = try container.superDecoder(forKey: .catalog)
            try section.rejectUnknownKeys(CatalogKeys.self)
            let keys = try section.container(keyedBy: CatalogKeys.self)
            switch try keys.decodeEnum(CatalogType.self, forKey: .type) {
            case .filesystem:
                for key in [CatalogKeys.uri, .name] where keys.contains(key) {
                    throw DecodingError.dataCorruptedError(forKey: key, in: keys, debugDescription: "only applies to a sql catalog")
                }
            case .sql:
                catalog = .sql(
                    uri: try keys.decode(String.self, forKey: .uri), name: try keys.decodeUnlessAbsent(String.self, forKey: .name) ?? "default")
            }
        }
        self.init(
            table: try container.decode(String.self, forKey: .table), catalog: catalog,
            warehouse: try container.decodeUnlessAbsent(String.self, forKey: .warehouse) ?? Self.defaultWarehouse,
            partitionBy: try container.decodeUnlessAbsent([PartitionBy].self, forKey: .partitionBy) ?? [],
            schema: try container.decodeUnlessAbsent(Value.self, forKey: .schema),
            targetFileBytes: try container.decodeUnlessAbsent(Int.self, forKey: .targetFileBytes) ?? 64 << 20,
            commitIntervalMilliseconds: try container.decodeUnlessAbsent(Int.self, forKey: .commitIntervalMilliseconds) ?? 60_000,
            compression: try container.decodeEnumIfPresent(Compression.self, forKey: .compression) ?? .zstd)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.type, forKey: .type)
        var section = container.nestedContainer(keyedBy: CatalogKeys.self, forKey: .catalog)
        switch catalog {
        case .filesystem:
            try section.encode(CatalogType.filesystem.rawValue, forKey: .type)
        case .sql(let uri, let name):
            try section.encode(CatalogType.sql.rawValue, forKey: .type)
            try section.encode(uri, forKey: .uri)
            try section.encode(name, forKey: .name)
        }
        try container.encode(warehouse, forKey: .warehouse)
        try container.encode(table, forKey: .table)
        try container.encode(partitionBy, forKey: .partitionBy)
        try container.encodeIfPresent(schema, forKey: .schema)
        try container.encode(targetFileBytes, forKey: .targetFileBytes)
        try container.encode(commitIntervalMilliseconds, forKey: .commitIntervalMilliseconds)
        try container.encode(compression, forKey: .compression)
    }

    static let sqliteScheme = "sqlite:///"
    static let postgresSchemes = ["postgresql://", "postgres://"]

    public func validate() throws(SpecError) {
        guard TableIdentifier(table) != nil else {
            throw SpecError("table", "must be <namespace>.<table> (up to 4 parts of A-Z a-z 0-9 _ -)")
        }
        try SinkPaths.validateRelative(warehouse, field: "warehouse", maxLength: Self.maxPathLength)
        if case .sql(let uri, let name) = catalog {
            if uri.hasPrefix(Self.sqliteScheme) {
                try SinkPaths.validateRelative(String(uri.dropFirst(Self.sqliteScheme.count)), field: "catalog.uri", maxLength: Self.maxPathLength)
            } else {
                guard Self.postgresSchemes.contains(where: uri.hasPrefix), uri.utf8.count <= 2048 else {
                    throw SpecError("catalog.uri", "must be sqlite:///<path under the sink directory> or postgresql://...")
                }
            }
            guard !name.isEmpty, name.utf8.count <= 255 else { throw SpecError("catalog.name", "must be 1-255 bytes") }
        }
        guard partitionBy.count <= Self.maxPartitionFields else {
            throw SpecError("partition_by", "at most \(Self.maxPartitionFields) partition fields")
        }
        guard Self.targetFileBytesRange.contains(targetFileBytes) else {
            throw SpecError("target_file_bytes", "must be between \(Self.targetFileBytesRange.lowerBound) and \(Self.targetFileBytesRange.upperBound)")
        }
        guard Self.commitIntervalRange.contains(commitIntervalMilliseconds) else {
            throw SpecError(
                "commit_interval_ms", "must be between \(Self.commitIntervalRange.lowerBound) and \(Self.commitIntervalRange.upperBound)")
        }
    }

    /// The table's columns and partitioning must be known and mappable at
    /// registration, not at the first write.
    public func validate(records: RecordSchemas) throws(SpecError) {
        _ = try tableLayout(records: records)
    }

    /// The schema and partition spec the table is created with: the
    /// declared columns, else the consumer's validation schema, else its Avro schema.
    func tableLayout(records: RecordSchemas) throws(SpecError) -> (IcebergSchema, PartitionSpec) {
        let tableSchema: IcebergSchema
        if let schema {
            do {
                tableSchema = try IcebergSchema(jsonSchema: schema)
            } catch {
                throw SpecError("schema" + (error.field.map { ".\($0)" } ?? ""), error.message)
            }
        } else if records.validation == nil && records.avro == nil {
            throw SpecError("schema", "is required when the consumer has no validation or Avro schema to take the table's columns from")
        } else {
            do throws(IcebergError) {
                if let validation = records.validation {
                    tableSchema = try IcebergSchema(jsonSchema: validation)
                } else {
                    tableSchema = try IcebergSchema(avroSchema: records.avro ?? .null)
                }
            } catch {
                throw SpecError("schema", "the consumer's record schema cannot be a table schema (\(error)); declare the table's schema here")
            }
        }
        do {
            return (tableSchema, try PartitionSpec(schema: tableSchema, partitionBy: partitionBy.map { ($0.field, $0.transform) }))
        } catch {
            throw SpecError("partition_by" + (error.field ?? ""), error.message)
        }
    }

    public var commits: SinkCommits { .sinkStoresOffsets }

    public func redacted() -> IcebergSinkSpec { with(uri: maskingPassword) }
    public func restoringSecrets(from previous: IcebergSinkSpec) -> IcebergSinkSpec {
        guard case .sql(let stored, _) = previous.catalog else { return self }
        return with { restoringPassword(in: $0, from: stored) }
    }
    public var holdsMaskedSecret: Bool {
        if case .sql(let uri, _) = catalog { return uri.contains(":\(maskedSecret)@") }
        return false
    }

    private func with(uri change: (String) -> String) -> IcebergSinkSpec {
        guard case .sql(let uri, let name) = catalog else { return self }
        var copy = self
        copy.catalog = .sql(uri: change(uri), name: name)
        return copy
    }

    /// One commit per `commit_interval_ms`, or earlier when a file's worth
    /// of records is buffered (Parquet compresses JSON several times over,
    /// so the files come out smaller than the batch). Half a million records
    /// bound the memory of small ones.
    public var defaultBatch: SinkBatchDefaults? {
        SinkBatchDefaults(maxRecords: 500_000, maxWaitMilliseconds: commitIntervalMilliseconds, maxBytes: min(targetFileBytes, 64 << 20))
    }

    public func target(in context: SinkContext) -> String { "\(tableLocation(in: context)) (\(table))" }

    func warehouseDirectory(in context: SinkContext) -> String { "\(context.sinkDirectory)/\(warehouse)" }

    func tableLocation(in context: SinkContext) -> String {
        TableIdentifier(table).map { $0.location(in: warehouseDirectory(in: context)) } ?? warehouseDirectory(in: context)
    }

    public func makeSink(in context: SinkContext) throws(PipelineError) -> any Sink {
        let (schema, spec): (IcebergSchema, PartitionSpec)
        do {
            (schema, spec) = try tableLayout(records: context.records)
        } catch {
            throw PipelineError(stage: .sink, message: error.description)
        }
        return IcebergSink(spec: self, context: context, schema: schema, partitionSpec: spec)
    }
}
