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
///
/// An encoder keeps the line start of the partition it wrote last: records
/// come in runs of one partition, and the start (topic escaped, partition
/// number) was a third of the cost of a line around a small JSON value.
public struct JSONLinesEncoder {
    private var lineStart: [UInt8] = []
    private var lineStartTopic = ""
    private var lineStartPartition: Int32 = -1

    public init() {}

    /// Replaces `buffer`'s contents (keeping its capacity) with the batch's lines.
    public static func encode(_ records: [Record], into buffer: inout [UInt8]) {
        buffer.removeAll(keepingCapacity: true)
        var encoder = JSONLinesEncoder()
        for record in records {
            encoder.append(record, to: &buffer)
        }
    }

    /// Appends the record's line, newline included.
    public mutating func append(_ record: Record, to out: inout [UInt8]) {
        let message = record.message
        if message.partition != lineStartPartition || message.topic != lineStartTopic {
            lineStart.removeAll(keepingCapacity: true)
            lineStart.append(literal: #"{"topic":"#)
            JSONWriter.appendString(message.topic, to: &lineStart)
            lineStart.append(literal: #","partition":"#)
            JSONWriter.appendInteger(Int64(message.partition), to: &lineStart)
            lineStart.append(literal: #","offset":"#)
            lineStartTopic = message.topic
            lineStartPartition = message.partition
        }
        out.append(contentsOf: lineStart)
        JSONWriter.appendInteger(message.offset, to: &out)
        out.append(literal: #","timestamp":"#)
        if let timestamp = message.timestamp {
            JSONWriter.appendInteger(timestamp, to: &out)
        } else {
            out.append(literal: "null")
        }
        out.append(literal: #","key":"#)
        if let key = message.key {
            if UTF8Validation.isValid(key) {
                JSONWriter.appendString(key, to: &out)
            } else {
                JSONWriter.appendBase64String(key, to: &out)
                out.append(literal: #","key_encoding":"base64""#)
            }
        } else {
            out.append(literal: "null")
        }
        out.append(literal: #","value":"#)
        Self.appendValue(record.value, to: &out)
        out.append(literal: "}\n")
    }

    /// The value as JSON (text as a string, bytes as base64), as every sink writes it.
    public static func appendValue(_ value: RecordValue, to out: inout [UInt8]) {
        switch value {
        case .null:
            out.append(literal: "null")
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
