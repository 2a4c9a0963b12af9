import Avro
import DataModel
import Parquet

/// A record's value as a table row: each column's cell from the field of
/// the same name, converted to the column's type. What cannot be converted
/// is an error naming the field; the record is then refused (dead-lettered),
/// never written with a guess.
///
/// Accepted per column type: the JSON forms and the typed values Avro
/// decoding produces. Timestamps take RFC 3339 text (no zone: UTC) or
/// integers as epoch milliseconds; dates take `YYYY-MM-DD` or epoch days;
/// times `HH:MM:SS[.ffffff]`; decimals numbers or decimal text; uuids their
/// text form; binary base64 text. A `string` column takes an array or object
/// as its JSON text. Fields not in the table are not written.
public struct RowConverter: Sendable {
    public let schema: IcebergSchema

    public init(schema: IcebergSchema) {
        self.schema = schema
    }

    public func row(_ value: Value) throws(IcebergError) -> [ParquetCell] {
        guard let object = value.objectValue else {
            throw IcebergError.schema("value", "expected a JSON object, got \(value.typeName)")
        }
        return try cells(object, schema.fields, path: "")
    }

    private func cells(_ object: Value.Object, _ fields: [IcebergField], path: String) throws(IcebergError) -> [ParquetCell] {
        var row: [ParquetCell] = []
        row.reserveCapacity(fields.count)
        for field in fields {
            let fieldPath = path.isEmpty ? field.name : "\(path).\(field.name)"
            let value = object[field.name] ?? .null
            if value.isNull {
                guard !field.required else { throw IcebergError.schema(fieldPath, "is required") }
                row.append(.null)
            } else {
                row.append(try cell(value, field.type, path: fieldPath))
            }
        }
        return row
    }

    private func cell(_ value: Value, _ type: IcebergType, path: String) throws(IcebergError) -> ParquetCell {
        func mismatch() -> IcebergError {
            IcebergError.schema(path, "expected \(type.primitiveName ?? "an object"), got \(value.typeName)")
        }
        switch type {
        case .boolean:
            guard let flag = value.boolValue else { throw mismatch() }
            return .boolean(flag)
        case .int:
            guard let number = value.integerValue, let int = Int32(exactly: number) else { throw mismatch() }
            return .int32(int)
        case .long:
            guard let number = value.integerValue else { throw mismatch() }
            return .int64(number)
        case .float:
            guard let number = value.numberValue else { throw mismatch() }
            return .float(Float(number))
        case .double:
            guard let number = value.numberValue else { throw mismatch() }
            return .double(number)
        case .decimal(let precision, let scale):
            let text: String? = switch value {
            case .decimal(let text), .string(let text): text
            case .int(let number): String(number)
            case .double(let number) where number.isFinite: String(number)
            default: nil
            }
            guard let text, Self.integerDigits(text) <= precision - scale, let bytes = DecimalText.twosComplement(text, scale: scale, size: nil) else {
                throw IcebergError.schema(path, "'\(value)' is not a decimal(\(precision), \(scale))")
            }
            return .bytes(bytes)
        case .date:
            switch value {
            case .date(let days): return .int32(days)
            case .string(let text):
                guard text.utf8.count == 10, let micros = CivilTime.parseTimestamp(text) else { throw mismatch() }
                return .int32(Int32(truncatingIfNeeded: micros / CivilTime.microsPerDay))
            case .int(let days):
                guard let days = Int32(exactly: days) else { throw mismatch() }
                return .int32(days)
            default: throw mismatch()
            }
        case .time:
            switch value {
            case .time(let micros, _): return .int64(micros)
            case .string(let text):
                guard let micros = CivilTime.parseTimestamp("1970-01-01T\(text)"), (0..<CivilTime.microsPerDay).contains(micros) else {
                    throw mismatch()
                }
                return .int64(micros)
            default: throw mismatch()
            }
        case .timestamp:
            switch value {
            case .timestamp(let micros, _, _): return .int64(micros)
            case .string(let text):
                guard let micros = CivilTime.parseTimestamp(text) else { throw mismatch() }
                return .int64(micros)
            case .int(let millis):
                let (micros, overflow) = millis.multipliedReportingOverflow(by: 1000)
                guard !overflow else { throw mismatch() }
                return .int64(micros)
            default: throw mismatch()
            }
        case .string:
            switch value {
            case .string(let text): return .bytes(Array(text.utf8))
            case .array, .object: return .bytes(Array(JSONWriter.string(value).utf8))
            default: throw mismatch()
            }
        case .uuid:
            switch value {
            case .string(let text):
                guard let bytes = Self.uuidBytes(text) else { throw mismatch() }
                return .bytes(bytes)
            case .bytes(let bytes) where bytes.count == 16: return .bytes(bytes)
            default: throw mismatch()
            }
        case .binary:
            switch value {
            case .bytes(let bytes): return .bytes(bytes)
            case .string(let text):
                guard let bytes = Base64.decode(text) else { throw IcebergError.schema(path, "is not base64") }
                return .bytes(bytes)
            default: throw mismatch()
            }
        case .structure(let fields):
            guard let object = value.objectValue else { throw mismatch() }
            return .group(try cells(object, fields, path: path))
        }
    }

    /// Digits before the point, leading zeros aside: what must fit in precision − scale.
    private static func integerDigits(_ text: String) -> Int {
        let integerPart = text.utf8.drop { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }.prefix { $0 != UInt8(ascii: ".") }
        return integerPart.drop { $0 == UInt8(ascii: "0") }.count
    }

    /// `123e4567-e89b-12d3-a456-426614174000` → 16 bytes.
    static func uuidBytes(_ text: String) -> [UInt8]? {
        let hex = text.utf8.filter { $0 != UInt8(ascii: "-") }
        guard text.utf8.count == 36, hex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            guard let high = nibble(hex[index]), let low = nibble(hex[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
