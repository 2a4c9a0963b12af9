import ArgumentParser
import ControlPlane
import Foundation

/// `consumerd ctl`: the REST API for people and scripts, in the manner of
/// kcctl and rpk: aligned tables by default, `-o json` for scripts, the
/// server's error message and a non-zero exit status on failure.
struct CtlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Steer a running consumerd over its REST API.",
        discussion: "Every subcommand takes --server URL (default: $CONSUMERD_URL, else http://127.0.0.1:8080), "
            + "--token-file FILE (default: $CONSUMERD_API_TOKEN), --cacert FILE and -o table|json, after the subcommand's name.",
        subcommands: [
            ListCommand.self, GetCommand.self, StatusCommand.self, CreateCommand.self, ApplyCommand.self, ExportCommand.self, DeleteCommand.self,
            StartCommand.self, StopCommand.self, PauseCommand.self, ResumeCommand.self, RestartCommand.self,
            OffsetsCommand.self, DeadLettersCommand.self, HealthCommand.self,
        ])
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// Where the server is, how to authenticate, how to print.
struct CtlOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The consumerd REST API (default: $CONSUMERD_URL or http://127.0.0.1:8080).", valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp("A file whose first line is the API token (default: $CONSUMERD_API_TOKEN).", valueName: "file"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("PEM certificates to trust for an https server (a private CA).", valueName: "file"))
    var cacert: String?

    @Option(name: [.short, .customLong("output")], help: "table for people, json for scripts.")
    var output: OutputFormat = .table

    static let defaultServer = "http://127.0.0.1:8080"

    func client() throws -> CtlClient {
        let environment = ProcessInfo.processInfo.environment
        var token = environment["CONSUMERD_API_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile) else {
                throw CommandFailure(description: "--token-file: cannot read \(tokenFile)")
            }
            let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty && !$0.hasPrefix("#") }
            guard let line else { throw CommandFailure(description: "--token-file \(tokenFile) holds no token") }
            // The server's token file format: TOKEN[:read-only].
            token = line.hasSuffix(":read-only") ? String(line.dropLast(":read-only".count)) : line
        }
        let server = server ?? environment["CONSUMERD_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultServer
        guard server.hasPrefix("http://") || server.hasPrefix("https://") else {
            throw CommandFailure(description: "--server must be an http:// or https:// URL, not \(server)")
        }
        return CtlClient(server: server, token: token, caFile: cacert)
    }

    /// Prints the server's JSON as it came, or the table.
    func emit(_ reply: CtlClient.Reply, table: () throws -> String) rethrows {
        switch output {
        case .json: print(reply.text)
        case .table: print(try table())
        }
    }
}

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Every consumer: state, health, lag, rates.")
    @OptionGroup var options: CtlOptions

    func run() throws {
        let (list, reply) = try options.client().get(ConsumerList.self, "/consumers")
        options.emit(reply) {
            var table = Table("NAME", "STATE", "DESIRED", "HEALTH", "LAG", "IN/S", "OUT/S", "RESTARTS", "SINK")
            for consumer in list.consumers {
                table.add(
                    consumer.name, consumer.state, consumer.desiredState, consumer.health.status, consumer.lagTotal.cell,
                    rate(consumer.rates.inputRowsPerSecond), rate(consumer.rates.processedRowsPerSecond), String(consumer.restarts),
                    "\(consumer.sink.type) \(consumer.sink.target)")
            }
            return table.rendered
        }
    }
}

struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "A consumer's spec (secrets masked), ready to edit and apply.")
    @OptionGroup var options: CtlOptions
    @Argument(help: "The consumer.") var name: String

    func run() throws {
        let (resource, reply) = try options.client().get(ConsumerResource.self, "/consumers/\(CtlClient.segment(name))")
        try options.emit(reply) {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(resource.spec), as: UTF8.self)
        }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "A consumer's state, partitions, rates and last error.")
    @OptionGroup var options: CtlOptions
    @Argument(help: "The consumer.") var name: String

    func run() throws {
        let (status, reply) = try options.client().get(StatusBody.self, "/consumers/\(CtlClient.segment(name))/status")
        options.emit(reply) { Self.render(status) }
    }

    static func render(_ status: StatusBody) -> String {
        var facts = Table("", "")
        facts.headers = ["Name:", status.name]
        facts.add("State:", "\(status.state) (desired \(status.desiredState), generation \(status.generation))")
        facts.add("Health:", status.health.status + (status.health.reason.map { ": \($0)" } ?? ""))
        facts.add("Group:", status.groupID)
        facts.add("Sink:", "\(status.sink.type) \(status.sink.target)")
        facts.add("Lag:", status.lagTotal.cell)
        facts.add("Rates:", "\(rate(status.rates.inputRowsPerSecond)) in/s, \(rate(status.rates.processedRowsPerSecond)) out/s")
        facts.add("Written:", "\(status.totals.recordsWritten) records, \(status.totals.recordsDeadLettered) dead-lettered, \(status.totals.recordsDropped) dropped")
        facts.add("Restarts:", "\(status.restarts) (\(status.consecutiveFailures) failures in a row)")
        if let error = status.lastError {
            facts.add("Last error:", "\(error.stage): \(error.message) at \(error.at)\(error.resolved ? " (resolved)" : "")")
        }
        var partitions = Table("TOPIC", "PARTITION", "COMMITTED", "POSITION", "HIGH", "LAG", "PAUSED")
        for partition in status.assignment {
            partitions.add(
                partition.topic, String(partition.partition), partition.committedOffset.cell, partition.position.cell,
                partition.highWatermark.cell, partition.lag.cell, partition.paused ? "yes" : "no")
        }
        return facts.rendered + (status.assignment.isEmpty ? "\n\nNo partitions assigned." : "\n\n" + partitions.rendered)
    }
}

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Stop a consumer gracefully and remove it.")
    @OptionGroup var options: CtlOptions
    @Argument(help: "The consumer.") var name: String
    @Option(help: "Seconds to wait for it to drain (server default 30).") var wait: Double?

    func run() throws {
        let reply = try options.client().call("DELETE", "/consumers/\(CtlClient.segment(name))", wait: wait)
        options.emit(reply) { reply.status == 204 ? "deleted \(name)" : "\(name) is still draining; it is removed when stopped" }
    }
}

struct HealthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health", abstract: "The server's health; exits 1 when it is unhealthy.")
    @OptionGroup var options: CtlOptions

    func run() throws {
        let client = try options.client()
        let reply = try client.call("GET", "/health", acceptingAlso: [503])
        let health = try client.decode(HealthSummaryBody.self, reply, "/health")
        options.emit(reply) {
            var table = Table("NAME", "HEALTH", "STATE", "DESIRED", "FAILURES", "REASON")
            for (name, detail) in health.consumerDetails.sorted(by: { $0.key < $1.key }) {
                table.add(name, detail.status, detail.state, detail.desiredState, String(detail.consecutiveFailures), detail.reason ?? "")
            }
            return "\(health.overallStatus): \(health.healthyConsumers) healthy, \(health.degradedConsumers) degraded, \(health.unhealthyConsumers) unhealthy\n\n"
                + table.rendered
        }
        if health.overallStatus == "unhealthy" { throw ExitCode(1) }
    }
}

/// Records per second as a table shows them.
func rate(_ value: Double) -> String {
    value >= 100 ? String(Int(value.rounded())) : String(format: "%.1f", value)
}
