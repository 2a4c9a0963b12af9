/// Running statistics of one column: nulls, NaNs and the bounds in the
/// column's sort order, which is signed for numbers and decimals and unsigned
/// bytewise for strings, binary and UUIDs (false < true for booleans).
/// Kept per column chunk for the footer and merged per file for the summary.
struct ColumnStatistics {
    var nullCount: Int64 = 0
    var nanCount: Int64 = 0
    private(set) var bounds: Bounds?

    enum Bounds {
        case boolean(min: Bool, max: Bool)
        case int32(min: Int32, max: Int32)
        case int64(min: Int64, max: Int64)
        case float(min: Float, max: Float)
        case double(min: Double, max: Double)
        case decimal(min: Int128, max: Int128)
        case bytes(min: [UInt8], max: [UInt8])
    }

    mutating func include(_ value: Bool) {
        if case .boolean(let low, let high)? = bounds {
            bounds = .boolean(min: low && value, max: high || value)
        } else {
            bounds = .boolean(min: value, max: value)
        }
    }

    mutating func include(_ value: Int32) {
        if case .int32(let low, let high)? = bounds {
            bounds = .int32(min: Swift.min(low, value), max: Swift.max(high, value))
        } else {
            bounds = .int32(min: value, max: value)
        }
    }

    mutating func include(_ value: Int64) {
        if case .int64(let low, let high)? = bounds {
            bounds = .int64(min: Swift.min(low, value), max: Swift.max(high, value))
        } else {
            bounds = .int64(min: value, max: value)
        }
    }

    /// NaN is counted, never a bound: it has no place in the order.
    mutating func include(_ value: Float) {
        guard !value.isNaN else {
            nanCount += 1
            return
        }
        if case .float(let low, let high)? = bounds {
            bounds = .float(min: Swift.min(low, value), max: Swift.max(high, value))
        } else {
            bounds = .float(min: value, max: value)
        }
    }

    mutating func include(_ value: Double) {
        guard !value.isNaN else {
            nanCount += 1
            return
        }
        if case .double(let low, let high)? = bounds {
            bounds = .double(min: Swift.min(low, value), max: Swift.max(high, value))
        } else {
            bounds = .double(min: value, max: value)
        }
    }

    mutating func include(decimal value: Int128) {
        if case .decimal(let low, let high)? = bounds {
            bounds = .decimal(min: Swift.min(low, value), max: Swift.max(high, value))
        } else {
            bounds = .decimal(min: value, max: value)
        }
    }

    /// Unsigned bytewise, a prefix before its extensions.
    mutating func include(_ value: [UInt8]) {
        guard case .bytes(let low, let high)? = bounds else {
            bounds = .bytes(min: value, max: value)
            return
        }
        if Self.precedes(value, low) {
            bounds = .bytes(min: value, max: high)
        } else if Self.precedes(high, value) {
            bounds = .bytes(min: low, max: value)
        }
    }

    /// Unsigned bytewise order, a prefix first. Hand-written: the generic
    /// `lexicographicallyPrecedes` is slow unspecialized, in the debug builds tests use.
    private static func precedes(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        left.withUnsafeBufferPointer { left in
            right.withUnsafeBufferPointer { right in
                for index in 0..<min(left.count, right.count) where left[index] != right[index] {
                    return left[index] < right[index]
                }
                return left.count < right.count
            }
        }
    }

    mutating func merge(_ other: ColumnStatistics) {
        nullCount += other.nullCount
        nanCount += other.nanCount
        switch other.bounds {
        case nil: break
        case .boolean(let low, let high)?: include(low); include(high)
        case .int32(let low, let high)?: include(low); include(high)
        case .int64(let low, let high)?: include(low); include(high)
        case .float(let low, let high)?: include(low); include(high)
        case .double(let low, let high)?: include(low); include(high)
        case .decimal(let low, let high)?: include(decimal: low); include(decimal: high)
        case .bytes(let low, let high)?: include(low); include(high)
        }
    }

    /// Whether the order is signed: such bounds also go in the deprecated
    /// min/max fields, which old readers compare signed.
    var isSignedOrder: Bool {
        switch bounds {
        case .int32?, .int64?, .float?, .double?, .decimal?: true
        case .boolean?, .bytes?, nil: false
        }
    }

    /// The bounds as cells: decimals at the column's fixed width, a zero
    /// float minimum as -0 and a zero maximum as +0 (the Parquet rule, since
    /// -0 == +0 and the chunk may hold either).
    func cells(fixedLength: Int?) -> (min: ParquetCell, max: ParquetCell)? {
        switch bounds {
        case nil: nil
        case .boolean(let low, let high)?: (.boolean(low), .boolean(high))
        case .int32(let low, let high)?: (.int32(low), .int32(high))
        case .int64(let low, let high)?: (.int64(low), .int64(high))
        case .float(let low, let high)?: (.float(low == 0 ? -0.0 : low), .float(high == 0 ? 0.0 : high))
        case .double(let low, let high)?: (.double(low == 0 ? -0.0 : low), .double(high == 0 ? 0.0 : high))
        case .decimal(let low, let high)?:
            (.bytes(DecimalValue.bytes(low, width: fixedLength!)), .bytes(DecimalValue.bytes(high, width: fixedLength!)))
        case .bytes(let low, let high)?: (.bytes(low), .bytes(high))
        }
    }

    /// The bounds in PLAIN encoding, as the footer stores them.
    func encodedBounds(fixedLength: Int?) -> (min: [UInt8], max: [UInt8])? {
        cells(fixedLength: fixedLength).map { (Self.plain($0.min), Self.plain($0.max)) }
    }

    private static func plain(_ cell: ParquetCell) -> [UInt8] {
        switch cell {
        case .boolean(let value): [value ? 1 : 0]
        case .int32(let value): withUnsafeBytes(of: value.littleEndian) { Array($0) }
        case .int64(let value): withUnsafeBytes(of: value.littleEndian) { Array($0) }
        case .float(let value): withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
        case .double(let value): withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
        case .bytes(let value): value
        case .null, .group: preconditionFailure("statistics bounds are primitive")
        }
    }
}
