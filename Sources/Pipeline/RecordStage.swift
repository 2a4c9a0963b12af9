/// One step of the record path between decode and sink: validation, data
/// quality, sequence tracking, a transform chain. A stage looks at one
/// record, may change it, and says where it goes next.
///
/// Stages run on their consumer's thread only; they may keep state
/// (sequence tracking does) and need no locks.
public protocol RecordStage: AnyObject {
    var stage: PipelineError.Stage { get }
    /// Decides the record's fate; `.keep` passes the (possibly changed) record on.
    func process(_ record: inout Record) -> Disposition
}

/// Where a record goes after a stage.
public enum Disposition: Sendable, Equatable {
    /// On to the next stage, and finally to the sink.
    case keep
    /// Not written; counted under `reason`. Its offset still completes with
    /// the batch: dropping is a decision, not a loss.
    case drop(reason: String)
    /// Sent to the dead-letter topic with why; its offset completes once the
    /// dead-letter topic has acknowledged it.
    case deadLetter(Rejection)
    /// The batch cannot go on. A retriable error holds the record's
    /// partition back and retries it; a permanent one stops the consumer
    /// with nothing committed past the record.
    case fail(PipelineError)
}

/// Why a record was turned away, for counters, status and dead-letter headers.
public struct Rejection: Sendable, Equatable, CustomStringConvertible {
    public var stage: PipelineError.Stage
    /// A short, stable code (`type_mismatch`, `not_null`, `invalid_json`).
    public var reason: String
    /// The detail, naming the field (`legs[0].qty: expected number, got string`).
    public var message: String

    public init(stage: PipelineError.Stage, reason: String, message: String) {
        self.stage = stage
        self.reason = reason
        self.message = message
    }

    public init(_ error: PipelineError) {
        self.init(stage: error.stage, reason: error.reason, message: error.message)
    }

    public var description: String { "\(stage) \(reason): \(message)" }
}

/// What a stage does with records it rejects. Each stage's spec section
/// names its choice (`on_invalid`, `on_violation`, `on_error`).
public enum RejectionPolicy: String, Sendable, Codable, CaseIterable {
    /// To the dead-letter topic, with the reason in its headers.
    case deadLetter = "dead_letter"
    /// Dropped and counted; the offset advances.
    case drop
    /// The consumer stops before the record (nothing after it is committed).
    case fail

    /// The disposition for a record this policy rejects.
    public func disposition(_ rejection: Rejection) -> Disposition {
        switch self {
        case .deadLetter: .deadLetter(rejection)
        case .drop: .drop(reason: rejection.reason)
        case .fail: .fail(PipelineError(stage: rejection.stage, message: rejection.message, reason: rejection.reason))
        }
    }
}
