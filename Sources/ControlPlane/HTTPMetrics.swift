import HTTPServer
import Prometheus

/// `consumerd_http_requests_total` and `consumerd_http_request_duration_seconds`,
/// labelled by method and route pattern (never the raw path: bounded cardinality).
struct HTTPMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    private static let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
        .milliseconds(500), .seconds(1), .seconds(5), .seconds(30), .seconds(120),
    ]

    func record(method: HTTPMethod, route: String, status: Int, duration: Duration) {
        let method = Self.knownMethods.contains(method) ? method.rawValue : "other"
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "consumerd", metricName: "http_requests", unitName: "total",
                helpText: "HTTP requests by method, route and status."),
            labels: [("method", method), ("route", route), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "consumerd", metricName: "http_request_duration", unitName: "seconds",
                helpText: "Time to answer an HTTP request."),
            labels: [("method", method), ("route", route)],
            buckets: Self.buckets
        ).record(duration)
    }

    private static let knownMethods: Set<HTTPMethod> = [.get, .head, .post, .put, .delete]
}
