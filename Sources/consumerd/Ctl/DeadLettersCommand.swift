import ArgumentParser
import ControlPlane
import Foundation

/// `ctl dlq list|redrive NAME`: look into a consumer's dead-letter topic
/// (without a group) and send records back, each at most once.
struct DeadLettersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect and redrive a consumer's dead letters.",
        subcommands: [DeadLettersListCommand.self, DeadLettersRedriveCommand.self], defaultSubcommand: DeadLettersListCommand.self)
}

struct DeadLettersListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Dead letters with why they were turned away.")
    @OptionGroup var options: CtlOptions
    @Argument(help: "The consumer.") var name: String
    @Option(help: "Only this partition of the dead-letter topic.") var partition: Int32?
    @Option(help: "The first offset to read.") var from: Int64?
    @Option(help: "At most this many records (1 to 1000).") var limit = 100

    func run() throws {
        var query: [String: String] = ["limit": String(limit)]
        if let partition { query["partition"] = String(partition) }
        if let from { query["from"] = String(from) }
        let client = try options.client()
        let path = "/consumers/\(CtlClient.segment(name))/dead-letters"
        let reply = try client.call("GET", path, query: query)
        let page = try client.decode(DeadLettersBody.self, reply, path)
        options.emit(reply) {
            var table = Table("PARTITION", "OFFSET", "ORIGINAL", "STAGE", "ERROR", "MESSAGE", "VALUE")
            for record in page.records {
                let original = record.original.map { "\($0.topic)[\($0.partition)]@\($0.offset)" } ?? "-"
                table.add(
                    String(record.partition), String(record.offset), original, record.stage ?? "-", record.errorType ?? "-",
                    Self.clip(record.errorMessage ?? "", 60), Self.clip(record.value?.data ?? "null", 60))
            }
            let more = page.next.map { "partition \($0.partition) from \($0.offset)" }.joined(separator: ", ")
            return "\(page.count) dead letters in \(page.topics.joined(separator: ", "))\n\n" + table.rendered
                + (more.isEmpty ? "" : "\n\nMore: \(more)")
        }
    }

    static func clip(_ text: String, _ width: Int) -> String {
        let line = text.replacingOccurrences(of: "\n", with: " ")
        return line.count <= width ? line : String(line.prefix(width - 1)) + "…"
    }
}

struct DeadLettersRedriveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redrive", abstract: "Send dead letters back to their original topic (or --topic); each at most once.")
    @OptionGroup var options: CtlOptions
    @Argument(help: "The consumer.") var name: String
    @Option(help: "Only this partition of the dead-letter topic.") var partition: Int32?
    @Option(help: "First dead-letter offset (inclusive).") var fromOffset: Int64?
    @Option(help: "Last dead-letter offset (inclusive).") var toOffset: Int64?
    @Option(help: "Only records turned away with this error type (e.g. type_mismatch).") var errorType: String?
    @Option(help: "Only records turned away by this stage (decode, validation, ...).") var stage: String?
    @Option(help: "Send them here instead of their original topic.") var topic: String?
    @Option(help: "At most this many records.") var limit: Int?

    func run() throws {
        let body = RedriveBody(
            partition: partition, fromOffset: fromOffset, toOffset: toOffset, errorType: errorType, stage: stage, topic: topic, limit: limit)
        let client = try options.client()
        let path = "/consumers/\(CtlClient.segment(name))/dead-letters/redrive"
        let reply = try client.call("POST", path, body: Array(try JSONEncoder().encode(body)), timeout: .seconds(150))
        let report = try client.decode(RedriveReportBody.self, reply, path)
        options.emit(reply) {
            "matched \(report.matched), redriven \(report.redriven), already redriven \(report.alreadyRedriven), failed \(report.failed)"
                + report.errors.map { "\n  \($0)" }.joined()
        }
        if report.failed > 0 { throw ExitCode(1) }
    }
}
