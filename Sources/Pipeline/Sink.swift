/// Where a consumer's records go. The runtime commits offsets only after
/// ``write(_:)`` returns, so returning means the batch is durable in the sink.
///
/// A sink is used by one consumer thread at a time.
public protocol Sink: AnyObject {
    /// The sink type, used as the `sink` metric label (`file`, `stdout`).
    var kind: String { get }
    /// What the sink writes to, for logs and status (a path, `stdout`).
    var target: String { get }
    /// Writes the whole batch durably or throws; a failed write leaves no
    /// partial batch behind, so it can be retried as a whole.
    func write(_ records: [Record]) throws(PipelineError)
    /// Releases resources; later writes fail.
    func close()
}
