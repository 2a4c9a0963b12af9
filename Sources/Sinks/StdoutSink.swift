#if canImport(Glibc)
import Glibc
#endif
import Pipeline

/// Writes JSON Lines to the process's standard output. Batches from several
/// consumers never interleave: each batch is written under one lock.
public final class StdoutSink: Sink {
    public let kind = "stdout"
    public let target = "stdout"
    private var buffer: [UInt8] = []

    public let commits = SinkCommits.consumer

    public init() {}

    public func write(_ batch: SinkBatch) throws(PipelineError) -> SinkWriteResult {
        let records = batch.records
        guard !records.isEmpty else { return .written }
        JSONLinesEncoder.encode(records, into: &buffer)
        try FileDescriptorIO.stdoutLock.withLock { _ throws(PipelineError) in
            try FileDescriptorIO.writeAll(STDOUT_FILENO, buffer, target: target)
        }
        return .written
    }

    public func close() {}
}

/// `{"type": "stdout"}`: JSON Lines on the server's standard output.
public struct StdoutSinkSpec: SinkSpec {
    public static let type = "stdout"

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable { case type }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.type, forKey: .type)
    }

    public func validate() throws(SpecError) {}
    public func target(in context: SinkContext) -> String { "stdout" }
    public var readsRecordFields: Bool { false }
    public func makeSink(in context: SinkContext) throws(PipelineError) -> any Sink { StdoutSink() }
}
