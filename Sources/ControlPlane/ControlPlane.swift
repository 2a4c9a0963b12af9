import DataModel
import ConsumerManager
import Foundation
import HTTPServer
import Logging
import Prometheus

/// The REST API: routes over the consumer manager, health, metrics and the
/// OpenAPI document. ``respond(_:)`` is the HTTP server's responder: it
/// matches the route, runs the middleware (authentication, audit) around the
/// handler, and every error leaves it as the one JSON error shape.
public final class ControlPlane: Sendable {
    /// Who may call what, and the audit trail.
    public struct Security: Sendable {
        /// Empty: no authentication (the server refuses that off loopback).
        public var tokens = APITokens()
        /// Put `/metrics` behind a token too.
        public var metricsRequireToken = false
        public var auditLogger = Logger(label: "consumerd.audit")

        public init() {}
    }

    let logger: Logger
    let httpMetrics: HTTPMetrics
    /// Longest `?wait=` accepted, in seconds.
    static let maxWait = 300.0
    /// A redrive reads and produces up to 100,000 records.
    static let redriveTimeout: Duration = .seconds(120)
    /// How long DELETE waits for a running consumer to drain by default.
    static let defaultDeleteWait: Duration = .seconds(30)
    public let router: Router
    /// Outermost first.
    private let middleware: [any HTTPMiddleware]

    public init(
        manager: ConsumerManager, registry: PrometheusCollectorRegistry, logger: Logger, security: Security = Security()
    ) {
        self.logger = logger
        self.httpMetrics = HTTPMetrics(registry: registry)
        var router = Router()
        router.group(.api) { router in
            Self.addConsumerRoutes(to: &router, manager: manager, blocking: BlockingCalls())
        }
        Self.addOperationalRoutes(to: &router, manager: manager, registry: registry)
        self.router = router
        let tokens = security.tokens.isEmpty ? nil : security.tokens
        var middleware: [any HTTPMiddleware] = [AuditLog(logger: security.auditLogger, tokens: tokens)]
        if let tokens {
            middleware.append(Authentication(tokens: tokens, metricsRequireToken: security.metricsRequireToken))
        }
        self.middleware = middleware
    }

    /// Routes a request, runs the middleware and the handler, maps errors,
    /// records metrics. Never throws.
    public func respond(_ request: HTTPRequest) async -> HTTPResponse {
        let started = ContinuousClock.now
        let match = router.match(method: request.method, path: request.path)
        var request = request
        if case .found(_, let parameters) = match { request.pathParameters = parameters }
        let handle = middleware.wrapping({ request in await self.dispatch(request, match) }, route: match.route)
        let response = await handle(request)
        record(request, match.route, response, since: started)
        return response
    }

    /// The server's inline path (``HTTPServer/InlineResponder``): a GET or
    /// HEAD of a route with an inline handler, answered here and now; nil
    /// for every other request, which goes to ``respond(_:)``.
    public func respondInline(_ request: HTTPRequest) -> HTTPResponse? {
        guard request.method.isSafe else { return nil }
        let started = ContinuousClock.now
        guard case .found(let route, let parameters) = router.match(method: request.method, path: request.path),
            let inline = route.inlineHandler
        else { return nil }
        var request = request
        request.pathParameters = parameters
        let handle = middleware.wrappingInline(
            { request in
                do {
                    return try inline(request)
                } catch {
                    return self.response(for: error, route: route)
                }
            }, route: route)
        let response = handle(request)
        record(request, route, response, since: started)
        return response
    }

    private func dispatch(_ request: HTTPRequest, _ match: Router.Match) async -> HTTPResponse {
        switch match {
        case .found(let route, _):
            do {
                return try await route.handler(request)
            } catch {
                return response(for: error, route: route)
            }
        case .methodNotAllowed(let allowed):
            return HTTPError.methodNotAllowed(allowed).response
        case .notFound:
            return HTTPError.notFound("no route for \(request.path)").response
        }
    }

    /// Every error a handler throws leaves as the one JSON error shape.
    private func response(for error: any Error, route: Router.Route) -> HTTPResponse {
        switch error {
        case let error as HTTPError:
            return error.response
        case let error as ConsumerManagerError:
            if error.kind == .persistence {
                logger.error("persistence failed", metadata: ["error": "\(error.message)"])
            }
            return HTTPError(error).response
        default:
            logger.error("unexpected error", metadata: ["route": "\(route.pattern)", "error": "\(error)"])
            return HTTPError.internal.response
        }
    }

    private func record(_ request: HTTPRequest, _ route: Router.Route?, _ response: HTTPResponse, since started: ContinuousClock.Instant) {
        let pattern = route?.pattern ?? "unmatched"
        let elapsed = ContinuousClock.now - started
        httpMetrics.record(method: request.method, route: pattern, status: response.status, duration: elapsed)
        logger.debug(
            "http request",
            metadata: ["method": "\(request.method)", "route": "\(pattern)", "status": "\(response.status)", "duration": "\(elapsed)"])
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

    /// `?name=INTEGER` within `range`, or nil when absent.
    func integerParameter(_ name: String, in range: ClosedRange<Int64>) throws(HTTPError) -> Int64? {
        guard let raw = query[name] else { return nil }
        guard let value = Int64(raw), range.contains(value) else {
            throw HTTPError.badRequest(
                "\(name) must be an integer between \(range.lowerBound) and \(range.upperBound)", code: "invalid_parameter", field: name)
        }
        return value
    }

    /// Decodes a JSON body, insisting on `Content-Type: application/json`.
    func decodeJSON<T: Decodable>(_ type: T.Type, invalidCode: String = "invalid_spec") throws(HTTPError) -> T {
        guard mediaType == "application/json" else { throw HTTPError.unsupportedMediaType(header("content-type")) }
        do {
            return try StrictJSON.decode(type, from: body)
        } catch {
            throw HTTPError(error, code: invalidCode)
        }
    }

    func pathParameter(_ name: String) -> String {
        pathParameters[name] ?? ""
    }
}
