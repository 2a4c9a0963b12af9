/// Why a consumer-manager operation was refused or failed.
public struct ConsumerManagerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The spec or request is invalid; `field` names the culprit.
        case invalidSpec = "invalid_spec"
        /// A request other than a spec is invalid (an offset reset); `field` names the culprit.
        case invalidRequest = "invalid_request"
        case notFound = "consumer_not_found"
        case alreadyExists = "consumer_exists"
        /// The operation does not fit the consumer's current state.
        case conflict
        case limitExceeded = "limit_exceeded"
        /// A wait for a target state ran out of time.
        case waitTimeout = "wait_timeout"
        /// The consumer failed while the caller waited for it.
        case consumerFailed = "consumer_failed"
        /// Specs could not be written to the data directory.
        case persistence = "persistence_failed"
        /// The server is draining for shutdown and takes no lifecycle changes.
        case shuttingDown = "shutting_down"
        /// The Kafka cluster did not answer an admin question in time.
        case kafkaUnavailable = "kafka_unavailable"
    }

    public var kind: Kind
    public var message: String
    public var field: String?

    public init(_ kind: Kind, _ message: String, field: String? = nil) {
        self.kind = kind
        self.message = message
        self.field = field
    }

    public var description: String { "\(kind.rawValue): \(message)" + (field.map { " [\($0)]" } ?? "") }

    static func invalid(_ field: String, _ message: String) -> ConsumerManagerError {
        ConsumerManagerError(.invalidSpec, message, field: field)
    }

    static let shuttingDown = ConsumerManagerError(.shuttingDown, "the server is shutting down: consumers are draining")

    static func notFound(_ name: String) -> ConsumerManagerError {
        ConsumerManagerError(.notFound, "no consumer named '\(name)'")
    }
}
