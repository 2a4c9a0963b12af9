import CAvro
import DataModel

/// Encodes ``Value``s as Avro binary datums of one schema through avro-c
/// (the demo producer; Iceberg manifests). Values are taken as the JSON
/// mapping writes them back: a timestamp may be a `.timestamp` or an
/// ISO-8601 string, a decimal a `.decimal`, a number or a decimal string.
/// One encoder per thread.
public final class AvroEncoder {
    public let schema: AvroSchema
    private let avro: AvroCSchema

    public init(schema: AvroSchema) throws(AvroError) {
        self.schema = schema
        self.avro = try AvroCSchema(text: schema.canonicalText)
    }

    public func encode(_ value: Value) throws(AvroError) -> [UInt8] {
        cavro_reset(&avro.value)
        try fill(&avro.value, schema.root, value, path: "")
        var size = 0
        guard avro_value_sizeof(&avro.value, &size) == 0 else { throw AvroError(.encoding, "avro-c could not size the datum") }
        var bytes = [UInt8](repeating: 0, count: size)
        let written: Bool = bytes.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self), let writer = avro_writer_memory(base, Int64(size)) else {
                return size == 0
            }
            defer { avro_writer_free(writer) }
            return avro_value_write(writer, &avro.value) == 0
        }
        guard written else { throw AvroError(.encoding, "avro-c could not write the datum") }
        return bytes
    }

    private func fail(_ path: String, _ reason: String) -> AvroError {
        AvroError(.encoding, path.isEmpty ? reason : "\(path): \(reason)")
    }

    private func fill(_ target: inout avro_value_t, _ type: AvroType, _ value: Value, path: String) throws(AvroError) {
        switch schema.resolve(type) {
        case .null:
            guard value.isNull else { throw fail(path, "expected null, got \(value.typeName)") }
            _ = cavro_set_null(&target)
        case .boolean:
            guard let flag = value.boolValue else { throw fail(path, "expected a boolean, got \(value.typeName)") }
            _ = cavro_set_boolean(&target, flag ? 1 : 0)
        case .int(let logical):
            let number: Int64? = switch (logical, value) {
            case (.date, .date(let days)): Int64(days)
            case (.date, .string(let text)): CivilTime.parseTimestamp(text).map { $0 / CivilTime.microsPerDay }
            case (.timeMillis, .time(let micros, _)): micros / 1000
            default: value.integerValue
            }
            guard let number, let int = Int32(exactly: number) else { throw fail(path, "expected an int, got \(value.typeName)") }
            _ = cavro_set_int(&target, int)
        case .long(let logical):
            let micros: Int64? = switch value {
            case .timestamp(let micros, _, _), .time(let micros, _): micros
            case .string(let text): CivilTime.parseTimestamp(text)
            default: nil
            }
            let number: Int64? = switch logical {
            case .timestampMillis, .localTimestampMillis: micros.map { Self.floorDivide($0, 1000) } ?? value.integerValue
            case .timestampMicros, .localTimestampMicros, .timeMicros: micros ?? value.integerValue
            case nil: value.integerValue
            }
            guard let number else { throw fail(path, "expected a long, got \(value.typeName)") }
            _ = cavro_set_long(&target, number)
        case .float:
            guard let number = value.numberValue else { throw fail(path, "expected a number, got \(value.typeName)") }
            _ = cavro_set_float(&target, Float(number))
        case .double:
            guard let number = value.numberValue else { throw fail(path, "expected a number, got \(value.typeName)") }
            _ = cavro_set_double(&target, number)
        case .string:
            guard let text = value.stringValue else { throw fail(path, "expected a string, got \(value.typeName)") }
            // avro-c's length counts the terminating NUL, which withCString provides.
            let length = text.utf8.count + 1
            _ = text.withCString { cavro_set_string_len(&target, $0, length) }
        case .bytes(let decimal):
            var bytes = try self.bytes(value, decimal: decimal, size: nil, path: path)
            _ = bytes.withUnsafeMutableBytes { cavro_set_bytes(&target, $0.baseAddress, $0.count) }
        case .fixed(let fixed):
            var bytes = try self.bytes(value, decimal: fixed.decimal, size: fixed.size, path: path)
            guard bytes.count == fixed.size else { throw fail(path, "expected \(fixed.size) bytes, got \(bytes.count)") }
            _ = bytes.withUnsafeMutableBytes { cavro_set_fixed(&target, $0.baseAddress, $0.count) }
        case .enumeration(let enumeration):
            guard let symbol = value.stringValue, let index = enumeration.symbols.firstIndex(of: symbol) else {
                throw fail(path, "expected one of \(enumeration.symbols.joined(separator: ", "))")
            }
            _ = cavro_set_enum(&target, Int32(index))
        case .array(let items):
            guard let elements = value.arrayValue else { throw fail(path, "expected an array, got \(value.typeName)") }
            for (index, element) in elements.enumerated() {
                var child = avro_value_t()
                _ = cavro_append(&target, &child, nil)
                try fill(&child, items, element, path: "\(path)[\(index)]")
            }
        case .map(let values):
            guard let object = value.objectValue else { throw fail(path, "expected an object, got \(value.typeName)") }
            for field in object.fields {
                var child = avro_value_t()
                _ = cavro_add(&target, field.key, &child, nil, nil)
                try fill(&child, values, field.value, path: path.isEmpty ? field.key : "\(path).\(field.key)")
            }
        case .record(let record):
            guard let object = value.objectValue else { throw fail(path, "expected an object, got \(value.typeName)") }
            for (index, field) in record.fields.enumerated() {
                let fieldPath = path.isEmpty ? field.name : "\(path).\(field.name)"
                let given: Value
                if let present = object[field.name] {
                    given = present
                } else if let defaultValue = field.defaultValue {
                    given = try AvroDefaults.value(defaultValue, as: field.type, in: schema)
                } else {
                    throw fail(fieldPath, "is required")
                }
                var child = avro_value_t()
                _ = cavro_get_by_index(&target, index, &child, nil)
                try fill(&child, field.type, given, path: fieldPath)
            }
        case .union(let branches):
            guard let index = branches.firstIndex(where: { accepts(schema.resolve($0), value) }) else {
                throw fail(path, "no branch of the union takes a \(value.typeName)")
            }
            var child = avro_value_t()
            _ = cavro_set_branch(&target, Int32(index), &child)
            try fill(&child, branches[index], value, path: path)
        case .reference:
            throw fail(path, "unresolved type reference")
        }
    }

    /// Whether a union branch can hold the value (the first that can is used).
    private func accepts(_ type: AvroType, _ value: Value) -> Bool {
        switch (type, value) {
        case (.null, .null): true
        case (.boolean, .bool): true
        case (.int(.date), .date), (.int(.timeMillis), .time): true
        case (.int, .int(let number)): Int32(exactly: number) != nil
        case (.long, .int), (.long, .timestamp), (.long(.timeMicros), .time): true
        case (.float, .float), (.double, .double), (.double, .float), (.double, .int), (.float, .int): true
        case (.string, .string): true
        case (.bytes(let decimal), .decimal): decimal != nil
        case (.bytes, .bytes): true
        case (.fixed(let fixed), .bytes(let bytes)): bytes.count == fixed.size
        case (.fixed(let fixed), .decimal): fixed.decimal != nil
        case (.enumeration(let enumeration), .string(let symbol)): enumeration.symbols.contains(symbol)
        case (.array, .array), (.map, .object), (.record, .object): true
        default: false
        }
    }

    private func bytes(_ value: Value, decimal: AvroType.DecimalType?, size: Int?, path: String) throws(AvroError) -> [UInt8] {
        if case .bytes(let bytes) = value { return bytes }
        guard let decimal else { throw fail(path, "expected bytes, got \(value.typeName)") }
        let text: String? = switch value {
        case .decimal(let text), .string(let text): text
        case .int(let number): String(number)
        case .double(let number): String(number)
        default: nil
        }
        guard let text, let bytes = DecimalText.twosComplement(text, scale: decimal.scale, size: size) else {
            throw fail(path, "'\(value)' is not a decimal with at most \(decimal.scale) fraction digits")
        }
        return bytes
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return value % divisor < 0 ? quotient - 1 : quotient
    }
}

extension DecimalText {
    /// The unscaled value of decimal text at `scale`, as big-endian two's
    /// complement: minimal length, or sign-extended to `size` bytes. `nil`
    /// when the text is not a decimal or has more fraction digits than the
    /// scale (other than zeros).
    public static func twosComplement(_ text: String, scale: Int, size: Int?) -> [UInt8]? {
        var utf8 = Substring(text).utf8[...]
        let negative = utf8.first == UInt8(ascii: "-")
        if negative || utf8.first == UInt8(ascii: "+") { utf8 = utf8.dropFirst() }
        let parts = utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty || parts.count == 2 else { return nil }
        var digits = Array(parts[0])
        var fraction = parts.count == 2 ? Array(parts[1]) : []
        while fraction.count > scale, fraction.last == UInt8(ascii: "0") { fraction.removeLast() }
        guard fraction.count <= scale else { return nil }
        digits += fraction + Array(repeating: UInt8(ascii: "0"), count: scale - fraction.count)
        guard !digits.isEmpty, digits.allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }) else { return nil }
        // Decimal digits → base-256 magnitude, little-endian while building.
        var magnitude: [UInt8] = []
        for digit in digits {
            var carry = UInt32(digit - UInt8(ascii: "0"))
            for i in magnitude.indices {
                let current = UInt32(magnitude[i]) * 10 + carry
                magnitude[i] = UInt8(current & 0xFF)
                carry = current >> 8
            }
            while carry > 0 {
                magnitude.append(UInt8(carry & 0xFF))
                carry >>= 8
            }
        }
        magnitude.append(0)  // Room for the sign bit.
        if negative {
            var carry = true
            for i in magnitude.indices {
                magnitude[i] = ~magnitude[i]
                if carry {
                    let (sum, overflow) = magnitude[i].addingReportingOverflow(1)
                    magnitude[i] = sum
                    carry = overflow
                }
            }
        }
        var bigEndian = Array(magnitude.reversed())
        // Minimal: drop leading bytes that only repeat the sign.
        while bigEndian.count > 1,
            (bigEndian[0] == 0 && bigEndian[1] & 0x80 == 0) || (bigEndian[0] == 0xFF && bigEndian[1] & 0x80 != 0)
        {
            bigEndian.removeFirst()
        }
        if let size {
            guard bigEndian.count <= size else { return nil }
            let fill: UInt8 = bigEndian[0] & 0x80 != 0 ? 0xFF : 0
            bigEndian = Array(repeating: fill, count: size - bigEndian.count) + bigEndian
        }
        return bigEndian
    }
}
