/// Checks rows against the schema, then splits them into the leaf columns
/// with each value's definition level. Checking comes first and touches no
/// column, so a rejected row leaves nothing behind.
///
/// The schema is flattened into `nodes`, a group's fields in one contiguous
/// range, so walking a row copies only plain values (no reference counting).
struct RowShredder {
    private var nodes: [Node] = []
    /// Per node, for error messages only: the dotted path and the declared type.
    private var paths: [String] = []
    private var types: [ParquetType] = []
    private var topLevel: Range<Int> = 0..<0

    private struct Node {
        var required: Bool
        var kind: Kind
    }

    private enum Kind {
        case leaf(column: Int, value: LeafValue)
        /// `columns`: the leaves under the group, which all take a null when the group is null.
        case group(fields: Range<Int>, columns: Range<Int>)
    }

    /// The cell a leaf takes when present.
    private enum LeafValue {
        case boolean, int32, int64, float, double, byteArray, uuid
        case decimal(precision: Int)

        init(_ type: ParquetType) {
            self =
                switch type {
                case .boolean: .boolean
                case .int32, .date: .int32
                case .int64, .time, .timestamp: .int64
                case .float: .float
                case .double: .double
                case .string, .binary: .byteArray
                case .uuid: .uuid
                case .decimal(let precision, _): .decimal(precision: precision)
                case .group: preconditionFailure("a group is not a leaf")
                }
        }
    }

    /// Values above this are refused: page sizes are 32-bit in the format.
    static let maxValueBytes = 1 << 30

    init(schema: ParquetSchema) {
        var nextColumn = 0
        topLevel = place(schema.fields, path: "", nextColumn: &nextColumn)
    }

    /// Lays out `fields` contiguously, then each group's fields after them;
    /// leaves are numbered depth-first, the file's column order.
    private mutating func place(_ fields: [ParquetField], path: String, nextColumn: inout Int) -> Range<Int> {
        let start = nodes.count
        for field in fields {
            nodes.append(Node(required: field.required, kind: .group(fields: 0..<0, columns: 0..<0)))
            paths.append(path.isEmpty ? field.name : "\(path).\(field.name)")
            types.append(field.type)
        }
        for (offset, field) in fields.enumerated() {
            let index = start + offset
            if case .group(let children) = field.type {
                let firstColumn = nextColumn
                let childFields = place(children, path: paths[index], nextColumn: &nextColumn)
                nodes[index].kind = .group(fields: childFields, columns: firstColumn..<nextColumn)
            } else {
                nodes[index].kind = .leaf(column: nextColumn, value: LeafValue(field.type))
                nextColumn += 1
            }
        }
        return start..<start + fields.count
    }

    func validate(_ row: [ParquetCell]) throws(ParquetError) {
        try validate(row, topLevel, parent: nil)
    }

    func shred(_ row: [ParquetCell], into columns: inout [ColumnWriter]) {
        shred(row, topLevel, definitionLevel: 0, into: &columns)
    }

    private func validate(_ cells: [ParquetCell], _ fields: Range<Int>, parent: Int?) throws(ParquetError) {
        guard cells.count == fields.count else {
            let context = parent.map { "'\(paths[$0])'" } ?? "row"
            throw ParquetError("\(context): \(cells.count) cells for \(fields.count) fields")
        }
        for offset in cells.indices {
            let (cell, index) = (cells[offset], fields.lowerBound + offset)
            switch (cell, nodes[index].kind) {
            case (.null, _):
                if nodes[index].required { throw ParquetError("'\(paths[index])' is required but null") }
            case (.group(let inner), .group(let children, _)):
                try validate(inner, children, parent: index)
            case (.group, .leaf), (_, .group):
                throw mismatch(cell, at: index)
            case (_, .leaf(_, let value)):
                try check(cell, value, at: index)
            }
        }
    }

    /// A present primitive cell against its leaf.
    private func check(_ cell: ParquetCell, _ value: LeafValue, at index: Int) throws(ParquetError) {
        switch (value, cell) {
        case (.boolean, .boolean), (.int32, .int32), (.int64, .int64), (.float, .float), (.double, .double):
            return
        case (.byteArray, .bytes(let bytes)):
            guard bytes.count <= Self.maxValueBytes else {
                throw ParquetError("'\(paths[index])': \(bytes.count) bytes is over the \(Self.maxValueBytes)-byte limit")
            }
        case (.uuid, .bytes(let bytes)):
            guard bytes.count == 16 else { throw ParquetError("'\(paths[index])': a uuid needs 16 bytes, got \(bytes.count)") }
        case (.decimal(let precision), .bytes(let bytes)):
            guard let unscaled = DecimalValue.unscaled(bytes), DecimalValue.fits(unscaled, precision: precision) else {
                throw ParquetError("'\(paths[index])': the unscaled value does not fit decimal precision \(precision)")
            }
        default:
            throw mismatch(cell, at: index)
        }
    }

    private func shred(_ cells: [ParquetCell], _ fields: Range<Int>, definitionLevel: UInt8, into columns: inout [ColumnWriter]) {
        for offset in cells.indices {
            let (cell, index) = (cells[offset], fields.lowerBound + offset)
            switch (cell, nodes[index].kind) {
            case (.null, .leaf(let column, _)):
                columns[column].appendNull(definitionLevel: definitionLevel)
            case (.null, .group(_, let leaves)):
                for column in leaves { columns[column].appendNull(definitionLevel: definitionLevel) }
            case (.group(let inner), .group(let children, _)):
                let level = nodes[index].required ? definitionLevel : definitionLevel + 1
                shred(inner, children, definitionLevel: level, into: &columns)
            case (_, .leaf(let column, _)):
                columns[column].append(cell)
            case (_, .group):
                preconditionFailure("validated rows match the schema")
            }
        }
    }

    private func mismatch(_ cell: ParquetCell, at index: Int) -> ParquetError {
        ParquetError("'\(paths[index])': \(Self.describe(cell)) where \(Self.describe(types[index])) was expected")
    }

    private static func describe(_ type: ParquetType) -> String {
        switch type {
        case .boolean: "a boolean"
        case .int32: "an int32"
        case .int64: "an int64"
        case .float: "a float"
        case .double: "a double"
        case .decimal(let precision, let scale): "a decimal(\(precision), \(scale)) as bytes"
        case .date: "a date as int32"
        case .time: "a time as int64"
        case .timestamp: "a timestamp as int64"
        case .string: "a string as bytes"
        case .uuid: "a uuid as bytes"
        case .binary: "bytes"
        case .group: "a struct"
        }
    }

    private static func describe(_ cell: ParquetCell) -> String {
        switch cell {
        case .null: "null"
        case .boolean: "a boolean"
        case .int32: "an int32"
        case .int64: "an int64"
        case .float: "a float"
        case .double: "a double"
        case .bytes: "bytes"
        case .group: "a struct"
        }
    }
}
