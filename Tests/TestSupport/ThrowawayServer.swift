import Foundation

/// A throwaway PostgreSQL or Redis (Tests/support/servers.py) as a child
/// process on a Unix socket; ``stop()`` and ``start()`` make an outage, and
/// results are read back with the servers' own clients (psql, redis-cli).
///
/// Everything that waits on a process runs off the cooperative pool (it
/// has two threads here, and the code under test needs them).
public final class ThrowawayServer: @unchecked Sendable {
    public enum Kind: String, Sendable {
        case postgresql, redis
    }

    public let kind: Kind
    public let url: String
    private let process: Process
    private let commands: FileHandle
    private let answers: FileHandle

    /// Whether the server packages are installed (`make deps` installs them).
    public static func isAvailable(_ kind: Kind) -> Bool {
        FileManager.default.isExecutableFile(atPath: kind == .postgresql ? "/usr/lib/postgresql/15/bin/postgres" : "/usr/bin/redis-server")
    }

    public static func start(_ kind: Kind) async throws -> ThrowawayServer {
        try await offPool { try ThrowawayServer(kind) }
    }

    private init(_ kind: Kind) throws {
        self.kind = kind
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestPython.path)
        process.arguments = ["\(TestPython.packageRoot)/Tests/support/servers.py", kind.rawValue]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        commands = input.fileHandleForWriting
        answers = output.fileHandleForReading
        url = Self.readLine(answers)
        guard url.contains("://") else {
            process.terminate()
            throw CommandFailed(command: "servers.py \(kind.rawValue)", status: -1, stderr: "did not start: \(url)")
        }
    }

    deinit { close() }

    /// Stops the server; its data stays for ``start()``.
    public func stop() async throws { try await offPool { try self.send("stop") } }
    public func start() async throws { try await offPool { try self.send("start") } }

    /// Ends the server: closing its stdin tells the script to stop it and
    /// remove its files, which it does on its own.
    public func close() {
        try? commands.close()
    }

    private func send(_ command: String) throws {
        commands.write(Data("\(command)\n".utf8))
        let answer = Self.readLine(answers)
        guard answer == "ok" else { throw CommandFailed(command: "servers.py \(command)", status: -1, stderr: answer) }
    }

    private static func readLine(_ handle: FileHandle) -> String {
        var line = Data()
        while let byte = try? handle.read(upToCount: 1), let first = byte.first, first != 0x0A { line.append(first) }
        return String(decoding: line, as: UTF8.self)
    }

    /// Rows of a query, through psql (`-At`: unaligned, tuples only, `|` between columns).
    public func query(_ sql: String) async throws -> [String] {
        let url = url
        return try await offPool {
            try run("/usr/bin/psql", [url, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]).split(separator: "\n").map(String.init)
        }
    }

    /// One redis-cli command's output.
    public func redis(_ arguments: String...) async throws -> String {
        let socket = String(url.dropFirst("unix://".count))
        return try await offPool {
            try run("/usr/bin/redis-cli", ["-s", socket] + arguments).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
