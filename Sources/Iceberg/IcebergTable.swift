#if canImport(Glibc)
import Glibc
#endif
import DataModel

/// One table, as one writer sees it: its current metadata, appends that
/// retry on fresh metadata when another writer commits first, and the
/// offsets consumerd keeps in snapshot summaries.
public final class IcebergTable {
    public let identifier: TableIdentifier
    public let catalog: any IcebergCatalog
    public private(set) var metadata: TableMetadata
    /// The metadata file `metadata` was read from (a commit's base).
    public private(set) var metadataFile: String
    /// The manifest list this table wrote last and what it lists.
    private var lastManifestList: (path: String, entries: [Value])?

    /// The snapshot summary key holding every consumer's next offsets:
    /// `{"<consumer>": {"<topic>": {"<partition>": <next offset>}}}`.
    public static let offsetsKey = "consumerd.offsets"
    /// Appends that lost the compare-and-swap this many times in a row fail.
    static let maxCommitAttempts = 10

    /// The table, created with `schema` and `spec` if it does not exist. An
    /// existing table must have the same columns and partitioning (ids may
    /// differ: the table's are used).
    public init(
        catalog: any IcebergCatalog, identifier: TableIdentifier, location: String, schema: IcebergSchema, spec: PartitionSpec,
        properties: [String: String]
    ) throws(IcebergError) {
        self.catalog = catalog
        self.identifier = identifier
        while true {
            if let (metadata, file) = try catalog.load(identifier) {
                let (existingSchema, existingSpec) = (try metadata.schema, try metadata.spec)
                guard existingSchema.sameShape(as: schema) else {
                    throw IcebergError(.metadata, "table \(identifier) exists with other columns than the spec declares")
                }
                guard existingSpec.sameShape(as: spec) else {
                    throw IcebergError(.metadata, "table \(identifier) exists with another partitioning than the spec declares")
                }
                self.metadata = metadata
                self.metadataFile = file
                return
            }
            let created = TableMetadata.create(location: location, schema: schema, spec: spec, properties: properties, now: Self.now())
            if let file = try catalog.commit(identifier, base: nil, metadata: created) {
                self.metadata = created
                self.metadataFile = file
                return
            }
            // Another writer created it meanwhile: load theirs.
        }
    }

    public var schema: IcebergSchema { (try? metadata.schema) ?? IcebergSchema(fields: []) }
    public var spec: PartitionSpec { (try? metadata.spec) ?? PartitionSpec(fields: []) }
    public var location: String { metadata.location }

    public func refresh() throws(IcebergError) {
        guard let (metadata, file) = try catalog.load(identifier) else {
            throw IcebergError(.metadata, "table \(identifier) was dropped")
        }
        self.metadata = metadata
        self.metadataFile = file
    }

    /// The next offsets `consumer` committed with its data, from the newest
    /// snapshot that carries them (another engine's snapshot, a compaction,
    /// may not). Empty when the consumer never committed to this table.
    public func offsets(of consumer: String) -> [String: [Int32: Int64]] {
        Self.offsets(in: metadata, of: consumer)
    }

    static func offsets(in metadata: TableMetadata, of consumer: String) -> [String: [Int32: Int64]] {
        guard let all = allOffsets(in: metadata), let mine = all[consumer]?.objectValue else { return [:] }
        var result: [String: [Int32: Int64]] = [:]
        for topic in mine.fields {
            for partition in topic.value.objectValue?.fields ?? [] {
                guard let number = Int32(partition.key), let offset = partition.value.integerValue else { continue }
                result[topic.key, default: [:]][number] = offset
            }
        }
        return result
    }

    private static func allOffsets(in metadata: TableMetadata) -> Value.Object? {
        for snapshot in metadata.history {
            if let text = snapshot.summary[offsetsKey], let object = try? JSONParser.parse(text).objectValue { return object }
        }
        return nil
    }

    /// What an append did.
    public struct AppendResult: Sendable {
        public var snapshotID: Int64
        /// Commits another writer won before this one went through.
        public var conflicts: Int
    }

    /// Commits `files` as one new snapshot whose summary also records
    /// `offsets` as `consumer`'s next offsets. On a lost compare-and-swap it
    /// rebuilds the snapshot on the fresh metadata and tries again; if the
    /// consumer's own offsets moved meanwhile, another instance of it is
    /// writing (a zombie or a split brain) and the append fails rather than
    /// add the rows twice.
    public func append(
        files: [DataFile], consumer: String, offsets: [String: [Int32: Int64]], extraSummary: [String: String] = [:]
    ) throws(IcebergError) -> AppendResult {
        let expected = self.offsets(of: consumer)
        var conflicts = 0
        while true {
            let snapshotID = Int64.random(in: 1...Int64.max)
            let sequenceNumber = metadata.lastSequenceNumber + 1
            let parent = metadata.currentSnapshot
            let schema = try metadata.schema
            let spec = try metadata.spec

            // No files (a batch of only dead-lettered records): a snapshot
            // that only moves the offsets, with the parent's manifests.
            var manifestPath: String?
            var entries: [Value] = []
            if !files.isEmpty {
                let path = "\(location)/metadata/\(randomUUID())-m0.avro"
                let manifest = try Manifests.manifest(files: files, snapshotID: snapshotID, schema: schema, spec: spec)
                try TableFiles.write(manifest, to: path)
                manifestPath = path
                entries.append(
                    Manifests.listEntry(
                        path: path, length: manifest.count, files: files, snapshotID: snapshotID, sequenceNumber: sequenceNumber, spec: spec))
            }
            if let parent { entries += try manifestEntries(of: parent) }
            let listPath = "\(location)/metadata/snap-\(snapshotID)-1-\(randomUUID()).avro"
            try TableFiles.write(
                try Manifests.manifestList(entries: entries, snapshotID: snapshotID, parentID: parent?.id, sequenceNumber: sequenceNumber),
                to: listPath)

            let now = Self.now()
            let snapshot = Snapshot(
                id: snapshotID, parentID: parent?.id, sequenceNumber: sequenceNumber, timestampMilliseconds: now, manifestList: listPath,
                summary: summary(files: files, parent: parent, consumer: consumer, offsets: offsets).merging(extraSummary) { current, _ in current },
                schemaID: schema.id)
            let next = metadata.appending(snapshot, previousFile: metadataFile, now: now)
            if let file = try catalog.commit(identifier, base: metadataFile, metadata: next) {
                metadata = next
                metadataFile = file
                lastManifestList = (listPath, entries)
                return AppendResult(snapshotID: snapshotID, conflicts: conflicts)
            }
            // Lost the swap: nothing of this attempt is referenced.
            if let manifestPath { try? TableFiles.remove(manifestPath) }
            try? TableFiles.remove(listPath)
            conflicts += 1
            guard conflicts < Self.maxCommitAttempts else {
                throw IcebergError(.conflict, "table \(identifier): lost \(conflicts) commits in a row to other writers")
            }
            try refresh()
            guard self.offsets(of: consumer) == expected else {
                throw IcebergError(.conflict, "table \(identifier): another writer committed offsets of consumer '\(consumer)'")
            }
        }
    }

    /// The manifests a snapshot lists: the ones this table wrote last are
    /// kept, the next append's parent is mostly that snapshot.
    private func manifestEntries(of snapshot: Snapshot) throws(IcebergError) -> [Value] {
        if let last = lastManifestList, last.path == snapshot.manifestList { return last.entries }
        return try readManifestList(snapshot.manifestList)
    }

    private func readManifestList(_ path: String) throws(IcebergError) -> [Value] {
        guard let bytes = try TableFiles.read(localPath(path)) else { throw IcebergError.metadata("manifest list \(path) is missing") }
        return try Manifests.readManifestList(bytes)
    }

    /// The summary an append snapshot carries (spec: "Snapshot Summary"),
    /// totals continued from the parent's.
    private func summary(files: [DataFile], parent: Snapshot?, consumer: String, offsets: [String: [Int32: Int64]]) -> [String: String] {
        func total(_ key: String, _ added: Int64) -> String {
            String((parent?.summary[key].flatMap { Int64($0) } ?? 0) + added)
        }
        let records = files.reduce(Int64(0)) { $0 + $1.recordCount }
        let bytes = files.reduce(Int64(0)) { $0 + $1.fileSize }
        let partitions = Set(files.map { spec.path(of: $0.partition) }).count
        var all = Self.allOffsets(in: metadata) ?? Value.Object()
        var mine = all[consumer]?.objectValue ?? Value.Object()
        for (topic, partitions) in offsets {
            var known = mine[topic]?.objectValue ?? Value.Object()
            for (partition, offset) in partitions.sorted(by: { $0.key < $1.key }) { known[String(partition)] = .int(offset) }
            mine[topic] = .object(known)
        }
        all[consumer] = .object(mine)
        return [
            "operation": "append", "added-data-files": String(files.count), "added-records": String(records),
            "added-files-size": String(bytes), "changed-partition-count": String(partitions),
            "total-data-files": total("total-data-files", Int64(files.count)), "total-records": total("total-records", records),
            "total-files-size": total("total-files-size", bytes), "total-delete-files": total("total-delete-files", 0),
            "total-position-deletes": total("total-position-deletes", 0), "total-equality-deletes": total("total-equality-deletes", 0),
            Self.offsetsKey: JSONWriter.string(.object(all)), "consumerd.consumer": consumer,
        ]
    }

    /// Removes files under the table's `data/` directory whose names start
    /// with `prefix` and that no snapshot references: what a writer that
    /// crashed between writing a file and committing it left behind.
    /// Returns the paths removed. Throws, removing nothing, if a manifest
    /// cannot be read.
    ///
    /// The current snapshot references every live file of an append-only
    /// table, so usually its manifests settle every candidate; older
    /// snapshots (files a compaction replaced, kept for time travel) are read
    /// only for what remains.
    public func removeOrphans(prefix: String) throws(IcebergError) -> [String] {
        var candidates = Set(TableFiles.list("\(localPath(location))/data").filter { path in
            (path.split(separator: "/").last.map(String.init) ?? path).hasPrefix(prefix)
        })
        var seenManifests = Set<String>()
        let snapshots = metadata.currentSnapshot.map { current in [current] + metadata.snapshots.filter { $0.id != current.id } } ?? []
        for snapshot in snapshots where !candidates.isEmpty {
            for entry in try readManifestList(snapshot.manifestList) {
                guard let path = entry.objectValue?["manifest_path"]?.stringValue, seenManifests.insert(path).inserted else { continue }
                guard let bytes = try TableFiles.read(localPath(path)) else { throw IcebergError.metadata("manifest \(path) is missing") }
                for file in try Manifests.readDataFilePaths(bytes) { candidates.remove(localPath(file)) }
            }
        }
        let orphans = candidates.sorted()
        for path in orphans { try TableFiles.remove(path) }
        return orphans
    }

    static func now() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

/// A location as a local path (`file:///x` is `/x`).
func localPath(_ location: String) -> String {
    location.hasPrefix("file://") ? String(location.dropFirst(7)) : location
}
