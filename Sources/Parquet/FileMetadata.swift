/// A written column chunk, as the footer describes it.
struct ColumnChunkMetadata {
    var leaf: ParquetLeaf
    var encodings: [Encoding]
    var codec: PageCompressor.Codec
    /// Rows, nulls included (no repeated fields, so one value per row).
    var valueCount: Int64
    /// Page headers included, as the format defines both totals.
    var uncompressedBytes: Int64
    var compressedBytes: Int64
    var dataPageOffset: Int64
    var dictionaryPageOffset: Int64?
    var statistics: ColumnStatistics

    /// Where the chunk starts: its dictionary page if it has one.
    var startOffset: Int64 { dictionaryPageOffset ?? dataPageOffset }
}

struct RowGroupMetadata {
    var columns: [ColumnChunkMetadata]
    var rowCount: Int64

    var fileOffset: Int64 { columns[0].startOffset }
}

/// The footer: FileMetaData in Thrift's compact protocol (parquet.thrift).
enum FileMetadata {
    /// Bounds longer than this stay out of the footer (as in parquet-cpp):
    /// huge strings would bloat it for little pruning value.
    static let maxStatisticsBytes = 4096

    static func encode(
        schema: ParquetSchema, rowGroups: [RowGroupMetadata], rowCount: Int64,
        keyValueMetadata: [(String, String)], createdBy: String
    ) -> [UInt8] {
        let leafCount = schema.leaves.count
        return ThriftCompactWriter.encode { file in
            file.i32(1, 1)  // version
            file.list(2, of: .structure, count: 1 + elementCount(schema.fields)) { list in
                list.structElement { root in
                    root.string(4, "schema")
                    root.i32(5, Int32(schema.fields.count))
                }
                schemaElements(schema.fields, into: &list)
            }
            file.i64(3, rowCount)
            file.list(4, of: .structure, count: rowGroups.count) { list in
                for rowGroup in rowGroups { encode(rowGroup, into: &list) }
            }
            if !keyValueMetadata.isEmpty {
                file.list(5, of: .structure, count: keyValueMetadata.count) { list in
                    for (key, value) in keyValueMetadata {
                        list.structElement { pair in
                            pair.string(1, key)
                            pair.string(2, value)
                        }
                    }
                }
            }
            file.string(6, createdBy)
            // TYPE_ORDER for every leaf: the statistics follow each type's sort order.
            file.list(7, of: .structure, count: leafCount) { list in
                for _ in 0..<leafCount {
                    list.structElement { order in order.structure(1) { _ in } }
                }
            }
        }
    }

    private static func elementCount(_ fields: [ParquetField]) -> Int {
        fields.reduce(0) { count, field in
            if case .group(let children) = field.type { count + 1 + elementCount(children) } else { count + 1 }
        }
    }

    /// SchemaElements depth-first, each group followed by its children.
    private static func schemaElements(_ fields: [ParquetField], into list: inout ThriftCompactWriter) {
        for field in fields {
            let children: [ParquetField]? = if case .group(let children) = field.type { children } else { nil }
            list.structElement { element in
                if children == nil {
                    element.i32(1, field.type.physicalType.rawValue)
                    if let length = field.type.fixedLength { element.i32(2, Int32(length)) }
                }
                element.i32(3, field.required ? 0 : 1)  // REQUIRED, OPTIONAL
                element.string(4, field.name)
                if let children { element.i32(5, Int32(children.count)) }
                if let converted = convertedType(field.type) { element.i32(6, converted) }
                if case .decimal(let precision, let scale) = field.type {
                    element.i32(7, Int32(scale))
                    element.i32(8, Int32(precision))
                }
                if let fieldID = field.fieldID { element.i32(9, fieldID) }
                if hasLogicalType(field.type) {
                    element.structure(10) { logicalType(field.type, into: &$0) }
                }
            }
            if let children {
                schemaElements(children, into: &list)
            }
        }
    }

    /// The legacy annotation older readers know. Local times and timestamps
    /// carry it too: LogicalTypes.md asks writers to, for forward compatibility.
    private static func convertedType(_ type: ParquetType) -> Int32? {
        switch type {
        case .string: 0  // UTF8
        case .decimal: 5  // DECIMAL
        case .date: 6  // DATE
        case .time: 8  // TIME_MICROS
        case .timestamp: 10  // TIMESTAMP_MICROS
        case .boolean, .int32, .int64, .float, .double, .uuid, .binary, .group: nil
        }
    }

    private static func hasLogicalType(_ type: ParquetType) -> Bool {
        switch type {
        case .string, .decimal, .date, .time, .timestamp, .uuid: true
        case .boolean, .int32, .int64, .float, .double, .binary, .group: false
        }
    }

    /// The LogicalType union: one field set, most of them empty structs.
    private static func logicalType(_ type: ParquetType, into union: inout ThriftCompactWriter) {
        switch type {
        case .string:
            union.structure(1) { _ in }
        case .decimal(let precision, let scale):
            union.structure(5) { decimal in
                decimal.i32(1, Int32(scale))
                decimal.i32(2, Int32(precision))
            }
        case .date:
            union.structure(6) { _ in }
        case .time:
            union.structure(7) { time in microsecondUnit(adjustedToUTC: false, into: &time) }
        case .timestamp(let adjustedToUTC):
            union.structure(8) { timestamp in microsecondUnit(adjustedToUTC: adjustedToUTC, into: &timestamp) }
        case .uuid:
            union.structure(14) { _ in }
        case .boolean, .int32, .int64, .float, .double, .binary, .group:
            preconditionFailure("no logical type")
        }
    }

    /// TimeType / TimestampType: isAdjustedToUTC, then the TimeUnit union set to MICROS.
    private static func microsecondUnit(adjustedToUTC: Bool, into type: inout ThriftCompactWriter) {
        type.bool(1, adjustedToUTC)
        type.structure(2) { unit in unit.structure(2) { _ in } }
    }

    private static func encode(_ rowGroup: RowGroupMetadata, into list: inout ThriftCompactWriter) {
        list.structElement { group in
            group.list(1, of: .structure, count: rowGroup.columns.count) { columns in
                for column in rowGroup.columns { encode(column, into: &columns) }
            }
            group.i64(2, rowGroup.columns.reduce(0) { $0 + $1.uncompressedBytes })  // total_byte_size
            group.i64(3, rowGroup.rowCount)
            group.i64(5, rowGroup.fileOffset)
            group.i64(6, rowGroup.columns.reduce(0) { $0 + $1.compressedBytes })
        }
    }

    private static func encode(_ column: ColumnChunkMetadata, into list: inout ThriftCompactWriter) {
        list.structElement { chunk in
            chunk.i64(2, column.startOffset)  // file_offset
            chunk.structure(3) { metadata in
                metadata.i32(1, column.leaf.type.physicalType.rawValue)
                metadata.list(2, of: .i32, count: column.encodings.count) { list in
                    for encoding in column.encodings { list.i32Element(encoding.rawValue) }
                }
                metadata.list(3, of: .binary, count: column.leaf.path.count) { list in
                    for name in column.leaf.path { list.stringElement(name) }
                }
                metadata.i32(4, column.codec.rawValue)
                metadata.i64(5, column.valueCount)
                metadata.i64(6, column.uncompressedBytes)
                metadata.i64(7, column.compressedBytes)
                metadata.i64(9, column.dataPageOffset)
                if let offset = column.dictionaryPageOffset { metadata.i64(11, offset) }
                metadata.structure(12) { encode(column.statistics, fixedLength: column.leaf.type.fixedLength, into: &$0) }
            }
        }
    }

    /// Statistics: null_count, and min_value/max_value when there are bounds
    /// that are not too long. Signed orders repeat them in the deprecated
    /// min/max fields for readers that predate min_value/max_value.
    private static func encode(_ statistics: ColumnStatistics, fixedLength: Int?, into fields: inout ThriftCompactWriter) {
        let bounds = statistics.encodedBounds(fixedLength: fixedLength).flatMap { bounds in
            max(bounds.min.count, bounds.max.count) <= maxStatisticsBytes ? bounds : nil
        }
        if let bounds, statistics.isSignedOrder {
            fields.binary(1, bounds.max)
            fields.binary(2, bounds.min)
        }
        fields.i64(3, statistics.nullCount)
        if let bounds {
            fields.binary(5, bounds.max)
            fields.binary(6, bounds.min)
        }
    }
}
