import ArgumentParser
import ConsumerManager
import Kafka

/// Cluster mode: several servers share one registry, kept in a compacted
/// Kafka topic every instance follows (``ConsumerManager/joinCluster(_:)``).
struct ClusterOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Run as one instance of this cluster: consumers are registered in a compacted Kafka topic that every instance follows.",
        valueName: "id"))
    var clusterId: String?

    @Option(help: ArgumentHelp("This instance's id in the cluster (default: the host name and a hash of the data directory).", valueName: "id"))
    var instanceId: String?

    @Option(help: ArgumentHelp("The cluster's config topic (default: _consumerd-<cluster-id>-configs).", valueName: "topic"))
    var configTopic: String?

    @Option(help: ArgumentHelp("The topic instances publish their members' status to (default: _consumerd-<cluster-id>-status).", valueName: "topic"))
    var statusTopic: String?

    @Option(help: ArgumentHelp(
        "Seal specs in the config topic with this 32-byte key (64 hex characters or base64; mode 0600), AES-256-GCM.", valueName: "file"))
    var secretsKeyFile: String?

    @Flag(help: "Keep specs that hold secrets unsealed in the config topic (protect the topic with ACLs instead).")
    var allowPlaintextSecrets = false

    func validate() throws {
        for (flag, value) in [("--cluster-id", clusterId), ("--instance-id", instanceId)] {
            if let value, !Self.isValidID(value) {
                throw ValidationError("\(flag) must be 1-64 characters of A-Z a-z 0-9 . _ -")
            }
        }
        for (flag, value) in [("--config-topic", configTopic), ("--status-topic", statusTopic)] {
            if let value, !TopicPattern.isValidTopicName(value) { throw ValidationError("\(flag) '\(value)' is not a valid topic name") }
        }
        if clusterId == nil {
            let given = [("--instance-id", instanceId != nil), ("--config-topic", configTopic != nil), ("--status-topic", statusTopic != nil),
                ("--secrets-key-file", secretsKeyFile != nil), ("--allow-plaintext-secrets", allowPlaintextSecrets)]
            if let flag = given.first(where: \.1)?.0 { throw ValidationError("\(flag) needs --cluster-id") }
        }
    }

    /// The cluster to join, or `nil` for single-node mode.
    func settings(defaultInstance: String) throws -> ConsumerManager.ClusterSettings? {
        guard let clusterId else { return nil }
        var secrets: SecretBox?
        if let secretsKeyFile {
            do {
                secrets = try SecretBox(keyFile: secretsKeyFile)
            } catch {
                throw CommandFailure(description: "--secrets-key-file: \(error)")
            }
        }
        return ConsumerManager.ClusterSettings(
            clusterID: clusterId, instance: instanceId ?? defaultInstance, configTopic: configTopic, statusTopic: statusTopic,
            secrets: secrets, allowPlaintextSecrets: allowPlaintextSecrets)
    }

    private static func isValidID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count)
            && id.utf8.allSatisfy { $0 == 0x2E || $0 == 0x5F || $0 == 0x2D || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }
}
