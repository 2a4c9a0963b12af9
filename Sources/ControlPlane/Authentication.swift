import Foundation
import HTTPServer

extension RouteGroup {
    /// Kubernetes probes: never behind a token (the kubelet has none).
    static let probes = RouteGroup("probes")
    /// `/metrics`: open unless the server is started with `--metrics-auth`.
    static let metrics = RouteGroup("metrics")
    /// Everything else: consumers, health detail, presets, the OpenAPI document.
    static let api = RouteGroup("api")
}

/// Bearer-token authentication for the route groups that need it. Any token
/// may read; only an admin token may change anything. Unknown paths need a
/// token too, so an anonymous client learns nothing about the routes.
struct Authentication: HTTPMiddleware {
    let tokens: APITokens
    let metricsRequireToken: Bool

    func respond(to request: HTTPRequest, route: Router.Route?, next: HTTPServer.Responder) async -> HTTPResponse {
        if let route, isOpen(route.group) { return await next(request) }
        guard let presented = request.bearerToken else {
            return Self.challenge(message: "this endpoint needs an API token: Authorization: Bearer <token>").response
        }
        guard let principal = tokens.principal(for: presented) else {
            return Self.challenge(message: "the API token is not valid", error: "invalid_token").response
        }
        if principal.role == .readOnly, !request.method.isSafe {
            return HTTPError(
                status: 403, code: "forbidden",
                message: "a read-only token may only GET; \(request.method) needs an admin token"
            ).response
        }
        return await next(request)
    }

    private func isOpen(_ group: RouteGroup) -> Bool {
        group == .probes || (group == .metrics && !metricsRequireToken)
    }

    /// 401 with the RFC 6750 challenge.
    private static func challenge(message: String, error: String? = nil) -> HTTPError {
        let challenge = #"Bearer realm="consumerd""# + (error.map { #", error="\#($0)""# } ?? "")
        return HTTPError(
            status: 401, code: "unauthorized", message: message, headers: [HTTPError.Header("WWW-Authenticate", challenge)])
    }
}

extension HTTPRequest {
    /// The token of an `Authorization: Bearer <token>` header.
    var bearerToken: String? {
        guard let value = header("authorization") else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

extension HTTPMethod {
    /// Methods that change nothing (RFC 9110 "safe").
    var isSafe: Bool { self == .get || self == .head }
}
