import HTTPServer
import Prometheus
import Synchronization

/// `GET /metrics`: the registry's text exposition written straight into the
/// response's bytes. `emitToString()` wrote it into a buffer, copied it into
/// a String (checking its UTF-8) and `.text` copied it back into bytes, all
/// under one lock that made concurrent scrapes wait for each other.
final class MetricsExposition: Sendable {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private let registry: PrometheusCollectorRegistry
    /// The last exposition's size, so the next one is written into one allocation.
    private let lastSize = Atomic<Int>(0)

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func response() -> HTTPResponse {
        var body: [UInt8] = []
        body.reserveCapacity(lastSize.load(ordering: .relaxed) + 4096)
        registry.emit(into: &body)
        lastSize.store(body.count, ordering: .relaxed)
        return HTTPResponse(status: 200, headers: [("Content-Type", Self.contentType)], body: body)
    }
}
