import Foundation

/// The test Schema Registry (Tests/support/schema_registry.py) as a child
/// process. Its schemas persist in a state file, so a test can stop it (an
/// outage) and start it again on the same port with the same ids.
public final class SchemaRegistryServer: @unchecked Sendable {
    public private(set) var port: Int = 0
    private var process: Process?
    private let stateFile: String
    private let credentials: String?

    public var url: String { "http://127.0.0.1:\(port)" }

    public init(directory: String, credentials: String? = nil) throws {
        stateFile = "\(directory)/registry-state.json"
        self.credentials = credentials
        try start()
    }

    deinit { stop() }

    /// Starts the server, on its previous port after a ``stop()``.
    public func start() throws {
        var arguments = ["\(TestPython.packageRoot)/Tests/support/schema_registry.py", "--state", stateFile]
        if port != 0 { arguments += ["--port", String(port)] }
        if let credentials { arguments += ["--user", credentials] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestPython.path)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line is "listening on PORT".
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), let first = byte.first, first != 0x0A {
            line.append(first)
        }
        guard let text = String(data: line, encoding: .utf8), text.hasPrefix("listening on "), let bound = Int(text.dropFirst(13)) else {
            process.terminate()
            throw CommandFailed(command: "schema_registry.py", status: -1, stderr: "did not start: \(String(decoding: line, as: UTF8.self))")
        }
        port = bound
        self.process = process
    }

    /// Stops the server (SIGTERM, SIGKILL after 5 s) and waits for it to exit.
    /// Polls instead of `waitUntilExit`, which spins a run loop on Linux.
    public func stop() {
        guard let process else { return }
        self.process = nil
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        while process.isRunning { usleep(20_000) }
    }

    /// Registers a schema under a subject; returns its id.
    public func register(subject: String, schema: String) throws -> Int32 {
        let body = try JSONSerialization.data(withJSONObject: ["schema": schema])
        let output = try run("/usr/bin/curl", ["-sf", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@-",
                                              "\(url)/subjects/\(subject)/versions"] + (credentials.map { ["-u", $0] } ?? []),
                             input: String(decoding: body, as: UTF8.self))
        guard let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], let id = object["id"] as? Int else {
            throw CommandFailed(command: "register", status: -1, stderr: output)
        }
        return Int32(id)
    }
}

/// Produces Avro with confluent-kafka's own AvroSerializer (Tests/support/avro_produce.py).
public enum AvroProducer {
    /// `values` are JSON objects; each is serialised with `schema` and keyed by `keys[i]` when given.
    /// With `schemaID` the registry is not asked (records are framed with that id).
    public static func produce(
        _ values: [[String: Any]], keys: [String]? = nil, schema: String, topic: String, bootstrap: String, registry: String,
        partition: Int32? = nil, schemaID: Int32? = nil
    ) throws {
        let directory = try TemporaryDirectory("avro-produce")
        defer { directory.remove() }
        let schemaFile = "\(directory.path)/schema.avsc"
        try schema.write(toFile: schemaFile, atomically: true, encoding: .utf8)
        let items: [[String: Any]] = values.enumerated().map { index, value in
            ["key": keys.map { $0[index] as Any } ?? NSNull(), "value": value]
        }
        let input = String(decoding: try JSONSerialization.data(withJSONObject: items), as: UTF8.self)
        var arguments = [bootstrap, topic, registry, schemaFile]
        if let partition { arguments += ["--partition", String(partition)] }
        if let schemaID { arguments += ["--schema-id", String(schemaID)] }
        try TestPython.run(script: "Tests/support/avro_produce.py", arguments, input: input)
    }
}
