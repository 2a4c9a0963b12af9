import HTTPServer
import Testing

@Suite("Router")
struct RouterTests {
    private func router() -> Router {
        var router = Router()
        for (method, pattern) in [
            (HTTPMethod.get, "/consumers"), (.post, "/consumers"), (.get, "/consumers/{name}"),
            (.delete, "/consumers/{name}"), (.post, "/consumers/{name}/start"), (.post, "/consumers/start-all"),
        ] {
            router.on(method, pattern) { _ in HTTPResponse(status: 200, body: Array(pattern.utf8)) }
        }
        return router
    }

    private func pattern(_ match: Router.Match) -> String? {
        if case .found(let route, _) = match { return route.pattern }
        return nil
    }

    @Test("path parameters are captured")
    func parameters() {
        guard case .found(let route, let parameters) = router().match(method: .post, path: "/consumers/trades/start") else {
            Issue.record("no match")
            return
        }
        #expect(route.pattern == "/consumers/{name}/start")
        #expect(parameters == ["name": "trades"])
    }

    @Test("literal segments win over parameters; trailing slashes are ignored")
    func precedence() {
        #expect(pattern(router().match(method: .post, path: "/consumers/start-all")) == "/consumers/start-all")
        // The literal route owns the path: the parameter route's methods do not leak into it.
        guard case .methodNotAllowed(let allowed) = router().match(method: .get, path: "/consumers/start-all") else {
            Issue.record("expected 405 for GET on a POST-only literal route")
            return
        }
        #expect(allowed == [.post])
        #expect(pattern(router().match(method: .get, path: "/consumers/")) == "/consumers")
    }

    @Test("a known path with another method is 405 with the allowed methods; HEAD follows GET")
    func methodNotAllowed() {
        guard case .methodNotAllowed(let allowed) = router().match(method: .put, path: "/consumers/x") else {
            Issue.record("expected 405")
            return
        }
        #expect(Set(allowed) == [.get, .delete, .head])
        #expect(pattern(router().match(method: .head, path: "/consumers")) == "/consumers")
        #expect(HTTPError.methodNotAllowed(allowed).headers.first?.value == "DELETE, GET, HEAD")
    }

    @Test("unknown paths are 404")
    func notFound() {
        guard case .notFound = router().match(method: .get, path: "/nope/x/y") else {
            Issue.record("expected 404")
            return
        }
    }
}
