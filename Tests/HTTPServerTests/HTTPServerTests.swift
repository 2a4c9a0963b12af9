import Foundation
@testable import HTTPServer
import Synchronization
import Testing
import TestSupport

/// Requests go through curl: a real HTTP client, not our own code. The
/// timeout only ends a hung test; a loaded CI machine may need tens of seconds.
private func curl(_ arguments: [String]) async throws -> (status: Int, body: String) {
    let output = try await offPool { try run("/usr/bin/curl", ["-s", "-m", "60", "-w", "\n%{http_code}"] + arguments) }
    let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
    return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
}

private func startServer(
    threads: Int = 2, maxBody: Int = 1 << 20, grace: Duration = .seconds(10), _ responder: @escaping HTTPServer.Responder
) throws -> (HTTPServer, String) {
    var configuration = HTTPServer.Configuration()
    configuration.port = 0
    configuration.shutdownGracePeriod = grace
    configuration.threadPoolSize = threads
    configuration.maxBodyBytes = maxBody
    let server = HTTPServer(configuration: configuration, logger: testLogger(), responder: responder)
    try server.start()
    return (server, "http://127.0.0.1:\(server.port)")
}

@Suite("HTTPServer over libmicrohttpd")
struct HTTPServerTests {
    @Test("method, path, query, headers and body reach the responder")
    func echo() async throws {
        let (server, base) = try startServer { request in
            let summary = "\(request.method) \(request.path) wait=\(request.query["wait"] ?? "-") type=\(request.mediaType ?? "-") body=\(String(decoding: request.body, as: UTF8.self))"
            return .text(summary, status: 201)
        }
        let response = try await curl(["-X", "POST", "-H", "Content-Type: Application/JSON; charset=utf-8", "-d", #"{"a":1}"#, "\(base)/consumers/x/start?wait=5"])
        #expect(response.status == 201)
        #expect(response.body == #"POST /consumers/x/start wait=5 type=application/json body={"a":1}"#)
        await server.stop()
    }

    @Test("an inline responder answers on the server's thread, even while every task the async responder needs is stuck; nil falls through")
    func inlineResponder() async throws {
        var configuration = HTTPServer.Configuration()
        configuration.port = 0
        configuration.threadPoolSize = 1
        configuration.shutdownGracePeriod = .milliseconds(200)
        // The async path is held until the test finishes this stream.
        let (hold, release) = AsyncStream<Void>.makeStream()
        let server = HTTPServer(
            configuration: configuration, logger: testLogger(),
            inlineResponder: { request in
                request.path == "/inline" ? .text("inline \(request.method) \(request.query["q"] ?? "-")") : nil
            }
        ) { request in
            for await _ in hold {}
            return .text("async \(request.path)")
        }
        try server.start()
        let base = "http://127.0.0.1:\(server.port)"
        let held = Task { try await curl(["\(base)/held"]) }
        // One pool thread: the held request is suspended, the inline one still answered.
        let inline = try await curl(["\(base)/inline?q=1"])
        #expect(inline.status == 200 && inline.body == "inline GET 1", "\(inline)")
        release.finish()
        let deferred = try await held.value
        #expect(deferred.status == 200 && deferred.body == "async /held", "\(deferred)")
        await server.stop()
    }

    @Test("the threads serving connections ask the scheduler for a short slice (Linux 6.12 and later honour it)")
    func shortSlice() async throws {
        var configuration = HTTPServer.Configuration()
        configuration.port = 0
        // The inline responder runs on the thread serving the connection: it reports that thread's slice.
        let server = HTTPServer(
            configuration: configuration, logger: testLogger(),
            inlineResponder: { _ in
                let sched = (try? String(contentsOfFile: "/proc/thread-self/sched", encoding: .utf8)) ?? ""
                let line = sched.split(separator: "\n").first { $0.hasPrefix("se.slice") }
                return .text(line.flatMap { $0.split(separator: " ").last.map(String.init) } ?? "unknown")
            }
        ) { _ in .text("async") }
        try server.start()
        let response = try await curl(["http://127.0.0.1:\(server.port)/"])
        await server.stop()
        #expect(response.status == 200)
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let version = release.split(separator: ".").prefix(2).compactMap { Int($0.prefix { $0.isNumber }) }
        if version.count == 2, (version[0], version[1]) >= (6, 12) {
            #expect(response.body == String(ControlPlaneSlice.nanoseconds), "kernel \(release)")
        }
    }

    @Test("an encoded NUL or slash in the path is refused, not decoded into it; so are 950 query parameters")
    func encodedPath() async throws {
        let (server, base) = try startServer { request in .text(request.path) }
        let nul = try await curl(["--path-as-is", "\(base)/consumers/k33%00anything/status"])
        #expect(nul.status == 400 && nul.body.contains(#""code":"invalid_path""#), "\(nul)")
        for slash in ["%2f", "%2F"] {
            let reply = try await curl(["--path-as-is", "\(base)/consumers/a\(slash)b/status"])
            #expect(reply.status == 400, "\(reply)")
        }
        let many = (0..<950).map { "p\($0)=v" }.joined(separator: "&")
        let crowded = try await curl(["\(base)/health?\(many)"])
        #expect(crowded.status == 400 && crowded.body.contains(#""code":"invalid_parameter""#), "\(crowded.status)")
        let plain = try await curl(["\(base)/consumers/a%20b/status"])
        #expect(plain.status == 200 && plain.body == "/consumers/a b/status", "other escapes are decoded: \(plain)")
        await server.stop()
    }

    @Test("bodies over the limit get 413, announced or streamed")
    func bodyLimit() async throws {
        let (server, base) = try startServer(maxBody: 1024) { request in .text("\(request.body.count)") }
        let big = String(repeating: "x", count: 5000)
        let announced = try await curl(["-X", "POST", "-d", big, "\(base)/"])
        #expect(announced.status == 413)
        #expect(announced.body.contains(#""code":"payload_too_large""#))
        // Far beyond the limit: refused before the body is read.
        let huge = try await curl(["-X", "POST", "-H", "Expect:", "-d", String(repeating: "z", count: 64 << 10), "\(base)/"])
        #expect(huge.status == 413)
        let chunked = try await curl(["-X", "POST", "-H", "Transfer-Encoding: chunked", "-d", big, "\(base)/"])
        #expect(chunked.status == 413)
        let small = try await curl(["-X", "POST", "-d", String(repeating: "y", count: 1000), "\(base)/"])
        #expect(small.status == 200 && small.body == "1000")
        await server.stop()
    }

    @Test("a slow handler does not hold a pool thread: another request is served meanwhile")
    func suspendedConnections() async throws {
        let fastServed = Mutex(false)
        // One pool thread. The slow handler finishes only after the fast one
        // was answered, so without suspension this would never complete.
        let (server, base) = try startServer(threads: 1) { request in
            if request.path == "/slow" {
                while !fastServed.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(10)) }
                return .text("slow done")
            }
            fastServed.withLock { $0 = true }
            return .text("fast")
        }
        async let slow = curl(["\(base)/slow"])
        try await Task.sleep(for: .milliseconds(200))
        let fast = try await curl(["\(base)/fast"])
        #expect(fast.body == "fast")
        #expect(try await slow.body == "slow done")
        await server.stop()
    }

    @Test("stopping with a handler still running answers it 503 instead of aborting")
    func stopWhileSuspended() async throws {
        let started = Mutex(false)
        let (server, base) = try startServer(grace: .milliseconds(300)) { _ in
            started.withLock { $0 = true }
            // A handler that outlives the grace period (e.g. a long ?wait=).
            try? await Task.sleep(for: .seconds(30))
            return .text("too late")
        }
        async let pending = curl(["\(base)/slow"])
        #expect(await eventually { started.withLock { $0 } })
        await server.stop()
        let reply = try await pending
        #expect(reply.status == 503)
        #expect(reply.body.contains(#""code":"shutting_down""#))
    }

    @Test("error responses use the JSON error shape; HEAD gets headers only")
    func errorShape() async throws {
        let (server, base) = try startServer { request in
            if request.method == .head || request.method == .get { return .text("hello") }
            return HTTPError.badRequest("bad thing", field: "batch.max_records").response
        }
        let bad = try await curl(["-X", "POST", "\(base)/"])
        #expect(bad.status == 400)
        let object = try #require(JSONSerialization.jsonObject(with: Data(bad.body.utf8)) as? [String: [String: String]])
        #expect(object["error"] == ["code": "bad_request", "message": "bad thing", "field": "batch.max_records"])
        let head = try await curl(["-I", "\(base)/"])
        #expect(head.status == 200 && !head.body.contains("hello"))
        await server.stop()
    }

    @Test("binding a taken port fails with a clear error")
    func portInUse() async throws {
        let (first, _) = try startServer { _ in .text("") }
        var configuration = HTTPServer.Configuration()
        configuration.port = first.port
        let second = HTTPServer(configuration: configuration, logger: testLogger()) { _ in .text("") }
        #expect(throws: HTTPError.self) { try second.start() }
        #expect(throws: HTTPError.self) {
            var bad = HTTPServer.Configuration()
            bad.host = "not-an-ip"
            try HTTPServer(configuration: bad, logger: testLogger()) { _ in .text("") }.start()
        }
        await first.stop()
    }
}

@Suite("Encoded path check")
struct EncodedPathCheckTests {
    @Test("an encoded NUL or slash is found anywhere in the path, in either case; other escapes and cut-off ones are not")
    func encodedNULOrSlash() {
        for path in ["%00", "/a%00", "/consumers/a%2fb", "/a%2F", "%2f/x", "/%%00", "/x%2%2f"] {
            #expect(HTTPServer.containsEncodedNULOrSlash(path), "\(path)")
        }
        for path in ["", "/", "%", "%0", "%2", "/a%20b", "/a%2e", "/a%01", "/a%10", "/a%3f", "/a%0", "/a2f", "/a00", "/%f2"] {
            #expect(!HTTPServer.containsEncodedNULOrSlash(path), "\(path)")
        }
    }
}
