import DataModel

/// Walks Avro binary data against the writer's schema without building
/// anything, and refuses what avro-c 1.11 would mishandle: it trusts
/// declared lengths (a huge length makes it allocate that much; a negative
/// one is undefined), loops over block counts without a budget (a billion
/// `null` items cost no bytes), negates `INT64_MIN`, and keeps map keys as C
/// strings. Only data that passes here reaches avro-c, so every length it
/// sees fits in the remaining bytes.
///
/// Also checked: varints end within 10 bytes, `int`s fit 32 bits, booleans
/// are 0 or 1, union and enum indexes exist, strings are UTF-8, and the datum
/// uses every byte (trailing bytes mean the wrong schema).
struct AvroBoundsCheck {
    /// Collection elements per datum, whatever their size.
    static let maxElements = 1_000_000
    static let maxDepth = 64

    private let bytes: UnsafeBufferPointer<UInt8>
    private let schema: AvroSchema
    private var index = 0
    private var depth = 0
    private var elements = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>, schema: AvroSchema) {
        self.bytes = bytes
        self.schema = schema
    }

    static func check(_ bytes: UnsafeBufferPointer<UInt8>, schema: AvroSchema) throws(AvroError) {
        var walker = AvroBoundsCheck(bytes, schema: schema)
        try walker.walk(schema.root)
        guard walker.index == bytes.count else {
            throw AvroError(.malformed, "\(bytes.count - walker.index) bytes left over after the datum (wrong schema?)")
        }
    }

    /// The length of the one datum at the start of `bytes` (an object
    /// container block holds several back to back, with no lengths between).
    static func datumLength(_ bytes: UnsafeBufferPointer<UInt8>, schema: AvroSchema) throws(AvroError) -> Int {
        var walker = AvroBoundsCheck(bytes, schema: schema)
        try walker.walk(schema.root)
        return walker.index
    }

    private func fail(_ reason: String) -> AvroError {
        AvroError(.malformed, "\(reason) at byte \(index)")
    }

    private var remaining: Int { bytes.count - index }

    private mutating func walk(_ type: AvroType) throws(AvroError) {
        switch type {
        case .null:
            return
        case .boolean:
            guard remaining >= 1 else { throw fail("truncated boolean") }
            guard bytes[index] <= 1 else { throw fail("boolean byte \(bytes[index]) is neither 0 nor 1") }
            index += 1
        case .int:
            let value = try varint()
            guard Int32(exactly: value) != nil else { throw fail("int out of 32-bit range") }
        case .long:
            _ = try varint()
        case .float:
            try skip(4, "float")
        case .double:
            try skip(8, "double")
        case .bytes:
            try skip(try length("bytes"), "bytes")
        case .string:
            let count = try length("string")
            guard UTF8Validation.isValid(UnsafeBufferPointer(rebasing: bytes[index..<index + count])) else {
                throw fail("string is not UTF-8")
            }
            index += count
        case .fixed(let fixed):
            try skip(fixed.size, "fixed \(fixed.fullName)")
        case .enumeration(let enumeration):
            let symbol = try varint()
            guard (0..<Int64(enumeration.symbols.count)).contains(symbol) else {
                throw fail("enum index \(symbol) out of range for \(enumeration.fullName)")
            }
        case .union(let branches):
            let branch = try varint()
            guard (0..<Int64(branches.count)).contains(branch) else { throw fail("union branch \(branch) out of range") }
            try nested { (walker: inout AvroBoundsCheck) throws(AvroError) in try walker.walk(branches[Int(branch)]) }
        case .record(let record):
            try nested { (walker: inout AvroBoundsCheck) throws(AvroError) in
                for field in record.fields { try walker.walk(field.type) }
            }
        case .array(let items):
            try blocks("array") { (walker: inout AvroBoundsCheck) throws(AvroError) in try walker.walk(items) }
        case .map(let values):
            try blocks("map") { (walker: inout AvroBoundsCheck) throws(AvroError) in
                let count = try walker.length("map key")
                let key = UnsafeBufferPointer(rebasing: walker.bytes[walker.index..<walker.index + count])
                guard UTF8Validation.isValid(key), !key.contains(0) else { throw walker.fail("map key is not UTF-8 text without NUL") }
                walker.index += count
                try walker.walk(values)
            }
        case .reference:
            try walk(schema.resolve(type))
        }
    }

    private mutating func nested(_ body: (inout AvroBoundsCheck) throws(AvroError) -> Void) throws(AvroError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth)") }
        try body(&self)
        depth -= 1
    }

    /// Array and map blocks: a count (negative: followed by the block's byte
    /// size), items, until a zero count.
    private mutating func blocks(_ what: String, item: (inout AvroBoundsCheck) throws(AvroError) -> Void) throws(AvroError) {
        try nested { (walker: inout AvroBoundsCheck) throws(AvroError) in
            while true {
                var count = try walker.varint()
                if count == 0 { return }
                if count < 0 {
                    guard count != .min else { throw walker.fail("\(what) block count out of range") }
                    count = -count
                    let size = try walker.varint()
                    guard size >= 0, size <= walker.remaining else { throw walker.fail("\(what) block size \(size) exceeds the data") }
                }
                guard count <= Self.maxElements - walker.elements else {
                    throw walker.fail("\(what) holds more than \(Self.maxElements) elements")
                }
                walker.elements += Int(count)
                for _ in 0..<count { try item(&walker) }
            }
        }
    }

    /// A length prefix, checked against the bytes that are left.
    private mutating func length(_ what: String) throws(AvroError) -> Int {
        let count = try varint()
        guard count >= 0 else { throw fail("negative \(what) length \(count)") }
        guard count <= remaining else { throw fail("\(what) length \(count) exceeds the \(remaining) bytes left") }
        return Int(count)
    }

    private mutating func skip(_ count: Int, _ what: String) throws(AvroError) {
        guard count <= remaining else { throw fail("truncated \(what)") }
        index += count
    }

    /// A zig-zag varint of at most 10 bytes.
    private mutating func varint() throws(AvroError) -> Int64 {
        var raw: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < bytes.count else { throw fail("truncated varint") }
            let byte = bytes[index]
            index += 1
            guard shift < 63 || byte <= 1 else { throw fail("varint longer than 64 bits") }
            raw |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }
}
