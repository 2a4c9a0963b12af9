/// Per-file metrics of one leaf column: what Iceberg keeps per data file
/// (value, null and NaN counts, bounds, column sizes).
public struct ParquetColumnSummary: Sendable, Equatable {
    public var path: [String]
    public var fieldID: Int32?
    /// Rows, nulls included.
    public var valueCount: Int64
    public var nullCount: Int64
    /// Sum over row groups of the chunk's total_compressed_size (page headers included).
    public var compressedBytes: Int64
    /// nil when every value is null (or NaN). NaN is never a bound. A decimal
    /// bound is its unscaled value at the column's fixed width; a zero float
    /// minimum is -0 and a zero maximum +0.
    public var min: ParquetCell?
    public var max: ParquetCell?
    /// NaN values of float and double columns, 0 for other types.
    public var nanCount: Int64
}

public struct ParquetFileSummary: Sendable, Equatable {
    public var rowCount: Int64
    public var fileBytes: Int64
    /// File offset of each row group's first column chunk (Iceberg's split_offsets).
    public var rowGroupOffsets: [Int64]
    /// One per leaf, in leaf order.
    public var columns: [ParquetColumnSummary]
}

extension ParquetColumnSummary {
    init(leaf: ParquetLeaf, rowCount: Int64, compressedBytes: Int64, statistics: ColumnStatistics) {
        let bounds = statistics.cells(fixedLength: leaf.type.fixedLength)
        self.init(
            path: leaf.path, fieldID: leaf.fieldID, valueCount: rowCount, nullCount: statistics.nullCount,
            compressedBytes: compressedBytes, min: bounds?.min, max: bounds?.max, nanCount: statistics.nanCount)
    }
}
