import ArgumentParser
import ConsumerManager
import DataModel
import Foundation
import Kafka
import Logging

/// `consumerd run --spec FILE`: batch mode. One consumer, the same record
/// path and sink as under `serve`, until `--max-messages` records or
/// `--timeout` seconds; then it drains and prints its statistics as JSON.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Consume with one spec until N records or a timeout, commit, print statistics as JSON, exit.")

    @Option(help: "The consumer spec (JSON, as for POST /consumers).")
    var spec: String

    @Option(help: "Stop after this many records (drained and committed).")
    var maxMessages: Int?

    @Option(help: "Stop after this many seconds.")
    var timeout: Double?

    @Option(help: "Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS).")
    var bootstrapServers: String?

    @Option(help: "Directory for file sink output (sinks/).")
    var dataDir = "./data"

    @OptionGroup var kafka: KafkaClientOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let maxMessages, maxMessages < 1 { throw ValidationError("--max-messages must be at least 1") }
        if let timeout, !(timeout > 0 && timeout <= 86_400) { throw ValidationError("--timeout must be between 0 and 86400 seconds") }
        _ = try kafka.resolved()
    }

    func run() async throws {
        logging.bootstrap()
        let logger = Logger(label: "consumerd.run")
        let text: Data
        do {
            text = try Data(contentsOf: URL(fileURLWithPath: spec))
        } catch {
            throw CommandFailure(description: "cannot read \(spec): \(error.localizedDescription)")
        }
        let decoded: ConsumerSpec
        do {
            decoded = try StrictJSON.decode(ConsumerSpec.self, from: [UInt8](text))
        } catch {
            throw CommandFailure(description: "\(spec): \(error)")
        }
        guard let bootstrap = bootstrapServers ?? ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP_SERVERS"], !bootstrap.isEmpty else {
            throw ValidationError("set --bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS")
        }
        var configuration = ConsumerManager.Configuration(
            dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL.path,
            kafka: KafkaConfig(["bootstrap.servers": bootstrap]).merging(try kafka.resolved()))
        configuration.progressInterval = .seconds(1)
        try FileManager.default.createDirectory(atPath: configuration.sinkDirectory, withIntermediateDirectories: true)
        let result: BatchRun.Result
        do {
            result = try await BatchRun.run(
                spec: decoded, configuration: configuration, maxMessages: maxMessages,
                timeout: timeout.map { .milliseconds(Int64($0 * 1000)) }, logger: logger)
        } catch {
            throw CommandFailure(description: error.field.map { "\($0): \(error.message)" } ?? error.message)
        }
        let stats = result.stats
        // Batch latency: first record polled to offsets committed, exact over every batch.
        func milliseconds(_ quantile: Double) -> Value {
            result.batchDuration(quantile: quantile).map { .double(($0.timeInterval * 10_000).rounded() / 10) } ?? .null
        }
        let report: Value = [
            "consumer": .string(decoded.name),
            "state": .string(result.state.rawValue),
            "consumed": .int(stats.messagesConsumed),
            "written": .int(stats.recordsWritten),
            "dead_lettered": .int(stats.recordsDeadLettered),
            "dropped": .int(stats.recordsDropped),
            "errors": .int(stats.errors),
            "batches": .int(stats.batches),
            "sequence_gaps": .int(result.sequence?.gaps ?? 0),
            "duration_seconds": .double((result.seconds * 1000).rounded() / 1000),
            "active_seconds": .double((result.activeSeconds * 1000).rounded() / 1000),
            "records_per_second": .double(result.recordsPerSecond.rounded()),
            "batch_p50_ms": milliseconds(0.5),
            "batch_p99_ms": milliseconds(0.99),
            // From the first batch's commit on: no start-up, no group join.
            "cpu_us_per_record": result.cpuMicrosecondsPerRecord.map { .double(($0 * 100).rounded() / 100) } ?? .null,
        ]
        print(JSONWriter.string(report))
        if let failure = result.failure {
            throw CommandFailure(description: "the consumer failed (\(failure.stage)): \(failure.message)")
        }
    }
}

