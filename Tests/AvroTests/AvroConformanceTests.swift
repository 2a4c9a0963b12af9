import Avro
import DataModel
import Foundation
import Testing
import TestSupport

/// Records written by fastavro (an independent Avro implementation) for every
/// type, logical type and schema-evolution case; consumerd's decoder must
/// read each the way fastavro does, value for value, through the JSON
/// mapping documented in the README.
@Suite("Avro conformance against fastavro")
struct AvroConformanceTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var writer: Value
        var reader: Value?
        var records: [(avro: [UInt8], expected: Value)]
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        do {
            let output = try TestPython.run(script: "Tests/AvroTests/fastavro_cases.py")
            guard case .array(let items) = try JSONParser.parse(Array(output.utf8)) else { return [] }
            return items.compactMap { item -> Case? in
                guard let object = item.objectValue, let name = object["name"]?.stringValue, let writer = object["writer"],
                    let records = object["records"]?.arrayValue
                else { return nil }
                let reader = object["reader"].flatMap { $0.isNull ? nil : $0 }
                return Case(name: name, writer: writer, reader: reader, records: records.compactMap { record in
                    guard let text = record.objectValue?["avro"]?.stringValue, let bytes = Base64.decode(text),
                        let expected = record.objectValue?["expected"]
                    else { return nil }
                    return (bytes, expected)
                })
            }
        } catch {
            Issue.record("fastavro_cases.py failed (is .venv set up? run make deps): \(error)")
            return []
        }
    }()

    @Test("fastavro generated every case")
    func generated() {
        #expect(Self.cases.count >= 39)
    }

    @Test("decodes like fastavro", arguments: cases)
    func decodes(_ testCase: Case) throws {
        let writer = try AvroSchema(json: testCase.writer)
        let reader = try testCase.reader.map { try AvroSchema(json: $0) }
        let decoder = AvroDecoder(readerSchema: reader)
        for (index, record) in testCase.records.enumerated() {
            let value = try decoder.decode(record.avro, writer: writer, writerKey: 1)
            let written = JSONWriter.string(value)
            let actual = try JSONParser.parse(Array(written.utf8))
            #expect(sameJSON(actual, record.expected), "record \(index): got \(written), fastavro read \(JSONWriter.string(record.expected))")
        }
    }

    @Test("transcodes straight to the JSON the decoded value writes, byte for byte", arguments: cases.filter { $0.reader == nil })
    func transcodes(_ testCase: Case) throws {
        let schema = try AvroSchema(json: testCase.writer)
        let decoder = AvroDecoder()
        for (index, record) in testCase.records.enumerated() {
            let written = JSONWriter.string(try decoder.decode(record.avro, writer: schema))
            let transcoded = try #require(try transcode(record.avro, writer: schema), "record \(index)")
            #expect(String(decoding: transcoded, as: UTF8.self) == written, "record \(index)")
        }
    }

    @Test("encodes what fastavro decodes back to the same values", arguments: cases.filter { $0.reader == nil })
    func roundTrips(_ testCase: Case) throws {
        let schema = try AvroSchema(json: testCase.writer)
        let encoder = try AvroEncoder(schema: schema)
        let decoder = AvroDecoder()
        for record in testCase.records {
            let value = try decoder.decode(record.avro, writer: schema)
            // NaN never equals itself; everything else must survive encode → decode.
            let again = try decoder.decode(try encoder.encode(value), writer: schema)
            #expect(JSONWriter.string(again) == JSONWriter.string(value))
        }
    }
}

/// Structural JSON equality; numbers compare by value (fastavro's 0.0 is our 0).
func sameJSON(_ a: Value, _ b: Value) -> Bool {
    switch (a, b) {
    case (.object(let x), .object(let y)):
        return x.keys == y.keys && zip(x.fields, y.fields).allSatisfy { sameJSON($0.value, $1.value) }
    case (.array(let x), .array(let y)):
        return x.count == y.count && zip(x, y).allSatisfy(sameJSON)
    case (.decimal(let x), .decimal(let y)):
        return x == y
    default:
        if let x = a.numberValue, let y = b.numberValue { return x == y }
        return a == b
    }
}
