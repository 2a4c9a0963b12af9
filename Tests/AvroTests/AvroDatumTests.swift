import Avro
import DataModel
import Testing

/// A datum checked and written as JSON, as a consumer whose stages and sink
/// read no field keeps it; `nil` where only the tree path reads it.
func transcode(_ bytes: [UInt8], writer: AvroSchema) throws(AvroError) -> [UInt8]? {
    guard let datum = try AvroDatum(checking: bytes[...], writer: writer) else { return nil }
    var out: [UInt8] = []
    datum.appendJSON(to: &out)
    return out
}

/// Where a datum is handed back to the tree path. The rest of its
/// behaviour is held to the decoder's by the conformance and hostile bytes
/// suites.
@Suite("Avro datums written straight to JSON")
struct AvroDatumTests {
    static let map = try! AvroSchema(text: #"{"type":"map","values":{"type":"map","values":"int"}}"#)

    /// A map of `entries` (key, encoded value) in one block.
    static func block(_ entries: [(String, [UInt8])]) -> [UInt8] {
        guard !entries.isEmpty else { return [0] }
        var out = AvroHostileBytesTests.varint(Int64(entries.count))
        for (key, value) in entries {
            out += AvroHostileBytesTests.varint(Int64(key.utf8.count)) + Array(key.utf8) + value
        }
        return out + [0]
    }

    static func json(_ bytes: [UInt8]) throws -> String? {
        try transcode(bytes, writer: map).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("the same key in an outer and an inner map is no repeat")
    func nestedKeys() throws {
        let inner = Self.block([("a", AvroHostileBytesTests.varint(1)), ("b", AvroHostileBytesTests.varint(-2))])
        let bytes = Self.block([("a", inner), ("b", Self.block([]))])
        #expect(try Self.json(bytes) == #"{"a":{"a":1,"b":-2},"b":{}}"#)
        #expect(try Self.json(bytes) == JSONWriter.string(try AvroDecoder().decode(bytes, writer: Self.map)))
    }

    @Test("a map that repeats a key goes to the tree path, at any depth")
    func repeatedKey() throws {
        let repeated = Self.block([("k", AvroHostileBytesTests.varint(1)), ("k", AvroHostileBytesTests.varint(2))])
        #expect(try Self.json(Self.block([("x", repeated)])) == nil)
        // Across two blocks of one map too.
        let twoBlocks = Array(Self.block([("k", Self.block([]))]).dropLast()) + Self.block([("k", Self.block([]))])
        #expect(try Self.json(twoBlocks) == nil)
    }

    @Test("a map with more keys than are compared cheaply goes to the tree path")
    func largeMap() throws {
        let keys = (0...64).map { ("k\($0)", Self.block([])) }
        #expect(try Self.json(Self.block(Array(keys.prefix(64)))) != nil)
        #expect(try Self.json(Self.block(keys)) == nil)
    }

    @Test("a time outside its day reads as its number on both paths, never a crash", arguments: [
        (Int64(-1), Int64(-5)), (86_400_000_000, 86_400_000), (.min, Int64(Int32.min)), (.max, Int64(Int32.max)),
    ])
    func timeOutsideTheDay(micros: Int64, millis: Int64) throws {
        let schema = try AvroSchema(text: """
            {"type":"record","name":"T","fields":[
              {"name":"micros","type":{"type":"long","logicalType":"time-micros"}},
              {"name":"millis","type":{"type":"int","logicalType":"time-millis"}}]}
            """)
        let bytes = AvroHostileBytesTests.varint(micros) + AvroHostileBytesTests.varint(millis)
        let expected = #"{"micros":\#(micros),"millis":\#(millis)}"#
        #expect(JSONWriter.string(try AvroDecoder().decode(bytes, writer: schema)) == expected)
        #expect(try transcode(bytes, writer: schema).map { String(decoding: $0, as: UTF8.self) } == expected)
        // Inside the day, still a time.
        let inside = AvroHostileBytesTests.varint(86_399_999_999) + AvroHostileBytesTests.varint(0)
        #expect(JSONWriter.string(try AvroDecoder().decode(inside, writer: schema)) == #"{"micros":"23:59:59.999999","millis":"00:00:00.000"}"#)
    }
}
