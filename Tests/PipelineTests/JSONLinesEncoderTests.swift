import DataModel
import Foundation
import Kafka
import Pipeline
import Testing

@Suite("JSON Lines encoding")
struct JSONLinesEncoderTests {
    private func line(_ record: Record) throws -> [String: Any] {
        var out: [UInt8] = []
        JSONLinesEncoder.encode([record], into: &out)
        #expect(out.last == 0x0A)
        #expect(out.dropLast().allSatisfy { $0 != 0x0A }, "exactly one line")
        return try #require(JSONSerialization.jsonObject(with: Data(out)) as? [String: Any])
    }

    @Test("a JSON record keeps its value and Kafka coordinates")
    func jsonRecord() throws {
        let message = KafkaMessage(
            topic: "market.trades", partition: 3, offset: 9_007_199_254_740_993, timestamp: 1_700_000_000_123,
            key: Array("AAPL".utf8), value: Array(#"{"price": 189.5, "tags": ["a"]}"#.utf8))
        let object = try line(try JSONRecordDecoder().decode(message))
        #expect(object["topic"] as? String == "market.trades")
        #expect(object["partition"] as? Int == 3)
        #expect((object["offset"] as? NSNumber)?.int64Value == 9_007_199_254_740_993)
        #expect((object["timestamp"] as? NSNumber)?.int64Value == 1_700_000_000_123)
        #expect(object["key"] as? String == "AAPL")
        let value = try #require(object["value"] as? [String: Any])
        #expect(value["price"] as? Double == 189.5)
    }

    @Test("each line of a batch names its own topic and partition, however the batch mixes them")
    func mixedPartitions() throws {
        // Same partition number in two topics, a topic name needing escapes,
        // and returns to a partition seen before: the encoder reuses the last
        // line start only for the same topic and partition.
        let coordinates: [(String, Int32)] = [
            ("a", 0), ("a", 0), ("a", 1), ("b", 1), ("b", 1), ("a", 1), ("a\"b", 0), ("a", 0), ("b", 0),
        ]
        let records = try coordinates.enumerated().map { index, coordinate in
            try JSONRecordDecoder().decode(KafkaMessage(
                topic: coordinate.0, partition: coordinate.1, offset: Int64(index), value: Array("\(index)".utf8)))
        }
        var out: [UInt8] = []
        JSONLinesEncoder.encode(records, into: &out)
        let lines = try out.split(separator: 0x0A).map {
            try #require(JSONSerialization.jsonObject(with: Data($0)) as? [String: Any])
        }
        #expect(lines.count == coordinates.count)
        for (index, line) in lines.enumerated() {
            #expect(line["topic"] as? String == coordinates[index].0, "line \(index)")
            #expect(line["partition"] as? Int == Int(coordinates[index].1), "line \(index)")
            #expect(line["offset"] as? Int == index && line["value"] as? Int == index, "line \(index)")
        }
    }

    @Test("a batch many times the encoder's stage comes out line by line in order, pretty-printed values among them")
    func batchLargerThanTheStage() throws {
        // Values from empty to a few kilobytes, so lines straddle the stage's
        // kilobyte and some skip it; every fifth is pretty-printed, which is
        // flattened in the array after what was staged before it.
        let records = try (0..<400).map { index in
            let text = String(repeating: "x\\\"y", count: index * 7 % 900)
            let json = index % 5 == 0 ? "{\n  \"n\": \(index),\r\n  \"s\": \"\(text)\"\n}" : #"{"n":\#(index),"s":"\#(text)"}"#
            return try JSONRecordDecoder().decode(KafkaMessage(topic: "t", partition: 0, offset: Int64(index), value: Array(json.utf8)))
        }
        var out: [UInt8] = []
        JSONLinesEncoder.encode(records, into: &out)
        let lines = out.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == records.count)
        for (index, line) in lines.enumerated() {
            let object = try #require(JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], "line \(index)")
            let value = try #require(object["value"] as? [String: Any], "line \(index)")
            #expect(object["offset"] as? Int == index && value["n"] as? Int == index, "line \(index)")
            #expect(value["s"] as? String == String(repeating: "x\"y", count: index * 7 % 900), "line \(index)")
        }
    }

    @Test("pretty-printed JSON is flattened onto one line")
    func multiline() throws {
        let message = KafkaMessage(topic: "t", partition: 0, offset: 1, value: Array("{\n  \"a\": \"x\\ny\",\r\n  \"b\": 2\n}".utf8))
        let value = try #require(try line(try JSONRecordDecoder().decode(message))["value"] as? [String: Any])
        #expect(value["a"] as? String == "x\ny")
        #expect(value["b"] as? Int == 2)
    }

    @Test("text is escaped, bytes and non-UTF-8 keys are base64, nulls stay null")
    func formats() throws {
        let text = KafkaMessage(topic: "t", partition: 0, offset: 0, key: [0xFF, 0x00, 0x41], value: Array("tab\there \"quoted\" \u{1}".utf8))
        let encodedText = try line(try StringRecordDecoder().decode(text))
        #expect(encodedText["value"] as? String == "tab\there \"quoted\" \u{1}")
        #expect(encodedText["key"] as? String == Data([0xFF, 0x00, 0x41]).base64EncodedString())
        #expect(encodedText["key_encoding"] as? String == "base64")

        for count in 0..<7 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 200) }
            let encoded = try line(try BytesRecordDecoder().decode(KafkaMessage(topic: "t", partition: 0, offset: 0, value: bytes)))
            #expect(encoded["value"] as? String == Data(bytes).base64EncodedString())
        }

        let tombstone = try line(try JSONRecordDecoder().decode(KafkaMessage(topic: "t", partition: 0, offset: 0)))
        #expect(tombstone["value"] is NSNull && tombstone["key"] is NSNull && tombstone["timestamp"] is NSNull)
    }

    @Test("decoders reject what their format cannot hold, naming the record")
    func decodeErrors() {
        let bad = KafkaMessage(topic: "orders", partition: 2, offset: 41, value: Array("{oops".utf8))
        #expect {
            try JSONRecordDecoder().decode(bad)
        } throws: { error in
            let error = error as? PipelineError
            return error?.stage == .decode && error?.record == RecordCoordinates(topic: "orders", partition: 2, offset: 41)
        }
        #expect(throws: PipelineError.self) {
            try StringRecordDecoder().decode(KafkaMessage(topic: "t", partition: 0, offset: 0, value: [0xC3]))
        }
    }

    /// Every length's first and last number, both signs, and the extremes.
    static let integerEdges: [Int64] = [0, 7, -1, Int64.max, Int64.min, Int64.min + 1]
        + (1...18).flatMap { exponent -> [Int64] in
            let power = (0..<exponent).reduce(Int64(1)) { product, _ in product * 10 }
            return [power - 1, power, power + 1, -(power - 1), -power]
        }

    @Test("integers encode exactly at every length's edges and the extremes", arguments: integerEdges)
    func integers(value: Int64) {
        var out: [UInt8] = [UInt8(ascii: "x")]
        JSONWriter.appendInteger(value, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "x" + String(value))
    }
}
