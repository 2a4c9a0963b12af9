import ConsumerManager
import ControlPlane
import Foundation
import HTTPServer
import Kafka
import Prometheus
import TestSupport

/// A control plane over a real manager and embedded cluster; requests go
/// straight to the responders, inline first as the server does (the HTTP
/// server has its own tests).
final class PlaneFixture: Sendable {
    let cluster: EmbeddedCluster
    let directory: TemporaryDirectory
    let registry = PrometheusCollectorRegistry()
    let manager: ConsumerManager
    let plane: ControlPlane

    init(supervisorStallTimeout: Duration = .seconds(10), security: ControlPlane.Security = ControlPlane.Security()) throws {
        cluster = try EmbeddedCluster(brokers: 1, logger: testLogger())
        directory = try TemporaryDirectory()
        var configuration = ConsumerManager.Configuration(
            dataDirectory: directory.path, kafka: KafkaConfig(["bootstrap.servers": cluster.bootstrapServers]))
        configuration.healthInterval = .milliseconds(200)
        configuration.supervisorStallTimeout = supervisorStallTimeout
        manager = try ConsumerManager(configuration: configuration, metrics: ConsumerMetrics(registry: registry), logger: testLogger())
        plane = ControlPlane(manager: manager, registry: registry, logger: testLogger(), security: security)
    }

    struct Reply {
        var status: Int
        var headers: [(name: String, value: String)]
        var body: [UInt8]

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:] }
        var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    }

    func request(
        _ method: HTTPMethod, _ path: String, query: [String: String] = [:], json: String? = nil,
        contentType: String = "application/json", token: String? = nil
    ) async -> Reply {
        var headers: [String: String] = [:]
        if json != nil { headers["content-type"] = contentType }
        if let token { headers["authorization"] = "Bearer \(token)" }
        let request = HTTPRequest(method: method, path: path, query: query, headers: headers, body: Array((json ?? "").utf8))
        let response: HTTPResponse
        if let inline = plane.respondInline(request) {
            response = inline
        } else {
            response = await plane.respond(request)
        }
        return Reply(status: response.status, headers: response.headers, body: response.body)
    }

    /// A spec body for the mock cluster.
    func spec(_ name: String, topic: String, autostart: Bool = true, extra: String = "") -> String {
        #"{"name":"\#(name)","topics":["\#(topic)"],"autostart":\#(autostart),"batch":{"max_wait_ms":100},"kafka":{"fetch.wait.max.ms":10,"session.timeout.ms":6000}\#(extra)}"#
    }

    func remove() { directory.remove() }
}
