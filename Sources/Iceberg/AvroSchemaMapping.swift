import Avro
import DataModel

/// A table schema from the Avro schema a consumer decodes records to (its
/// reader schema, or its inline writer schema), field ids in order from 1.
///
/// Records are structs; `["null", T]` is an optional T; `int` with `date`,
/// `time-millis`, `long` with `time-micros`, `timestamp-*` (timestamptz) and
/// `local-timestamp-*` (timestamp), `bytes` or `fixed` with `decimal`, and
/// `string` with `uuid` map to their Iceberg types; enums are strings, other
/// fixed and bytes binary; arrays and maps are JSON text, as with a JSON
/// Schema. Unions of two non-null types are refused with the field's path.
extension IcebergSchema {
    /// From the schema's JSON, as a spec carries it.
    public init(avroSchema json: Value) throws(IcebergError) {
        let parsed: AvroSchema
        do {
            parsed = try AvroSchema(json: json)
        } catch {
            throw IcebergError.schema("", "not a valid Avro schema: \(error)")
        }
        try self.init(avroSchema: parsed)
    }

    public init(avroSchema: AvroSchema) throws(IcebergError) {
        guard case .record(let record) = avroSchema.resolve(avroSchema.root) else {
            throw IcebergError.schema("type", "the Avro schema of a table must be a record")
        }
        var mapper = AvroSchemaMapper(schema: avroSchema)
        self.init(id: 0, fields: try mapper.fields(record, path: "", depth: 0))
    }
}

private struct AvroSchemaMapper {
    let schema: AvroSchema
    var nextID = 1

    mutating func fields(_ record: AvroType.Record, path: String, depth: Int) throws(IcebergError) -> [IcebergField] {
        guard depth < IcebergSchema.maxDepth else { throw IcebergError.schema(path, "nests deeper than \(IcebergSchema.maxDepth) levels") }
        let ids = record.fields.map { _ -> Int in
            defer { nextID += 1 }
            return nextID
        }
        guard nextID <= IcebergSchema.maxColumns + 1 else { throw IcebergError.schema(path, "more than \(IcebergSchema.maxColumns) columns") }
        var result: [IcebergField] = []
        for (index, field) in record.fields.enumerated() {
            let fieldPath = path.isEmpty ? field.name : "\(path).\(field.name)"
            var type = schema.resolve(field.type)
            var required = true
            if case .union(let branches) = type {
                let nonNull = branches.filter { schema.resolve($0) != .null }
                guard nonNull.count == 1, branches.count <= 2 else {
                    throw IcebergError.schema(fieldPath, "a union of several types cannot be a column; use [\"null\", T]")
                }
                type = schema.resolve(nonNull[0])
                required = branches.count == 1
            }
            result.append(IcebergField(id: ids[index], name: field.name, required: required, type: try self.type(type, path: fieldPath, depth: depth)))
        }
        return result
    }

    private mutating func type(_ type: AvroType, path: String, depth: Int) throws(IcebergError) -> IcebergType {
        switch type {
        case .boolean: return .boolean
        case .int(.date): return .date
        case .int(.timeMillis), .long(.timeMicros): return .time
        case .int(nil): return .int
        case .long(.timestampMillis), .long(.timestampMicros): return .timestamp(utc: true)
        case .long(.localTimestampMillis), .long(.localTimestampMicros): return .timestamp(utc: false)
        case .long(nil): return .long
        case .float: return .float
        case .double: return .double
        case .bytes(let decimal?):
            return try self.decimal(decimal, path: path)
        case .fixed(let fixed):
            guard let decimal = fixed.decimal else { return .binary }
            return try self.decimal(decimal, path: path)
        case .bytes: return .binary
        case .string(let uuid): return uuid ? .uuid : .string
        case .enumeration, .array, .map: return .string
        case .record(let record): return .structure(try fields(record, path: path, depth: depth + 1))
        case .null: throw IcebergError.schema(path, "a column cannot be only null")
        case .union: throw IcebergError.schema(path, "a union of several types cannot be a column")
        case .reference(let name): throw IcebergError.schema(path, "unresolved type '\(name)'")
        }
    }

    private func decimal(_ decimal: AvroType.DecimalType, path: String) throws(IcebergError) -> IcebergType {
        guard (1...38).contains(decimal.precision) else { throw IcebergError.schema(path, "decimal precision above 38") }
        return .decimal(precision: decimal.precision, scale: decimal.scale)
    }
}
