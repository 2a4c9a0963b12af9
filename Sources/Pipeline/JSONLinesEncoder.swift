import Avro
import DataModel

/// Encodes records as JSON Lines: one object per line carrying the value and
/// its Kafka coordinates, so that downstream readers can deduplicate the
/// redeliveries at-least-once implies:
///
///     {"topic":"t","partition":0,"offset":42,"timestamp":1700000000000,"key":"k","value":{...}}
///
/// A key that is not UTF-8 is written base64 with `"key_encoding":"base64"`;
/// a structured value follows ``JSONWriter``'s mapping. Appends into a
/// caller-owned buffer so a whole batch costs one allocation.
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
        JSONWriter.appendString(message.topic, to: &out)
        out.append(contentsOf: #","partition":"#.utf8)
        JSONWriter.appendInteger(Int64(message.partition), to: &out)
        out.append(contentsOf: #","offset":"#.utf8)
        JSONWriter.appendInteger(message.offset, to: &out)
        out.append(contentsOf: #","timestamp":"#.utf8)
        if let timestamp = message.timestamp {
            JSONWriter.appendInteger(timestamp, to: &out)
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(contentsOf: #","key":"#.utf8)
        if let key = message.key {
            if UTF8Validation.isValid(key) {
                JSONWriter.appendString(key, to: &out)
            } else {
                JSONWriter.appendBase64String(key, to: &out)
                out.append(contentsOf: #","key_encoding":"base64""#.utf8)
            }
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(contentsOf: #","value":"#.utf8)
        appendValue(record.value, to: &out)
        out.append(contentsOf: "}\n".utf8)
    }

    /// The value as JSON (text as a string, bytes as base64), as every sink writes it.
    public static func appendValue(_ value: RecordValue, to out: inout [UInt8]) {
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
            JSONWriter.appendString(bytes, to: &out)
        case .bytes(let bytes):
            JSONWriter.appendBase64String(bytes, to: &out)
        case .structured(let value):
            JSONWriter.append(value, to: &out)
        case .avro(let datum):
            datum.appendJSON(to: &out)
        }
    }
}
