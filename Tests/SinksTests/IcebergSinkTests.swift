import Avro
import DataModel
import Foundation
import Kafka
import Pipeline
import Sinks
import Testing
import TestSupport

/// The Iceberg sink, read back by pyiceberg (`read_iceberg.py`): what it
/// commits, how it resumes, how it shares a table and cleans up after a crash.
@Suite("Iceberg sink", .serialized)
struct IcebergSinkTests {
    /// `{"id", "name", "price", "ts"}`; `ts` spreads the ids over three days.
    static let schema: Value = try! JSONParser.parse(#"""
        {"type": "object", "required": ["id", "ts"], "properties": {
          "id": {"type": "integer"}, "name": {"type": "string"}, "price": {"type": "number"},
          "ts": {"type": "string", "format": "date-time"}}}
        """#)

    static func value(_ i: Int) -> String {
        #"{"id":\#(i),"name":"n\#(i)","price":\#(Double(i) * 1.5),"ts":"2024-01-0\#(1 + i % 3)T12:00:00Z"}"#
    }

    static func spec(_ catalog: IcebergSinkSpec.Catalog = .filesystem) -> IcebergSinkSpec {
        IcebergSinkSpec(
            table: "market.trades", catalog: catalog, partitionBy: [.init(field: "ts", transform: .day)], schema: schema,
            commitIntervalMilliseconds: 1000)
    }

    static func context(_ consumer: String, _ directory: TemporaryDirectory, meter: CountingMeter? = nil) -> SinkContext {
        SinkContext(
            consumer: consumer, groupID: "g-\(consumer)", instance: "test", sinkDirectory: directory.path, meter: meter, logger: testLogger())
    }

    /// Totals of a sink's counters by name.
    final class CountingMeter: SinkMeter, @unchecked Sendable {
        private let lock = NSLock()
        private var totals: [String: Int64] = [:]

        func count(_ metric: SinkMetric, by amount: Int64, labels: [(String, String)]) {
            lock.withLock { totals[metric.name, default: 0] += amount }
        }

        func record(_ metric: SinkMetric, _ duration: Duration, labels: [(String, String)]) {
            lock.withLock { totals[metric.name + "_count", default: 0] += 1 }
        }

        subscript(name: String) -> Int64 { lock.withLock { totals[name] ?? 0 } }
    }

    struct Table: Decodable {
        struct Snapshot: Decodable { var summary: [String: String] }
        struct File: Decodable {
            var path: String
            var records: Int
            var partition: [String: String]
            var idBounds: [Int]

            enum CodingKeys: String, CodingKey {
                case path, records, partition
                case idBounds = "id_bounds"
            }
        }
        var rows: [[String: Value]]
        var snapshots: [Snapshot]
        var files: [File]
        var schema: String
    }

    static func read(_ arguments: [String]) throws -> Table {
        let output = try TestPython.run(script: "Tests/SinksTests/read_iceberg.py", arguments)
        return try StrictJSON.decode(Table.self, from: Array(output.utf8))
    }

    static func readStatic(_ directory: TemporaryDirectory) throws -> Table {
        let metadata = "\(directory.path)/warehouse/market/trades/metadata"
        let version = try String(contentsOfFile: "\(metadata)/version-hint.text", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return try read(["static", "\(metadata)/v\(version).metadata.json"])
    }

    @Test("each batch is one snapshot pyiceberg scans, partitioned by day; a repeated batch adds nothing; offsets come from the table")
    func commitsAndResumes() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sink = try Self.spec().makeSink(in: Self.context("c", directory))
        defer { sink.close() }
        #expect(try await write(sink, try batch(0..<50, value: Self.value)) == .written)
        #expect(try await write(sink, try batch(50..<80, value: Self.value)) == .written)
        #expect(try await write(sink, try batch(50..<80, value: Self.value)) == .written)  // a retry after a lost reply
        #expect(try await write(sink, try batch(70..<90, value: Self.value)) == .written)
        // 90..<95 were all dead-lettered: no rows, but the offsets move (one
        // more snapshot), so a restart does not dead-letter them again.
        let partition = TopicPartition(topic: "t", partition: 0)
        #expect(try await write(sink, SinkBatch(records: [], offsets: [TopicPartitionOffset(partition, offset: 95)])) == .written)
        #expect(try await write(sink, SinkBatch(records: [], offsets: [TopicPartitionOffset(partition, offset: 95)])) == .written)

        let table = try Self.readStatic(directory)
        #expect(table.rows.map { $0["id"]?.integerValue } == (0..<90).map { Int64($0) })
        #expect(table.rows[7]["name"] == "n7")
        #expect(table.rows[7]["price"] == .double(10.5))
        #expect(table.rows[7]["ts"] == "2024-01-02T12:00:00+00:00")
        #expect(table.snapshots.count == 4)
        #expect(table.snapshots.last?.summary["consumerd.offsets"] == #"{"c":{"t":{"0":95}}}"#)
        #expect(table.snapshots.last?.summary["total-records"] == "90")
        #expect(table.snapshots.last?.summary["added-data-files"] == "0")
        #expect(Set(table.files.map { $0.partition["ts_day"] ?? "" }) == ["2024-01-01", "2024-01-02", "2024-01-03"])
        #expect(table.files.allSatisfy { $0.path.contains("/data/ts_day=2024-01-0") && $0.path.hasSuffix(".parquet") })
        #expect(table.files.reduce(0) { $0 + $1.records } == 90)
        // Bounds from the Parquet statistics: the first batch's day-one file holds 0, 3, ..., 48.
        #expect(table.files.contains { $0.idBounds == [0, 48] && $0.records == 17 })

        let reopened = try Self.spec().makeSink(in: Self.context("c", directory))
        defer { reopened.close() }
        #expect(try reopened.storedOffsets(for: [partition]) == [partition: 95])
    }

    @Test(
        "two consumers share a table: the stale writer loses the swap, retries on fresh metadata, and both keep their offsets",
        arguments: [IcebergSinkSpec.Catalog.sql(uri: "sqlite:///iceberg/catalog.db", name: "default"), .filesystem])
    func sharedTable(catalog: IcebergSinkSpec.Catalog) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let spec = Self.spec(catalog)
        let meter = CountingMeter()
        let first = try spec.makeSink(in: Self.context("a", directory, meter: meter))
        let second = try spec.makeSink(in: Self.context("b", directory, meter: meter))
        defer {
            first.close()
            second.close()
        }
        let a = TopicPartition(topic: "ta", partition: 0)
        let b = TopicPartition(topic: "tb", partition: 0)
        // Both open the table (at its first version) before either commits.
        #expect(try first.storedOffsets(for: [a]).isEmpty)
        #expect(try second.storedOffsets(for: [b]).isEmpty)
        #expect(try await write(first, try batch(0..<10, topic: "ta", value: Self.value)) == .written)
        #expect(try await write(second, try batch(100..<120, topic: "tb", value: Self.value)) == .written)
        #expect(try await write(first, try batch(10..<15, topic: "ta", value: Self.value)) == .written)

        let table = catalog == .filesystem
            ? try Self.readStatic(directory)
            : try Self.read(["sql", "\(directory.path)/iceberg/catalog.db", "\(directory.path)/warehouse", "default", "market.trades"])
        #expect(table.rows.count == 35)
        #expect(table.snapshots.count == 3)
        #expect(table.snapshots.last?.summary["consumerd.offsets"] == #"{"a":{"ta":{"0":15}},"b":{"tb":{"0":120}}}"#)
        #expect(try second.storedOffsets(for: [b]) == [b: 120])
        #expect(try first.storedOffsets(for: [a]) == [a: 15])
        // b built on the first version, a on its own first commit: two lost swaps.
        #expect(meter["iceberg_commit_conflicts"] == 2)
        #expect(meter["iceberg_commits"] == 3)
        #expect(meter["iceberg_rows_written"] == 35)
        #expect(meter["iceberg_commit_duration_count"] == 3)
    }

    @Test("pyiceberg appends to the table between two batches: its rows stay, and the offsets survive its snapshot, which has none")
    func anotherEngineCommits() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let spec = Self.spec(.sql(uri: "sqlite:///iceberg/catalog.db", name: "default"))
        let meter = CountingMeter()
        let sink = try spec.makeSink(in: Self.context("c", directory, meter: meter))
        defer { sink.close() }
        let catalog = ["\(directory.path)/iceberg/catalog.db", "\(directory.path)/warehouse", "default", "market.trades"]
        #expect(try await write(sink, try batch(0..<10, value: Self.value)) == .written)
        _ = try TestPython.run(script: "Tests/SinksTests/read_iceberg.py", ["append"] + catalog + ["1000", "5"])
        #expect(try await write(sink, try batch(10..<20, value: Self.value)) == .written)
        _ = try TestPython.run(script: "Tests/SinksTests/read_iceberg.py", ["append"] + catalog + ["2000", "5"])

        let table = try Self.read(["sql"] + catalog)
        #expect(table.rows.compactMap { $0["id"]?.integerValue } == (0..<20).map(Int64.init) + (1000..<1005) + (2000..<2005))
        #expect(table.snapshots.count == 4)
        #expect(table.snapshots.last?.summary["consumerd.offsets"] == nil)
        #expect(meter["iceberg_commit_conflicts"] == 1)
        let partition = TopicPartition(topic: "t", partition: 0)
        let reopened = try spec.makeSink(in: Self.context("c", directory))
        defer { reopened.close() }
        #expect(try reopened.storedOffsets(for: [partition]) == [partition: 20])
    }

    @Test(
        "the SQL catalog in PostgreSQL: psql sees the table's row, pyiceberg reads the metadata it names",
        .enabled(if: ThrowawayServer.isAvailable(.postgresql), "needs Debian's postgresql (make deps)"))
    func postgresCatalog() async throws {
        let server = try await ThrowawayServer.start(.postgresql)
        defer { server.close() }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let spec = Self.spec(.sql(uri: server.url, name: "prod"))
        try spec.validate()
        let sink = try spec.makeSink(in: Self.context("pg", directory))
        defer { sink.close() }
        #expect(try await write(sink, try batch(0..<20, value: Self.value)) == .written)
        #expect(try await write(sink, try batch(20..<30, value: Self.value)) == .written)
        let rows = try await server.query("SELECT catalog_name, table_namespace, table_name, metadata_location FROM iceberg_tables")
        #expect(rows.count == 1)
        let columns = rows.first?.split(separator: "|").map(String.init) ?? []
        #expect(columns.prefix(3) == ["prod", "market", "trades"])
        let table = try Self.read(["static", columns.last ?? ""])
        #expect(table.rows.count == 30)
        #expect(table.snapshots.last?.summary["consumerd.offsets"] == #"{"pg":{"t":{"0":30}}}"#)
        #expect(try await server.query("SELECT property_value FROM iceberg_namespace_properties WHERE namespace = 'market'") == ["true"])
    }

    @Test("an Avro consumer's table takes its columns from the Avro schema: logical types, enums, optional unions, nested records")
    func avroColumns() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let avro = try JSONParser.parse(#"""
            {"type": "record", "name": "Trade", "fields": [
              {"name": "id", "type": "long"},
              {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}},
              {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
              {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
              {"name": "note", "type": ["null", "string"], "default": null},
              {"name": "venue", "type": {"type": "record", "name": "Venue", "fields": [{"name": "mic", "type": "string"}]}},
              {"name": "tags", "type": {"type": "array", "items": "string"}}]}
            """#)
        let spec = IcebergSinkSpec(table: "market.avro_trades")
        let records = RecordSchemas(avro: avro)
        try spec.validate(records: records)
        let context = SinkContext(
            consumer: "av", groupID: "g-av", instance: "test", sinkDirectory: directory.path, records: records, logger: testLogger())
        let sink = try spec.makeSink(in: context)
        defer { sink.close() }

        let schema = try AvroSchema(json: avro)
        let encoder = try AvroEncoder(schema: schema)
        let decoder = AvroRecordDecoder(writers: .inline(schema), readerSchema: nil)
        let decoded = try (0..<4).map { i in
            let value = Value.object(Value.Object([
                "id": .int(Int64(i)), "side": .string(i % 2 == 0 ? "BUY" : "SELL"), "price": .decimal("\(i).5\(i)"),
                "ts": .timestamp(1_700_000_000_000_000 + Int64(i), .microseconds, utc: true), "note": i == 2 ? .null : .string("n\(i)"),
                "venue": .object(Value.Object(["mic": "XNAS"])), "tags": .array([.string("a"), .string("b\(i)")]),
            ]))
            return try decoder.decode(KafkaMessage(
                topic: "t", partition: 0, offset: Int64(i), timestamp: 0, key: nil, value: try encoder.encode(value)))
        }
        let batch = SinkBatch(records: decoded, offsets: [TopicPartitionOffset(TopicPartition(topic: "t", partition: 0), offset: 4)])
        #expect(try await write(sink, batch) == .written)

        let metadata = "\(directory.path)/warehouse/market/avro_trades/metadata"
        let table = try Self.read(["static", "\(metadata)/v2.metadata.json"])
        #expect(table.rows.count == 4)
        #expect(table.rows[1]["side"] == "SELL")
        #expect(table.rows[1]["price"] == "1.51")
        #expect(table.rows[1]["ts"] == "2023-11-14T22:13:20.000001+00:00")
        #expect(table.rows[2]["note"] == .null)
        #expect(table.rows[1]["venue"] == .object(Value.Object(["mic": "XNAS"])))
        #expect(table.rows[1]["tags"] == #"["a","b1"]"#)
        #expect(table.schema.contains("decimal(10, 2)") && table.schema.contains("timestamptz") && table.schema.contains("optional string"))
    }

    @Test("data files a crashed batch left are removed on open; another consumer's and committed ones stay")
    func orphansRemoved() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sink = try Self.spec().makeSink(in: Self.context("c", directory))
        #expect(try await write(sink, try batch(0..<10, value: Self.value)) == .written)
        sink.close()
        let data = "\(directory.path)/warehouse/market/trades/data/ts_day=2024-01-01"
        let orphan = "\(data)/c+00000000-crashed.parquet"
        let foreign = "\(data)/c2+00000000-inflight.parquet"
        for path in [orphan, foreign] { _ = FileManager.default.createFile(atPath: path, contents: Data("PAR1".utf8)) }

        let reopened = try Self.spec().makeSink(in: Self.context("c", directory))
        defer { reopened.close() }
        _ = try reopened.storedOffsets(for: [TopicPartition(topic: "t", partition: 0)])
        #expect(!FileManager.default.fileExists(atPath: orphan))
        #expect(FileManager.default.fileExists(atPath: foreign))
        #expect(try Self.readStatic(directory).rows.count == 10)
    }

    @Test("a record that does not fit the columns is refused by index, with the field named; nothing of the batch is written")
    func poisonRecords() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sink = try Self.spec().makeSink(in: Self.context("c", directory))
        defer { sink.close() }
        let values = { (i: Int) in
            i == 3 ? #"{"id":3,"price":"cheap","ts":"2024-01-01T00:00:00Z"}"# : i == 5 ? #"{"id":5}"# : Self.value(i)
        }
        guard case .rejected(let rejected) = try await write(sink, try batch(0..<8, value: values)) else {
            Issue.record("expected a rejection")
            return
        }
        #expect(rejected.map(\.index) == [3, 5])
        #expect(rejected[0].message.contains("price"))
        #expect(rejected[1].message.contains("ts: is required"))
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/warehouse/market/trades/metadata/v2.metadata.json"))
    }

    @Test("spec errors name the field: schemas that cannot be columns, paths outside the sink directory, transforms that do not apply")
    func specErrors() throws {
        func error(_ json: String, recordSchema: Value? = nil) -> String? {
            do {
                let spec = try StrictJSON.decode(IcebergSinkSpec.self, from: Array(json.utf8))
                try spec.validate()
                try spec.validate(records: RecordSchemas(validation: recordSchema))
                return nil
            } catch let error as SpecError {
                return error.field
            } catch {
                return "decode: \(error)"
            }
        }
        let table = #""type": "iceberg", "table": "market.trades""#
        let columns = #""schema": {"type": "object", "properties": {"ts": {"type": "string", "format": "date-time"}}}"#
        #expect(error("{\(table), \(columns)}") == nil)
        #expect(error("{\(table)}") == "schema")
        #expect(error("{\(table)}", recordSchema: try JSONParser.parse(#"{"properties": {"x": {"type": "integer"}}}"#)) == nil)
        #expect(error(#"{\#(table), "schema": {"properties": {"bad": {"type": ["string", "integer"]}}}}"#) == "schema.properties.bad.type")
        #expect(error(##"{\##(table), "schema": {"properties": {"bad": {"$ref": "#/x"}}}}"##) == "schema.properties.bad.$ref")
        #expect(error(#"{\#(table), "schema": {"properties": {"d": {"type": "number", "format": "decimal", "precision": 39}}}}"#)
            == "schema.properties.d.precision")
        #expect(error(#"{\#(table), \#(columns), "warehouse": "../escape"}"#) == "warehouse")
        #expect(error(#"{\#(table), \#(columns), "warehouse": "/abs"}"#) == "warehouse")
        #expect(error(#"{\#(table), \#(columns), "catalog": {"type": "sql", "uri": "sqlite:////etc/x.db"}}"#) == "catalog.uri")
        #expect(error(#"{"type": "iceberg", "table": "trades", \#(columns)}"#) == "table")
        #expect(error(#"{\#(table), \#(columns), "partition_by": [{"field": "ts", "transform": "hour"}, {"field": "nope", "transform": "day"}]}"#)
            == "partition_by[1].field")
        #expect(error(#"{\#(table), "schema": {"properties": {"n": {"type": "integer"}}}, "partition_by": [{"field": "n", "transform": "day"}]}"#)
            == "partition_by[0].transform")
        #expect(error(#"{\#(table), \#(columns), "target_file_bytes": 10}"#) == "target_file_bytes")
    }
}
