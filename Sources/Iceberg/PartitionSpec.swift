import DataModel
import Parquet

/// How a partition value is derived from its source column.
public enum PartitionTransform: String, Sendable, Equatable, CaseIterable, Codable {
    case identity, day, hour
}

/// One field of a partition spec: `timestamp` by `day` is `timestamp_day`.
public struct PartitionField: Sendable, Equatable {
    public var sourceID: Int
    public var fieldID: Int
    public var name: String
    public var transform: PartitionTransform
    /// The source column's type (the partition value's type follows from it).
    public var sourceType: IcebergType

    /// The type of the partition value (spec: "Partition Transforms").
    public var resultType: IcebergType {
        switch transform {
        case .identity: sourceType
        case .day: .date
        case .hour: .int
        }
    }
}

/// A table's partition spec; partition field ids start at 1000 (spec).
public struct PartitionSpec: Sendable, Equatable {
    public var id: Int
    public var fields: [PartitionField]

    public static let firstFieldID = 1000

    public init(id: Int = 0, fields: [PartitionField]) {
        self.id = id
        self.fields = fields
    }

    /// The spec for `[(column, transform)]` over `schema`'s top-level columns;
    /// errors name the index into the list.
    public init(schema: IcebergSchema, partitionBy: [(field: String, transform: PartitionTransform)]) throws(IcebergError) {
        var fields: [PartitionField] = []
        for (index, entry) in partitionBy.enumerated() {
            let path = "[\(index)]"
            guard let source = schema.field(named: entry.field) else {
                throw IcebergError.schema("\(path).field", "'\(entry.field)' is not a top-level column of the table")
            }
            switch (entry.transform, source.type) {
            case (.identity, .boolean), (.identity, .int), (.identity, .long), (.identity, .string), (.identity, .date),
                (.day, .date), (.day, .timestamp), (.hour, .timestamp):
                break
            default:
                throw IcebergError.schema(
                    "\(path).transform",
                    "\(entry.transform.rawValue) does not apply to column '\(entry.field)' (\(source.type.primitiveName ?? "struct")): "
                        + "day takes a date or timestamp, hour a timestamp, identity a boolean, int, long, string or date")
            }
            let name = entry.transform == .identity ? source.name : "\(source.name)_\(entry.transform.rawValue)"
            guard !fields.contains(where: { $0.name == name }) else { throw IcebergError.schema(path, "partitions by '\(name)' twice") }
            fields.append(
                PartitionField(sourceID: source.id, fieldID: Self.firstFieldID + index, name: name, transform: entry.transform, sourceType: source.type))
        }
        self.init(id: 0, fields: fields)
    }

    /// Per partition field, the index of the top-level column it reads
    /// (nil when the schema has none): looked up once, used for every row.
    func sourceColumns(in schema: IcebergSchema) -> [Int?] {
        fields.map { field in schema.fields.firstIndex(where: { $0.id == field.sourceID }) }
    }

    /// The partition values of a row whose top-level cells are `row`;
    /// `columns` from ``sourceColumns(in:)``.
    func values(of row: [ParquetCell], columns: [Int?]) -> [ParquetCell] {
        zip(fields, columns).map { field, column in
            guard let column else { return .null }
            return Self.apply(field.transform, to: row[column])
        }
    }

    static func apply(_ transform: PartitionTransform, to cell: ParquetCell) -> ParquetCell {
        switch (transform, cell) {
        case (.identity, _): cell
        case (.day, .int32): cell  // a date is already days
        case (.day, .int64(let micros)): .int32(Int32(truncatingIfNeeded: floorDivide(micros, CivilTime.microsPerDay)))
        case (.hour, .int64(let micros)): .int32(Int32(truncatingIfNeeded: floorDivide(micros, 3_600 * CivilTime.microsPerSecond)))
        default: .null
        }
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && value < 0) ? quotient - 1 : quotient
    }

    /// The directory of a partition, Hive style: `timestamp_day=2024-01-15`.
    func path(of values: [ParquetCell]) -> String {
        zip(fields, values).map { field, value in "\(field.name)=\(Self.text(value, field))" }.joined(separator: "/")
    }

    private static func text(_ value: ParquetCell, _ field: PartitionField) -> String {
        switch (value, field.resultType) {
        case (.null, _): return "null"
        case (.int32(let days), .date):
            var out: [UInt8] = []
            CivilTime.appendDate(days: Int64(days), to: &out)
            return String(decoding: out, as: UTF8.self)
        case (.int32(let hours), _) where field.transform == .hour:
            var out: [UInt8] = []
            let (days, hour) = (floorDivide(Int64(hours), 24), Int64(hours) - floorDivide(Int64(hours), 24) * 24)
            CivilTime.appendDate(days: days, to: &out)
            return String(decoding: out, as: UTF8.self) + (hour < 10 ? "-0\(hour)" : "-\(hour)")
        case (.int32(let number), _): return String(number)
        case (.int64(let number), _): return String(number)
        case (.boolean(let flag), _): return String(flag)
        case (.bytes(let bytes), _): return escaped(bytes)
        default: return "null"
        }
    }

    /// Partition directory names keep only characters safe in any path.
    private static func escaped(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            if byte.isASCIIUnreserved {
                out.append(byte)
            } else {
                out += [0x25, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Metadata JSON

    /// `{"spec-id": 0, "fields": [...]}`.
    public var json: Value {
        .object(Value.Object(["spec-id": .int(Int64(id)), "fields": fieldsJSON]))
    }

    /// The `fields` list alone (a manifest's `partition-spec` header).
    var fieldsJSON: Value {
        .array(
            fields.map { field in
                .object(Value.Object([
                    "name": .string(field.name), "transform": .string(field.transform.rawValue),
                    "source-id": .int(Int64(field.sourceID)), "field-id": .int(Int64(field.fieldID)),
                ]))
            })
    }

    public init(json: Value, schema: IcebergSchema) throws(IcebergError) {
        guard let object = json.objectValue, let fields = object["fields"]?.arrayValue else {
            throw IcebergError.metadata("a partition spec has no fields")
        }
        var parsed: [PartitionField] = []
        for field in fields {
            guard let entry = field.objectValue, let name = entry["name"]?.stringValue, let sourceID = entry["source-id"]?.integerValue,
                let fieldID = entry["field-id"]?.integerValue, let transformName = entry["transform"]?.stringValue
            else { throw IcebergError.metadata("a partition field lacks name, source-id, field-id or transform") }
            guard let transform = PartitionTransform(rawValue: transformName) else {
                throw IcebergError.metadata("partition transform '\(transformName)' is not supported by consumerd")
            }
            guard let source = schema.field(id: Int(sourceID)) else { throw IcebergError.metadata("partition source \(sourceID) is not a column") }
            parsed.append(PartitionField(sourceID: Int(sourceID), fieldID: Int(fieldID), name: name, transform: transform, sourceType: source.type))
        }
        self.init(id: Int(object["spec-id"]?.integerValue ?? 0), fields: parsed)
    }

    /// Same partitioning, whatever the ids.
    public func sameShape(as other: PartitionSpec) -> Bool {
        fields.map { "\($0.name)/\($0.transform)/\($0.sourceType)" } == other.fields.map { "\($0.name)/\($0.transform)/\($0.sourceType)" }
    }
}

extension UInt8 {
    fileprivate var isASCIIUnreserved: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) || self == 0x2D || self == 0x2E
            || self == 0x5F
    }
}
