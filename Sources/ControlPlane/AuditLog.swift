import DataModel
import HTTPServer
import Logging

/// One structured line per call that may change something (every method but
/// GET and HEAD, whatever its outcome, refusals included): who (the token's
/// id, never the token), what, on which consumer, the answer and how long it took.
struct AuditLog: HTTPMiddleware {
    let logger: Logger
    /// Identifies the caller; nil when the server runs without tokens.
    let tokens: APITokens?

    func respond(to request: HTTPRequest, route: Router.Route?, next: HTTPServer.Responder) async -> HTTPResponse {
        guard !request.method.isSafe else { return await next(request) }
        let started = ContinuousClock.now
        let response = await next(request)
        let elapsed = ContinuousClock.now - started
        logger.info(
            "audit",
            metadata: [
                "principal": "\(principal(of: request))",
                "method": "\(request.method)",
                "path": "\(request.path)",
                "consumer": "\(request.pathParameters["name"] ?? "-")",
                "status": .stringConvertible(response.status),
                "duration_ms": .stringConvertible((elapsed.timeInterval * 1_000_000).rounded() / 1000),
            ])
        return response
    }

    /// Inline requests are GET or HEAD, which are not audited.
    func respondInline(to request: HTTPRequest, route: Router.Route, next: InlineNext) -> HTTPResponse {
        next(request)
    }

    private func principal(of request: HTTPRequest) -> String {
        guard let tokens else { return "anonymous (no API tokens configured)" }
        guard let presented = request.bearerToken else { return "none" }
        return tokens.principal(for: presented)?.id ?? "invalid-token"
    }
}
