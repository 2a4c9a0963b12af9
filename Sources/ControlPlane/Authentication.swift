import Foundation
import HTTPServer

extension RouteGroup {
    /// Kubernetes probes: never behind a token (the kubelet has none).
    static let probes = RouteGroup("probes")
    /// `/metrics`: open unless the server is started with `--metrics-auth`.
    static let metrics = RouteGroup("metrics")
    /// Everything else: consumers, health detail, presets, the OpenAPI document.
    static let api = RouteGroup("api")
    /// The status page at `/`: like `api`, but a browser can log in
    /// (HTTP Basic, any user name, the token as the password).
    static let page = RouteGroup("page")
}

/// Bearer-token authentication for the route groups that need it. Any token
/// may read; only an admin token may change anything. Unknown paths need a
/// token too, so an anonymous client learns nothing about the routes.
struct Authentication: HTTPMiddleware {
    let tokens: APITokens
    let metricsRequireToken: Bool

    func respond(to request: HTTPRequest, route: Router.Route?, next: HTTPServer.Responder) async -> HTTPResponse {
        if let refusal = refusal(of: request, route: route) { return refusal }
        return await next(request)
    }

    func respondInline(to request: HTTPRequest, route: Router.Route, next: InlineNext) -> HTTPResponse {
        refusal(of: request, route: route) ?? next(request)
    }

    /// The 401 or 403 for a caller who may not make this request; nil lets it through.
    private func refusal(of request: HTTPRequest, route: Router.Route?) -> HTTPResponse? {
        if let route, isOpen(route.group) { return nil }
        let browser = route?.group == .page
        guard let presented = request.bearerToken ?? (browser ? request.basicPassword : nil) else {
            return Self.challenge(message: "this endpoint needs an API token: Authorization: Bearer <token>", browser: browser).response
        }
        guard let principal = tokens.principal(for: presented) else {
            return Self.challenge(message: "the API token is not valid", error: "invalid_token", browser: browser).response
        }
        if principal.role == .readOnly, !request.method.isSafe {
            return HTTPError(
                status: 403, code: "forbidden",
                message: "a read-only token may only GET; \(request.method) needs an admin token"
            ).response
        }
        return nil
    }

    private func isOpen(_ group: RouteGroup) -> Bool {
        group == .probes || (group == .metrics && !metricsRequireToken)
    }

    /// 401 with the RFC 6750 challenge; for the status page also Basic,
    /// so that a browser asks for the token.
    private static func challenge(message: String, error: String? = nil, browser: Bool = false) -> HTTPError {
        let bearer = #"Bearer realm="consumerd""# + (error.map { #", error="\#($0)""# } ?? "")
        var headers = [HTTPError.Header("WWW-Authenticate", bearer)]
        if browser { headers.insert(HTTPError.Header("WWW-Authenticate", #"Basic realm="consumerd", charset="UTF-8""#), at: 0) }
        return HTTPError(status: 401, code: "unauthorized", message: message, headers: headers)
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

extension HTTPRequest {
    /// The password of an `Authorization: Basic` header (the user name is ignored).
    var basicPassword: String? {
        guard let value = header("authorization") else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
            let credentials = String(data: decoded, encoding: .utf8), let colon = credentials.firstIndex(of: ":")
        else { return nil }
        let password = String(credentials[credentials.index(after: colon)...])
        return password.isEmpty ? nil : password
    }
}

