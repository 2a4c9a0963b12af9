/// One cell of a row, already converted to the column's physical representation.
public enum ParquetCell: Sendable, Hashable {
    case null
    case boolean(Bool)
    /// int32 and date (days since 1970-01-01).
    case int32(Int32)
    /// int64, time (microseconds since midnight) and timestamp (microseconds since the epoch).
    case int64(Int64)
    case float(Float)
    case double(Double)
    /// string (UTF-8, not re-validated), binary, uuid (16 bytes, big-endian),
    /// decimal (unscaled two's complement big-endian, any width: the writer
    /// sign-extends or strips it to the column's fixed width and throws if it
    /// does not fit the precision).
    case bytes([UInt8])
    /// A struct's fields in schema order.
    case group([ParquetCell])
}
