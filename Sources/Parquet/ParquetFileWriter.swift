/// Writes one Parquet file in memory: rows are buffered per leaf column, a
/// row group is encoded and appended to the file when its buffered data
/// reaches `rowGroupBytes`, and `finish()` adds the footer.
///
/// Layout: "PAR1", row groups (per leaf a column chunk: optional dictionary
/// page, v1 data pages), FileMetaData (Thrift compact), its 4-byte
/// little-endian length, "PAR1". No repeated fields, so no repetition levels.
public final class ParquetWriter {
    private let schema: ParquetSchema
    private let shredder: RowShredder
    private var columns: [ColumnWriter]
    private var encoder: ColumnChunkEncoder
    private let rowGroupBytes: Int
    private let keyValueMetadata: [(String, String)]
    private let createdBy: String

    private var file: [UInt8] = Array("PAR1".utf8)
    private var rowGroups: [RowGroupMetadata] = []
    private var bufferedRows = 0
    private var writtenRows = 0
    /// Per leaf, over the row groups written: for the summary.
    private var fileStatistics: [ColumnStatistics]
    private var compressedBytes: [Int64]
    /// Buffered bytes of the row groups written and the file bytes they became:
    /// the ratio that scales the open row group in `estimatedBytes`.
    private var closedBufferBytes = 0
    private var closedFileBytes = 0
    private var state: State

    private enum State {
        case open
        /// An invalid schema, a failed write, or a finished file: every call throws this.
        case unusable(ParquetError)
    }

    /// rowGroupBytes: a row group is closed when its buffered (uncompressed) column data reaches this many bytes.
    public init(
        schema: ParquetSchema, compression: ParquetCompression = .zstd(level: 3), rowGroupBytes: Int = 32 << 20,
        keyValueMetadata: [(String, String)] = [], createdBy: String = "consumerd"
    ) {
        // The initializer cannot throw (callers build writers unconditionally):
        // an invalid schema surfaces on the first append or finish, and gets no columns.
        var leaves: [ParquetLeaf] = []
        do throws(ParquetError) {
            try schema.validate()
            leaves = schema.leaves
            state = .open
        } catch {
            state = .unusable(ParquetError("invalid schema: \(error.description)"))
        }
        self.schema = schema
        shredder = RowShredder(schema: schema)
        columns = leaves.map(ColumnWriter.init(leaf:))
        encoder = ColumnChunkEncoder(compressor: PageCompressor(compression))
        self.rowGroupBytes = rowGroupBytes
        self.keyValueMetadata = keyValueMetadata
        self.createdBy = createdBy
        fileStatistics = Array(repeating: ColumnStatistics(), count: leaves.count)
        compressedBytes = Array(repeating: 0, count: leaves.count)
    }

    /// Appends one row: one cell per top-level field in schema order. Throws
    /// ParquetError for a null in a required column, a type mismatch, or a
    /// decimal that does not fit; on throw nothing of the row is kept.
    public func append(_ row: [ParquetCell]) throws(ParquetError) {
        try checkOpen()
        try shredder.validate(row)
        shredder.shred(row, into: &columns)
        bufferedRows += 1
        if bufferedBytes >= rowGroupBytes {
            try closeRowGroup()
        }
    }

    public var rowCount: Int { writtenRows + bufferedRows }

    /// An estimate of the file size so far: the row groups written plus the
    /// open one at the compression ratio seen so far (1 before the first row
    /// group), so it tracks the file rather than the larger buffers. The
    /// footer is not counted.
    public var estimatedBytes: Int {
        let ratio = closedBufferBytes > 0 ? Double(closedFileBytes) / Double(closedBufferBytes) : 1
        return file.count + Int(Double(bufferedBytes) * ratio)
    }

    /// Closes the last row group, writes the footer; returns the complete file
    /// and its summary. The writer cannot be used afterwards.
    public func finish() throws(ParquetError) -> (bytes: [UInt8], summary: ParquetFileSummary) {
        try checkOpen()
        if bufferedRows > 0 {
            try closeRowGroup()
        }
        let footer = FileMetadata.encode(
            schema: schema, rowGroups: rowGroups, rowCount: Int64(writtenRows),
            keyValueMetadata: keyValueMetadata, createdBy: createdBy)
        file.append(contentsOf: footer)
        withUnsafeBytes(of: UInt32(footer.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: "PAR1".utf8)
        let summary = ParquetFileSummary(
            rowCount: Int64(writtenRows), fileBytes: Int64(file.count), rowGroupOffsets: rowGroups.map(\.fileOffset),
            columns: columns.indices.map { index in
                ParquetColumnSummary(
                    leaf: columns[index].leaf, rowCount: Int64(writtenRows), compressedBytes: compressedBytes[index],
                    statistics: fileStatistics[index])
            })
        let bytes = file
        file = []
        state = .unusable(ParquetError("the writer has finished its file"))
        return (bytes, summary)
    }

    private var bufferedBytes: Int {
        var total = 0
        for index in columns.indices { total += columns[index].bufferedBytes }
        return total
    }

    private func checkOpen() throws(ParquetError) {
        if case .unusable(let error) = state { throw error }
    }

    private func closeRowGroup() throws(ParquetError) {
        var chunks: [ColumnChunkMetadata] = []
        chunks.reserveCapacity(columns.count)
        let buffered = bufferedBytes
        let start = file.count
        do throws(ParquetError) {
            for index in columns.indices {
                let chunk = try encoder.write(columns[index], to: &file)
                fileStatistics[index].merge(chunk.statistics)
                compressedBytes[index] += chunk.compressedBytes
                chunks.append(chunk)
                columns[index].reset()
            }
        } catch {
            // Part of the row group is in the file already: nothing can follow it.
            state = .unusable(ParquetError("the file is incomplete after a failed write: \(error.description)"))
            throw error
        }
        closedBufferBytes += buffered
        closedFileBytes += file.count - start
        rowGroups.append(RowGroupMetadata(columns: chunks, rowCount: Int64(bufferedRows)))
        writtenRows += bufferedRows
        bufferedRows = 0
    }
}
