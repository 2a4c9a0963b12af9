import DataModel
import HTTPServer
import Logging
import Synchronization

/// An in-memory Confluent Schema Registry for `serve --dev`: enough of the
/// API for the demo and for a newcomer's own producers (confluent-kafka's
/// AvroSerializer registers and looks up schemas with these calls).
///
///     POST /subjects/{subject}/versions   {"schema": "..."} → {"id": n}
///     GET  /schemas/ids/{id}              {"schema": "..."}, or 404 with error_code 40403
///     GET  /subjects
final class DevSchemaRegistry: Sendable {
    private let schemas = Mutex<(byID: [String], subjects: [String: [Int]])>(([], [:]))
    private let server: HTTPServer

    var url: String { "http://127.0.0.1:\(server.port)" }

    init(logger: Logger) throws {
        var configuration = HTTPServer.Configuration()
        configuration.port = 0
        configuration.threadPoolSize = 1
        var router = Router()
        let box = Box()
        router.on(.get, "/schemas/ids/{id}") { request in
            guard let id = Int(request.pathParameters["id"] ?? ""), let schema = box.registry?.schema(id: id) else {
                return .json(RegistryError(errorCode: 40403, message: "Schema not found"), status: 404)
            }
            return .json(["schema": schema])
        }
        router.on(.get, "/subjects") { _ in .json(box.registry?.subjectNames ?? []) }
        router.on(.post, "/subjects/{subject}/versions") { request in
            guard case .object(let body)? = try? JSONParser.parse(request.body), let schema = body["schema"]?.stringValue,
                let registry = box.registry
            else {
                return .json(RegistryError(errorCode: 42201, message: "expected {\"schema\": \"...\"}"), status: 422)
            }
            return .json(["id": registry.register(schema, subject: request.pathParameters["subject"] ?? "")])
        }
        let routes = router
        server = HTTPServer(configuration: configuration, logger: logger) { request in
            switch routes.match(method: request.method, path: request.path) {
            case .found(let route, let parameters):
                var request = request
                request.pathParameters = parameters
                return (try? await route.handler(request)) ?? HTTPError.internal.response
            default:
                return .json(RegistryError(errorCode: 404, message: "not found"), status: 404)
            }
        }
        box.registry = self
        try server.start()
    }

    func stop() async { await server.stop() }

    /// Registers (or finds) a schema; returns its id.
    func register(_ schema: String, subject: String) -> Int {
        schemas.withLock { state in
            let id = (state.byID.firstIndex(of: schema) ?? {
                state.byID.append(schema)
                return state.byID.count - 1
            }()) + 1
            if !state.subjects[subject, default: []].contains(id) { state.subjects[subject, default: []].append(id) }
            return id
        }
    }

    func schema(id: Int) -> String? {
        schemas.withLock { state in state.byID.indices.contains(id - 1) ? state.byID[id - 1] : nil }
    }

    var subjectNames: [String] { schemas.withLock { $0.subjects.keys.sorted() } }

    /// Lets the routes, built before `self` exists, reach it.
    private final class Box: @unchecked Sendable {
        weak var registry: DevSchemaRegistry?
    }
}

private struct RegistryError: Encodable {
    var errorCode: Int
    var message: String

    enum CodingKeys: String, CodingKey {
        case message
        case errorCode = "error_code"
    }
}
