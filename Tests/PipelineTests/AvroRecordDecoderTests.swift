import Avro
import DataModel
import Kafka
import Pipeline
import Testing

@Suite("Avro record decoder")
struct AvroRecordDecoderTests {
    static let writer = try! AvroSchema(text: """
        {"type":"record","name":"Trade","fields":[
          {"name":"symbol","type":"string"},
          {"name":"price","type":"double"},
          {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}
        ]}
        """)
    static let message = KafkaMessage(
        topic: "trades", partition: 0, offset: 7, timestamp: 1_700_000_000_000, key: nil,
        value: try! AvroEncoder(schema: writer).encode(["symbol": "AA\"PL\n", "price": 189.5, "at": 1_700_000_000_123]))

    static func line(_ record: Record) -> String {
        var out: [UInt8] = []
        JSONLinesEncoder.encode([record], into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test("with nothing reading fields, values stay datums that write the same line as the tree, and still read as one")
    func valuesAsJSON() throws {
        let tree = try AvroRecordDecoder(writers: .inline(Self.writer), readerSchema: nil).decode(Self.message)
        var datum = try AvroRecordDecoder(writers: .inline(Self.writer), readerSchema: nil, valuesAsJSON: true).decode(Self.message)
        guard case .structured(let value) = tree.value else { Issue.record("tree path: \(tree.value)"); return }
        guard case .avro = datum.value else { Issue.record("datum path: \(datum.value)"); return }
        #expect(Self.line(datum) == Self.line(tree))
        #expect(Self.line(datum).contains(#""at":"2023-11-14T22:13:20.123Z""#))
        #expect(try datum.structuredValue() == value)
    }

    @Test("a reader schema always builds trees: only they can be resolved")
    func readerSchema() throws {
        let reader = try AvroSchema(text: #"{"type":"record","name":"Trade","fields":[{"name":"symbol","type":"string"}]}"#)
        let record = try AvroRecordDecoder(writers: .inline(Self.writer), readerSchema: reader, valuesAsJSON: true).decode(Self.message)
        guard case .structured(let value) = record.value else { Issue.record("\(record.value)"); return }
        #expect(JSONWriter.string(value) == #"{"symbol":"AA\"PL\n"}"#)
    }

    @Test("malformed data is a decode error on either path")
    func malformed() {
        var broken = Self.message
        broken.value = Array(Self.message.value!.dropLast())
        for valuesAsJSON in [false, true] {
            let decoder = AvroRecordDecoder(writers: .inline(Self.writer), readerSchema: nil, valuesAsJSON: valuesAsJSON)
            #expect(throws: PipelineError.self) { try decoder.decode(broken) }
        }
    }
}
