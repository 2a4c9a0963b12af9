import DataModel

/// A table schema from a JSON Schema (the consumer's validation schema or
/// the sink's `schema`), field ids assigned in order from 1.
///
/// | JSON Schema | Iceberg |
/// |---|---|
/// | `boolean` | boolean |
/// | `integer` (`format: int32`) | long (int) |
/// | `number` (`format: float`) | double (float) |
/// | `number` or `string` with `format: decimal`, `precision`, `scale` | decimal(P, S) |
/// | `string` (`format`: `date`, `time`, `date-time`, `timestamp`, `uuid`) | string (date, time, timestamptz, timestamp, uuid) |
/// | `string` with `contentEncoding: base64` | binary |
/// | `object` with `properties` | struct |
/// | `array`, `object` without `properties` | string holding the JSON text |
///
/// `required` makes columns required; `"type": [T, "null"]` is an optional
/// T. Anything else (`$ref`, `oneOf`, unions of two types) is refused with
/// the path of the field, so a table is never created with a guess.
extension IcebergSchema {
    /// Columns per table, and nesting depth: bounds on untrusted specs.
    public static let maxColumns = 1000
    public static let maxDepth = 16

    public init(jsonSchema: Value) throws(IcebergError) {
        var mapper = JSONSchemaMapper()
        let fields = try mapper.structFields(jsonSchema, path: "", depth: 0)
        guard !fields.isEmpty else { throw IcebergError.schema("properties", "must declare at least one column") }
        self.init(id: 0, fields: fields)
    }
}

private struct JSONSchemaMapper {
    var nextID = 1

    mutating func structFields(_ schema: Value, path: String, depth: Int) throws(IcebergError) -> [IcebergField] {
        guard depth < IcebergSchema.maxDepth else { throw IcebergError.schema(path, "nests deeper than \(IcebergSchema.maxDepth) levels") }
        guard let object = schema.objectValue else { throw IcebergError.schema(path.isEmpty ? "schema" : path, "must be an object") }
        guard let properties = object["properties"]?.objectValue else {
            throw IcebergError.schema(join(path, "properties"), "must list the columns")
        }
        let required: [String]
        if let list = object["required"] {
            guard let names = list.arrayValue?.compactMap(\.stringValue), names.count == list.arrayValue?.count else {
                throw IcebergError.schema(join(path, "required"), "must be an array of property names")
            }
            required = names
        } else {
            required = []
        }
        for name in required where properties[name] == nil {
            throw IcebergError.schema(join(path, "required"), "names '\(name)', which is not a property")
        }
        // Ids of one struct's fields are consecutive, nested structs' after them.
        let ids = properties.fields.map { _ in take() }
        var fields: [IcebergField] = []
        for (index, property) in properties.fields.enumerated() {
            let fieldPath = join(join(path, "properties"), property.key)
            guard !property.key.isEmpty, property.key.utf8.count <= 255 else { throw IcebergError.schema(fieldPath, "names must be 1-255 bytes") }
            let (type, nullable) = try self.type(property.value, path: fieldPath, depth: depth)
            fields.append(IcebergField(id: ids[index], name: property.key, required: required.contains(property.key) && !nullable, type: type))
        }
        return fields
    }

    private mutating func take() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    private mutating func type(_ schema: Value, path: String, depth: Int) throws(IcebergError) -> (IcebergType, nullable: Bool) {
        guard nextID <= IcebergSchema.maxColumns else { throw IcebergError.schema(path, "more than \(IcebergSchema.maxColumns) columns") }
        guard let object = schema.objectValue else { throw IcebergError.schema(path, "must be an object") }
        for keyword in ["$ref", "oneOf", "anyOf", "allOf", "not", "if"] where object[keyword] != nil {
            throw IcebergError.schema(join(path, keyword), "is not supported in a table schema; give the column a single type")
        }
        var nullable = false
        let name: String
        switch object["type"] {
        case .string(let single)?:
            name = single
        case .array(let names)?:
            let types = names.compactMap(\.stringValue)
            let nonNull = types.filter { $0 != "null" }
            guard types.count == names.count, nonNull.count == 1, types.count <= 2 else {
                throw IcebergError.schema(join(path, "type"), "a column has one type, optionally with \"null\"")
            }
            name = nonNull[0]
            nullable = types.count == 2
        default:
            throw IcebergError.schema(join(path, "type"), "is required (one of boolean, integer, number, string, object, array)")
        }
        let format = object["format"]?.stringValue
        switch name {
        case "boolean":
            return (.boolean, nullable)
        case "integer":
            switch format {
            case nil, "int64": return (.long, nullable)
            case "int32": return (.int, nullable)
            default: throw IcebergError.schema(join(path, "format"), "an integer column's format is int32 or int64")
            }
        case "number":
            switch format {
            case nil, "double": return (.double, nullable)
            case "float": return (.float, nullable)
            case "decimal": return (try decimal(object, path: path), nullable)
            default: throw IcebergError.schema(join(path, "format"), "a number column's format is float, double or decimal")
            }
        case "string":
            if object["contentEncoding"]?.stringValue == "base64" { return (.binary, nullable) }
            switch format {
            case nil: return (.string, nullable)
            case "date": return (.date, nullable)
            case "time": return (.time, nullable)
            case "date-time": return (.timestamp(utc: true), nullable)
            case "timestamp": return (.timestamp(utc: false), nullable)
            case "uuid": return (.uuid, nullable)
            case "decimal": return (try decimal(object, path: path), nullable)
            default:
                throw IcebergError.schema(join(path, "format"), "a string column's format is date, time, date-time, timestamp, uuid or decimal")
            }
        case "object":
            // A map (no declared properties) is kept as JSON text.
            guard object["properties"] != nil else { return (.string, nullable) }
            return (.structure(try structFields(schema, path: path, depth: depth + 1)), nullable)
        case "array":
            return (.string, nullable)
        default:
            throw IcebergError.schema(join(path, "type"), "'\(name)' is not a column type (boolean, integer, number, string, object, array)")
        }
    }

    private func decimal(_ object: Value.Object, path: String) throws(IcebergError) -> IcebergType {
        guard let precision = object["precision"]?.integerValue, (1...38).contains(precision) else {
            throw IcebergError.schema(join(path, "precision"), "a decimal column needs a precision from 1 to 38")
        }
        let scale = object["scale"]?.integerValue ?? 0
        guard (0...precision).contains(scale) else { throw IcebergError.schema(join(path, "scale"), "must be between 0 and the precision") }
        return .decimal(precision: Int(precision), scale: Int(scale))
    }

    private func join(_ path: String, _ component: String) -> String {
        path.isEmpty ? component : "\(path).\(component)"
    }
}
