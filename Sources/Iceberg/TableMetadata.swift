import DataModel

/// A table's metadata file (spec: "Table Metadata", format version 2),
/// kept as the JSON it was read from so that whatever another engine wrote
/// there (properties, sort orders, statistics, refs) survives our commits.
public struct TableMetadata: Sendable, Equatable {
    public private(set) var json: Value.Object

    public init(json: Value) throws(IcebergError) {
        guard let object = json.objectValue else { throw IcebergError.metadata("table metadata is not a JSON object") }
        guard object["format-version"]?.integerValue == 2 else {
            throw IcebergError.metadata("only format version 2 tables are supported (this is \(object["format-version"].map(JSONWriter.string) ?? "unversioned"))")
        }
        self.json = object
        _ = try schema
        _ = try spec
    }

    /// A new, empty table.
    public static func create(location: String, schema: IcebergSchema, spec: PartitionSpec, properties: [String: String], now: Int64) -> TableMetadata {
        let object = Value.Object([
            "format-version": 2, "table-uuid": .string(randomUUID()), "location": .string(location), "last-sequence-number": 0,
            "last-updated-ms": .int(now), "last-column-id": .int(Int64(schema.lastColumnID)), "current-schema-id": .int(Int64(schema.id)),
            "schemas": .array([schema.json]), "default-spec-id": .int(Int64(spec.id)), "partition-specs": .array([spec.json]),
            "last-partition-id": .int(Int64(spec.fields.map(\.fieldID).max() ?? PartitionSpec.firstFieldID - 1)),
            "default-sort-order-id": 0, "sort-orders": .array([.object(Value.Object(["order-id": 0, "fields": .array([])]))]),
            "properties": .object(Value.Object(properties.sorted { $0.key < $1.key }.map { Value.Object.Field($0.key, .string($0.value)) })),
            "current-snapshot-id": .int(-1), "refs": .object(Value.Object()), "snapshots": .array([]), "snapshot-log": .array([]),
            "metadata-log": .array([]),
        ])
        // The object is well formed by construction.
        return try! TableMetadata(json: .object(object))
    }

    public var location: String { json["location"]?.stringValue ?? "" }
    public var lastSequenceNumber: Int64 { json["last-sequence-number"]?.integerValue ?? 0 }

    public var schema: IcebergSchema {
        get throws(IcebergError) {
            let id = json["current-schema-id"]?.integerValue ?? 0
            guard let schema = json["schemas"]?.arrayValue?.first(where: { ($0.objectValue?["schema-id"]?.integerValue ?? 0) == id }) else {
                throw IcebergError.metadata("the current schema \(id) is not among the schemas")
            }
            return try IcebergSchema(json: schema)
        }
    }

    public var spec: PartitionSpec {
        get throws(IcebergError) {
            let id = json["default-spec-id"]?.integerValue ?? 0
            guard let spec = json["partition-specs"]?.arrayValue?.first(where: { ($0.objectValue?["spec-id"]?.integerValue ?? 0) == id }) else {
                throw IcebergError.metadata("the default partition spec \(id) is not among the specs")
            }
            return try PartitionSpec(json: spec, schema: try schema)
        }
    }

    public var snapshots: [Snapshot] { (json["snapshots"]?.arrayValue ?? []).compactMap(Snapshot.init) }

    public var currentSnapshotID: Int64? {
        guard let id = json["current-snapshot-id"]?.integerValue, id != -1 else { return nil }
        return id
    }

    public var currentSnapshot: Snapshot? { currentSnapshotID.flatMap { id in snapshots.first { $0.id == id } } }

    /// The current snapshot and its ancestors, newest first.
    public var history: [Snapshot] {
        let byID = Dictionary(snapshots.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var chain: [Snapshot] = []
        var next = currentSnapshot
        while let snapshot = next, chain.count < byID.count {
            chain.append(snapshot)
            next = snapshot.parentID.flatMap { byID[$0] }
        }
        return chain
    }

    /// This metadata with `snapshot` appended and made current on `main`.
    func appending(_ snapshot: Snapshot, previousFile: String?, now: Int64) -> TableMetadata {
        var copy = self
        copy.json["last-sequence-number"] = .int(snapshot.sequenceNumber)
        copy.json["last-updated-ms"] = .int(now)
        copy.json["current-snapshot-id"] = .int(snapshot.id)
        var refs = copy.json["refs"]?.objectValue ?? Value.Object()
        refs["main"] = .object(Value.Object(["snapshot-id": .int(snapshot.id), "type": "branch"]))
        copy.json["refs"] = .object(refs)
        copy.json["snapshots"] = .array((json["snapshots"]?.arrayValue ?? []) + [snapshot.json])
        let logEntry = Value.object(Value.Object(["timestamp-ms": .int(snapshot.timestampMilliseconds), "snapshot-id": .int(snapshot.id)]))
        copy.json["snapshot-log"] = .array((json["snapshot-log"]?.arrayValue ?? []) + [logEntry])
        if let previousFile {
            let entry = Value.object(Value.Object(["timestamp-ms": json["last-updated-ms"] ?? .int(now), "metadata-file": .string(previousFile)]))
            // Bounded like Iceberg's write.metadata.previous-versions-max default.
            copy.json["metadata-log"] = .array(Array(((json["metadata-log"]?.arrayValue ?? []) + [entry]).suffix(100)))
        }
        return copy
    }

    public var text: [UInt8] {
        var out: [UInt8] = []
        JSONWriter.append(.object(json), to: &out)
        return out
    }
}

/// A snapshot as table metadata lists it.
public struct Snapshot: Sendable, Equatable {
    public var id: Int64
    public var parentID: Int64?
    public var sequenceNumber: Int64
    public var timestampMilliseconds: Int64
    public var manifestList: String
    public var summary: [String: String]
    public var schemaID: Int

    init(id: Int64, parentID: Int64?, sequenceNumber: Int64, timestampMilliseconds: Int64, manifestList: String, summary: [String: String], schemaID: Int) {
        self.id = id
        self.parentID = parentID
        self.sequenceNumber = sequenceNumber
        self.timestampMilliseconds = timestampMilliseconds
        self.manifestList = manifestList
        self.summary = summary
        self.schemaID = schemaID
    }

    init?(_ json: Value) {
        guard let object = json.objectValue, let id = object["snapshot-id"]?.integerValue,
            let manifestList = object["manifest-list"]?.stringValue
        else { return nil }
        var summary: [String: String] = [:]
        for field in object["summary"]?.objectValue?.fields ?? [] { summary[field.key] = field.value.stringValue }
        self.init(
            id: id, parentID: object["parent-snapshot-id"]?.integerValue, sequenceNumber: object["sequence-number"]?.integerValue ?? 0,
            timestampMilliseconds: object["timestamp-ms"]?.integerValue ?? 0, manifestList: manifestList, summary: summary,
            schemaID: Int(object["schema-id"]?.integerValue ?? 0))
    }

    var json: Value {
        var object = Value.Object([
            "snapshot-id": .int(id), "sequence-number": .int(sequenceNumber), "timestamp-ms": .int(timestampMilliseconds),
            "manifest-list": .string(manifestList),
            "summary": .object(Value.Object(summary.sorted { $0.key < $1.key }.map { Value.Object.Field($0.key, .string($0.value)) })),
            "schema-id": .int(Int64(schemaID)),
        ])
        if let parentID { object["parent-snapshot-id"] = .int(parentID) }
        return .object(object)
    }
}

/// A random (version 4) UUID in its text form.
func randomUUID() -> String {
    var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
    bytes[6] = bytes[6] & 0x0F | 0x40
    bytes[8] = bytes[8] & 0x3F | 0x80
    let hex = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for (index, byte) in bytes.enumerated() {
        if [4, 6, 8, 10].contains(index) { out.append(0x2D) }
        out += [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
    }
    return String(decoding: out, as: UTF8.self)
}
