import Foundation
import Parquet
import Testing
import TestSupport

/// Files written here are read back by pyarrow (read_parquet.py); expected
/// values, statistics and encodings are computed independently in the test.
@Suite("ParquetWriter: files pyarrow reads back exactly")
struct ParquetWriterTests {
    @Test("every type, nested optional structs, edge values, several row groups, dictionary and PLAIN columns")
    func everyType() throws {
        let rows = Fixture.rows(300)
        let file = try write(rows, schema: Fixture.schema, rowGroupBytes: 8192, keyValueMetadata: [("iceberg.schema", "{}")])
        defer { file.directory.remove() }
        let read = try ReadBack.load(file.path)

        #expect(read.numRows == 300)
        #expect(read.rows == rows.map { render($0, Fixture.schema.fields) })
        #expect(read.createdBy == "consumerd")
        #expect(read.keyValueMetadata == ["iceberg.schema": "{}"])
        #expect(read.arrowSchema == Fixture.arrowSchema)
        #expect(read.columns == Fixture.parquetColumns)
        #expect(read.columns.map(\.maxDefinitionLevel) == Fixture.schema.leaves.map(\.maxDefinitionLevel))

        // Several row groups; each chunk's statistics match the rows it holds.
        #expect(read.numRowGroups >= 4)
        #expect(read.rowGroups.map(\.numRows).reduce(0, +) == 300)
        let leaves = Fixture.schema.leaves
        var first = 0
        for group in read.rowGroups {
            let groupRows = rows[first..<first + group.numRows].map { leafCells($0, Fixture.schema.fields) }
            first += group.numRows
            for (index, leaf) in leaves.enumerated() {
                let chunk = group.columns[index]
                let expected = ExpectedStatistics(groupRows.map { $0[index] }, type: leaf.type)
                #expect(chunk.path == leaf.path.joined(separator: "."))
                #expect(chunk.numValues == group.numRows)
                #expect(chunk.nullCount == expected.nullCount, "\(chunk.path)")
                #expect(chunk.min == expected.min, "\(chunk.path)")
                #expect(chunk.max == expected.max, "\(chunk.path)")
                #expect(chunk.compression == "ZSTD")
                // Strings and binary are dictionary-encoded (few distinct values per
                // chunk here); everything else is PLAIN. Levels only where optional.
                let dictionary = leaf.type == .string || leaf.type == .binary
                #expect(chunk.hasDictionaryPage == dictionary, "\(chunk.path)")
                var encodings = dictionary ? ["PLAIN_DICTIONARY", "RLE_DICTIONARY"] : ["PLAIN"]
                if leaf.maxDefinitionLevel > 0 { encodings.append("RLE") }
                #expect(Set(chunk.encodings) == Set(encodings), "\(chunk.path)")
            }
        }
    }

    @Test("uncompressed and zstd files read the same; zstd is smaller for repetitive data")
    func compression() throws {
        let rows = Fixture.rows(2000)
        let plain = try write(rows, schema: Fixture.schema, compression: .uncompressed)
        let zstd = try write(rows, schema: Fixture.schema, compression: .zstd(level: 3))
        defer {
            plain.directory.remove()
            zstd.directory.remove()
        }
        let plainRead = try ReadBack.load(plain.path)
        let zstdRead = try ReadBack.load(zstd.path)
        #expect(plainRead.rows == rows.map { render($0, Fixture.schema.fields) })
        #expect(zstdRead.rows == plainRead.rows)
        #expect(plainRead.rowGroups.flatMap(\.columns).allSatisfy { $0.compression == "UNCOMPRESSED" })
        #expect(zstdRead.rowGroups.flatMap(\.columns).allSatisfy { $0.compression == "ZSTD" })
        #expect(zstd.summary.fileBytes * 2 < plain.summary.fileBytes)
    }

    @Test("the summary agrees with pyarrow's per-file aggregates and with the rows")
    func summary() throws {
        let rows = Fixture.rows(300)
        let file = try write(rows, schema: Fixture.schema, rowGroupBytes: 8192)
        defer { file.directory.remove() }
        let read = try ReadBack.load(file.path)
        let summary = file.summary

        #expect(summary.rowCount == 300)
        #expect(summary.fileBytes == Int64(try Data(contentsOf: URL(fileURLWithPath: file.path)).count))
        #expect(summary.rowGroupOffsets == read.rowGroups.map(\.offset))
        #expect(summary.rowGroupOffsets.count == read.numRowGroups && read.numRowGroups >= 4)
        let leaves = Fixture.schema.leaves
        #expect(summary.columns.map(\.path) == leaves.map(\.path))
        #expect(summary.columns.map(\.fieldID) == leaves.map(\.fieldID))
        let allCells = rows.map { leafCells($0, Fixture.schema.fields) }
        for (index, leaf) in leaves.enumerated() {
            let column = summary.columns[index]
            let pyarrow = read.fileColumns[index]
            let expected = ExpectedStatistics(allCells.map { $0[index] }, type: leaf.type)
            #expect(column.valueCount == pyarrow.numValues)
            #expect(column.nullCount == pyarrow.nullCount)
            #expect(column.compressedBytes == pyarrow.totalCompressedSize)
            #expect(column.min.map { renderRaw($0, leaf.type) } == pyarrow.min, "\(pyarrow.path)")
            #expect(column.max.map { renderRaw($0, leaf.type) } == pyarrow.max, "\(pyarrow.path)")
            #expect(pyarrow.min == expected.min && pyarrow.max == expected.max, "\(pyarrow.path)")
            #expect(column.nanCount == expected.nanCount, "\(pyarrow.path)")
        }
        // The float column does hold NaNs, and they are no bound.
        #expect(summary.columns[4].nanCount > 0)
    }

    @Test("float bounds: NaN is counted, not a bound; a zero minimum is -0 and a zero maximum +0")
    func floatBounds() throws {
        let schema = ParquetSchema(fields: [
            .init(name: "low_zero", fieldID: 1, type: .double, required: false),
            .init(name: "high_zero", fieldID: 2, type: .float, required: false),
            .init(name: "all_nan", fieldID: 3, type: .double, required: false),
        ])
        let rows: [[ParquetCell]] = [
            [.double(0.0), .float(-1.5), .double(.nan)],
            [.double(2.5), .float(-0.0), .null],
            [.double(.nan), .float(.nan), .double(.nan)],
            [.null, .null, .null],
        ]
        let file = try write(rows, schema: schema)
        defer { file.directory.remove() }
        let read = try ReadBack.load(file.path)
        #expect(read.rows == rows.map { render($0, schema.fields) })
        let chunks = read.rowGroups[0].columns
        #expect(chunks.map(\.min) == ["8000000000000000", "bfc00000", nil])
        #expect(chunks.map(\.max) == ["4004000000000000", "00000000", nil])
        #expect(chunks.map(\.nullCount) == [1, 1, 2])
        let columns = file.summary.columns
        #expect(columns.map(\.nanCount) == [1, 1, 2])
        #expect(columns.map(\.nullCount) == [1, 1, 2])
        guard case .double(let low)? = columns[0].min, case .float(let high)? = columns[1].max else {
            Issue.record("bounds missing")
            return
        }
        #expect(low == 0 && low.sign == .minus && columns[0].max == .double(2.5))
        #expect(high == 0 && high.sign == .plus && columns[1].min == .float(-1.5))
        #expect(columns[2].min == nil && columns[2].max == nil)
    }

    @Test("rejected rows leave nothing behind; the next valid row is written")
    func rejection() throws {
        let schema = ParquetSchema(fields: [
            .init(name: "id", fieldID: 1, type: .int64, required: true),
            .init(name: "amount", fieldID: 2, type: .decimal(precision: 9, scale: 2), required: false),
            .init(name: "key", fieldID: 3, type: .uuid, required: false),
            .init(name: "inner", fieldID: 4, type: .group([.init(name: "x", fieldID: 5, type: .int32, required: true)]), required: true),
        ])
        let writer = ParquetWriter(schema: schema)
        let good: [ParquetCell] = [.int64(1), .bytes([0x01, 0x00]), .bytes(Array(repeating: 0xAB, count: 16)), .group([.int32(7)])]
        try writer.append(good)
        let rejected: [([ParquetCell], String)] = [
            ([.null, .null, .null, .group([.int32(1)])], "'id' is required"),
            ([.int32(2), .null, .null, .group([.int32(1)])], "'id': an int32 where an int64"),
            ([.int64(2), .bytes(twosComplement(1_000_000_000)), .null, .group([.int32(1)])], "'amount'"),
            ([.int64(2), .bytes([0x01] + Array(repeating: 0, count: 16)), .null, .group([.int32(1)])], "'amount'"),
            ([.int64(2), .bytes([]), .null, .group([.int32(1)])], "'amount'"),
            ([.int64(2), .null, .bytes(Array(repeating: 0, count: 15)), .group([.int32(1)])], "'key': a uuid needs 16 bytes"),
            ([.int64(2), .null, .null, .group([.null])], "'inner.x' is required"),
            ([.int64(2), .null, .null, .null], "'inner' is required"),
            ([.int64(2), .null, .null, .int32(1)], "'inner': an int32 where a struct"),
            ([.int64(2), .group([]), .null, .group([.int32(1)])], "'amount': a struct where"),
            ([.int64(2), .null, .null, .group([.int32(1), .int32(2)])], "2 cells for 1 fields"),
            ([.int64(2), .null, .null], "3 cells for 4 fields"),
        ]
        for (row, message) in rejected {
            let error = #expect(throws: ParquetError.self) { try writer.append(row) }
            #expect(error?.description.contains(message) == true, "\(error?.description ?? "no error") lacks \(message)")
        }
        #expect(writer.rowCount == 1)
        // The widest two's complement forms that still fit: sign bytes beyond the fixed width are dropped.
        let edge: [ParquetCell] = [.int64(2), .bytes([0xFF, 0xFF, 0xFF, 0xFF, 0xC4, 0x65, 0x36, 0x01]), .null, .group([.int32(8)])]
        try writer.append(edge)
        let (bytes, summary) = try writer.finish()
        #expect(summary.rowCount == 2)
        #expect(throws: ParquetError.self) { try writer.append(good) }
        #expect(throws: ParquetError.self) { try writer.finish() }

        let directory = try TemporaryDirectory("parquet")
        defer { directory.remove() }
        let path = "\(directory.path)/rejection.parquet"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let read = try ReadBack.load(path)
        #expect(read.numRows == 2)
        #expect(read.rows == [
            [.text("1"), .text("2.56"), .text(String(repeating: "ab", count: 16)), .list([.text("7")])],
            [.text("2"), .text("-9999999.99"), .null, .list([.text("8")])],
        ])
    }

    @Test("schemas Parquet cannot represent are refused on first use")
    func invalidSchemas() throws {
        let invalid = [
            ParquetSchema(fields: []),
            ParquetSchema(fields: [.init(name: "d", fieldID: 1, type: .decimal(precision: 39, scale: 0), required: true)]),
            ParquetSchema(fields: [.init(name: "d", fieldID: 1, type: .decimal(precision: 5, scale: 6), required: true)]),
            ParquetSchema(fields: [.init(name: "s", fieldID: 1, type: .group([]), required: false)]),
        ]
        for schema in invalid {
            #expect(throws: ParquetError.self) { try schema.validate() }
            let writer = ParquetWriter(schema: schema)
            let error = #expect(throws: ParquetError.self) { try writer.finish() }
            #expect(error?.description.hasPrefix("invalid schema") == true)
        }
        try Fixture.schema.validate()
    }

    @Test("a file without rows is valid")
    func empty() throws {
        let file = try write([], schema: Fixture.schema)
        defer { file.directory.remove() }
        let read = try ReadBack.load(file.path)
        #expect(read.numRows == 0 && read.numRowGroups == 0 && read.rows.isEmpty)
        #expect(read.arrowSchema == Fixture.arrowSchema)
        #expect(file.summary.columns.allSatisfy { $0.valueCount == 0 && $0.min == nil && $0.max == nil })
        #expect(file.summary.rowGroupOffsets.isEmpty)
    }

    @Test("a dictionary that outgrows its limit falls back to PLAIN, and the next chunk starts PLAIN")
    func dictionaryFallback() throws {
        let schema = ParquetSchema(fields: [
            .init(name: "unique", fieldID: 1, type: .string, required: true),
            .init(name: "tag", fieldID: 2, type: .string, required: false),
        ])
        // 40,000 distinct 56-byte strings: over the 1 MiB dictionary limit after ~18,000.
        let rows: [[ParquetCell]] = (0..<40_000).map { index -> [ParquetCell] in
            let unique = "value-\(index)-" + String(repeating: "x", count: 44 - String(index).count)
            let tag: ParquetCell = index % 9 == 0 ? .null : .bytes(Array("tag\(index % 3)".utf8))
            return [.bytes(Array(unique.utf8)), tag]
        }
        let file = try write(rows, schema: schema, rowGroupBytes: 1_600_000)
        defer { file.directory.remove() }
        let read = try ReadBack.load(file.path)
        #expect(read.rows == rows.map { render($0, schema.fields) })
        #expect(read.numRowGroups == 2)
        for group in read.rowGroups {
            #expect(!group.columns[0].hasDictionaryPage && group.columns[0].encodings == ["PLAIN"])
            #expect(group.columns[1].hasDictionaryPage)
        }
        #expect(read.rowGroups[0].columns[0].min == hex(Array("value-0-".utf8) + Array(repeating: UInt8(ascii: "x"), count: 43)))
    }

    @Test("large chunks are split into pages of about 1 MiB, dictionary-encoded ones included")
    func manyPages() throws {
        let schema = ParquetSchema(fields: [
            .init(name: "id", fieldID: 1, type: .int64, required: true),
            .init(name: "tag", fieldID: 2, type: .string, required: false),
            .init(name: "flag", fieldID: 3, type: .boolean, required: false),
        ])
        // Per row: 8 id bytes; tag 1 level + 4 index bytes; flag 1 level + 1 byte:
        // two or more pages for id and tag in one row group.
        let rows: [[ParquetCell]] = (0..<250_000).map { index -> [ParquetCell] in
            let tag: ParquetCell = index % 7 == 0 ? .null : .bytes(Array("t\(index % 5)".utf8))
            let flag: ParquetCell = index % 11 == 0 ? .null : .boolean(index % 3 == 0)
            return [.int64(Int64(index) * 7919), tag, flag]
        }
        let file = try write(rows, schema: schema)
        defer { file.directory.remove() }
        let read = try ReadBack.load(file.path)
        #expect(read.numRowGroups == 1)
        #expect(read.rows == rows.map { render($0, schema.fields) })
        let chunk = read.rowGroups[0].columns[1]
        #expect(chunk.hasDictionaryPage && chunk.encodings.contains("RLE_DICTIONARY"))
    }

    @Test("estimatedBytes tracks the file size as row groups close")
    func estimate() throws {
        let writer = ParquetWriter(schema: Fixture.schema, rowGroupBytes: 16 * 1024)
        #expect(writer.estimatedBytes == 4)  // "PAR1"
        for row in Fixture.rows(3000) { try writer.append(row) }
        let estimate = writer.estimatedBytes
        let (bytes, _) = try writer.finish()
        // The footer is not in the estimate; the open row group is off by at most its buffer.
        let footer = bytes[bytes.count - 8..<bytes.count - 4].reversed().reduce(0) { $0 << 8 | Int($1) } + 8
        let data = bytes.count - footer
        #expect(abs(estimate - data) < 16 * 1024, "estimate \(estimate), data \(data)")
    }

    // MARK: - Writing and reading back

    struct WrittenFile {
        var directory: TemporaryDirectory
        var path: String
        var summary: ParquetFileSummary
    }

    func write(
        _ rows: [[ParquetCell]], schema: ParquetSchema, compression: ParquetCompression = .zstd(level: 3),
        rowGroupBytes: Int = 32 << 20, keyValueMetadata: [(String, String)] = []
    ) throws -> WrittenFile {
        let writer = ParquetWriter(schema: schema, compression: compression, rowGroupBytes: rowGroupBytes, keyValueMetadata: keyValueMetadata)
        for row in rows { try writer.append(row) }
        #expect(writer.rowCount == rows.count)
        let (bytes, summary) = try writer.finish()
        let directory = try TemporaryDirectory("parquet")
        let path = "\(directory.path)/data.parquet"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return WrittenFile(directory: directory, path: path, summary: summary)
    }
}

/// What read_parquet.py prints.
struct ReadBack: Decodable {
    var numRows: Int
    var numRowGroups: Int
    var createdBy: String
    var keyValueMetadata: [String: String]
    var arrowSchema: [ArrowField]
    var columns: [ParquetColumn]
    var rows: [[Rendered]]
    var rowGroups: [RowGroup]
    var fileColumns: [FileColumn]

    struct ArrowField: Decodable, Equatable {
        var name: String
        var type: String
        var nullable: Bool
        var fieldId: Int32?
        var children: [ArrowField]?
    }

    struct ParquetColumn: Decodable, Equatable {
        var path: String
        var physicalType: String
        var logicalType: String
        var convertedType: String
        var length: Int
        var maxDefinitionLevel: Int
    }

    struct RowGroup: Decodable {
        var numRows: Int
        var offset: Int64
        var columns: [Chunk]
    }

    struct Chunk: Decodable {
        var path: String
        var numValues: Int
        var nullCount: Int?
        var min: String?
        var max: String?
        var compression: String
        var encodings: [String]
        var hasDictionaryPage: Bool
        var totalCompressedSize: Int64
    }

    struct FileColumn: Decodable {
        var path: String
        var numValues: Int64
        var nullCount: Int64
        var totalCompressedSize: Int64
        var min: String?
        var max: String?
    }

    static func load(_ path: String) throws -> ReadBack {
        let output = try TestPython.run(script: "Tests/ParquetTests/read_parquet.py", [path])
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(ReadBack.self, from: Data(output.utf8))
    }
}

/// A value as read_parquet.py renders it: primitives as text, structs as lists.
enum Rendered: Decodable, Equatable {
    case null
    case text(String)
    case list([Rendered])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let text = try? container.decode(String.self) {
            self = .text(text)
        } else {
            self = .list(try container.decode([Rendered].self))
        }
    }
}

// MARK: - Expected values, computed without the writer

func render(_ row: [ParquetCell], _ fields: [ParquetField]) -> [Rendered] {
    zip(row, fields).map { render($0, $1.type) }
}

func render(_ cell: ParquetCell, _ type: ParquetType) -> Rendered {
    switch (cell, type) {
    case (.null, _): .null
    case (.group(let cells), .group(let fields)): .list(render(cells, fields))
    case (.bytes(let bytes), .string): .text(String(decoding: bytes, as: UTF8.self))
    case (.bytes(let bytes), .decimal(_, let scale)): .text(decimalText(unscaled(bytes), scale: scale))
    default: .text(renderRaw(cell, type))
    }
}

/// Physical values as read_parquet.py renders statistics.
func renderRaw(_ cell: ParquetCell, _ type: ParquetType) -> String {
    switch cell {
    case .boolean(let value): value ? "true" : "false"
    case .int32(let value): String(value)
    case .int64(let value): String(value)
    case .float(let value): value.isNaN ? "nan" : hexDigits(UInt64(value.bitPattern), count: 8)
    case .double(let value): value.isNaN ? "nan" : hexDigits(value.bitPattern, count: 16)
    case .bytes(let bytes):
        if case .decimal(let precision, _) = type {
            hex(fixedWidth(unscaled(bytes), width: Fixture.decimalWidths[precision]!))
        } else {
            hex(bytes)
        }
    case .null, .group: "?"
    }
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { hexDigits(UInt64($0), count: 2) }.joined()
}

func hexDigits(_ value: UInt64, count: Int) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: count - digits.count) + digits
}

/// Two's complement big-endian, sign-extended (inputs here have at most 16 bytes).
func unscaled(_ bytes: [UInt8]) -> Int128 {
    bytes.reduce(bytes[0] >= 0x80 ? Int128(-1) : 0) { $0 << 8 | Int128($1) }
}

/// The shortest two's complement big-endian form.
func twosComplement(_ value: Int128) -> [UInt8] {
    var bytes = fixedWidth(value, width: 16)
    while bytes.count > 1 && ((bytes[0] == 0 && bytes[1] < 0x80) || (bytes[0] == 0xFF && bytes[1] >= 0x80)) {
        bytes.removeFirst()
    }
    return bytes
}

func fixedWidth(_ value: Int128, width: Int) -> [UInt8] {
    (0..<width).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

func decimalText(_ value: Int128, scale: Int) -> String {
    var digits = String(value.magnitude)
    if digits.count <= scale { digits = String(repeating: "0", count: scale + 1 - digits.count) + digits }
    if scale > 0 { digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale)) }
    return (value < 0 ? "-" : "") + digits
}

/// A row's leaf values in leaf order; null where the leaf or a struct above it is null.
func leafCells(_ row: [ParquetCell], _ fields: [ParquetField]) -> [ParquetCell] {
    zip(row, fields).flatMap { cell, field -> [ParquetCell] in
        guard case .group(let children) = field.type else { return [cell] }
        if case .group(let inner) = cell { return leafCells(inner, children) }
        return Array(repeating: .null, count: ParquetSchema(fields: children).leaves.count)
    }
}

/// Null count, NaN count and bounds of one column by brute force, in the
/// column's sort order, rendered like read_parquet.py.
struct ExpectedStatistics {
    var nullCount = 0
    var nanCount: Int64 = 0
    var min: String?
    var max: String?

    init(_ cells: [ParquetCell], type: ParquetType) {
        var present: [ParquetCell] = []
        for cell in cells {
            switch cell {
            case .null: nullCount += 1
            case .float(let value) where value.isNaN: nanCount += 1
            case .double(let value) where value.isNaN: nanCount += 1
            default: present.append(cell)
            }
        }
        let less = { (a: ParquetCell, b: ParquetCell) -> Bool in
            switch (a, b) {
            case (.boolean(let x), .boolean(let y)): !x && y
            case (.int32(let x), .int32(let y)): x < y
            case (.int64(let x), .int64(let y)): x < y
            case (.float(let x), .float(let y)): x < y
            case (.double(let x), .double(let y)): x < y
            case (.bytes(let x), .bytes(let y)):
                if case .decimal = type { unscaled(x) < unscaled(y) } else { x.lexicographicallyPrecedes(y) }
            default: false
            }
        }
        guard var low = present.min(by: less), var high = present.max(by: less) else { return }
        // Zero bounds are written as -0 (min) and +0 (max).
        if case .float(0) = low { low = .float(-0.0) }
        if case .float(0) = high { high = .float(0) }
        if case .double(0) = low { low = .double(-0.0) }
        if case .double(0) = high { high = .double(0) }
        min = renderRaw(low, type)
        max = renderRaw(high, type)
    }
}

// MARK: - The fixture

enum Fixture {
    /// Iceberg's widths for the precisions used here.
    static let decimalWidths = [9: 4, 38: 16]

    static let schema = ParquetSchema(fields: [
        .init(name: "id", fieldID: 1, type: .int64, required: true),
        .init(name: "flag", fieldID: 2, type: .boolean, required: false),
        .init(name: "small", fieldID: 3, type: .int32, required: false),
        .init(name: "big", fieldID: 4, type: .int64, required: false),
        .init(name: "ratio", fieldID: 5, type: .float, required: false),
        .init(name: "score", fieldID: 6, type: .double, required: true),
        .init(name: "price", fieldID: 7, type: .decimal(precision: 9, scale: 2), required: false),
        .init(name: "huge", fieldID: 8, type: .decimal(precision: 38, scale: 10), required: false),
        .init(name: "day", fieldID: 9, type: .date, required: false),
        .init(name: "clock", fieldID: 10, type: .time, required: false),
        .init(name: "at_utc", fieldID: 11, type: .timestamp(adjustedToUTC: true), required: false),
        .init(name: "at_local", fieldID: 12, type: .timestamp(adjustedToUTC: false), required: true),
        .init(name: "name", fieldID: 13, type: .string, required: false),
        .init(name: "kind", fieldID: 14, type: .string, required: true),
        .init(name: "key", fieldID: 15, type: .uuid, required: false),
        .init(name: "blob", fieldID: 16, type: .binary, required: false),
        .init(
            name: "address", fieldID: 17,
            type: .group([
                .init(name: "street", fieldID: 18, type: .string, required: false),
                .init(name: "zip", fieldID: 19, type: .int32, required: true),
                .init(
                    name: "geo", fieldID: 20,
                    type: .group([
                        .init(name: "lat", fieldID: 21, type: .double, required: true),
                        .init(name: "lon", fieldID: 22, type: .double, required: false),
                    ]), required: false),
            ]), required: false),
        .init(
            name: "meta", fieldID: 23,
            type: .group([
                .init(name: "source", fieldID: 24, type: .string, required: false),
                .init(name: "checked", fieldID: 25, type: .boolean, required: true),
            ]), required: true),
    ])

    static let arrowSchema: [ReadBack.ArrowField] = [
        .init(name: "id", type: "int64", nullable: false, fieldId: 1),
        .init(name: "flag", type: "bool", nullable: true, fieldId: 2),
        .init(name: "small", type: "int32", nullable: true, fieldId: 3),
        .init(name: "big", type: "int64", nullable: true, fieldId: 4),
        .init(name: "ratio", type: "float", nullable: true, fieldId: 5),
        .init(name: "score", type: "double", nullable: false, fieldId: 6),
        .init(name: "price", type: "decimal128(9, 2)", nullable: true, fieldId: 7),
        .init(name: "huge", type: "decimal128(38, 10)", nullable: true, fieldId: 8),
        .init(name: "day", type: "date32[day]", nullable: true, fieldId: 9),
        .init(name: "clock", type: "time64[us]", nullable: true, fieldId: 10),
        .init(name: "at_utc", type: "timestamp[us, tz=UTC]", nullable: true, fieldId: 11),
        .init(name: "at_local", type: "timestamp[us]", nullable: false, fieldId: 12),
        .init(name: "name", type: "string", nullable: true, fieldId: 13),
        .init(name: "kind", type: "string", nullable: false, fieldId: 14),
        .init(name: "key", type: "fixed_size_binary[16]", nullable: true, fieldId: 15),
        .init(name: "blob", type: "binary", nullable: true, fieldId: 16),
        .init(
            name: "address", type: "struct", nullable: true, fieldId: 17,
            children: [
                .init(name: "street", type: "string", nullable: true, fieldId: 18),
                .init(name: "zip", type: "int32", nullable: false, fieldId: 19),
                .init(
                    name: "geo", type: "struct", nullable: true, fieldId: 20,
                    children: [
                        .init(name: "lat", type: "double", nullable: false, fieldId: 21),
                        .init(name: "lon", type: "double", nullable: true, fieldId: 22),
                    ]),
            ]),
        .init(
            name: "meta", type: "struct", nullable: false, fieldId: 23,
            children: [
                .init(name: "source", type: "string", nullable: true, fieldId: 24),
                .init(name: "checked", type: "bool", nullable: false, fieldId: 25),
            ]),
    ]

    /// pyarrow derives `converted_type` from the logical type, so local times
    /// and timestamps show NONE although the file has TIME_MICROS and TIMESTAMP_MICROS.
    static let parquetColumns: [ReadBack.ParquetColumn] = [
        .init(path: "id", physicalType: "INT64", logicalType: "None", convertedType: "NONE", length: 0, maxDefinitionLevel: 0),
        .init(path: "flag", physicalType: "BOOLEAN", logicalType: "None", convertedType: "NONE", length: 0, maxDefinitionLevel: 1),
        .init(path: "small", physicalType: "INT32", logicalType: "None", convertedType: "NONE", length: 0, maxDefinitionLevel: 1),
        .init(path: "big", physicalType: "INT64", logicalType: "None", convertedType: "NONE", length: 0, maxDefinitionLevel: 1),
        .init(path: "ratio", physicalType: "FLOAT", logicalType: "None", convertedType: "NONE", length: 0, maxDefinitionLevel: 1),
        .init(path: "score", physicalType: "DOUBLE", logicalType: "None", convertedType: "NONE", length: 0, maxDefinitionLevel: 0),
        .init(
            path: "price", physicalType: "FIXED_LEN_BYTE_ARRAY", logicalType: "Decimal(precision=9, scale=2)",
            convertedType: "DECIMAL", length: 4, maxDefinitionLevel: 1),
        .init(
            path: "huge", physicalType: "FIXED_LEN_BYTE_ARRAY", logicalType: "Decimal(precision=38, scale=10)",
            convertedType: "DECIMAL", length: 16, maxDefinitionLevel: 1),
        .init(path: "day", physicalType: "INT32", logicalType: "Date", convertedType: "DATE", length: 0, maxDefinitionLevel: 1),
        .init(
            path: "clock", physicalType: "INT64", logicalType: "Time(isAdjustedToUTC=false, timeUnit=microseconds)",
            convertedType: "NONE", length: 0, maxDefinitionLevel: 1),
        .init(
            path: "at_utc", physicalType: "INT64",
            logicalType: "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)",
            convertedType: "TIMESTAMP_MICROS", length: 0, maxDefinitionLevel: 1),
        .init(
            path: "at_local", physicalType: "INT64",
            logicalType: "Timestamp(isAdjustedToUTC=false, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)",
            convertedType: "NONE", length: 0, maxDefinitionLevel: 0),
        .init(path: "name", physicalType: "BYTE_ARRAY", logicalType: "String", convertedType: "UTF8", length: 0, maxDefinitionLevel: 1),
        .init(path: "kind", physicalType: "BYTE_ARRAY", logicalType: "String", convertedType: "UTF8", length: 0, maxDefinitionLevel: 0),
        .init(path: "key", physicalType: "FIXED_LEN_BYTE_ARRAY", logicalType: "UUID", convertedType: "NONE", length: 16, maxDefinitionLevel: 1),
        .init(path: "blob", physicalType: "BYTE_ARRAY", logicalType: "None", convertedType: "NONE", length: 0, maxDefinitionLevel: 1),
        .init(path: "address.street", physicalType: "BYTE_ARRAY", logicalType: "String", convertedType: "UTF8", length: 0, maxDefinitionLevel: 2),
        .init(path: "address.zip", physicalType: "INT32", logicalType: "None", convertedType: "NONE", length: 0, maxDefinitionLevel: 1),
        .init(path: "address.geo.lat", physicalType: "DOUBLE", logicalType: "None", convertedType: "NONE", length: 0, maxDefinitionLevel: 2),
        .init(path: "address.geo.lon", physicalType: "DOUBLE", logicalType: "None", convertedType: "NONE", length: 0, maxDefinitionLevel: 3),
        .init(path: "meta.source", physicalType: "BYTE_ARRAY", logicalType: "String", convertedType: "UTF8", length: 0, maxDefinitionLevel: 1),
        .init(path: "meta.checked", physicalType: "BOOLEAN", logicalType: "None", convertedType: "NONE", length: 0, maxDefinitionLevel: 0),
    ]

    /// Deterministic rows with nulls everywhere optional, edge values early on
    /// (so they land in the first row group) and repetitive text.
    static func rows(_ count: Int) -> [[ParquetCell]] {
        (0..<count).map(row)
    }

    static func row(_ i: Int) -> [ParquetCell] {
        let maxHuge = Int128(10).power(38) - 1
        let small: ParquetCell = switch i {
        case 1: .int32(.min)
        case 2: .int32(.max)
        default: .int32(Int32(i * 37 - 5000))
        }
        let big: ParquetCell = switch i {
        case 3: .int64(.min)
        case 4: .int64(.max)
        default: .int64(Int64(i) * -987_654_321)
        }
        let ratio: ParquetCell = switch i {
        case _ where i % 17 == 0: .float(.nan)
        case 5: .float(-0.0)
        case 6: .float(0.0)
        case 8: .float(.infinity)
        case 9: .float(-.infinity)
        default: .float(Float(i) / 7 - 20)
        }
        let score: Double = switch i {
        case 10: .greatestFiniteMagnitude
        case 11: -.leastNonzeroMagnitude
        default: Double(i) * 1.5e-3 - 0.2
        }
        let price: ParquetCell = switch i {
        case 12: .bytes(twosComplement(999_999_999))
        case 13: .bytes(twosComplement(-999_999_999))
        case 14: .bytes([0xFF])  // -0.01, one byte sign-extended to four
        case 15: .bytes([0, 0, 0, 0, 0, 0, 1, 0])  // 2.56, eight bytes narrowed to four
        default: .bytes(twosComplement(Int128(i * 12345 % 99_999_999) * (i % 2 == 0 ? -1 : 1)))
        }
        let huge: ParquetCell = switch i {
        case 1: .bytes(twosComplement(maxHuge))
        case 2: .bytes(twosComplement(-maxHuge))
        case 3: .bytes([0xFF])
        default: .bytes(twosComplement(Int128(i) * 1_234_567_890_123_456_789 * 1_000_000_000_000 * (i % 3 == 0 ? -1 : 1)))
        }
        let day: Int32 = switch i {
        case 5: -719_162  // 0001-01-01
        case 6: 2_932_896  // 9999-12-31
        default: Int32(i * 97 - 20000)
        }
        let clock: Int64 = switch i {
        case 7: 0
        case 14: 86_399_999_999
        default: Int64(i) * 287_999_999 % 86_400_000_000
        }
        let name: String = switch i {
        case 1: ""
        case 2: "é☃😀"
        case 3: "z"
        default: "name-\(i)"
        }
        let kind = ["alpha", "beta", "gamma", "é"][i % 4]
        let address: ParquetCell =
            i % 5 == 0
            ? .null
            : .group([
                i % 4 == 0 ? .null : .bytes(Array("\(i) Main Street".utf8)),
                .int32(Int32(10000 + i)),
                i % 3 == 0 ? .null : .group([.double(Double(i) / 10), i % 2 == 0 ? .null : .double(-Double(i) / 3)]),
            ])
        return [
            .int64(Int64(i) * 1_000_003 - 150_000_000),
            i % 5 == 0 ? .null : .boolean(i % 3 == 0),
            i % 7 == 0 ? .null : small,
            i % 11 == 0 ? .null : big,
            i % 13 == 0 ? .null : ratio,
            .double(score),
            i % 6 == 0 ? .null : price,
            i % 4 == 0 ? .null : huge,
            i % 8 == 0 ? .null : .int32(day),
            i % 9 == 0 ? .null : .int64(clock),
            i % 10 == 0 ? .null : .int64(i == 1 ? .min : i == 2 ? .max : Int64(i) * 3_600_000_123 - 500_000_000_000_000),
            .int64(Int64(i) * 86_400_000_000 - 1_000_000_000_000_000),
            i % 12 == 0 ? .null : .bytes(Array(name.utf8)),
            .bytes(Array(kind.utf8)),
            i % 5 == 1 ? .null : .bytes((0..<16).map { UInt8(truncatingIfNeeded: i * 31 + $0 * 17) }),
            i % 3 == 2 ? .null : .bytes(i % 10 == 0 ? [] : [UInt8(truncatingIfNeeded: i), 0x00, 0xFF, UInt8(truncatingIfNeeded: i * 7)]),
            address,
            .group([i % 2 == 0 ? .null : .bytes(Array("source-\(i % 3)".utf8)), .boolean(i % 2 == 0)]),
        ]
    }
}

extension Int128 {
    func power(_ exponent: Int) -> Int128 {
        (0..<exponent).reduce(1) { product, _ in product * self }
    }
}
