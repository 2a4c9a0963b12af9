import DataModel
import Foundation

/// One consumer's whole desired configuration, as a record of the cluster's
/// config topic (key: the consumer's name; a tombstone deletes it). Every
/// record carries the full state, never a delta, so a compacted topic that
/// keeps only the last record per key still holds everything.
struct ClusterRecord: Codable, Equatable, Sendable {
    static let currentFormat = 1

    var format = currentFormat
    /// 1 for a new consumer, then one more per change. An instance applies a
    /// record only if it is the next version of what it holds: of two
    /// concurrent writers, the one later in the topic loses (409).
    var version: Int
    var spec: ConsumerSpec
    var desiredState: DesiredState
    /// Restart requests: `"*"` for every instance, an instance id for one.
    /// An instance restarts its run when its count or `"*"` goes up.
    var restarts: [String: Int] = [:]
    /// Instances that hold the consumer paused while the rest run it.
    var pausedOn: [String] = []
    /// The instance that wrote the record (logs and the status of the call).
    var origin: String

    enum CodingKeys: String, CodingKey {
        case format, version, spec, restarts, origin
        case desiredState = "desired_state"
        case pausedOn = "paused_on"
    }

    /// What this instance should do with the consumer.
    func desiredState(on instance: String) -> DesiredState {
        desiredState == .running && pausedOn.contains(instance) ? .paused : desiredState
    }

    /// Restart requests that reach `instance`.
    func restartCount(on instance: String) -> Int {
        (restarts["*"] ?? 0) + (restarts[instance] ?? 0)
    }
}

/// How records travel: JSON, or sealed with the cluster's key (AES-256-GCM,
/// the consumer's name as associated data, so a record cannot be replayed
/// under another key).
struct ClusterRecordCodec: Sendable {
    let box: SecretBox?
    /// Specs with secrets may travel unsealed (`--allow-plaintext-secrets`).
    let allowPlaintextSecrets: Bool

    struct Sealed: Codable {
        var format: Int
        var sealed: String
    }

    func encode(_ record: ClusterRecord, key: String) throws(ConsumerManagerError) -> [UInt8] {
        let json: [UInt8]
        do {
            json = Array(try JSONEncoder().encode(record))
        } catch {
            throw ConsumerManagerError(.persistence, "cannot encode \(key): \(error)")
        }
        guard let box else {
            guard allowPlaintextSecrets || record.spec.redacted == record.spec else {
                throw ConsumerManagerError(
                    .invalidSpec,
                    "the spec holds secrets and this cluster has no --secrets-key-file to seal them in the config topic "
                        + "(or start the servers with --allow-plaintext-secrets)", field: "spec")
            }
            return json
        }
        do {
            let sealed = try box.seal(json, associatedData: Array(key.utf8))
            return Array(try JSONEncoder().encode(Sealed(format: ClusterRecord.currentFormat, sealed: Base64.encode(sealed))))
        } catch {
            throw ConsumerManagerError(.persistence, "cannot seal \(key): \(error)")
        }
    }

    /// Why a record cannot be used; fatal while catching up at start.
    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    func decode(_ bytes: [UInt8], key: String) throws(Unreadable) -> ClusterRecord {
        var json = bytes
        if let sealed = try? JSONDecoder().decode(Sealed.self, from: Data(bytes)) {
            guard let box else {
                throw Unreadable(description: "consumer '\(key)' is sealed in the config topic; start with the cluster's --secrets-key-file")
            }
            guard let opened = Base64.decode(sealed.sealed).flatMap({ try? box.open($0, associatedData: Array(key.utf8)) }) else {
                throw Unreadable(
                    description: "consumer '\(key)' does not open with the --secrets-key-file \(box.source ?? "key") (another cluster's key?)")
            }
            json = opened
        }
        let record: ClusterRecord
        do {
            record = try StrictJSON.decode(ClusterRecord.self, from: json)
        } catch {
            throw Unreadable(description: "consumer '\(key)': unreadable record: \(error)")
        }
        guard record.format == ClusterRecord.currentFormat else {
            throw Unreadable(description: "consumer '\(key)' was written in format \(record.format); this consumerd reads \(ClusterRecord.currentFormat)")
        }
        guard record.spec.name == key else { throw Unreadable(description: "the record under '\(key)' holds consumer '\(record.spec.name)'") }
        if box == nil, !allowPlaintextSecrets, record.spec.redacted != record.spec {
            throw Unreadable(
                description: "consumer '\(key)' holds secrets in plain text in the config topic; start with --secrets-key-file "
                    + "(and re-apply it sealed) or --allow-plaintext-secrets")
        }
        return record
    }
}
