import Foundation

/// Where a consumer is in its lifecycle.
public enum ConsumerState: String, Sendable, Codable, CaseIterable {
    case stopped, starting, running, paused, stopping, failed

    /// A runtime thread exists for this state.
    public var isActive: Bool {
        switch self {
        case .starting, .running, .paused, .stopping: true
        case .stopped, .failed: false
        }
    }
}

/// What the operator asked for; persisted and restored on server start.
public enum DesiredState: String, Sendable, Codable, CaseIterable {
    case running, paused, stopped
}

/// Why a consumer failed, as the status reports it.
public struct ConsumerFailure: Sendable, Equatable, Codable {
    /// The pipeline stage or `kafka`.
    public var stage: String
    public var message: String
    public var at: Date

    public init(stage: String, message: String, at: Date = Date()) {
        self.stage = stage
        self.message = message
        self.at = at
    }
}
