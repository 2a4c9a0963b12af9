/// A column's type as the writer stores it: a Parquet physical type plus the
/// logical annotation Iceberg readers expect.
public indirect enum ParquetType: Sendable, Equatable {
    case boolean, int32, int64, float, double
    /// FIXED_LEN_BYTE_ARRAY of the smallest width that holds `precision`
    /// digits (Iceberg's rule), logical DECIMAL; precision 1...38, scale 0...precision.
    case decimal(precision: Int, scale: Int)
    /// INT32 days since 1970-01-01, logical DATE.
    case date
    /// INT64 microseconds since midnight, logical TIME(isAdjustedToUTC=false, MICROS).
    case time
    /// INT64 microseconds since the epoch, logical TIMESTAMP(isAdjustedToUTC, MICROS).
    case timestamp(adjustedToUTC: Bool)
    /// BYTE_ARRAY, logical STRING.
    case string
    /// FIXED_LEN_BYTE_ARRAY(16), logical UUID.
    case uuid
    /// BYTE_ARRAY without annotation.
    case binary
    /// A nested struct.
    case group([ParquetField])
}

public struct ParquetField: Sendable, Equatable {
    public var name: String
    /// Written as SchemaElement.field_id; Iceberg readers match columns by it.
    public var fieldID: Int32?
    public var type: ParquetType
    public var required: Bool

    public init(name: String, fieldID: Int32?, type: ParquetType, required: Bool) {
        self.name = name
        self.fieldID = fieldID
        self.type = type
        self.required = required
    }
}

/// A primitive column of the file: one per non-group field, depth-first.
public struct ParquetLeaf: Sendable, Equatable {
    public var path: [String]
    public var fieldID: Int32?
    public var type: ParquetType
    /// The number of optional fields on the path, the leaf included: the
    /// definition level of a present value.
    public var maxDefinitionLevel: Int
}

public struct ParquetSchema: Sendable, Equatable {
    public var fields: [ParquetField]

    public init(fields: [ParquetField]) {
        self.fields = fields
    }

    /// Leaf columns in file order (depth-first), each with its path and field id.
    public var leaves: [ParquetLeaf] {
        var leaves: [ParquetLeaf] = []
        func visit(_ fields: [ParquetField], path: [String], definitionLevel: Int) {
            for field in fields {
                let level = definitionLevel + (field.required ? 0 : 1)
                if case .group(let children) = field.type {
                    visit(children, path: path + [field.name], definitionLevel: level)
                } else {
                    leaves.append(ParquetLeaf(path: path + [field.name], fieldID: field.fieldID, type: field.type, maxDefinitionLevel: level))
                }
            }
        }
        visit(fields, path: [], definitionLevel: 0)
        return leaves
    }

    /// Throws for what Parquet cannot represent: an empty schema or struct, a
    /// decimal outside precision 1...38 or scale 0...precision, nesting deeper
    /// than 255 optional levels. The writer checks this on its first use.
    public func validate() throws(ParquetError) {
        func check(_ fields: [ParquetField], path: [String], definitionLevel: Int) throws(ParquetError) {
            guard !fields.isEmpty else {
                throw ParquetError(path.isEmpty ? "the schema has no fields" : "struct '\(path.joined(separator: "."))' has no fields")
            }
            for field in fields {
                let fieldPath = path + [field.name]
                let level = definitionLevel + (field.required ? 0 : 1)
                guard level <= Int(UInt8.max) else {
                    throw ParquetError("'\(fieldPath.joined(separator: "."))' is nested too deeply")
                }
                switch field.type {
                case .group(let children):
                    try check(children, path: fieldPath, definitionLevel: level)
                case .decimal(let precision, let scale):
                    guard (1...38).contains(precision), (0...precision).contains(scale) else {
                        throw ParquetError("'\(fieldPath.joined(separator: "."))': decimal(\(precision), \(scale)) needs precision 1...38 and scale 0...precision")
                    }
                default:
                    break
                }
            }
        }
        try check(fields, path: [], definitionLevel: 0)
    }
}

/// Parquet's physical types (Thrift enum `Type`); INT96 is never written.
enum PhysicalType: Int32 {
    case boolean = 0, int32 = 1, int64 = 2, float = 4, double = 5, byteArray = 6, fixedLenByteArray = 7
}

extension ParquetType {
    var physicalType: PhysicalType {
        switch self {
        case .boolean: .boolean
        case .int32, .date: .int32
        case .int64, .time, .timestamp: .int64
        case .float: .float
        case .double: .double
        case .string, .binary: .byteArray
        case .decimal, .uuid: .fixedLenByteArray
        case .group: preconditionFailure("a group has no physical type")
        }
    }

    /// The width of FIXED_LEN_BYTE_ARRAY columns, nil for the others.
    var fixedLength: Int? {
        switch self {
        case .decimal(let precision, _): ParquetType.decimalByteWidth(precision: precision)
        case .uuid: 16
        default: nil
        }
    }

    /// Iceberg's rule: the smallest n with 2^(8n-1) >= 10^precision.
    static func decimalByteWidth(precision: Int) -> Int {
        decimalByteWidths[precision]
    }

    /// 10^precision for precision 0...38, the bound a decimal's unscaled value must stay under.
    static let powersOfTen: [UInt128] = (0...38).map { exponent in
        (0..<exponent).reduce(UInt128(1)) { power, _ in power * 10 }
    }

    private static let decimalByteWidths: [Int] = powersOfTen.map { power in
        (1...16).first { width in power <= UInt128(1) << (8 * width - 1) }!
    }
}
