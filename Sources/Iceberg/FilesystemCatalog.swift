/// A Hadoop-style catalog: no database, the table directory is the catalog.
/// Versions are `metadata/vN.metadata.json`; `metadata/version-hint.text`
/// names the newest. A commit creates `v(N+1)` with `link(2)`, which fails if
/// the name exists, so exactly one of two concurrent writers wins; the hint
/// is only a shortcut, and readers step past a stale one.
public final class FilesystemCatalog: IcebergCatalog {
    public let kind = "filesystem"
    let warehouse: String

    public init(warehouse: String) {
        self.warehouse = warehouse
    }

    private func metadataDirectory(_ table: TableIdentifier) -> String { "\(table.location(in: warehouse))/metadata" }
    private func file(_ table: TableIdentifier, version: Int) -> String { "\(metadataDirectory(table))/v\(version).metadata.json" }

    public func load(_ table: TableIdentifier) throws(IcebergError) -> (metadata: TableMetadata, file: String)? {
        let hint = try TableFiles.read("\(metadataDirectory(table))/version-hint.text").flatMap {
            Int(String(decoding: $0, as: UTF8.self).filter { !$0.isWhitespace })
        }
        var version = hint ?? TableFiles.list(metadataDirectory(table)).compactMap { path -> Int? in
            path.hasSuffix(".metadata.json") ? metadataVersion(of: path) : nil
        }.max() ?? 0
        guard version > 0 else { return nil }
        while try TableFiles.read(file(table, version: version + 1)) != nil { version += 1 }
        let path = file(table, version: version)
        guard let bytes = try TableFiles.read(path) else { throw IcebergError.metadata("\(path) is missing") }
        return (try TableMetadata(json: try parseJSON(bytes, path)), path)
    }

    public func commit(_ table: TableIdentifier, base: String?, metadata: TableMetadata) throws(IcebergError) -> String? {
        let version = (base.flatMap(metadataVersion) ?? 0) + 1
        let path = file(table, version: version)
        guard try TableFiles.write(metadata.text, to: path, exclusive: true) else { return nil }
        try TableFiles.write(Array("\(version)\n".utf8), to: "\(metadataDirectory(table))/version-hint.text")
        return path
    }

    public func close() {}
}
