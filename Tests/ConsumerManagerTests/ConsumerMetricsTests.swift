import Prometheus
import Testing
import TestSupport

@testable import ConsumerManager

@Suite("Consumer metrics")
struct ConsumerMetricsTests {
    @Test("duration buckets read as written (le=\"1.1\", le=\"1e-06\") and hold the durations at or below them, in seconds")
    func secondsBuckets() {
        let registry = PrometheusCollectorRegistry()
        let instruments = ConsumerMetrics(registry: registry).instruments(for: "c")
        instruments.batchCompleted(after: .milliseconds(1050), maxWait: .seconds(1))
        instruments.batchCompleted(after: .milliseconds(5), maxWait: .seconds(1))
        let write = instruments.sinkWriteDuration(sink: "file")
        for duration: Duration in [.microseconds(500), .milliseconds(3), .seconds(2)] { write.record(duration) }
        instruments.decodeDuration(format: "json").record(.nanoseconds(1000))
        let text = registry.emitToString()
        func value(_ series: String) -> String? { sampleValue(series, in: text) }
        let batch = #"consumerd_batch_duration_seconds_bucket{consumer="c","#
        #expect(value(batch + #"le="0.0025"}"#) == "0")
        #expect(value(batch + #"le="0.005"}"#) == "1", "a bucket holds a duration equal to its bound")
        #expect(value(batch + #"le="1.0"}"#) == "1")
        #expect(value(batch + #"le="1.1"}"#) == "2")
        #expect(value(#"consumerd_batch_duration_seconds_sum{consumer="c"}"#).flatMap { Double($0) } == 1.055)
        let sink = #"consumerd_sink_write_duration_seconds_bucket{consumer="c",sink="file","#
        #expect(value(sink + #"le="0.0005"}"#) == "1")
        #expect(value(sink + #"le="0.0025"}"#) == "1")
        #expect(value(sink + #"le="0.005"}"#) == "2")
        #expect(value(sink + #"le="5.0"}"#) == "3")
        #expect(value(#"consumerd_decode_duration_seconds_bucket{consumer="c",format="json",le="1e-06"}"#) == "1")
        let bounds = text.split(separator: "\n").compactMap { line in line.firstRange(of: #"le=""#).map { line[$0.upperBound...].prefix { $0 != "\"" } } }
        #expect(!bounds.isEmpty && bounds.allSatisfy { $0.count <= 8 }, "\(Set(bounds))")
    }
}
