/// Measurements particular to one kind of sink (an Iceberg table's commits
/// and files), exported by the server with the consumer's other series.
/// Every series carries the consumer's label; `labels` add to it.
public protocol SinkMeter: Sendable {
    func count(_ metric: SinkMetric, by amount: Int64, labels: [(String, String)])
    func record(_ metric: SinkMetric, _ duration: Duration, labels: [(String, String)])
}

/// A sink's series: `consumerd_<name>_<unit>` with its help text.
public struct SinkMetric: Sendable, Hashable {
    public var name: String
    public var unit: String
    public var help: String

    public init(_ name: String, unit: String, help: String) {
        self.name = name
        self.unit = unit
        self.help = help
    }
}
