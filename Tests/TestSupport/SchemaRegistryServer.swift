import Foundation

/// The test Schema Registry (Tests/support/schema_registry.py) as a child
/// process. Its schemas persist in a state file, so a test can stop it (an
/// outage) and start it again on the same port with the same ids.
public final class SchemaRegistryServer: @unchecked Sendable {
    public private(set) var port: Int = 0
    private var process: ChildProcess?
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
        var arguments = ["--state", stateFile]
        if port != 0 { arguments += ["--port", String(port)] }
        if let credentials { arguments += ["--user", credentials] }
        let (started, bound) = try startListening("Tests/support/schema_registry.py", arguments)
        process = started
        port = bound
    }

    public func stop() {
        process?.terminate()
        process = nil
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

/// Starts a test server script that prints "listening on PORT" first; returns it and the port.
func startListening(_ script: String, _ arguments: [String]) throws -> (ChildProcess, Int) {
    let process = try ChildProcess(TestPython.path, ["\(TestPython.packageRoot)/\(script)"] + arguments)
    let text = process.readLine()
    guard text.hasPrefix("listening on "), let bound = Int(text.dropFirst(13)) else {
        process.terminate()
        throw CommandFailed(command: script, status: -1, stderr: "did not start: \(text)")
    }
    return (process, bound)
}

/// The HTTP sink's test endpoint (Tests/support/http_receiver.py).
public final class HTTPReceiver: @unchecked Sendable {
    public let port: Int
    private let process: ChildProcess
    public var url: String { "http://127.0.0.1:\(port)/ingest" }

    public static func start(failFirst: Int = 0, refuseIDs: [Int] = []) async throws -> HTTPReceiver {
        let (process, port) = try await offPool {
            try startListening(
                "Tests/support/http_receiver.py", ["--fail-first", String(failFirst)] + refuseIDs.flatMap { ["--refuse-id", String($0)] })
        }
        return HTTPReceiver(process: process, port: port)
    }

    private init(process: ChildProcess, port: Int) {
        self.process = process
        self.port = port
    }

    deinit { process.terminate() }

    /// Every accepted record's value id, in arrival order, with the request's
    /// Idempotency-Key and Authorization.
    public func received() async throws -> [(id: Int, idempotencyKey: String, authorization: String?)] {
        let port = port
        let output = try await offPool { try run("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(port)/_received"]) }
        let entries = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
        return entries.compactMap { entry in
            guard let id = ((entry["record"] as? [String: Any])?["value"] as? [String: Any])?["id"] as? Int else { return nil }
            return (id, entry["idempotency_key"] as? String ?? "", entry["authorization"] as? String)
        }
    }

    /// The status of every POST answered, in order.
    public func statuses() async throws -> [Int] {
        let port = port
        let output = try await offPool { try run("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(port)/_requests"]) }
        return (try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])?["statuses"] as? [Int] ?? []
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
        _ = try TestPython.run(script: "Tests/support/avro_produce.py", arguments, input: input)
    }
}
