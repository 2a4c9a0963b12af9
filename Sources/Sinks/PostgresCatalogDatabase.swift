import Iceberg

/// A SQL catalog kept in PostgreSQL (`"catalog": {"type": "sql", "uri":
/// "postgresql://..."}`), over the libpq connection the PostgreSQL sink
/// uses. Connects on first use and again after a lost connection, so a
/// database restart is a retriable commit error, not a dead sink.
final class PostgresCatalogDatabase: CatalogDatabase {
    private let url: String
    private let applicationName: String
    private var connection: PostgresConnection?

    init(url: String, applicationName: String) {
        self.url = url
        self.applicationName = applicationName
    }

    @discardableResult
    func run(_ sql: String, _ parameters: [String?]) throws(IcebergError) -> (rows: [[String?]], changes: Int) {
        do throws(PostgresConnection.Failure) {
            let connection: PostgresConnection
            if let open = self.connection {
                connection = open
            } else {
                connection = try PostgresConnection(url: url, applicationName: applicationName)
                self.connection = connection
            }
            return try connection.run(Self.numberingPlaceholders(sql), parameters)
        } catch {
            if error.connectionLost { close() }
            throw IcebergError(.io, "catalog database \(maskingPassword(in: url)): \(error)")
        }
    }

    func close() {
        connection?.close()
        connection = nil
    }

    /// `?` → `$1`, `$2`, ...: the catalog's statements have no `?` in literals.
    static func numberingPlaceholders(_ sql: String) -> String {
        var number = 0
        var out = ""
        for character in sql {
            if character == "?" {
                number += 1
                out += "$\(number)"
            } else {
                out.append(character)
            }
        }
        return out
    }
}
