// Decode cost per record: JSON (validated in place, and parsed into a tree
// for stages) against Avro (bounds check + avro-c + resolution to values, or
// only checked, for the sink to write as JSON), each also encoded to the JSON
// Lines a file sink writes. Single thread, best of five runs; build with
// `swift build -c release --product decode-bench`.
import Avro
import DataModel
import Foundation
import Kafka
import Pipeline

let count = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 200_000 : 200_000
let schemaText = """
    {"type": "record", "name": "Trade", "namespace": "market", "fields": [
      {"name": "symbol", "type": "string"}, {"name": "sequence_number", "type": "long"},
      {"name": "price", "type": "double"}, {"name": "quantity", "type": "int"},
      {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}},
      {"name": "exchange", "type": ["null", "string"], "default": null},
      {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}
    """
let schema = try AvroSchema(text: schemaText)
let encoder = try AvroEncoder(schema: schema)
let symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "BHP"]
var jsonMessages: [KafkaMessage] = []
var avroMessages: [KafkaMessage] = []
for i in 0..<count {
    let symbol = symbols[i % symbols.count]
    let value: Value = [
        "symbol": .string(symbol), "sequence_number": .int(Int64(i)), "price": .double(100 + Double(i % 1000) / 100),
        "quantity": .int(Int64(i % 500 + 1)), "side": i % 2 == 0 ? "BUY" : "SELL", "exchange": "XNAS",
        "timestamp": .timestamp(1_763_918_374_891_000 + Int64(i) * 1000, .milliseconds, utc: true),
    ]
    let offset = Int64(i)
    jsonMessages.append(KafkaMessage(topic: "bench", partition: 0, offset: offset, key: Array(symbol.utf8), value: Array(JSONWriter.string(value).utf8)))
    avroMessages.append(KafkaMessage(topic: "bench", partition: 0, offset: offset, key: Array(symbol.utf8),
                                     value: ConfluentWireFormat.frame(schemaID: 1, payload: try encoder.encode(value))))
}

/// The same JSON with a space after every `,` and `:` between tokens, as
/// Python's `json.dumps` (the seeds' producers, and `bench/run`'s) writes it.
func spaced(_ json: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var inString = false
    var escaped = false
    for byte in json {
        out.append(byte)
        if inString {
            if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
        } else if byte == UInt8(ascii: "\"") {
            inString = true
        } else if byte == UInt8(ascii: ",") || byte == UInt8(ascii: ":") {
            out.append(UInt8(ascii: " "))
        }
    }
    return out
}
let spacedMessages = jsonMessages.map { message -> KafkaMessage in
    var copy = message
    copy.value = spaced(message.value!)
    return copy
}

/// Best-of-five nanoseconds per record for `body` over every message.
@discardableResult
func measure(_ name: String, _ messages: [KafkaMessage], _ body: (KafkaMessage, inout [UInt8]) throws -> Void) rethrows -> Double {
    var best = Double.infinity
    var out: [UInt8] = []
    out.reserveCapacity(1 << 20)
    for _ in 0..<5 {
        let start = ContinuousClock.now
        for message in messages {
            try body(message, &out)
            if out.count > 1 << 20 { out.removeAll(keepingCapacity: true) }
        }
        let elapsed = ContinuousClock.now - start
        best = min(best, Double(elapsed.components.attoseconds) / 1e9 + Double(elapsed.components.seconds) * 1e9)
    }
    let perRecord = best / Double(messages.count)
    let label = name.padding(toLength: 44, withPad: " ", startingAt: 0)
    print(label + String(format: "%8.3f µs/record %12.0f records/s", perRecord / 1000, 1e9 / perRecord))
    return perRecord
}

let json = JSONRecordDecoder()
/// Reused across records, as a sink's batch encoding does.
var lines = JSONLinesEncoder()
let inlineAvro = AvroRecordDecoder(writers: .inline(schema), readerSchema: nil)
let checkingAvro = AvroRecordDecoder(writers: .inline(schema), readerSchema: nil, valuesAsJSON: true)
let stripped = avroMessages.map { message -> KafkaMessage in
    var plain = message
    plain.value = Array(message.value![ConfluentWireFormat.headerSize...])
    return plain
}
print("decode cost per record, \(count) market trades (\(jsonMessages[0].value!.count) bytes JSON, \(stripped[0].value!.count) bytes Avro)")
try measure("JSON: validate (no stage reads fields)", jsonMessages) { message, _ in _ = try json.decode(message) }
try measure("JSON: validate, spaced as json.dumps writes", spacedMessages) { message, _ in _ = try json.decode(message) }
try measure("JSON: validate + parse into values", jsonMessages) { message, _ in
    var record = try json.decode(message)
    _ = try record.structuredValue()
}
try measure("Avro: bounds check + avro-c + values", stripped) { message, _ in _ = try inlineAvro.decode(message) }
try measure("Avro: check only (no stage reads fields)", stripped) { message, _ in _ = try checkingAvro.decode(message) }
try measure("JSON: validate + JSON Lines line", jsonMessages) { message, out in
    lines.append(try json.decode(message), to: &out)
}
try measure("Avro: decode + JSON Lines line", stripped) { message, out in
    lines.append(try inlineAvro.decode(message), to: &out)
}
try measure("Avro: check + JSON Lines line", stripped) { message, out in
    lines.append(try checkingAvro.decode(message), to: &out)
}
