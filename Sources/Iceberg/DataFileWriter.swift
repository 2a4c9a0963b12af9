import Parquet

/// Turns rows into a table's data files: one Parquet file per partition,
/// rolled over at `targetFileBytes`, each written and fsynced under
/// `data/<partition path>/` with a name that starts with `filePrefix` (so
/// that a writer's orphans can be found: ``IcebergTable/removeOrphans(prefix:)``).
/// Nothing is visible in the table until the files are appended.
public final class DataFileWriter {
    private let table: IcebergTable
    private let schema: IcebergSchema
    private let spec: PartitionSpec
    private let filePrefix: String
    private let compression: ParquetCompression
    private let targetFileBytes: Int
    private let sourceColumns: [Int?]
    /// Open files by partition values; the directory's name is worked out
    /// only when a file is written.
    private var open: [[ParquetCell]: ParquetWriter] = [:]
    private var written: [DataFile] = []
    public private(set) var rowCount = 0

    public init(table: IcebergTable, filePrefix: String, compression: ParquetCompression, targetFileBytes: Int) {
        self.table = table
        self.schema = table.schema
        self.spec = table.spec
        self.sourceColumns = table.spec.sourceColumns(in: table.schema)
        self.filePrefix = filePrefix
        self.compression = compression
        self.targetFileBytes = targetFileBytes
    }

    /// Adds a row (top-level cells in schema order). A row Parquet refuses
    /// (a null in a required column, a decimal too wide) throws and leaves
    /// everything else as it was.
    public func append(_ row: [ParquetCell]) throws(IcebergError) {
        let values = spec.values(of: row, columns: sourceColumns)
        let writer = open[values] ?? ParquetWriter(schema: schema.parquetSchema, compression: compression, rowGroupBytes: Self.rowGroupBytes(targetFileBytes))
        do {
            try writer.append(row)
        } catch {
            throw IcebergError(.schema, error.description)
        }
        open[values] = writer
        rowCount += 1
        if writer.estimatedBytes >= targetFileBytes {
            try close(values)
        }
    }

    /// Writes every open file; returns all files written since the last call.
    public func finish() throws(IcebergError) -> [DataFile] {
        // In directory order, so that a commit lists its files alike every time.
        for values in open.keys.sorted(by: { spec.path(of: $0) < spec.path(of: $1) }) { try close(values) }
        defer {
            written = []
            rowCount = 0
        }
        return written
    }

    /// Forgets rows not yet written and files not yet appended (after a
    /// failed commit; the files become orphans, removed on the next start).
    public func discard() {
        open = [:]
        written = []
        rowCount = 0
    }

    private func close(_ values: [ParquetCell]) throws(IcebergError) {
        guard let writer = open.removeValue(forKey: values), writer.rowCount > 0 else { return }
        let path = spec.path(of: values)
        let (bytes, summary): ([UInt8], ParquetFileSummary)
        do {
            (bytes, summary) = try writer.finish()
        } catch {
            throw IcebergError(.schema, error.description)
        }
        let directory = path.isEmpty ? "\(localPath(table.location))/data" : "\(localPath(table.location))/data/\(path)"
        let file = "\(directory)/\(filePrefix)\(randomUUID()).parquet"
        try TableFiles.write(bytes, to: file)
        written.append(DataFile(path: file, partition: values, summary: summary, schema: schema))
    }

    /// Row groups of a quarter of the file, between 1 and 128 MiB: readers
    /// parallelise over row groups, and a writer holds one in memory.
    static func rowGroupBytes(_ target: Int) -> Int { min(max(target / 4, 1 << 20), 128 << 20) }
}
