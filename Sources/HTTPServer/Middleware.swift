/// One layer around the router: authentication, auditing. It sees the
/// request and the route it matched (`nil` for an unknown path or method) and
/// either answers itself or passes the request on to `next`.
public protocol HTTPMiddleware: Sendable {
    func respond(to request: HTTPRequest, route: Router.Route?, next: HTTPServer.Responder) async -> HTTPResponse

    /// The same layer for a GET or HEAD answered inline (see
    /// ``Router/onInline(_:_:handler:)``), on the HTTP server's thread: it must not block.
    func respondInline(to request: HTTPRequest, route: Router.Route, next: InlineNext) -> HTTPResponse
}

/// The rest of the chain of an inline request.
public typealias InlineNext = (HTTPRequest) -> HTTPResponse

extension Array where Element == any HTTPMiddleware {
    /// The layers wrapped around `innermost`, the first element outermost.
    public func wrapping(_ innermost: @escaping HTTPServer.Responder, route: Router.Route?) -> HTTPServer.Responder {
        reversed().reduce(innermost) { next, layer in
            { request in await layer.respond(to: request, route: route, next: next) }
        }
    }

    /// The layers wrapped around an inline handler, the first element outermost.
    public func wrappingInline(_ innermost: @escaping InlineNext, route: Router.Route) -> InlineNext {
        reversed().reduce(innermost) { next, layer in
            { request in layer.respondInline(to: request, route: route, next: next) }
        }
    }
}
