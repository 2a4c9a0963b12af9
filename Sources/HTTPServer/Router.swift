/// Maps method + path to a handler. A plain value built at start-up;
/// `{name}` segments capture path parameters, literal segments win over them.
/// Routes belong to a ``RouteGroup``, which middleware (authentication) reads
/// so that no handler checks who may call it.
public struct Router: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) async throws -> HTTPResponse
    /// A handler that answers at once without blocking: a cheap read.
    public typealias InlineHandler = @Sendable (HTTPRequest) throws -> HTTPResponse

    public struct Route: Sendable {
        public let method: HTTPMethod
        /// The pattern as registered, e.g. `/consumers/{name}`; the `route` metric label.
        public let pattern: String
        public let group: RouteGroup
        let segments: [Segment]
        /// Literal segments: more of them win (`/consumers/start-all` over `/consumers/{name}`).
        let literalCount: Int
        public let handler: Handler
        /// Set for routes registered with ``Router/onInline(_:_:handler:)``: a GET
        /// or HEAD of them is answered on the server's own thread.
        public let inlineHandler: InlineHandler?
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    public enum Match: Sendable {
        case found(Route, parameters: [String: String])
        case methodNotAllowed(allowed: [HTTPMethod])
        case notFound

        public var route: Route? {
            if case .found(let route, _) = self { return route }
            return nil
        }
    }

    public private(set) var routes: [Route] = []
    /// The group routes registered now join (see ``group(_:_:)``).
    private var currentGroup = RouteGroup.default

    public init() {}

    /// Registers the routes `build` adds as members of `group`.
    public mutating func group(_ group: RouteGroup, _ build: (inout Router) -> Void) {
        let outer = currentGroup
        currentGroup = group
        build(&self)
        currentGroup = outer
    }

    public mutating func on(_ method: HTTPMethod, _ pattern: String, handler: @escaping Handler) {
        add(method, pattern, handler: handler, inline: nil)
    }

    /// A route whose handler answers at once without blocking (probes,
    /// status, metrics): GET and HEAD of it are answered on the HTTP server's
    /// thread that read the request, with no task and no thread hop.
    public mutating func onInline(_ method: HTTPMethod, _ pattern: String, handler: @escaping InlineHandler) {
        add(method, pattern, handler: { request in try handler(request) }, inline: handler)
    }

    private mutating func add(_ method: HTTPMethod, _ pattern: String, handler: @escaping Handler, inline: InlineHandler?) {
        let segments = Self.split(pattern).map { part -> Segment in
            if part.hasPrefix("{") && part.hasSuffix("}") {
                return .parameter(String(part.dropFirst().dropLast()))
            }
            return .literal(String(part))
        }
        precondition(
            !routes.contains { $0.method == method && $0.segments == segments }, "duplicate route \(method) \(pattern)")
        routes.append(
            Route(
                method: method, pattern: pattern, group: currentGroup, segments: segments,
                literalCount: segments.count(where: { if case .literal = $0 { true } else { false } }),
                handler: handler, inlineHandler: inline))
        // Most literal segments first, so `/consumers/start-all` beats `/consumers/{name}`.
        routes.sort { $0.literalCount > $1.literalCount }
    }

    public func match(method: HTTPMethod, path: String) -> Match {
        let parts = Self.split(path)
        var allowed: [HTTPMethod] = []
        // HEAD is served by GET handlers (libmicrohttpd drops the body).
        let lookup = method == .head ? HTTPMethod.get : method
        // Routes are sorted most literal first; once a pattern matched, less
        // specific ones (`/consumers/{name}` for `/consumers/start-all`) are
        // not this resource and must not widen its methods.
        var matchedLiterals: Int?
        for route in routes {
            if let matchedLiterals, route.literalCount < matchedLiterals { break }
            guard let parameters = route.bind(parts) else { continue }
            matchedLiterals = route.literalCount
            if route.method == lookup { return .found(route, parameters: parameters) }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        if allowed.isEmpty { return .notFound }
        if allowed.contains(.get) { allowed.append(.head) }
        return .methodNotAllowed(allowed: allowed)
    }

    private static func split(_ path: some StringProtocol) -> [Substring] {
        Substring(path).split(separator: "/", omittingEmptySubsequences: true)
    }
}

extension Router.Route {
    func bind(_ parts: [Substring]) -> [String: String]? {
        guard parts.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, part) in zip(segments, parts) {
            switch segment {
            case .literal(let literal):
                guard part == literal else { return nil }
            case .parameter(let name):
                parameters[name] = String(part)
            }
        }
        return parameters
    }
}

/// A named set of routes that share a policy (who may call them).
public struct RouteGroup: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }

    /// Routes registered outside any ``Router/group(_:_:)``.
    public static let `default` = RouteGroup("default")
}
