/// The database under a SQL catalog: SQLite (``SQLiteDatabase``) or
/// PostgreSQL (the Iceberg sink's libpq connection).
public protocol CatalogDatabase: AnyObject {
    /// Runs one statement with `?` placeholders bound to text (or NULL);
    /// returns the rows as text and how many rows it changed.
    @discardableResult
    func run(_ sql: String, _ parameters: [String?]) throws(IcebergError) -> (rows: [[String?]], changes: Int)
    func close()
}

/// pyiceberg's (and Iceberg's JDBC) SQL catalog: the table `iceberg_tables`
/// maps (catalog, namespace, table) to the current metadata file. A commit
/// writes `metadata/NNNNN-<uuid>.metadata.json` and then swaps the row with
/// `UPDATE ... WHERE metadata_location = <base>`: no row changed means
/// another writer committed first. So `SqlCatalog(name, uri=...)` in
/// pyiceberg loads what consumerd writes, and either may commit. The
/// statements are plain SQL that SQLite and PostgreSQL both run.
public final class SQLCatalog: IcebergCatalog {
    public let kind = "sql"
    let name: String
    private let database: any CatalogDatabase

    public init(name: String, database: any CatalogDatabase) throws(IcebergError) {
        self.name = name
        self.database = database
        // The column types and keys pyiceberg's SQLAlchemy models declare.
        try database.run(
            """
            CREATE TABLE IF NOT EXISTS iceberg_tables (
              catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL,
              metadata_location VARCHAR(1000), previous_metadata_location VARCHAR(1000),
              PRIMARY KEY (catalog_name, table_namespace, table_name))
            """, [])
        try database.run(
            """
            CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
              catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL, property_key VARCHAR(255) NOT NULL,
              property_value VARCHAR(1000) NOT NULL, PRIMARY KEY (catalog_name, namespace, property_key))
            """, [])
    }

    public func load(_ table: TableIdentifier) throws(IcebergError) -> (metadata: TableMetadata, file: String)? {
        let rows = try database.run(
            "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?",
            [name, table.namespaceText, table.name]
        ).rows
        guard let location = rows.first?.first ?? nil else { return nil }
        let path = location.hasPrefix("file://") ? String(location.dropFirst(7)) : location
        guard let bytes = try TableFiles.read(path) else { throw IcebergError.metadata("the catalog names \(path), which is missing") }
        return (try TableMetadata(json: try parseJSON(bytes, path)), location)
    }

    public func commit(_ table: TableIdentifier, base: String?, metadata: TableMetadata) throws(IcebergError) -> String? {
        let version = (base.flatMap(metadataVersion) ?? -1) + 1
        let digits = String(version)
        let path = "\(metadata.location)/metadata/\(String(repeating: "0", count: max(0, 5 - digits.count)) + digits)-\(randomUUID()).metadata.json"
        try TableFiles.write(metadata.text, to: path)
        let swapped: Bool
        if let base {
            swapped = try database.run(
                """
                UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?
                WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND metadata_location = ?
                """, [path, base, name, table.namespaceText, table.name, base]
            ).changes == 1
        } else {
            // Two creators racing both pass NOT EXISTS; the loser's insert
            // fails on the primary key, an error its retry resolves.
            try database.run(
                """
                INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value)
                SELECT ?, ?, 'exists', 'true' WHERE NOT EXISTS (
                  SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = ? AND namespace = ? AND property_key = 'exists')
                """, [name, table.namespaceText, name, table.namespaceText])
            swapped = try database.run(
                """
                INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location)
                SELECT ?, ?, ?, ?, NULL WHERE NOT EXISTS (
                  SELECT 1 FROM iceberg_tables WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?)
                """, [name, table.namespaceText, table.name, path, name, table.namespaceText, table.name]
            ).changes == 1
        }
        guard swapped else {
            // Never referenced: the other writer's version stands.
            try? TableFiles.remove(path)
            return nil
        }
        return path
    }

    public func close() { database.close() }
}
