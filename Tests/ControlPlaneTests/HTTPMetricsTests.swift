import HTTPServer
import Prometheus
import Testing
import TestSupport

@testable import ControlPlane

@Suite("HTTP metrics")
struct HTTPMetricsTests {
    @Test("each method, route and status counts on its own series, every time, with the kept handles")
    func keptHandles() {
        let registry = PrometheusCollectorRegistry()
        let metrics = HTTPMetrics(registry: registry)
        let requests: [(HTTPMethod, String, Int, count: Int)] = [
            (.get, "/health", 200, 3), (.get, "/health", 503, 2), (.get, "/consumers/{name}", 200, 4),
            (.post, "/consumers/{name}", 200, 1), (.get, "/consumers/{name}", 404, 5), (HTTPMethod("BREW"), "unmatched", 405, 2),
        ]
        // Interleaved, so a handle kept under the wrong key shows up as a wrong count.
        for round in 0..<5 {
            for (method, route, status, count) in requests where round < count {
                metrics.record(method: method, route: route, status: status, duration: .milliseconds(2))
            }
        }
        let text = registry.emitToString()
        func value(_ series: String) -> String? { sampleValue(series, in: text) }
        for (method, route, status, count) in requests {
            let label = ["GET", "POST"].contains(method.rawValue) ? method.rawValue : "other"
            let series = #"consumerd_http_requests_total{method="\#(label)",route="\#(route)",status="\#(status)"}"#
            #expect(value(series) == "\(count)", "\(series)")
        }
        // The histogram is per method and route, whatever the status.
        #expect(value(#"consumerd_http_request_duration_seconds_count{method="GET",route="/health"}"#) == "5")
        #expect(value(#"consumerd_http_request_duration_seconds_count{method="GET",route="/consumers/{name}"}"#) == "9")
        #expect(value(#"consumerd_http_request_duration_seconds_count{method="POST",route="/consumers/{name}"}"#) == "1")
        #expect(value(#"consumerd_http_request_duration_seconds_bucket{method="GET",route="/health",le="0.005"}"#) == "5")
    }
}
