import ControlPlane
import Foundation
import HTTPServer
import Logging
import Synchronization
import Testing
import TestSupport

/// Captures log lines (the audit trail) for assertions.
private final class CapturedLog: Sendable {
    let entries = Mutex<[(message: String, metadata: [String: String])]>([])

    var logger: Logger {
        Logger(label: "audit") { _ in Handler(log: self) }
    }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).mapValues { "\($0)" }
            log.entries.withLock { $0.append((event.message.description, fields)) }
        }
    }
}

@Suite("Authentication and audit")
struct AuthenticationTests {
    static let admin = "admin-0123456789abcdef"
    static let reader = "reader-0123456789abcdef"

    private func fixture(metricsRequireToken: Bool = false, audit: CapturedLog = CapturedLog()) throws -> PlaneFixture {
        var security = ControlPlane.Security()
        security.tokens = try APITokens(fileContents: "# comment\n\n\(Self.admin)\n  \(Self.reader):read-only  \n", source: "tokens")
        security.metricsRequireToken = metricsRequireToken
        security.auditLogger = audit.logger
        return try PlaneFixture(security: security)
    }

    @Test("no token or a wrong one is 401 with a Bearer challenge; unknown paths too")
    func unauthenticated() async throws {
        let fixture = try fixture()
        defer { fixture.remove() }
        let missing = await fixture.request(.get, "/consumers")
        #expect(missing.status == 401)
        #expect(missing.header("WWW-Authenticate") == #"Bearer realm="consumerd""#)
        #expect(missing.error["code"] as? String == "unauthorized")
        let wrong = await fixture.request(.get, "/consumers", token: "wrong-0123456789abcdef")
        #expect(wrong.status == 401)
        #expect(wrong.header("WWW-Authenticate") == #"Bearer realm="consumerd", error="invalid_token""#)
        #expect(await fixture.request(.get, "/consumers", token: String(Self.admin.dropLast())).status == 401, "a prefix is not the token")
        #expect(await fixture.request(.get, "/no/such/route").status == 401)
        #expect(await fixture.request(.get, "/health").status == 401)
        #expect(await fixture.request(.get, "/openapi.yaml").status == 401)
    }

    @Test("probes and metrics are open; --metrics-auth closes metrics")
    func exempt() async throws {
        let open = try fixture()
        defer { open.remove() }
        #expect(await open.request(.get, "/health/live").status == 200)
        #expect(await open.request(.get, "/health/ready").status == 200)
        #expect(await open.request(.get, "/metrics").status == 200)
        let closed = try fixture(metricsRequireToken: true)
        defer { closed.remove() }
        #expect(await closed.request(.get, "/metrics").status == 401)
        #expect(await closed.request(.get, "/metrics", token: Self.reader).status == 200)
        #expect(await closed.request(.get, "/health/ready").status == 200)
    }

    @Test("a read-only token may GET and nothing else; an admin token may do anything")
    func roles() async throws {
        let audit = CapturedLog()
        let fixture = try fixture(audit: audit)
        defer { fixture.remove() }
        let spec = fixture.spec("guarded", topic: "t", autostart: false)
        #expect(await fixture.request(.get, "/consumers", token: Self.reader).status == 200)
        let refused = await fixture.request(.post, "/consumers", json: spec, token: Self.reader)
        #expect(refused.status == 403)
        #expect(refused.error["code"] as? String == "forbidden")
        #expect(await fixture.request(.post, "/consumers", json: spec, token: Self.admin).status == 201)
        #expect(await fixture.request(.get, "/consumers/guarded", token: Self.reader).status == 200)
        #expect(await fixture.request(.delete, "/consumers/guarded", token: Self.reader).status == 403)
        #expect(await fixture.request(.delete, "/consumers/guarded", token: Self.admin).status == 204)
        _ = await fixture.request(.post, "/consumers/guarded/start")

        let lines = audit.entries.withLock { $0 }
        #expect(lines.allSatisfy { $0.message == "audit" })
        #expect(lines.map { "\($0.metadata["method"]!) \($0.metadata["path"]!) \($0.metadata["status"]!)" } == [
            "POST /consumers 403", "POST /consumers 201", "DELETE /consumers/guarded 403", "DELETE /consumers/guarded 204",
            "POST /consumers/guarded/start 401",
        ])
        let principals = lines.map { $0.metadata["principal"]! }
        #expect(principals[0] != principals[1] && principals[0] == principals[2] && principals[1] == principals[3])
        #expect(principals[0].hasPrefix("token-") && principals[0].count == 14)
        #expect(principals[4] == "none")
        #expect(lines[3].metadata["consumer"] == "guarded")
        let everything = lines.map { "\($0.metadata)" }.joined()
        #expect(!everything.contains(Self.admin) && !everything.contains(Self.reader), "a token never reaches the log")
    }

    @Test("token files: roles, comments, and clear errors for weak or malformed lines")
    func tokenFiles() throws {
        let tokens = try APITokens(fileContents: "\(Self.admin)\n# x\n\(Self.reader):read-only\n", source: "f")
        #expect(tokens.count == 2)
        #expect(tokens.principal(for: Self.admin)?.role == .admin)
        #expect(tokens.principal(for: Self.reader)?.role == .readOnly)
        #expect(tokens.principal(for: Self.reader + ":read-only") == nil)
        #expect(tokens.principal(for: "") == nil)
        func error(_ text: String) -> String {
            do {
                _ = try APITokens(fileContents: text, source: "f")
                return ""
            } catch {
                return error.description
            }
        }
        #expect(error("short\n") == "f line 1: a token must be at least 16 characters")
        #expect(error("\n\(Self.admin):writer") == "f line 2: unknown role 'writer' (the only role suffix is :read-only)")
        #expect(error("has a space 0123456789") == "f line 1: a token is printable ASCII without spaces")
    }
}
