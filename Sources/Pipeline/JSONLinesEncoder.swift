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
/// caller-owned buffer so a whole batch costs one allocation, through one
/// ``StagedBytes`` stage so a line's dozens of pieces cost a copy each.
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
        StagedBytes.appending(to: &buffer) { out in
            // Each record is lent by address. Handed to `append` as a value
            // (from `for … in`, a subscript or a span alike) it was copied
            // first, a retain and a release of each of its arrays (perf: 1.8 %
            // of an Avro drain).
            records.withUnsafeBufferPointer { records in
                for index in records.indices {
                    encoder.appendLine(of: records.baseAddress! + index, to: &out)
                }
            }
        }
    }

    /// Appends the record's line, newline included.
    public mutating func append(_ record: Record, to out: inout [UInt8]) {
        StagedBytes.appending(to: &out) { out in
            withUnsafePointer(to: record) { appendLine(of: $0, to: &out) }
        }
    }

    private mutating func appendLine(of record: UnsafePointer<Record>, to out: inout StagedBytes) {
        if record.pointee.message.partition != lineStartPartition || record.pointee.message.topic != lineStartTopic {
            lineStart.removeAll(keepingCapacity: true)
            lineStart.append(literal: #"{"topic":"#)
            JSONWriter.appendString(record.pointee.message.topic, to: &lineStart)
            lineStart.append(literal: #","partition":"#)
            JSONWriter.appendInteger(Int64(record.pointee.message.partition), to: &lineStart)
            lineStart.append(literal: #","offset":"#)
            lineStartTopic = record.pointee.message.topic
            lineStartPartition = record.pointee.message.partition
        }
        out.append(lineStart)
        JSONWriter.appendInteger(record.pointee.message.offset, to: &out)
        out.append(literal: #","timestamp":"#)
        if let timestamp = record.pointee.message.timestamp {
            JSONWriter.appendInteger(timestamp, to: &out)
        } else {
            out.append(literal: "null")
        }
        out.append(literal: #","key":"#)
        if let key = record.pointee.message.key {
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
        // By address too: `record.pointee.value` as an argument was copied
        // whole (callgrind: 160 instructions a line).
        Self.appendValue(of: record.pointer(to: \.value)!, to: &out)
        out.append(literal: "}\n")
    }

    /// The value as JSON (text as a string, bytes as base64), as every sink writes it.
    public static func appendValue(_ value: RecordValue, to out: inout [UInt8]) {
        StagedBytes.appending(to: &out) { out in
            withUnsafePointer(to: value) { appendValue(of: $0, to: &out) }
        }
    }

    private static func appendValue(of value: UnsafePointer<RecordValue>, to out: inout StagedBytes) {
        switch value.pointee {
        case .null:
            out.append(literal: "null")
        case .json(let bytes, let multiline) where multiline:
            out.withArray { out in
                let start = out.count
                out.append(contentsOf: bytes)
                // Line breaks in valid JSON are whitespace between tokens
                // (never inside strings), so a space is equivalent.
                for i in start..<out.count where out[i] == 0x0A || out[i] == 0x0D {
                    out[i] = 0x20
                }
            }
        case .json(let bytes, _):
            out.append(bytes)
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
