import DataModel
import Parquet

/// An Iceberg type (spec: "Schemas and Data Types"). Lists and maps are not
/// modelled: the sink stores such values as JSON text in `string` columns.
public indirect enum IcebergType: Sendable, Equatable {
    case boolean, int, long, float, double
    case decimal(precision: Int, scale: Int)
    case date, time
    /// Without zone (`timestamp`) or adjusted to UTC (`timestamptz`), microseconds.
    case timestamp(utc: Bool)
    case string, uuid, binary
    case structure([IcebergField])

    /// The name in table metadata (`"decimal(10, 2)"`, `"timestamptz"`).
    public var primitiveName: String? {
        switch self {
        case .boolean: "boolean"
        case .int: "int"
        case .long: "long"
        case .float: "float"
        case .double: "double"
        case .decimal(let precision, let scale): "decimal(\(precision), \(scale))"
        case .date: "date"
        case .time: "time"
        case .timestamp(let utc): utc ? "timestamptz" : "timestamp"
        case .string: "string"
        case .uuid: "uuid"
        case .binary: "binary"
        case .structure: nil
        }
    }

    init?(primitiveName name: String) {
        switch name {
        case "boolean": self = .boolean
        case "int": self = .int
        case "long": self = .long
        case "float": self = .float
        case "double": self = .double
        case "date": self = .date
        case "time": self = .time
        case "timestamp": self = .timestamp(utc: false)
        case "timestamptz": self = .timestamp(utc: true)
        case "string": self = .string
        case "uuid": self = .uuid
        case "binary": self = .binary
        default:
            // decimal(P, S), with or without the space.
            guard name.hasPrefix("decimal("), name.hasSuffix(")") else { return nil }
            let numbers = name.dropFirst(8).dropLast().split(separator: ",").map { Int(String($0.filter { $0 != " " })) }
            guard numbers.count == 2, let precision = numbers[0], let scale = numbers[1] else { return nil }
            self = .decimal(precision: precision, scale: scale)
        }
    }

    /// How the type is stored in Parquet (spec: "Parquet" appendix).
    var parquetType: ParquetType {
        switch self {
        case .boolean: .boolean
        case .int: .int32
        case .long: .int64
        case .float: .float
        case .double: .double
        case .decimal(let precision, let scale): .decimal(precision: precision, scale: scale)
        case .date: .date
        case .time: .time
        case .timestamp(let utc): .timestamp(adjustedToUTC: utc)
        case .string: .string
        case .uuid: .uuid
        case .binary: .binary
        case .structure(let fields): .group(fields.map(\.parquetField))
        }
    }
}

/// A field of a schema or struct, with the id Iceberg tracks it by.
public struct IcebergField: Sendable, Equatable {
    public var id: Int
    public var name: String
    public var required: Bool
    public var type: IcebergType

    public init(id: Int, name: String, required: Bool, type: IcebergType) {
        self.id = id
        self.name = name
        self.required = required
        self.type = type
    }

    var parquetField: ParquetField {
        ParquetField(name: name, fieldID: Int32(id), type: type.parquetType, required: required)
    }

    /// This field and every field nested in it, depth first.
    var flattened: [IcebergField] {
        guard case .structure(let children) = type else { return [self] }
        return [self] + children.flatMap(\.flattened)
    }
}

/// A table schema: its id and top-level fields.
public struct IcebergSchema: Sendable, Equatable {
    public var id: Int
    public var fields: [IcebergField]

    public init(id: Int = 0, fields: [IcebergField]) {
        self.id = id
        self.fields = fields
    }

    public var parquetSchema: ParquetSchema { ParquetSchema(fields: fields.map(\.parquetField)) }

    /// The highest field id, the table's `last-column-id`.
    public var lastColumnID: Int { fields.flatMap(\.flattened).map(\.id).max() ?? 0 }

    /// A top-level field by name.
    public func field(named name: String) -> IcebergField? { fields.first { $0.name == name } }

    /// Any field, nested ones included, by id.
    public func field(id: Int) -> IcebergField? { fields.flatMap(\.flattened).first { $0.id == id } }

    /// The same columns regardless of ids: what decides whether a table's
    /// schema can take the records a spec describes.
    public func sameShape(as other: IcebergSchema) -> Bool {
        func shape(_ fields: [IcebergField]) -> [String] {
            fields.map { field in
                let type: String = if case .structure(let children) = field.type { "struct<\(shape(children).joined(separator: ","))>" }
                    else { field.type.primitiveName ?? "" }
                return "\(field.name):\(field.required ? "required" : "optional"):\(type)"
            }
        }
        return shape(fields) == shape(other.fields)
    }
}

// MARK: Table metadata JSON

extension IcebergSchema {
    /// `{"type": "struct", "schema-id": 0, "fields": [...]}`.
    public var json: Value {
        .object(Value.Object([
            "type": "struct", "schema-id": .int(Int64(id)), "fields": .array(fields.map(Self.json)),
        ]))
    }

    static func json(_ field: IcebergField) -> Value {
        .object(Value.Object([
            "id": .int(Int64(field.id)), "name": .string(field.name), "required": .bool(field.required), "type": json(field.type),
        ]))
    }

    static func json(_ type: IcebergType) -> Value {
        if case .structure(let fields) = type {
            return .object(Value.Object(["type": "struct", "fields": .array(fields.map(json))]))
        }
        return .string(type.primitiveName ?? "")
    }

    public init(json: Value) throws(IcebergError) {
        guard let object = json.objectValue, let fields = object["fields"]?.arrayValue else {
            throw IcebergError.metadata("a schema is not a struct with fields")
        }
        self.init(id: Int(object["schema-id"]?.integerValue ?? 0), fields: try fields.map(Self.field))
    }

    static func field(_ json: Value) throws(IcebergError) -> IcebergField {
        guard let object = json.objectValue, let id = object["id"]?.integerValue, let name = object["name"]?.stringValue,
            let type = object["type"]
        else { throw IcebergError.metadata("a schema field lacks id, name or type") }
        return IcebergField(id: Int(id), name: name, required: object["required"]?.boolValue ?? false, type: try self.type(type))
    }

    static func type(_ json: Value) throws(IcebergError) -> IcebergType {
        if let name = json.stringValue {
            guard let type = IcebergType(primitiveName: name) else { throw IcebergError.metadata("type '\(name)' is not supported by consumerd") }
            return type
        }
        guard let object = json.objectValue, object["type"]?.stringValue == "struct", let fields = object["fields"]?.arrayValue else {
            throw IcebergError.metadata("list and map columns are not supported by consumerd")
        }
        return .structure(try fields.map(field))
    }
}
