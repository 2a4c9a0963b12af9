/// Thrift's compact protocol, write side only: the encoding of Parquet's page
/// headers and footer. Structs are written field by field in ascending id
/// order; a field header carries the id as a delta from the previous field of
/// the same struct, so nested structs keep their own "previous id".
struct ThriftCompactWriter {
    private(set) var bytes: [UInt8] = []
    private var lastFieldID: Int16 = 0
    private var enclosingFieldIDs: [Int16] = []

    /// Compact-protocol type codes (field headers and list headers).
    enum FieldType: UInt8 {
        case booleanTrue = 1, booleanFalse = 2, i32 = 5, i64 = 6, binary = 8, list = 9, structure = 12
    }

    mutating func i32(_ field: Int16, _ value: Int32) {
        header(field, .i32)
        varint(zigzag(Int64(value)))
    }

    mutating func i64(_ field: Int16, _ value: Int64) {
        header(field, .i64)
        varint(zigzag(value))
    }

    /// Booleans live in the field header's type nibble; there is no payload.
    mutating func bool(_ field: Int16, _ value: Bool) {
        header(field, value ? .booleanTrue : .booleanFalse)
    }

    mutating func binary(_ field: Int16, _ value: [UInt8]) {
        header(field, .binary)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ field: Int16, _ value: String) {
        binary(field, Array(value.utf8))
    }

    /// A struct-valued field (also a union: a struct with exactly one field set).
    mutating func structure(_ field: Int16, _ body: (inout ThriftCompactWriter) -> Void) {
        header(field, .structure)
        structBody(body)
    }

    /// A list field; `body` writes `count` elements with the element writers below.
    mutating func list(_ field: Int16, of element: FieldType, count: Int, _ body: (inout ThriftCompactWriter) -> Void) {
        header(field, .list)
        if count < 15 {
            bytes.append(UInt8(count) << 4 | element.rawValue)
        } else {
            bytes.append(0xF0 | element.rawValue)
            varint(UInt64(count))
        }
        body(&self)
    }

    mutating func structElement(_ body: (inout ThriftCompactWriter) -> Void) {
        structBody(body)
    }

    mutating func i32Element(_ value: Int32) {
        varint(zigzag(Int64(value)))
    }

    mutating func stringElement(_ value: String) {
        varint(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    /// A top-level struct (a page header, the file metadata).
    static func encode(_ body: (inout ThriftCompactWriter) -> Void) -> [UInt8] {
        var writer = ThriftCompactWriter()
        writer.structBody(body)
        return writer.bytes
    }

    private mutating func structBody(_ body: (inout ThriftCompactWriter) -> Void) {
        enclosingFieldIDs.append(lastFieldID)
        lastFieldID = 0
        body(&self)
        bytes.append(0)  // stop field
        lastFieldID = enclosingFieldIDs.removeLast()
    }

    private mutating func header(_ field: Int16, _ type: FieldType) {
        let delta = field - lastFieldID
        if delta > 0 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            bytes.append(type.rawValue)
            varint(zigzag(Int64(field)))
        }
        lastFieldID = field
    }

    private func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    private mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }
}
