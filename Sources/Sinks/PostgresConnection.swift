import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection, used by one thread. Values always travel as
/// parameters or COPY data, never inside SQL text; only identifiers (checked
/// against a strict pattern and quoted) are part of statements.
final class PostgresConnection {
    private var connection: OpaquePointer?

    /// Why a call failed, with PostgreSQL's SQLSTATE when the server said.
    struct Failure: Error, CustomStringConvertible {
        var message: String
        var sqlState: String?
        /// The connection is gone (or the server is shutting down): reconnect.
        var connectionLost: Bool

        var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }

        /// SQLSTATE class 22 (data exception) or 23 (integrity constraint):
        /// something about the rows themselves.
        var isDataError: Bool { sqlState.map { $0.hasPrefix("22") || $0.hasPrefix("23") } ?? false }

        /// Worth retrying: connection loss, serialization failures and
        /// deadlocks, resource exhaustion (a full disk), shutdowns.
        var isTransient: Bool {
            if connectionLost { return true }
            guard let state = sqlState else { return false }
            return state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57") || state == "40001" || state == "40P01"
        }
    }

    /// Connects with bounded waits: a connect timeout, and TCP keepalives
    /// and a user timeout so a silent server fails a call instead of hanging it.
    init(url: String, applicationName: String) throws(Failure) {
        let settings: [(String, String)] = [
            ("dbname", url),
            ("application_name", String(applicationName.prefix(63))),
            ("connect_timeout", "5"),
            ("tcp_user_timeout", "15000"),
            ("keepalives", "1"),
            ("keepalives_idle", "5"),
            ("keepalives_interval", "2"),
            ("keepalives_count", "3"),
            ("client_encoding", "UTF8"),
            // No NOTICEs ("already exists, skipping") on stderr.
            ("options", "-c client_min_messages=warning"),
        ]
        connection = withCStrings(settings.map(\.0)) { keys in
            withCStrings(settings.map(\.1)) { values in PQconnectdbParams(keys, values, 1) }
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let failure = Failure(message: "connect: \(lastError)", sqlState: nil, connectionLost: true)
            close()
            throw failure
        }
    }

    deinit { close() }

    var isOpen: Bool { connection != nil && PQstatus(connection) == CONNECTION_OK }

    func close() {
        if let connection { PQfinish(connection) }
        connection = nil
    }

    private var lastError: String {
        connection.flatMap { PQerrorMessage($0) }.map { String(cString: $0).trimmingTrailingWhitespace } ?? "no connection"
    }

    /// Runs a statement with text parameters; returns the rows as text (`nil` for NULL).
    @discardableResult
    func execute(_ sql: String, _ parameters: [String?] = []) throws(Failure) -> [[String?]] {
        try run(sql, parameters).rows
    }

    /// Runs a statement with text parameters; returns the rows as text and
    /// how many rows an INSERT, UPDATE or DELETE changed.
    func run(_ sql: String, _ parameters: [String?]) throws(Failure) -> (rows: [[String?]], changes: Int) {
        guard let connection else { throw Failure(message: "not connected", sqlState: nil, connectionLost: true) }
        let result = withOptionalCStrings(parameters) { values in
            PQexecParams(connection, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        defer { PQclear(result) }
        try check(result, sql)
        let rows = Int(PQntuples(result))
        let columns = Int(PQnfields(result))
        let values = (0..<rows).map { row in
            (0..<columns).map { column in
                PQgetisnull(result, Int32(row), Int32(column)) != 0 ? nil : String(cString: PQgetvalue(result, Int32(row), Int32(column)))
            }
        }
        return (values, PQcmdTuples(result).flatMap { Int(String(cString: $0)) } ?? 0)
    }

    /// `COPY ... FROM STDIN` with `data` in COPY's text format.
    func copy(_ sql: String, data: [UInt8]) throws(Failure) {
        guard let connection else { throw Failure(message: "not connected", sqlState: nil, connectionLost: true) }
        let start = PQexec(connection, sql)
        let status = PQresultStatus(start)
        if status != PGRES_COPY_IN {
            defer { PQclear(start) }
            try check(start, sql)
            throw Failure(message: "\(sql): the server did not start a COPY", sqlState: nil, connectionLost: false)
        }
        PQclear(start)
        let sent = data.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(buffer.count, 1)) {
                PQputCopyData(connection, $0, Int32(buffer.count))
            }
        }
        let ended = PQputCopyEnd(connection, sent == 1 ? nil : "client failed to send data")
        guard sent == 1, ended == 1 else {
            throw Failure(message: "copy: \(lastError)", sqlState: nil, connectionLost: !isOpen)
        }
        // Every COPY ends with one result, then none.
        var failure: Failure?
        while let result = PQgetResult(connection) {
            do {
                try check(result, sql)
            } catch {
                failure = failure ?? error
            }
            PQclear(result)
        }
        if let failure { throw failure }
    }

    private func check(_ result: OpaquePointer?, _ sql: String) throws(Failure) {
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_COPY_IN:
            return
        default:
            let state = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) }
            let text = result.flatMap { PQresultErrorMessage($0) }.map { String(cString: $0) } ?? ""
            let message = (text.isEmpty ? lastError : text).trimmingTrailingWhitespace
            throw Failure(message: message, sqlState: state, connectionLost: PQstatus(connection) != CONNECTION_OK)
        }
    }

    /// A name checked against `[A-Za-z_][A-Za-z0-9_]*` (with at most one
    /// `schema.` prefix), double-quoted so case and keywords are kept.
    static func quote(_ name: String) -> String {
        name.split(separator: ".").map { "\"\($0)\"" }.joined(separator: ".")
    }

    static func isValidName(_ name: String, allowSchema: Bool) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.count <= (allowSchema ? 2 : 1) else { return false }
        return parts.allSatisfy { part in
            guard let first = part.utf8.first, part.utf8.count <= 63 else { return false }
            let letter = { (c: UInt8) in (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || c == 0x5F }
            return letter(first) && part.utf8.allSatisfy { letter($0) || (0x30...0x39).contains($0) }
        }
    }
}

extension String {
    var trimmingTrailingWhitespace: String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}

/// Calls `body` with a C array of C strings that lives for the call.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withOptionalCStrings(strings, body)
}

private func withOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
