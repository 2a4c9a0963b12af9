/// Why a row, a schema or a file could not be written.
public struct ParquetError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
