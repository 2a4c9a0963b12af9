/// A spec section that cannot be used, naming the offending field by its
/// path inside the consumer spec (`transforms[2].expression`).
public struct SpecError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    /// The same error under a parent field: `expression` → `transforms[2].expression`.
    public func under(_ parent: String) -> SpecError {
        let joined = field.isEmpty ? parent : (field.hasPrefix("[") ? parent + field : "\(parent).\(field)")
        return SpecError(joined, message)
    }

    public var description: String { "\(field): \(message)" }
}
