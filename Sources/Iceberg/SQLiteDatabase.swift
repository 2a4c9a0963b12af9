import CSQLite

/// A SQLite database file, just enough for the SQL catalog: statements with
/// text parameters, run one at a time.
public final class SQLiteDatabase: CatalogDatabase {
    private var handle: OpaquePointer?
    let path: String

    public init(path: String) throws(IcebergError) {
        self.path = path
        try TableFiles.makeDirectories(TableFiles.directory(of: path))
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        guard sqlite3_open_v2(path, &handle, flags, nil) == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            throw IcebergError.io("open SQLite catalog \(path): \(message)")
        }
        // Other writers (pyiceberg, another consumer) hold the lock briefly.
        sqlite3_busy_timeout(handle, 10_000)
    }

    deinit { close() }

    public func close() {
        sqlite3_close(handle)
        handle = nil
    }

    /// Runs a statement; returns the rows (columns as text, NULL as nil) and
    /// how many rows it changed.
    @discardableResult
    public func run(_ sql: String, _ parameters: [String?]) throws(IcebergError) -> (rows: [[String?]], changes: Int) {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else { throw failure("prepare") }
        defer { sqlite3_finalize(statement) }
        for (index, parameter) in parameters.enumerated() {
            let result: Int32 = if let parameter {
                sqlite3_bind_text(statement, Int32(index + 1), parameter, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
            } else {
                sqlite3_bind_null(statement, Int32(index + 1))
            }
            guard result == SQLITE_OK else { throw failure("bind") }
        }
        var rows: [[String?]] = []
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else { throw failure("run") }
            rows.append((0..<sqlite3_column_count(statement)).map { column in
                sqlite3_column_text(statement, column).map { String(cString: $0) }
            })
        }
        return (rows, Int(sqlite3_changes(handle)))
    }

    private func failure(_ what: String) -> IcebergError {
        IcebergError.io("SQLite catalog \(path): \(what): \(String(cString: sqlite3_errmsg(handle)))")
    }
}
