import DataModel
import Kafka
import Logging
import Pipeline

/// `{"type": "postgresql", "url": "postgresql://user:password@host:5432/db", "table": "fills"}`:
/// rows in a PostgreSQL table, exactly once.
///
/// A batch is one transaction: the rows (COPY) and each partition's next
/// offset, upserted into `consumerd_offsets(group_id, topic, partition,
/// next_offset)`. On assignment the consumer resumes from those offsets, and
/// a batch only writes rows past the offset already stored for their
/// partition, so neither a crash between the commit and its acknowledgement
/// nor a zombie member can write a row twice.
///
/// `mode: "jsonb"` (default): `kafka_topic, kafka_partition, kafka_offset,
/// kafka_timestamp, key, value jsonb`. `mode: "columns"`: one column per
/// field, from `columns` (`{"column": "field.path"}`), else the table's own
/// columns matched to top-level fields by name (the `kafka_*` columns and
/// `key` are filled when the table has them). `create_table: true` creates
/// the table, in columns mode with types from the consumer's validation schema.
public struct PostgresSinkSpec: SinkSpec {
    public static let type = "postgresql"
    public static let offsetsTable = "consumerd_offsets"

    public enum Mode: String, Sendable, Codable, CaseIterable {
        case jsonb, columns
    }

    /// `postgresql://user:password@host:port/db?sslmode=...`; the password is a secret.
    public var url: String
    /// `table` or `schema.table`.
    public var table: String
    public var mode: Mode
    public var createTable: Bool
    /// Columns mode: column → field path.
    public var columns: [String: String]?

    public init(url: String, table: String, mode: Mode = .jsonb, createTable: Bool = false, columns: [String: String]? = nil) {
        self.url = url
        self.table = table
        self.mode = mode
        self.createTable = createTable
        self.columns = columns
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, url, table, mode, columns
        case createTable = "create_table"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            url: try container.decode(String.self, forKey: .url),
            table: try container.decode(String.self, forKey: .table),
            mode: try container.decodeEnumIfPresent(Mode.self, forKey: .mode) ?? .jsonb,
            createTable: try container.decodeUnlessAbsent(Bool.self, forKey: .createTable) ?? false,
            columns: try container.decodeUnlessAbsent([String: String].self, forKey: .columns))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.type, forKey: .type)
        try container.encode(url, forKey: .url)
        try container.encode(table, forKey: .table)
        try container.encode(mode, forKey: .mode)
        try container.encode(createTable, forKey: .createTable)
        try container.encodeIfPresent(columns, forKey: .columns)
    }

    public func validate(records: RecordSchemas) throws(SpecError) {
        if mode == .columns, createTable, columns == nil, records.validation == nil {
            throw SpecError("columns", "to create a table in columns mode, name its columns or give the consumer a validation schema")
        }
    }

    public func validate() throws(SpecError) {
        guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://"), url.utf8.count <= 2048,
            url.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F })
        else {
            throw SpecError("url", "must be a postgresql:// URL of at most 2048 bytes")
        }
        guard PostgresConnection.isValidName(table, allowSchema: true) else {
            throw SpecError("table", "must be NAME or SCHEMA.NAME, each [A-Za-z_][A-Za-z0-9_]{0,62}")
        }
        if let columns {
            guard mode == .columns else { throw SpecError("columns", "only applies with mode: columns") }
            guard !columns.isEmpty, columns.count <= 256 else { throw SpecError("columns", "must map 1 to 256 columns") }
            for (column, field) in columns.sorted(by: { $0.key < $1.key }) {
                guard PostgresConnection.isValidName(column, allowSchema: false) else {
                    throw SpecError("columns.\(column)", "is not a column name ([A-Za-z_][A-Za-z0-9_]{0,62})")
                }
                _ = try parseFieldPath(field, field: "columns.\(column)")
            }
        }
    }

    public var commits: SinkCommits { .sinkStoresOffsets }
    public func target(in context: SinkContext) -> String { "\(maskingPassword(in: url)) \(table)" }
    public func redacted() -> PostgresSinkSpec { with(url: maskingPassword(in: url)) }
    public func restoringSecrets(from previous: PostgresSinkSpec) -> PostgresSinkSpec {
        with(url: restoringPassword(in: url, from: previous.url))
    }
    public var holdsMaskedSecret: Bool { url.contains(":\(maskedSecret)@") }

    private func with(url: String) -> PostgresSinkSpec {
        var copy = self
        copy.url = url
        return copy
    }

    public func makeSink(in context: SinkContext) throws(PipelineError) -> any Sink {
        PostgresSink(spec: self, context: context)
    }
}

/// Writes batches to PostgreSQL in transactions that carry their offsets.
public final class PostgresSink: Sink {
    public let kind = PostgresSinkSpec.type
    public let target: String
    public let commits = SinkCommits.sinkStoresOffsets
    private let spec: PostgresSinkSpec
    private let groupID: String
    private let applicationName: String
    private let recordSchema: Value?
    private let logger: Logger
    private var connection: PostgresConnection?
    /// Column → what fills it, resolved once per connection.
    private var layout: [(column: String, source: ColumnSource)] = []
    private var buffer: [UInt8] = []

    enum ColumnSource {
        case topic, partition, offset, timestamp, key
        case value
        case field(FieldPath)
    }

    init(spec: PostgresSinkSpec, context: SinkContext) {
        self.spec = spec
        self.groupID = context.groupID
        self.target = spec.target(in: context)
        self.applicationName = "consumerd-\(context.consumer)"
        self.recordSchema = context.records.validation
        self.logger = context.logger
    }

    deinit { close() }

    public func close() {
        connection?.close()
        connection = nil
    }

    // MARK: Writing

    public func write(_ batch: SinkBatch) throws(PipelineError) -> SinkWriteResult {
        try write(batch, raceRetried: false)
    }

    private func write(_ batch: SinkBatch, raceRetried: Bool) throws(PipelineError) -> SinkWriteResult {
        let db = try connect()
        do {
            try db.execute("BEGIN")
            let stored = try lockOffsets(db, for: batch.offsets.map(\.topicPartition))
            // Rows at or past the stored offset only: an earlier attempt whose
            // commit we never heard back from, or another member, may have
            // written the rest already.
            let fresh = batch.records.indices.filter { index in
                let message = batch.records[index].message
                return message.offset >= (stored[message.topicPartition] ?? Int64.min)
            }
            if !fresh.isEmpty {
                try db.copy(copyStatement, data: rows(batch.records, fresh))
            }
            for entry in batch.offsets {
                guard let next = entry.offset, next > (stored[entry.topicPartition] ?? Int64.min) else { continue }
                try db.execute(
                    """
                    INSERT INTO \(PostgresSinkSpec.offsetsTable) (group_id, topic, partition, next_offset, updated_at)
                    VALUES ($1, $2, $3, $4, now())
                    ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()
                    """,
                    [groupID, entry.topic, String(entry.partition), String(next)])
            }
            try db.execute("COMMIT")
            return .written
        } catch {
            rollBack(db)
            // Two writers of a partition's first batch both found no offset
            // row to lock; the loser hits the primary key. Read again: the
            // winner's offsets now filter those rows out.
            if error.sqlState == Self.uniqueViolation, !raceRetried { return try write(batch, raceRetried: true) }
            if error.isDataError { return .rejected(try findRejected(db, batch)) }
            throw failure(error)
        }
    }

    public func storedOffsets(for partitions: [TopicPartition]) throws(PipelineError) -> [TopicPartition: Int64] {
        let db = try connect()
        do {
            return try readOffsets(db, for: partitions, lock: false)
        } catch {
            throw failure(error)
        }
    }

    /// The stored next offsets of these partitions, their rows locked until
    /// the transaction ends so that two writers of a partition take turns.
    private func lockOffsets(_ db: PostgresConnection, for partitions: [TopicPartition]) throws(PostgresConnection.Failure) -> [TopicPartition: Int64] {
        try readOffsets(db, for: partitions, lock: true)
    }

    private func readOffsets(
        _ db: PostgresConnection, for partitions: [TopicPartition], lock: Bool
    ) throws(PostgresConnection.Failure) -> [TopicPartition: Int64] {
        var stored: [TopicPartition: Int64] = [:]
        for (topic, group) in Dictionary(grouping: partitions, by: \.topic) {
            let ids = "{" + group.map { String($0.partition) }.joined(separator: ",") + "}"
            let rows = try db.execute(
                """
                SELECT partition, next_offset FROM \(PostgresSinkSpec.offsetsTable)
                WHERE group_id = $1 AND topic = $2 AND partition = ANY($3::int[])\(lock ? " FOR UPDATE" : "")
                """,
                [groupID, topic, ids])
            for row in rows {
                if let partition = row[0].flatMap(Int32.init), let next = row[1].flatMap(Int64.init) {
                    stored[TopicPartition(topic: topic, partition: partition)] = next
                }
            }
        }
        return stored
    }

    static let uniqueViolation = "23505"

    private func rollBack(_ db: PostgresConnection) {
        if db.isOpen { _ = try? db.execute("ROLLBACK") }
    }

    /// After a data error: each row alone, inside a transaction that is
    /// rolled back, to name the rows PostgreSQL refuses (a value that does
    /// not fit its column, a constraint).
    private func findRejected(_ db: PostgresConnection, _ batch: SinkBatch) throws(PipelineError) -> [RejectedRecord] {
        var rejected: [RejectedRecord] = []
        do {
            try db.execute("BEGIN")
            for index in batch.records.indices {
                try db.execute("SAVEPOINT row")
                do {
                    try db.copy(copyStatement, data: rows(batch.records, [index]))
                    try db.execute("RELEASE SAVEPOINT row")
                } catch let refusal where refusal.isDataError {
                    try db.execute("ROLLBACK TO SAVEPOINT row")
                    rejected.append(RejectedRecord(index: index, reason: refusal.sqlState ?? "data_error", message: refusal.message))
                }
            }
            try db.execute("ROLLBACK")
        } catch {
            rollBack(db)
            throw failure(error)
        }
        // A data error no single row reproduces is not the rows' fault.
        guard !rejected.isEmpty else {
            throw PipelineError(stage: .sink, message: "postgresql sink: a batch failed with a data error no single row has", isRetriable: true)
        }
        return rejected
    }

    private func failure(_ error: PostgresConnection.Failure) -> PipelineError {
        if error.connectionLost { close() }
        return PipelineError(
            stage: .sink, message: "postgresql sink \(target): \(error)", isRetriable: error.isTransient,
            reason: error.sqlState ?? (error.connectionLost ? "connection_lost" : "error"))
    }

    // MARK: Connecting

    private func connect() throws(PipelineError) -> PostgresConnection {
        if let connection, connection.isOpen { return connection }
        close()
        do {
            let db = try PostgresConnection(url: spec.url, applicationName: applicationName)
            try prepare(db)
            connection = db
            return db
        } catch {
            throw failure(error)
        }
    }

    /// The offsets table always, the data table when asked, and the column layout.
    private func prepare(_ db: PostgresConnection) throws(PostgresConnection.Failure) {
        try db.execute(
            """
            CREATE TABLE IF NOT EXISTS \(PostgresSinkSpec.offsetsTable) (
              group_id text NOT NULL, topic text NOT NULL, partition integer NOT NULL,
              next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
              PRIMARY KEY (group_id, topic, partition))
            """)
        let table = PostgresConnection.quote(spec.table)
        if spec.createTable {
            try db.execute("CREATE TABLE IF NOT EXISTS \(table) (\(columnDefinitions().joined(separator: ", ")))")
        }
        layout = try resolveLayout(db)
        guard !layout.isEmpty else {
            throw PostgresConnection.Failure(
                message: "table \(spec.table) has no column this sink can fill", sqlState: "42703", connectionLost: false)
        }
    }

    private static let metadataColumns: [(String, String, ColumnSource)] = [
        ("kafka_topic", "text NOT NULL", .topic), ("kafka_partition", "integer NOT NULL", .partition),
        ("kafka_offset", "bigint NOT NULL", .offset), ("kafka_timestamp", "timestamptz", .timestamp), ("key", "text", .key),
    ]

    private func columnDefinitions() -> [String] {
        var definitions = Self.metadataColumns.map { "\(PostgresConnection.quote($0.0)) \($0.1)" }
        switch spec.mode {
        case .jsonb:
            definitions.append("value jsonb")
        case .columns:
            for (column, type) in typedColumns() { definitions.append("\(PostgresConnection.quote(column)) \(type)") }
        }
        definitions.append("PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)")
        return definitions
    }

    /// Columns mode: `columns`' names, typed from the validation schema's
    /// properties (jsonb where the schema says nothing).
    private func typedColumns() -> [(String, String)] {
        let properties = recordSchema?.objectValue?["properties"]?.objectValue
        let names = spec.columns.map { Array($0.keys).sorted() }
            ?? properties?.fields.map(\.key).filter { PostgresConnection.isValidName($0, allowSchema: false) } ?? []
        return names.map { name in
            let field = spec.columns?[name].flatMap(FieldPath.init)?.singleName ?? name
            return (name, Self.columnType(properties?[field]))
        }
    }

    /// JSON Schema → PostgreSQL: integer bigint, number double precision,
    /// boolean, string text (date-time timestamptz, date, uuid), else jsonb.
    static func columnType(_ schema: Value?) -> String {
        let object = schema?.objectValue
        var type = object?["type"]?.stringValue
        if type == nil, let types = object?["type"]?.arrayValue?.compactMap(\.stringValue).filter({ $0 != "null" }), types.count == 1 {
            type = types[0]
        }
        switch type {
        case "integer": return "bigint"
        case "number": return "double precision"
        case "boolean": return "boolean"
        case "string":
            switch object?["format"]?.stringValue {
            case "date-time": return "timestamptz"
            case "date": return "date"
            case "uuid": return "uuid"
            default: return "text"
            }
        default: return "jsonb"
        }
    }

    /// Which column gets what, from the spec and the table as it is.
    private func resolveLayout(_ db: PostgresConnection) throws(PostgresConnection.Failure) -> [(column: String, source: ColumnSource)] {
        let parts = spec.table.split(separator: ".").map(String.init)
        let rows = try db.execute(
            """
            SELECT column_name FROM information_schema.columns
            WHERE table_schema = coalesce($1, current_schema()) AND table_name = $2 ORDER BY ordinal_position
            """,
            [parts.count == 2 ? parts[0] : nil, parts.last!])
        let existing = rows.compactMap { $0[0] }
        guard !existing.isEmpty else {
            throw PostgresConnection.Failure(
                message: "table \(spec.table) does not exist (set create_table: true to create it)", sqlState: "42P01", connectionLost: false)
        }
        var layout: [(String, ColumnSource)] = []
        for column in existing {
            if let metadata = Self.metadataColumns.first(where: { $0.0 == column }) {
                layout.append((column, metadata.2))
            } else if spec.mode == .jsonb, column == "value" {
                layout.append((column, .value))
            } else if spec.mode == .columns {
                if let mapped = spec.columns?[column] {
                    if let path = FieldPath(mapped) { layout.append((column, .field(path))) }
                } else if spec.columns == nil, let path = FieldPath(column) {
                    layout.append((column, .field(path)))
                }
            }
        }
        if let columns = spec.columns {
            let missing = columns.keys.filter { column in !existing.contains(column) }.sorted()
            guard missing.isEmpty else {
                throw PostgresConnection.Failure(
                    message: "table \(spec.table) has no column \(missing.joined(separator: ", "))", sqlState: "42703", connectionLost: false)
            }
        }
        return layout
    }

    private var copyStatement: String {
        let columns = layout.map { PostgresConnection.quote($0.column) }.joined(separator: ", ")
        return "COPY \(PostgresConnection.quote(spec.table)) (\(columns)) FROM STDIN"
    }

    // MARK: COPY data

    /// The records at `indexes` in COPY's text format: tab-separated, `\N`
    /// for NULL, backslash escapes for backslash, tab, newline and CR.
    private func rows(_ records: [Record], _ indexes: [Int]) -> [UInt8] {
        buffer.removeAll(keepingCapacity: true)
        for index in indexes {
            var record = records[index]
            let tree = (try? record.structuredValue()) ?? nil
            for (position, (_, source)) in layout.enumerated() {
                if position > 0 { buffer.append(0x09) }
                appendField(source, record, tree)
            }
            buffer.append(0x0A)
        }
        return buffer
    }

    private func appendField(_ source: ColumnSource, _ record: Record, _ tree: Value?) {
        let message = record.message
        switch source {
        case .topic: appendEscaped(Array(message.topic.utf8))
        case .partition: buffer.append(contentsOf: String(message.partition).utf8)
        case .offset: buffer.append(contentsOf: String(message.offset).utf8)
        case .timestamp:
            if let millis = message.timestamp {
                appendEscaped(Array(CivilTime.formatTimestamp(micros: millis * 1000).utf8))
            } else {
                appendNull()
            }
        case .key:
            guard let key = message.key else { return appendNull() }
            appendEscaped(UTF8Validation.isValid(key) ? key : Array(Value.bytes(key).plainText!.utf8))
        case .value:
            if case .null = record.value { return appendNull() }
            appendEscaped(record.json)
        case .field(let path):
            guard let text = tree?[path]?.plainText else { return appendNull() }
            appendEscaped(Array(text.utf8))
        }
    }

    private func appendNull() {
        buffer.append(contentsOf: [0x5C, 0x4E])  // \N
    }

    private func appendEscaped(_ bytes: [UInt8]) {
        for byte in bytes {
            switch byte {
            case 0x5C: buffer.append(contentsOf: [0x5C, 0x5C])
            case 0x09: buffer.append(contentsOf: [0x5C, 0x74])
            case 0x0A: buffer.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: buffer.append(contentsOf: [0x5C, 0x72])
            default: buffer.append(byte)
            }
        }
    }
}
