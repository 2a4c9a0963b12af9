import ArgumentParser
import Foundation
import Kafka

/// librdkafka properties the operator sets for every consumer: trusted
/// input, so any property is allowed here (TLS files, Kerberos, debug),
/// unlike a spec's `kafka` section. Specs' own properties are merged on top.
struct KafkaClientOptions: ParsableArguments {
    @Option(
        name: .customLong("kafka-config"),
        help: ArgumentHelp(
            "A librdkafka properties file (NAME=VALUE per line, # comments) applied to every client.", valueName: "file"))
    var configFile: String?

    @Option(
        name: .customLong("kafka-property"),
        help: ArgumentHelp(
            "A librdkafka property, NAME=VALUE (repeatable); wins over --kafka-config.", valueName: "name=value"))
    var properties: [String] = []

    /// The file's properties, then each `--kafka-property`, validated by librdkafka.
    func resolved() throws -> [String: String] {
        var resolved: [String: String] = [:]
        if let configFile {
            guard let data = FileManager.default.contents(atPath: configFile), let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("--kafka-config: cannot read \(configFile)")
            }
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                let (name, value) = try Self.property(trimmed, source: "--kafka-config \(configFile) line \(index + 1)")
                resolved[name] = value
            }
        }
        for item in properties {
            let (name, value) = try Self.property(item, source: "--kafka-property")
            resolved[name] = value
        }
        return resolved
    }

    private static func property(_ item: String, source: String) throws -> (String, String) {
        guard let separator = item.firstIndex(of: "="), separator != item.startIndex else {
            throw ValidationError("\(source) expects NAME=VALUE, got '\(item)'")
        }
        let name = String(item[..<separator]).trimmingCharacters(in: .whitespaces)
        let value = String(item[item.index(after: separator)...]).trimmingCharacters(in: .whitespaces)
        do {
            try KafkaConfig.validate(name: name, value: value)
        } catch {
            throw ValidationError("\(source) \(name): \(error.message)")
        }
        return (name, value)
    }
}
