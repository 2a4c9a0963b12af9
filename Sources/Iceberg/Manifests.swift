import Avro
import DataModel
import Parquet

/// Manifests and manifest lists (spec: "Manifests", "Manifest Lists",
/// format version 2), as Avro object container files whose schemas carry
/// the `field-id`s readers resolve fields by.
enum Manifests {
    /// A manifest listing `files`, all added by `snapshotID` (status 1;
    /// sequence numbers left null, inherited from the manifest list).
    static func manifest(
        files: [DataFile], snapshotID: Int64, schema: IcebergSchema, spec: PartitionSpec
    ) throws(IcebergError) -> [UInt8] {
        let avroSchema = try parse(manifestEntrySchema(spec))
        let entries = files.map { file -> Value in
            .object(Value.Object([
                "status": 1, "snapshot_id": .int(snapshotID), "sequence_number": .null, "file_sequence_number": .null,
                "data_file": dataFile(file, spec: spec),
            ]))
        }
        let metadata = [
            ("schema", JSONWriter.string(schema.json)), ("schema-id", String(schema.id)),
            ("partition-spec", JSONWriter.string(spec.fieldsJSON)), ("partition-spec-id", String(spec.id)),
            ("format-version", "2"), ("content", "data"),
        ]
        do {
            return try AvroContainerFile.write(schema: avroSchema, metadata: metadata, records: entries)
        } catch {
            throw IcebergError.metadata("could not encode a manifest: \(error)")
        }
    }

    /// The manifest list entry for a manifest written by ``manifest(files:snapshotID:schema:spec:)``.
    static func listEntry(
        path: String, length: Int, files: [DataFile], snapshotID: Int64, sequenceNumber: Int64, spec: PartitionSpec
    ) -> Value {
        // Per partition field, the range of its values over the manifest's files.
        let partitions: [Value] = spec.fields.indices.map { index in
            let type = spec.fields[index].resultType
            let values = files.map { $0.partition[index] }
            let present = values.filter { $0 != .null }.sorted(by: less)
            func bound(_ cell: ParquetCell?) -> Value { cell.flatMap { DataFile.bound($0, type) }.map(Value.bytes) ?? .null }
            return .object(Value.Object([
                "contains_null": .bool(present.count < values.count), "contains_nan": .bool(false),
                "lower_bound": bound(present.first), "upper_bound": bound(present.last),
            ]))
        }
        return .object(Value.Object([
            "manifest_path": .string(path), "manifest_length": .int(Int64(length)), "partition_spec_id": .int(Int64(spec.id)),
            "content": 0, "sequence_number": .int(sequenceNumber), "min_sequence_number": .int(sequenceNumber),
            "added_snapshot_id": .int(snapshotID), "added_files_count": .int(Int64(files.count)), "existing_files_count": 0,
            "deleted_files_count": 0, "added_rows_count": .int(files.reduce(0) { $0 + $1.recordCount }), "existing_rows_count": 0,
            "deleted_rows_count": 0, "partitions": .array(partitions),
        ]))
    }

    /// A manifest list: this snapshot's new manifest first, then the
    /// parent's manifests carried over (a fast append).
    static func manifestList(
        entries: [Value], snapshotID: Int64, parentID: Int64?, sequenceNumber: Int64
    ) throws(IcebergError) -> [UInt8] {
        let metadata = [
            ("snapshot-id", String(snapshotID)), ("parent-snapshot-id", parentID.map(String.init) ?? "null"),
            ("sequence-number", String(sequenceNumber)), ("format-version", "2"),
        ]
        do {
            return try AvroContainerFile.write(schema: try parse(manifestFileSchema), metadata: metadata, records: entries)
        } catch {
            throw IcebergError.metadata("could not encode a manifest list: \(error)")
        }
    }

    /// The entries of a manifest list, as written by any v2 writer.
    static func readManifestList(_ bytes: [UInt8]) throws(IcebergError) -> [Value] {
        do {
            return try AvroContainerFile.read(bytes).records
        } catch {
            throw IcebergError.metadata("could not read a manifest list: \(error)")
        }
    }

    /// The data file paths a manifest lists (any status).
    static func readDataFilePaths(_ bytes: [UInt8]) throws(IcebergError) -> [String] {
        do {
            return try AvroContainerFile.read(bytes).records.compactMap { $0.objectValue?["data_file"]?.objectValue?["file_path"]?.stringValue }
        } catch {
            throw IcebergError.metadata("could not read a manifest: \(error)")
        }
    }

    private static func parse(_ text: String) throws(IcebergError) -> AvroSchema {
        do {
            return try AvroSchema(text: text)
        } catch {
            throw IcebergError.metadata("manifest schema: \(error)")
        }
    }

    private static func less(_ a: ParquetCell, _ b: ParquetCell) -> Bool {
        switch (a, b) {
        case (.int32(let x), .int32(let y)): x < y
        case (.int64(let x), .int64(let y)): x < y
        case (.boolean(let x), .boolean(let y)): !x && y
        case (.bytes(let x), .bytes(let y)): x.lexicographicallyPrecedes(y)
        default: false
        }
    }

    // MARK: Data files as manifest values

    private static func dataFile(_ file: DataFile, spec: PartitionSpec) -> Value {
        var partition = Value.Object()
        for (field, value) in zip(spec.fields, file.partition) { partition[field.name] = avroValue(value) }
        return .object(Value.Object([
            "content": 0, "file_path": .string(file.path), "file_format": "PARQUET", "partition": .object(partition),
            "record_count": .int(file.recordCount), "file_size_in_bytes": .int(file.fileSize),
            "column_sizes": pairs(file.columnSizes) { .int($0) }, "value_counts": pairs(file.valueCounts) { .int($0) },
            "null_value_counts": pairs(file.nullCounts) { .int($0) }, "nan_value_counts": pairs(file.nanCounts) { .int($0) },
            "lower_bounds": pairs(file.lowerBounds) { .bytes($0) }, "upper_bounds": pairs(file.upperBounds) { .bytes($0) },
            "split_offsets": .array(file.splitOffsets.map { .int($0) }), "sort_order_id": 0,
        ]))
    }

    /// An Iceberg map with int keys: an Avro array of key/value records.
    private static func pairs<T>(_ map: [Int: T], _ value: (T) -> Value) -> Value {
        .array(map.keys.sorted().map { .object(Value.Object(["key": .int(Int64($0)), "value": value(map[$0]!)])) })
    }

    private static func avroValue(_ cell: ParquetCell) -> Value {
        switch cell {
        case .null, .group: .null
        case .boolean(let flag): .bool(flag)
        case .int32(let number): .int(Int64(number))
        case .int64(let number): .int(number)
        case .float(let number): .float(number)
        case .double(let number): .double(number)
        case .bytes(let bytes): .string(String(decoding: bytes, as: UTF8.self))
        }
    }

    // MARK: Schemas (spec: "Manifests" and "Manifest Lists" field tables)

    static func manifestEntrySchema(_ spec: PartitionSpec) -> String {
        let partitionFields = spec.fields.map { field in
            #"{"name": "\#(field.name)", "type": ["null", \#(avroType(field.resultType))], "default": null, "field-id": \#(field.fieldID)}"#
        }
        return #"""
            {"type": "record", "name": "manifest_entry", "fields": [
              {"name": "status", "type": "int", "field-id": 0},
              {"name": "snapshot_id", "type": ["null", "long"], "default": null, "field-id": 1},
              {"name": "sequence_number", "type": ["null", "long"], "default": null, "field-id": 3},
              {"name": "file_sequence_number", "type": ["null", "long"], "default": null, "field-id": 4},
              {"name": "data_file", "type": {"type": "record", "name": "r2", "fields": [
                {"name": "content", "type": "int", "field-id": 134},
                {"name": "file_path", "type": "string", "field-id": 100},
                {"name": "file_format", "type": "string", "field-id": 101},
                {"name": "partition", "type": {"type": "record", "name": "r102", "fields": [\#(partitionFields.joined(separator: ", "))]}, "field-id": 102},
                {"name": "record_count", "type": "long", "field-id": 103},
                {"name": "file_size_in_bytes", "type": "long", "field-id": 104},
                {"name": "column_sizes", "type": ["null", \#(intMap("k117_v118", 117, 118, "long"))], "default": null, "field-id": 108},
                {"name": "value_counts", "type": ["null", \#(intMap("k119_v120", 119, 120, "long"))], "default": null, "field-id": 109},
                {"name": "null_value_counts", "type": ["null", \#(intMap("k121_v122", 121, 122, "long"))], "default": null, "field-id": 110},
                {"name": "nan_value_counts", "type": ["null", \#(intMap("k138_v139", 138, 139, "long"))], "default": null, "field-id": 137},
                {"name": "lower_bounds", "type": ["null", \#(intMap("k126_v127", 126, 127, "bytes"))], "default": null, "field-id": 125},
                {"name": "upper_bounds", "type": ["null", \#(intMap("k129_v130", 129, 130, "bytes"))], "default": null, "field-id": 128},
                {"name": "key_metadata", "type": ["null", "bytes"], "default": null, "field-id": 131},
                {"name": "split_offsets", "type": ["null", {"type": "array", "items": "long", "element-id": 133}], "default": null, "field-id": 132},
                {"name": "equality_ids", "type": ["null", {"type": "array", "items": "int", "element-id": 136}], "default": null, "field-id": 135},
                {"name": "sort_order_id", "type": ["null", "int"], "default": null, "field-id": 140}
              ]}, "field-id": 2}
            ]}
            """#
    }

    private static func intMap(_ name: String, _ keyID: Int, _ valueID: Int, _ valueType: String) -> String {
        #"{"type": "array", "logicalType": "map", "items": {"type": "record", "name": "\#(name)", "fields": [{"name": "key", "type": "int", "field-id": \#(keyID)}, {"name": "value", "type": "\#(valueType)", "field-id": \#(valueID)}]}}"#
    }

    private static func avroType(_ type: IcebergType) -> String {
        switch type {
        case .boolean: #""boolean""#
        case .int: #""int""#
        case .long: #""long""#
        case .date: #"{"type": "int", "logicalType": "date"}"#
        default: #""string""#
        }
    }

    static let manifestFileSchema = #"""
        {"type": "record", "name": "manifest_file", "fields": [
          {"name": "manifest_path", "type": "string", "field-id": 500},
          {"name": "manifest_length", "type": "long", "field-id": 501},
          {"name": "partition_spec_id", "type": "int", "field-id": 502},
          {"name": "content", "type": "int", "field-id": 517},
          {"name": "sequence_number", "type": "long", "field-id": 515},
          {"name": "min_sequence_number", "type": "long", "field-id": 516},
          {"name": "added_snapshot_id", "type": "long", "field-id": 503},
          {"name": "added_files_count", "type": "int", "field-id": 504},
          {"name": "existing_files_count", "type": "int", "field-id": 505},
          {"name": "deleted_files_count", "type": "int", "field-id": 506},
          {"name": "added_rows_count", "type": "long", "field-id": 512},
          {"name": "existing_rows_count", "type": "long", "field-id": 513},
          {"name": "deleted_rows_count", "type": "long", "field-id": 514},
          {"name": "partitions", "type": ["null", {"type": "array", "items": {"type": "record", "name": "r508", "fields": [
            {"name": "contains_null", "type": "boolean", "field-id": 509},
            {"name": "contains_nan", "type": ["null", "boolean"], "default": null, "field-id": 518},
            {"name": "lower_bound", "type": ["null", "bytes"], "default": null, "field-id": 510},
            {"name": "upper_bound", "type": ["null", "bytes"], "default": null, "field-id": 511}
          ]}, "element-id": 508}], "default": null, "field-id": 507},
          {"name": "key_metadata", "type": ["null", "bytes"], "default": null, "field-id": 519}
        ]}
        """#
}
