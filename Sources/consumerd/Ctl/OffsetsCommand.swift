import ArgumentParser
import ControlPlane
import Foundation

/// `ctl offsets NAME`: the group's offsets; with `--reset-to` or `--set`,
/// a reset the consumer's next start applies (it must be stopped).
struct OffsetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offsets",
        abstract: "Show a consumer's offsets and lag, or reset them while it is stopped.",
        discussion: "--reset-to takes earliest, latest, milliseconds since the epoch, or an ISO 8601 time (2026-11-26T09:30:00Z). "
            + "--set takes TOPIC:PARTITION=OFFSET, or PARTITION=OFFSET for a consumer of one topic; repeat it for more partitions.")
    @OptionGroup var options: CtlOptions
    @Argument(help: "The consumer.") var name: String
    @Option(help: ArgumentHelp("earliest, latest or a time.", valueName: "where")) var resetTo: String?
    @Option(name: .customLong("set"), help: ArgumentHelp("A partition's new offset.", valueName: "[topic:]partition=offset"))
    var assignments: [String] = []

    func validate() throws {
        guard resetTo == nil || assignments.isEmpty else { throw ValidationError("give --reset-to or --set, not both") }
        if let resetTo { _ = try Self.parseReset(resetTo) }
        // The topic of the PARTITION=OFFSET shorthand is looked up when run.
        for assignment in assignments { _ = try Self.parseAssignment(assignment, defaultTopic: "-") }
    }

    func run() throws {
        let client = try options.client()
        let path = "/consumers/\(CtlClient.segment(name))/offsets"
        let reply: CtlClient.Reply
        if let patch = try patchBody(client) {
            reply = try client.call("PATCH", path, body: Array(try JSONEncoder().encode(patch)))
        } else {
            reply = try client.call("GET", path)
        }
        let offsets = try client.decode(OffsetsBody.self, reply, path)
        options.emit(reply) { Self.render(offsets) }
    }

    private func patchBody(_ client: CtlClient) throws -> OffsetsPatchBody? {
        if let resetTo { return OffsetsPatchBody(resetTo: try Self.parseReset(resetTo)) }
        guard !assignments.isEmpty else { return nil }
        var topics: [String] = []
        if assignments.contains(where: { !$0.contains(":") }) {
            topics = try client.get(ConsumerResource.self, "/consumers/\(CtlClient.segment(name))").0.spec.topics ?? []
            guard topics.count == 1 else {
                throw CommandFailure(description: "\(name) reads \(topics.count) topics: name the topic (--set TOPIC:PARTITION=OFFSET)")
            }
        }
        return OffsetsPatchBody(offsets: try assignments.map { try Self.parseAssignment($0, defaultTopic: topics.first) })
    }

    static func parseReset(_ text: String) throws -> OffsetsPatchBody.ResetTo {
        switch text {
        case "earliest": return .earliest
        case "latest": return .latest
        default:
            if let milliseconds = Int64(text), milliseconds >= 0 { return .timestamp(milliseconds: milliseconds) }
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let date = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text)
            guard let date else {
                throw ValidationError("--reset-to: '\(text)' is not earliest, latest, milliseconds since the epoch or an ISO 8601 time")
            }
            return .timestamp(milliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded()))
        }
    }

    static func parseAssignment(_ text: String, defaultTopic: String?) throws -> OffsetBody {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        let location = parts.first ?? ""
        let topic: String?
        let partitionText: String
        if let colon = location.lastIndex(of: ":") {
            topic = String(location[..<colon])
            partitionText = String(location[location.index(after: colon)...])
        } else {
            topic = defaultTopic
            partitionText = location
        }
        guard parts.count == 2, let topic, !topic.isEmpty, let partition = Int32(partitionText), partition >= 0,
            let offset = Int64(parts[1]), offset >= 0
        else {
            throw ValidationError("--set: '\(text)' is not [TOPIC:]PARTITION=OFFSET")
        }
        return OffsetBody(topic: topic, partition: partition, offset: offset)
    }

    static func render(_ offsets: OffsetsBody) -> String {
        var table = Table("TOPIC", "PARTITION", "COMMITTED", "POSITION", "LOW", "HIGH", "LAG", "PENDING")
        for partition in offsets.partitions {
            table.add(
                partition.topic, String(partition.partition), partition.committedOffset.cell, partition.position.cell,
                String(partition.lowWatermark), String(partition.highWatermark), String(partition.lag), partition.pendingOffset.cell)
        }
        var text = "\(offsets.name) (group \(offsets.groupID), \(offsets.state)): lag \(offsets.lagTotal)\n\n" + table.rendered
        if let pending = offsets.pendingReset {
            text += "\n\nPending reset (\(pending.requested), asked \(pending.requestedAt)): applied when the consumer next starts."
        }
        return text
    }
}
