import DataModel
import Parquet

/// A Parquet file of a table with what a manifest says about it: where it
/// is, its partition, and per-column sizes, counts and bounds (which query
/// engines prune files by).
public struct DataFile: Sendable, Equatable {
    public var path: String
    public var partition: [ParquetCell]
    public var recordCount: Int64
    public var fileSize: Int64
    public var columnSizes: [Int: Int64] = [:]
    public var valueCounts: [Int: Int64] = [:]
    public var nullCounts: [Int: Int64] = [:]
    public var nanCounts: [Int: Int64] = [:]
    public var lowerBounds: [Int: [UInt8]] = [:]
    public var upperBounds: [Int: [UInt8]] = [:]
    public var splitOffsets: [Int64] = []

    /// Bounds longer than this are left out rather than truncated (a
    /// truncated upper bound would have to be incremented; leaving it out is
    /// always correct, only less selective).
    static let maxBoundBytes = 64

    public init(path: String, partition: [ParquetCell], summary: ParquetFileSummary, schema: IcebergSchema) {
        self.path = path
        self.partition = partition
        recordCount = summary.rowCount
        fileSize = summary.fileBytes
        splitOffsets = summary.rowGroupOffsets
        for column in summary.columns {
            guard let id = column.fieldID.map(Int.init), let field = schema.field(id: id) else { continue }
            columnSizes[id] = column.compressedBytes
            valueCounts[id] = column.valueCount
            nullCounts[id] = column.nullCount
            if case .float = field.type { nanCounts[id] = column.nanCount }
            if case .double = field.type { nanCounts[id] = column.nanCount }
            if let min = column.min, let bytes = Self.bound(min, field.type), bytes.count <= Self.maxBoundBytes { lowerBounds[id] = bytes }
            if let max = column.max, let bytes = Self.bound(max, field.type), bytes.count <= Self.maxBoundBytes { upperBounds[id] = bytes }
        }
    }

    /// A value in Iceberg's single-value binary serialization (spec appendix D).
    static func bound(_ cell: ParquetCell, _ type: IcebergType) -> [UInt8]? {
        switch cell {
        case .boolean(let flag): [flag ? 1 : 0]
        case .int32(let number): littleEndian(UInt64(UInt32(bitPattern: number)), 4)
        case .int64(let number): littleEndian(UInt64(bitPattern: number), 8)
        case .float(let number): littleEndian(UInt64(number.bitPattern), 4)
        case .double(let number): littleEndian(number.bitPattern, 8)
        case .bytes(let bytes):
            // Strings are UTF-8, uuids 16 bytes big-endian, binary as is,
            // decimals the unscaled value, big-endian two's complement.
            if case .decimal = type { minimalTwosComplement(bytes) } else { bytes }
        case .null, .group: nil
        }
    }

    private static func littleEndian(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    /// Drops redundant sign bytes: Iceberg stores a decimal bound in the fewest bytes.
    private static func minimalTwosComplement(_ bytes: [UInt8]) -> [UInt8] {
        var start = 0
        while start + 1 < bytes.count {
            let (byte, next) = (bytes[start], bytes[start + 1])
            guard (byte == 0 && next & 0x80 == 0) || (byte == 0xFF && next & 0x80 != 0) else { break }
            start += 1
        }
        return Array(bytes[start...])
    }
}
