import ArgumentParser
import ControlPlane
import Foundation

/// The arguments every lifecycle verb takes: one consumer or `--all`.
struct LifecycleArguments: ParsableArguments {
    @OptionGroup var options: CtlOptions
    @Argument(help: "The consumer (or --all).") var name: String?
    @Flag(help: "Every registered consumer.") var all = false
    @Option(help: "Seconds to wait until the consumer gets there (0 < S <= 300).") var wait: Double?

    func validate() throws {
        guard (name == nil) == all else { throw ValidationError("give a consumer name or --all, not both") }
        if let wait, !(wait > 0 && wait <= 300) { throw ValidationError("--wait must be between 0 and 300 seconds") }
    }

    func perform(_ verb: String) throws {
        let client = try options.client()
        guard all else {
            let reply = try client.call("POST", "/consumers/\(CtlClient.segment(name ?? ""))/\(verb)", wait: wait)
            let status = try client.decode(StatusBody.self, reply, verb)
            options.emit(reply) { "\(status.name): \(status.state) (desired \(status.desiredState), generation \(status.generation))" }
            return
        }
        if verb == "start" || verb == "stop" {
            let reply = try client.call("POST", "/consumers/\(verb)-all", wait: wait, acceptingAlso: [207])
            let bulk = try client.decode(BulkResultBody.self, reply, verb)
            options.emit(reply) { Self.render(bulk.results.mapValues { entry in entry.error.map { .failure(Failure(message: $0.message)) } ?? .success(entry.status) }) }
            if reply.status == 207 { throw ExitCode(1) }
            return
        }
        // No bulk route for these: one call per consumer.
        let (list, _) = try client.get(ConsumerList.self, "/consumers")
        var results: [String: Result<StatusBody?, Failure>] = [:]
        for consumer in list.consumers {
            do {
                let reply = try client.call("POST", "/consumers/\(CtlClient.segment(consumer.name))/\(verb)", wait: wait)
                results[consumer.name] = .success(try client.decode(StatusBody.self, reply, verb))
            } catch {
                results[consumer.name] = .failure(Failure(message: "\(error)"))
            }
        }
        switch options.output {
        case .table: print(Self.render(results))
        case .json: print(try Self.json(results))
        }
        if results.values.contains(where: { if case .failure = $0 { true } else { false } }) { throw ExitCode(1) }
    }

    struct Failure: Error { var message: String }

    /// The shape of the server's start-all and stop-all answer.
    private static func json(_ results: [String: Result<StatusBody?, Failure>]) throws -> String {
        let entries = results.mapValues { result in
            switch result {
            case .success(let status): BulkResultBody.Entry(changed: nil, status: status, error: nil)
            case .failure(let failure): BulkResultBody.Entry(changed: nil, status: nil, error: .init(code: "failed", message: failure.message))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(BulkResultBody(results: entries)), as: UTF8.self)
    }

    private static func render(_ results: [String: Result<StatusBody?, Failure>]) -> String {
        var table = Table("NAME", "STATE", "DESIRED", "ERROR")
        for (name, result) in results.sorted(by: { $0.key < $1.key }) {
            switch result {
            case .success(let status): table.add(name, status?.state ?? "-", status?.desiredState ?? "-", "")
            case .failure(let failure): table.add(name, "-", "-", failure.message)
            }
        }
        return table.rendered
    }
}

struct StartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start a consumer (or --all).")
    @OptionGroup var arguments: LifecycleArguments
    func run() throws { try arguments.perform("start") }
}

struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a consumer gracefully (or --all).")
    @OptionGroup var arguments: LifecycleArguments
    func run() throws { try arguments.perform("stop") }
}

struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Pause a consumer, keeping its partitions (or --all).")
    @OptionGroup var arguments: LifecycleArguments
    func run() throws { try arguments.perform("pause") }
}

struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume a paused consumer (or --all).")
    @OptionGroup var arguments: LifecycleArguments
    func run() throws { try arguments.perform("resume") }
}

struct RestartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Restart a consumer (or --all).")
    @OptionGroup var arguments: LifecycleArguments
    func run() throws { try arguments.perform("restart") }
}
