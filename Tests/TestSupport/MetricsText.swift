/// The value of one sample in a Prometheus text exposition; `series` is the
/// metric name and its labels exactly as written (`name{a="b",le="1.1"}`).
public func sampleValue(_ series: String, in exposition: String) -> String? {
    exposition.split(separator: "\n").first { $0.hasPrefix(series + " ") }.map { String($0.dropFirst(series.count + 1)) }
}
