/// Writes JSON into a caller-owned byte buffer, and holds the one mapping
/// from ``Value`` to JSON that every sink uses:
///
/// | value | JSON |
/// |---|---|
/// | `.int`, `.double` | a number (shortest form that reads back the same) |
/// | `.float` | a number in its single-precision shortest form (`0.1`) |
/// | NaN, ±infinity | the strings `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no such numbers) |
/// | `.decimal` | a string with the exact digits (`"12.340"`), never a binary float |
/// | `.bytes` | a base64 string |
/// | `.date` | `"YYYY-MM-DD"` |
/// | `.time` | `"HH:MM:SS.fff"` or `"HH:MM:SS.ffffff"` |
/// | `.timestamp` | `"YYYY-MM-DDTHH:MM:SS.fff[fff]Z"` (no `Z` for local timestamps) |
/// | `.object` | an object, members in order |
public enum JSONWriter {
    public static func append(_ value: Value, to out: inout [UInt8]) {
        StagedBytes.appending(to: &out) { append(value, to: &$0) }
    }

    public static func append(_ value: Value, to out: inout StagedBytes) {
        switch value {
        case .null:
            out.append(literal: "null")
        case .bool(let flag):
            if flag { out.append(literal: "true") } else { out.append(literal: "false") }
        case .int(let number):
            appendInteger(number, to: &out)
        case .float(let number):
            if number.isFinite {
                appendDescription(number.description, to: &out)
            } else {
                appendNonFinite(Double(number), to: &out)
            }
        case .double(let number):
            if number.isFinite {
                appendDescription(number.description, to: &out)
            } else {
                appendNonFinite(number, to: &out)
            }
        case .decimal(let text):
            appendString(text, to: &out)
        case .string(let text):
            appendString(text, to: &out)
        case .bytes(let bytes):
            appendBase64String(bytes, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                append(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (index, field) in object.fields.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendString(field.key, to: &out)
                out.append(UInt8(ascii: ":"))
                append(field.value, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .date(let days):
            out.append(UInt8(ascii: "\""))
            CivilTime.appendDate(days: Int64(days), to: &out)
            out.append(UInt8(ascii: "\""))
        case .time(let micros, let precision):
            out.append(UInt8(ascii: "\""))
            CivilTime.appendTime(micros: micros, precision: precision, to: &out)
            out.append(UInt8(ascii: "\""))
        case .timestamp(let micros, let precision, let utc):
            out.append(UInt8(ascii: "\""))
            CivilTime.appendTimestamp(micros: micros, precision: precision, utc: utc, to: &out)
            out.append(UInt8(ascii: "\""))
        }
    }

    /// The value as compact JSON text.
    public static func string(_ value: Value) -> String {
        var out: [UInt8] = []
        append(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func appendDescription(_ description: String, to out: inout StagedBytes) {
        var description = description
        description.withUTF8 { out.append($0) }
    }

    private static func appendNonFinite(_ number: Double, to out: inout StagedBytes) {
        if number.isNaN {
            out.append(literal: "\"NaN\"")
        } else if number < 0 {
            out.append(literal: "\"-Infinity\"")
        } else {
            out.append(literal: "\"Infinity\"")
        }
    }

    // MARK: Strings and numbers

    /// Writes a JSON string literal, escaping quotes, backslashes and
    /// control characters. Runs that need no escaping are found a word at a
    /// time and copied in bulk.
    public static func appendString(_ string: String, to out: inout [UInt8]) {
        StagedBytes.appending(to: &out) { appendString(string, to: &$0) }
    }

    public static func appendString(_ bytes: [UInt8], to out: inout [UInt8]) {
        StagedBytes.appending(to: &out) { appendString(bytes, to: &$0) }
    }

    public static func appendString(_ string: String, to out: inout StagedBytes) {
        var string = string
        string.withUTF8 { appendString($0, to: &out) }
    }

    public static func appendString(_ bytes: [UInt8], to out: inout StagedBytes) {
        bytes.withUnsafeBufferPointer { appendString($0, to: &out) }
    }

    public static func appendString(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout StagedBytes) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        while true {
            index = ByteScanning.nextStringSpecial(bytes, from: index, stopsAtNonASCII: false)
            guard index < bytes.count else { break }
            let byte = bytes[index]
            out.append(UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            runStart = index + 1
            switch byte {
            case UInt8(ascii: "\""): out.append(literal: #"\""#)
            case UInt8(ascii: "\\"): out.append(literal: #"\\"#)
            case 0x0A: out.append(literal: #"\n"#)
            case 0x0D: out.append(literal: #"\r"#)
            case 0x09: out.append(literal: #"\t"#)
            default:
                out.append(literal: #"\u00"#)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xF)])
            }
            index += 1
        }
        out.append(UnsafeBufferPointer(rebasing: bytes[runStart...]))
        out.append(UInt8(ascii: "\""))
    }

    /// Decimal digits without going through `String`.
    public static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        StagedBytes.appending(to: &out) { appendInteger(value, to: &$0) }
    }

    public static func appendInteger(_ value: Int64, to out: inout StagedBytes) {
        out.format(capacity: 20) { scratch in
            if value < 0 { scratch.byte(UInt8(ascii: "-")) }
            scratch.digits(value.magnitude)
        }
    }

    /// A JSON string holding `bytes` base64-encoded.
    public static func appendBase64String(_ bytes: [UInt8], to out: inout StagedBytes) {
        out.append(UInt8(ascii: "\""))
        out.withArray { Base64.append(bytes, to: &$0) }
        out.append(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}

extension Array where Element == UInt8 {
    /// Appends a literal's UTF-8 bytes with one copy. Appending `"…".utf8`
    /// takes String's generic path: for the short field names a JSON Lines
    /// line is built from, about twice the instructions (callgrind).
    @inlinable
    public mutating func append(literal: StaticString) {
        literal.withUTF8Buffer { append(contentsOf: $0) }
    }
}
