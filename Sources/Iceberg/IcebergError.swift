/// What went wrong with a table: its schema, its metadata, the files or the catalog.
public struct IcebergError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A schema consumerd cannot map; `field` is the path inside it.
        case schema
        /// Table metadata or a manifest that cannot be read.
        case metadata
        /// A file or the catalog's database failed; worth retrying.
        case io
        /// Another writer committed first and retries ran out.
        case conflict
    }

    public var kind: Kind
    public var field: String?
    public var message: String

    public init(_ kind: Kind, field: String? = nil, _ message: String) {
        self.kind = kind
        self.field = field
        self.message = message
    }

    static func schema(_ field: String, _ message: String) -> IcebergError { IcebergError(.schema, field: field, message) }
    static func metadata(_ message: String) -> IcebergError { IcebergError(.metadata, message) }
    static func io(_ message: String) -> IcebergError { IcebergError(.io, message) }

    public var description: String { field.map { "\($0): \(message)" } ?? message }
}
