/// An Avro problem. Every kind is permanent for the data it concerns:
/// retrying the same bytes with the same schemas gives the same answer.
/// (A Schema Registry that cannot be reached is a ``SchemaRegistryError``.)
public struct AvroError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The schema is not valid Avro (or avro-c refuses it).
        case schema
        /// The writer's and the reader's schemas cannot be resolved.
        case resolution
        /// The bytes do not hold a datum of the writer's schema (truncated,
        /// lengths out of bounds, trailing bytes, bad framing).
        case malformed
        /// The value cannot be written with the schema (encoding).
        case encoding
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
