/// Buffers one leaf column of the open row group: a definition level per
/// row (when the leaf has optional fields on its path) and the present values,
/// either PLAIN-encoded (booleans one byte each, bit-packed when the page is
/// written) or, for strings and binary, as dictionary indices while the
/// dictionary stays small. Statistics are kept as values arrive.
///
/// A struct, kept in an array the writer owns: class properties would cost a
/// dynamic exclusivity check on every value appended.
struct ColumnWriter {
    let leaf: ParquetLeaf
    let physicalType: PhysicalType
    /// FIXED_LEN_BYTE_ARRAY width (decimal, uuid), nil otherwise.
    private let fixedLength: Int?
    let maxDefinitionLevel: UInt8
    /// The buffered size of every value, nil for PLAIN byte arrays (length-prefixed).
    private let plainValueWidth: Int?
    private let isDecimal: Bool

    /// Rows buffered, nulls included.
    private(set) var rowCount = 0
    /// One definition level per row; empty when `maxDefinitionLevel` is 0.
    private(set) var levels: [UInt8] = []
    /// Present values in PLAIN encoding, unless `dictionary` holds them.
    private(set) var values: [UInt8] = []
    /// Holds the values of string and binary columns while `isDictionaryEncoded`.
    private(set) var dictionary = ByteArrayDictionary()
    private(set) var isDictionaryEncoded: Bool
    private(set) var statistics = ColumnStatistics()

    init(leaf: ParquetLeaf) {
        self.leaf = leaf
        physicalType = leaf.type.physicalType
        fixedLength = leaf.type.fixedLength
        maxDefinitionLevel = UInt8(leaf.maxDefinitionLevel)
        switch physicalType {
        case .boolean: plainValueWidth = 1
        case .int32, .float: plainValueWidth = 4
        case .int64, .double: plainValueWidth = 8
        case .fixedLenByteArray: plainValueWidth = fixedLength
        case .byteArray: plainValueWidth = nil
        }
        if case .decimal = leaf.type { isDecimal = true } else { isDecimal = false }
        isDictionaryEncoded = physicalType == .byteArray
    }

    /// Bytes buffered: what the row group size limit counts.
    var bufferedBytes: Int {
        levels.count + values.count + dictionary.pageBytes + 4 * dictionary.indices.count
    }

    /// A null at `definitionLevel`: the number of optional fields above it that are present.
    mutating func appendNull(definitionLevel: UInt8) {
        levels.append(definitionLevel)
        rowCount += 1
        statistics.nullCount += 1
    }

    /// A present value; the row shredder has checked it against the leaf's type.
    mutating func append(_ cell: ParquetCell) {
        if maxDefinitionLevel > 0 {
            levels.append(maxDefinitionLevel)
        }
        rowCount += 1
        switch cell {
        case .boolean(let value):
            values.append(value ? 1 : 0)
            statistics.include(value)
        case .int32(let value):
            appendLittleEndian(value)
            statistics.include(value)
        case .int64(let value):
            appendLittleEndian(value)
            statistics.include(value)
        case .float(let value):
            appendLittleEndian(value.bitPattern)
            statistics.include(value)
        case .double(let value):
            appendLittleEndian(value.bitPattern)
            statistics.include(value)
        case .bytes(let bytes):
            append(bytes)
        case .null, .group:
            preconditionFailure("not a present primitive value")
        }
    }

    private mutating func append(_ bytes: [UInt8]) {
        if isDecimal {
            let value = DecimalValue.unscaled(bytes)!
            DecimalValue.append(value, width: fixedLength!, to: &values)
            statistics.include(decimal: value)
        } else if physicalType == .fixedLenByteArray {
            values.append(contentsOf: bytes)
            statistics.include(bytes)
        } else if isDictionaryEncoded {
            // Bounds only change when a value is new to the dictionary.
            if dictionary.append(bytes) {
                statistics.include(bytes)
                if dictionary.isOverLimit { fallBackToPlain() }
            }
        } else {
            appendLittleEndian(UInt32(bytes.count))
            values.append(contentsOf: bytes)
            statistics.include(bytes)
        }
    }

    /// Rewrites the chunk's values PLAIN; the rest of the chunk stays PLAIN.
    private mutating func fallBackToPlain() {
        for index in dictionary.indices {
            let value = dictionary.entries[Int(index)]
            appendLittleEndian(UInt32(value.count))
            values.append(contentsOf: value)
        }
        dictionary = ByteArrayDictionary()
        isDictionaryEncoded = false
    }

    /// The buffered size of the present value at `offset` in `values`: what
    /// pages are cut by. A dictionary index counts four bytes.
    func bufferedSize(ofValueAt offset: Int) -> Int {
        if isDictionaryEncoded { return 4 }
        if let plainValueWidth { return plainValueWidth }
        let length = values.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
        return 4 + Int(UInt32(littleEndian: length))
    }

    /// Empties the buffers for the next row group, keeping their storage. A
    /// column whose dictionary overflowed starts the next chunk PLAIN: its data
    /// is unlikely to have changed character, and refilling a dictionary only
    /// to drop it again costs a hash per value.
    mutating func reset() {
        rowCount = 0
        levels.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        dictionary.removeAll()
        statistics = ColumnStatistics()
    }

    private mutating func appendLittleEndian<Value: FixedWidthInteger>(_ value: Value) {
        withUnsafeBytes(of: value.littleEndian) { values.append(contentsOf: $0) }
    }
}
