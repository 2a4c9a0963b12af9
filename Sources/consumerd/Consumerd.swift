import ArgumentParser

@main
struct Consumerd: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "consumerd",
        abstract: "Runs Kafka consumers and lets operators steer them over HTTP.",
        version: version,
        subcommands: [ServeCommand.self, CtlCommand.self, RunCommand.self, DevBrokerCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}

/// A runtime failure of a command: printed as `Error: <description>`, exit
/// status 1 (ArgumentParser's ValidationError is for usage mistakes, exit 64).
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
}
