/// Encodes records as JSON Lines: one object per line carrying the value and
/// its Kafka coordinates, so that downstream readers can deduplicate the
/// redeliveries at-least-once implies:
///
///     {"topic":"t","partition":0,"offset":42,"timestamp":1700000000000,"key":"k","value":{...}}
///
/// A key that is not UTF-8 is written base64 with `"key_encoding":"base64"`.
/// Appends into a caller-owned buffer so a whole batch costs one allocation.
public enum JSONLinesEncoder {
    /// Replaces `buffer`'s contents (keeping its capacity) with the batch's lines.
    public static func encode(_ records: [Record], into buffer: inout [UInt8]) {
        buffer.removeAll(keepingCapacity: true)
        for record in records {
            append(record, to: &buffer)
        }
    }

    public static func append(_ record: Record, to out: inout [UInt8]) {
        let message = record.message
        out.append(contentsOf: #"{"topic":"#.utf8)
        appendJSONString(message.topic, to: &out)
        out.append(contentsOf: #","partition":"#.utf8)
        appendInteger(Int64(message.partition), to: &out)
        out.append(contentsOf: #","offset":"#.utf8)
        appendInteger(message.offset, to: &out)
        out.append(contentsOf: #","timestamp":"#.utf8)
        if let timestamp = message.timestamp {
            appendInteger(timestamp, to: &out)
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(contentsOf: #","key":"#.utf8)
        if let key = message.key {
            if UTF8Validation.isValid(key) {
                appendJSONString(key, to: &out)
            } else {
                appendBase64String(key, to: &out)
                out.append(contentsOf: #","key_encoding":"base64""#.utf8)
            }
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(contentsOf: #","value":"#.utf8)
        appendValue(record.value, to: &out)
        out.append(contentsOf: "}\n".utf8)
    }

    static func appendValue(_ value: RecordValue, to out: inout [UInt8]) {
        switch value {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .json(let bytes, let multiline):
            let start = out.count
            out.append(contentsOf: bytes)
            if multiline {
                // Line breaks in valid JSON are whitespace between tokens
                // (never inside strings), so a space is equivalent.
                for i in start..<out.count where out[i] == 0x0A || out[i] == 0x0D {
                    out[i] = 0x20
                }
            }
        case .text(let bytes):
            appendJSONString(bytes, to: &out)
        case .bytes(let bytes):
            appendBase64String(bytes, to: &out)
        }
    }

    /// Writes a JSON string literal, escaping quotes, backslashes and
    /// control characters. Runs that need no escaping are copied in bulk.
    public static func appendJSONString(_ string: String, to out: inout [UInt8]) {
        var string = string
        string.withUTF8 { appendJSONString($0, to: &out) }
    }

    public static func appendJSONString(_ bytes: [UInt8], to out: inout [UInt8]) {
        bytes.withUnsafeBufferPointer { appendJSONString($0, to: &out) }
    }

    static func appendJSONString(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == 0x7F else { continue }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            runStart = index + 1
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            default:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xF)])
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        out.append(UInt8(ascii: "\""))
    }

    /// Decimal digits without going through `String`.
    public static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var index = digits.count
            repeat {
                index -= 1
                digits[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[index...]))
        }
    }

    static func appendBase64String(_ bytes: [UInt8], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        Base64.append(bytes, to: &out)
        out.append(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}

/// Standard base64 (RFC 4648, with padding).
public enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func append(_ bytes: [UInt8], to out: inout [UInt8]) {
        out.reserveCapacity(out.count + (bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
    }
}
