#if canImport(Glibc)
import Glibc
#endif
import DataModel
import Iceberg
import Kafka
import Logging
import Parquet
import Pipeline

/// Writes batches into an Iceberg table: each batch becomes Parquet files
/// and one append snapshot whose summary also holds the consumer's next
/// offsets (`consumerd.offsets`). The snapshot is the commit: on
/// assignment the consumer resumes from the offsets in the table, so a
/// crash before or after it neither loses nor repeats rows. Data files a
/// crashed batch left behind are never referenced, and are removed when the
/// sink next opens the table.
final class IcebergSink: Sink {
    let kind = IcebergSinkSpec.type
    let target: String
    let commits = SinkCommits.sinkStoresOffsets
    private let spec: IcebergSinkSpec
    private let context: SinkContext
    private let declaredSchema: IcebergSchema
    private let partitionSpec: PartitionSpec
    /// Opened on first use, so that a missing directory or a locked catalog
    /// is a retriable write error, not a failed start.
    private var table: IcebergTable?
    private var writer: DataFileWriter?
    private var converter: RowConverter?

    static let commits = SinkMetric("iceberg_commits", unit: "total", help: "Iceberg table commits (snapshots) by the sink.")
    static let commitDuration = SinkMetric(
        "iceberg_commit_duration", unit: "seconds", help: "Time to write a batch's data files and commit its snapshot.")
    static let conflicts = SinkMetric("iceberg_commit_conflicts", unit: "total", help: "Commits another writer won first (then retried).")
    static let rows = SinkMetric("iceberg_rows_written", unit: "total", help: "Rows committed to Iceberg tables.")
    static let files = SinkMetric("iceberg_files_written", unit: "total", help: "Parquet data files committed to Iceberg tables.")
    static let bytes = SinkMetric("iceberg_bytes_written", unit: "total", help: "Bytes of Parquet data files committed to Iceberg tables.")
    static let orphans = SinkMetric("iceberg_orphan_files_removed", unit: "total", help: "Uncommitted data files of crashed batches removed.")

    init(spec: IcebergSinkSpec, context: SinkContext, schema: IcebergSchema, partitionSpec: PartitionSpec) {
        self.spec = spec
        self.context = context
        self.declaredSchema = schema
        self.partitionSpec = partitionSpec
        target = spec.target(in: context)
    }

    /// Data files of this consumer: `<consumer>+<uuid>.parquet` (`+` is not
    /// allowed in consumer names, so one consumer's prefix never matches another's).
    private var filePrefix: String { "\(context.consumer)+" }

    private var labels: [(String, String)] { [("table", spec.table)] }

    private func openTable() throws(PipelineError) -> IcebergTable {
        if let table { return table }
        do throws(IcebergError) {
            guard let identifier = TableIdentifier(spec.table) else { throw IcebergError(.metadata, "invalid table name \(spec.table)") }
            let catalog: any IcebergCatalog = switch spec.catalog {
            case .filesystem:
                FilesystemCatalog(warehouse: spec.warehouseDirectory(in: context))
            case .sql(let uri, let name) where uri.hasPrefix(IcebergSinkSpec.sqliteScheme):
                try SQLCatalog(
                    name: name, database: try SQLiteDatabase(path: "\(context.sinkDirectory)/\(uri.dropFirst(IcebergSinkSpec.sqliteScheme.count))"))
            case .sql(let uri, let name):
                try SQLCatalog(name: name, database: PostgresCatalogDatabase(url: uri, applicationName: "consumerd-\(context.consumer)"))
            }
            let opened = try IcebergTable(
                catalog: catalog, identifier: identifier, location: spec.tableLocation(in: context), schema: declaredSchema, spec: partitionSpec,
                properties: ["write.format.default": "parquet", "write.parquet.compression-codec": spec.compression.rawValue, "created-by": "consumerd"])
            let removed = try opened.removeOrphans(prefix: filePrefix)
            if !removed.isEmpty {
                context.logger.warning(
                    "removed data files of batches that never committed", metadata: ["table": "\(spec.table)", "files": "\(removed.count)"])
                context.meter?.count(Self.orphans, by: Int64(removed.count), labels: labels)
            }
            table = opened
            converter = RowConverter(schema: opened.schema)
            writer = DataFileWriter(
                table: opened, filePrefix: filePrefix, compression: spec.compression == .zstd ? .zstd(level: 3) : .uncompressed,
                targetFileBytes: spec.targetFileBytes)
            return opened
        } catch {
            throw Self.failure(error)
        }
    }

    func storedOffsets(for partitions: [TopicPartition]) throws(PipelineError) -> [TopicPartition: Int64] {
        let table = try openTable()
        do {
            try table.refresh()
        } catch {
            throw Self.failure(error)
        }
        let stored = table.offsets(of: context.consumer)
        var result: [TopicPartition: Int64] = [:]
        for partition in partitions {
            if let offset = stored[partition.topic]?[partition.partition] { result[partition] = offset }
        }
        return result
    }

    func write(_ batch: SinkBatch) throws(PipelineError) -> SinkWriteResult {
        let table = try openTable()
        guard let writer, let converter else { throw PipelineError(stage: .sink, message: "the Iceberg sink is closed") }
        let started = ContinuousClock.now
        // Rows already in the table (a retry after a commit whose reply was
        // lost) are skipped: the table's offsets say what it holds.
        let stored = table.offsets(of: context.consumer)
        var rejected: [RejectedRecord] = []
        for (index, original) in batch.records.enumerated() {
            var record = original
            if let next = stored[record.message.topic]?[record.message.partition], record.message.offset < next { continue }
            do {
                guard let value = try record.structuredValue() else {
                    throw IcebergError(.schema, field: "value", "text and bytes values have no columns; use format json or avro")
                }
                try writer.append(try converter.row(value))
            } catch let error as IcebergError {
                rejected.append(RejectedRecord(index: index, reason: "schema_mismatch", message: error.description))
            } catch {
                rejected.append(RejectedRecord(index: index, reason: "invalid", message: "\(error)"))
            }
        }
        guard rejected.isEmpty else {
            writer.discard()
            return .rejected(rejected)
        }
        // A batch of only dropped or dead-lettered records still moves the
        // table's offsets, or a restart would dead-letter them again.
        var offsets: [String: [Int32: Int64]] = [:]
        for entry in batch.offsets {
            if let next = entry.offset { offsets[entry.topic, default: [:]][entry.partition] = next }
        }
        let advances = offsets.contains { topic, partitions in
            partitions.contains { partition, next in next > (stored[topic]?[partition] ?? -1) }
        }
        guard writer.rowCount > 0 || advances else { return .written }
        do throws(IcebergError) {
            let files = try writer.finish()
            let result = try table.append(files: files, consumer: context.consumer, offsets: offsets)
            let rows = files.reduce(Int64(0)) { $0 + $1.recordCount }
            context.meter?.count(Self.commits, by: 1, labels: labels)
            context.meter?.count(Self.conflicts, by: Int64(result.conflicts), labels: labels)
            context.meter?.count(Self.rows, by: rows, labels: labels)
            context.meter?.count(Self.files, by: Int64(files.count), labels: labels)
            context.meter?.count(Self.bytes, by: files.reduce(Int64(0)) { $0 + $1.fileSize }, labels: labels)
            context.meter?.record(Self.commitDuration, ContinuousClock.now - started, labels: labels)
            return .written
        } catch {
            writer.discard()
            // Fresh metadata for the retry; the files written are orphans now.
            try? table.refresh()
            throw Self.failure(error)
        }
    }

    private static func failure(_ error: IcebergError) -> PipelineError {
        PipelineError(
            stage: .sink, message: "iceberg: \(error)", isRetriable: error.kind == .io || error.kind == .conflict,
            reason: error.kind == .conflict ? "commit_conflict" : nil)
    }

    func close() {
        writer?.discard()
        table?.catalog.close()
        table = nil
        writer = nil
    }
}
