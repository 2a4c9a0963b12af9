import DataModel
import ConsumerManager
import Foundation
import HTTPServer
import Logging
import Prometheus

/// The REST API: routes over the consumer manager, health, metrics and the
/// OpenAPI document. ``respond(_:)`` is the HTTP server's responder; every
/// error leaves it as the one JSON error shape.
public final class ControlPlane: Sendable {
    let logger: Logger
    let httpMetrics: HTTPMetrics
    /// Longest `?wait=` accepted, in seconds.
    static let maxWait = 300.0
    /// How long DELETE waits for a running consumer to drain by default.
    static let defaultDeleteWait: Duration = .seconds(30)
    public let router: Router

    public init(manager: ConsumerManager, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.logger = logger
        self.httpMetrics = HTTPMetrics(registry: registry)
        var router = Router()
        Self.addConsumerRoutes(to: &router, manager: manager)
        Self.addOperationalRoutes(to: &router, manager: manager, registry: registry)
        self.router = router
    }

    /// Routes a request, maps errors, records metrics. Never throws.
    public func respond(_ request: HTTPRequest) async -> HTTPResponse {
        let started = ContinuousClock.now
        var route = "unmatched"
        let response: HTTPResponse
        switch router.match(method: request.method, path: request.path) {
        case .found(let matched, let parameters):
            route = matched.pattern
            var request = request
            request.pathParameters = parameters
            do {
                response = try await matched.handler(request)
            } catch let error as HTTPError {
                response = error.response
            } catch let error as ConsumerManagerError {
                if error.kind == .persistence {
                    logger.error("persistence failed", metadata: ["error": "\(error.message)"])
                }
                response = HTTPError(error).response
            } catch {
                logger.error("unexpected error", metadata: ["route": "\(route)", "error": "\(error)"])
                response = HTTPError.internal.response
            }
        case .methodNotAllowed(let allowed):
            response = HTTPError.methodNotAllowed(allowed).response
        case .notFound:
            response = HTTPError.notFound("no route for \(request.path)").response
        }
        let elapsed = ContinuousClock.now - started
        httpMetrics.record(method: request.method, route: route, status: response.status, duration: elapsed)
        logger.debug(
            "http request",
            metadata: ["method": "\(request.method)", "route": "\(route)", "status": "\(response.status)", "duration": "\(elapsed)"])
        return response
    }
}

extension HTTPRequest {
    /// `?wait=SECONDS`: absent, or a number in (0, 300].
    func waitDuration() throws(HTTPError) -> Duration? {
        guard let raw = query["wait"] else { return nil }
        guard let seconds = Double(raw), seconds.isFinite, seconds > 0, seconds <= ControlPlane.maxWait else {
            throw HTTPError.badRequest(
                "wait must be a number of seconds between 0 and \(Int(ControlPlane.maxWait))", code: "invalid_parameter", field: "wait")
        }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// Decodes a JSON body, insisting on `Content-Type: application/json`.
    func decodeJSON<T: Decodable>(_ type: T.Type) throws(HTTPError) -> T {
        guard mediaType == "application/json" else { throw HTTPError.unsupportedMediaType(header("content-type")) }
        do {
            return try StrictJSON.decode(type, from: body)
        } catch {
            throw HTTPError(error)
        }
    }

    func pathParameter(_ name: String) -> String {
        pathParameters[name] ?? ""
    }
}
