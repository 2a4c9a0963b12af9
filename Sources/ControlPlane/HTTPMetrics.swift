import ConsumerManager
import DataModel
import HTTPServer
import Prometheus
import Synchronization

/// `consumerd_http_requests_total` and `consumerd_http_request_duration_seconds`,
/// labelled by method and route pattern (never the raw path: bounded cardinality).
///
/// Each label set's counter and histogram are looked up in the registry once
/// and kept: the registry's lookup builds the metric's name, checks its help
/// text and joins its labels every time, which was a tenth of a `/health/live`
/// request's CPU. Routes, methods and statuses are few, so the cache is small.
final class HTTPMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let handles = Mutex(Handles())

    private struct Handles {
        var counters: [CounterKey: Counter] = [:]
        var histograms: [HistogramKey: SecondsHistogram] = [:]
    }

    private struct CounterKey: Hashable {
        let method: String
        let route: String
        let status: Int
    }

    private struct HistogramKey: Hashable {
        let method: String
        let route: String
    }

    /// Seconds (see ``SecondsHistogram``).
    private static let buckets: [Double] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120]

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func record(method: HTTPMethod, route: String, status: Int, duration: Duration) {
        let method = Self.knownMethods.contains(method) ? method.rawValue : "other"
        let (counter, histogram) = handles.withLock { handles in
            (
                handles.counters.kept(CounterKey(method: method, route: route, status: status)) { makeCounter(method, route, status) },
                handles.histograms.kept(HistogramKey(method: method, route: route)) { makeHistogram(method, route) }
            )
        }
        counter.increment()
        histogram.record(duration)
    }

    private func makeCounter(_ method: String, _ route: String, _ status: Int) -> Counter {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "consumerd", metricName: "http_requests", unitName: "total",
                helpText: "HTTP requests by method, route and status."),
            labels: [("method", method), ("route", route), ("status", String(status))])
    }

    private func makeHistogram(_ method: String, _ route: String) -> SecondsHistogram {
        registry.makeSecondsHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "consumerd", metricName: "http_request_duration", unitName: "seconds",
                helpText: "Time to answer an HTTP request."),
            labels: [("method", method), ("route", route)],
            buckets: Self.buckets)
    }

    private static let knownMethods: Set<HTTPMethod> = [.get, .head, .post, .put, .delete]
}
