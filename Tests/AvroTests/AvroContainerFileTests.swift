@testable import Avro
import DataModel
import Foundation
import Testing
import TestSupport

/// Object container files (Iceberg's manifests) against fastavro: files it
/// writes, with either codec, read here record for record; files written
/// here read there, with the header keys and `field-id`s intact.
@Suite("Avro container files against fastavro")
struct AvroContainerFileTests {
    static let schemaText = #"""
        {"type": "record", "name": "manifest_file", "fields": [
          {"name": "manifest_path", "type": "string", "field-id": 500},
          {"name": "added_rows_count", "type": "long", "field-id": 512},
          {"name": "lower_bound", "type": ["null", "bytes"], "default": null, "field-id": 510}]}
        """#

    static func expected(_ i: Int) -> Value {
        .object(Value.Object([
            "manifest_path": .string("m\(i).avro"), "added_rows_count": .int(Int64(i) * 1000),
            "lower_bound": i % 3 == 0 ? .bytes([UInt8(i % 256), 1]) : .null,
        ]))
    }

    @Test("fastavro's files, null and deflate codec, several blocks each: every record and the header metadata", arguments: ["null", "deflate"])
    func readsFastavro(codec: String) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        _ = try TestPython.run(script: "Tests/AvroTests/container_files.py", ["write", directory.path])
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/\(codec).avro")))
        let contents = try AvroContainerFile.read(bytes)
        #expect(contents.metadata["avro.codec"] == codec)
        #expect(contents.metadata["schema-id"] == "7")
        #expect(contents.records.count == 3000)
        #expect(contents.records == (0..<3000).map(Self.expected))
    }

    @Test("files written here: fastavro reads the records, the extra header keys and the schema with its field-ids")
    func writesForFastavro() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let records = (0..<5000).map(Self.expected)
        let bytes = try AvroContainerFile.write(
            schema: try AvroSchema(text: Self.schemaText), metadata: [("format-version", "2"), ("content", "data")], records: records)
        let path = "\(directory.path)/written.avro"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let output = try JSONParser.parse(try TestPython.run(script: "Tests/AvroTests/container_files.py", ["read", path]))
        let read = output.objectValue?["records"]?.arrayValue ?? []
        #expect(read.count == 5000)
        #expect(read[3] == .object(Value.Object(["manifest_path": "m3.avro", "added_rows_count": 3000, "lower_bound": .string(Base64.encode([3, 1]))])))
        let metadata = output.objectValue?["metadata"]?.objectValue
        #expect(metadata?["format-version"] == "2")
        #expect(metadata?["content"] == "data")
        #expect(metadata?["avro.schema"]?.stringValue?.contains(#""field-id": 512"#) == true)
        #expect(try AvroContainerFile.read(bytes).records == records)
    }

    @Test("damaged files are errors, never traps: truncated, a wrong sync marker, a block that does not inflate")
    func damaged() throws {
        let bytes = try AvroContainerFile.write(schema: try AvroSchema(text: Self.schemaText), metadata: [], records: (0..<10).map(Self.expected))
        for cut in stride(from: 0, to: bytes.count - 1, by: 7) {
            #expect(throws: AvroError.self) { try AvroContainerFile.read(Array(bytes[0..<cut])) }
        }
        var wrongSync = bytes
        wrongSync[wrongSync.count - 1] ^= 0xFF
        #expect(throws: AvroError.self) { try AvroContainerFile.read(wrongSync) }
        #expect(throws: AvroError.self) { try AvroContainerFile.inflate([0xFF, 0x00, 0x13]) }
    }
}
