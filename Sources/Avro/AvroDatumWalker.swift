import DataModel

/// Walks Avro binary data against the writer's schema, checking every byte,
/// and tells an ``AvroDatumOutput`` what it read. With ``NoOutput`` it is
/// ``AvroBoundsCheck``; with a JSON output it is ``AvroJSONTranscoder``. One
/// walker means the bounds check and the transcoder refuse exactly the same
/// data.
///
/// What it refuses is what avro-c 1.11 would mishandle: avro-c trusts
/// declared lengths (a huge length makes it allocate that much; a negative
/// one is undefined), loops over block counts without a budget (a billion
/// `null` items cost no bytes), negates `INT64_MIN`, and keeps map keys as C
/// strings. Only data that passes here reaches avro-c, so every length it
/// sees fits in the remaining bytes.
///
/// Also checked: varints end within 10 bytes, `int`s fit 32 bits, booleans
/// are 0 or 1, union and enum indexes exist, strings are UTF-8, and the datum
/// uses every byte (trailing bytes mean the wrong schema).
struct AvroDatumWalker<Output: AvroDatumOutput> {
    /// Collection elements per datum, whatever their size.
    static var maxElements: Int { 1_000_000 }
    static var maxDepth: Int { 64 }

    private let bytes: UnsafeBufferPointer<UInt8>
    private let schema: AvroSchema
    private(set) var index = 0
    private var depth = 0
    private var elements = 0
    var output: Output

    init(_ bytes: UnsafeBufferPointer<UInt8>, schema: AvroSchema, output: Output) {
        self.bytes = bytes
        self.schema = schema
        self.output = output
    }

    /// Walks the one datum at the start of the bytes; ``index`` is then its length.
    mutating func walkDatum() throws(AvroError) {
        try walk(schema.root)
    }

    /// Walks the datum and refuses bytes after it.
    mutating func walkWholeDatum() throws(AvroError) {
        try walk(schema.root)
        guard index == bytes.count else {
            throw AvroError(.malformed, "\(bytes.count - index) bytes left over after the datum (wrong schema?)")
        }
    }

    private func fail(_ reason: String) -> AvroError {
        AvroError(.malformed, "\(reason) at byte \(index)")
    }

    private var remaining: Int { bytes.count - index }

    private mutating func walk(_ type: AvroType) throws(AvroError) {
        switch type {
        case .null:
            output.null()
        case .boolean:
            guard remaining >= 1 else { throw fail("truncated boolean") }
            guard bytes[index] <= 1 else { throw fail("boolean byte \(bytes[index]) is neither 0 nor 1") }
            output.boolean(bytes[index] == 1)
            index += 1
        case .int(let logical):
            guard let value = Int32(exactly: try varint()) else { throw fail("int out of 32-bit range") }
            output.int(value, logical)
        case .long(let logical):
            output.long(try varint(), logical)
        case .float:
            let raw = try take(4, "float")
            output.float(Float(bitPattern: UInt32(littleEndian: UnsafeRawBufferPointer(raw).loadUnaligned(as: UInt32.self))))
        case .double:
            let raw = try take(8, "double")
            output.double(Double(bitPattern: UInt64(littleEndian: UnsafeRawBufferPointer(raw).loadUnaligned(as: UInt64.self))))
        case .bytes(let decimal):
            output.bytes(try take(try length("bytes"), "bytes"), decimal: decimal)
        case .string:
            let count = try length("string")
            let text = UnsafeBufferPointer(rebasing: bytes[index..<index + count])
            guard UTF8Validation.isValid(text) else { throw fail("string is not UTF-8") }
            index += count
            output.string(text)
        case .fixed(let fixed):
            output.bytes(try take(fixed.size, "fixed \(fixed.fullName)"), decimal: fixed.decimal)
        case .enumeration(let enumeration):
            let symbol = try varint()
            guard (0..<Int64(enumeration.symbols.count)).contains(symbol) else {
                throw fail("enum index \(symbol) out of range for \(enumeration.fullName)")
            }
            output.symbol(enumeration.symbols[Int(symbol)])
        case .union(let branches):
            let branch = try varint()
            guard (0..<Int64(branches.count)).contains(branch) else { throw fail("union branch \(branch) out of range") }
            try nested { (walker: inout AvroDatumWalker) throws(AvroError) in try walker.walk(branches[Int(branch)]) }
        case .record(let record):
            try nested { (walker: inout AvroDatumWalker) throws(AvroError) in
                walker.output.beginRecord()
                for (position, field) in record.fields.enumerated() {
                    walker.output.field(field.name, first: position == 0)
                    try walker.walk(field.type)
                }
                walker.output.endRecord()
            }
        case .array(let items):
            output.beginArray()
            try blocks("array") { (walker: inout AvroDatumWalker, first: Bool) throws(AvroError) in
                walker.output.element(first: first)
                try walker.walk(items)
            }
            output.endArray()
        case .map(let values):
            output.beginMap()
            try blocks("map") { (walker: inout AvroDatumWalker, first: Bool) throws(AvroError) in
                let count = try walker.length("map key")
                let key = UnsafeBufferPointer(rebasing: walker.bytes[walker.index..<walker.index + count])
                guard UTF8Validation.isValid(key), !key.contains(0) else { throw walker.fail("map key is not UTF-8 text without NUL") }
                walker.index += count
                walker.output.key(key, first: first)
                try walker.walk(values)
            }
            output.endMap()
        case .reference:
            try walk(schema.resolve(type))
        }
    }

    private mutating func nested(_ body: (inout AvroDatumWalker) throws(AvroError) -> Void) throws(AvroError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth)") }
        try body(&self)
        depth -= 1
    }

    /// Array and map blocks: a count (negative: followed by the block's byte
    /// size), items, until a zero count.
    private mutating func blocks(
        _ what: String, item: (inout AvroDatumWalker, _ first: Bool) throws(AvroError) -> Void
    ) throws(AvroError) {
        try nested { (walker: inout AvroDatumWalker) throws(AvroError) in
            var first = true
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
                for _ in 0..<count {
                    try item(&walker, first)
                    first = false
                }
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

    private mutating func take(_ count: Int, _ what: String) throws(AvroError) -> UnsafeBufferPointer<UInt8> {
        guard count <= remaining else { throw fail("truncated \(what)") }
        defer { index += count }
        return UnsafeBufferPointer(rebasing: bytes[index..<index + count])
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

/// What an ``AvroDatumWalker`` tells as it reads: values in the order they
/// appear, records, arrays and maps bracketed. Buffers point into the datum
/// and are valid only during the call.
protocol AvroDatumOutput {
    mutating func null()
    mutating func boolean(_ value: Bool)
    mutating func int(_ value: Int32, _ logical: AvroType.IntLogical?)
    mutating func long(_ value: Int64, _ logical: AvroType.LongLogical?)
    mutating func float(_ value: Float)
    mutating func double(_ value: Double)
    /// A `bytes` or `fixed` value.
    mutating func bytes(_ value: UnsafeBufferPointer<UInt8>, decimal: AvroType.DecimalType?)
    /// A string, already checked to be UTF-8.
    mutating func string(_ value: UnsafeBufferPointer<UInt8>)
    /// An enum's symbol.
    mutating func symbol(_ name: String)
    mutating func beginRecord()
    mutating func field(_ name: String, first: Bool)
    mutating func endRecord()
    mutating func beginArray()
    mutating func element(first: Bool)
    mutating func endArray()
    mutating func beginMap()
    /// A map key, UTF-8 without NUL.
    mutating func key(_ key: UnsafeBufferPointer<UInt8>, first: Bool)
    mutating func endMap()
}

/// Reads nothing out: the walker as a bounds check.
struct NoOutput: AvroDatumOutput {
    func null() {}
    func boolean(_ value: Bool) {}
    func int(_ value: Int32, _ logical: AvroType.IntLogical?) {}
    func long(_ value: Int64, _ logical: AvroType.LongLogical?) {}
    func float(_ value: Float) {}
    func double(_ value: Double) {}
    func bytes(_ value: UnsafeBufferPointer<UInt8>, decimal: AvroType.DecimalType?) {}
    func string(_ value: UnsafeBufferPointer<UInt8>) {}
    func symbol(_ name: String) {}
    func beginRecord() {}
    func field(_ name: String, first: Bool) {}
    func endRecord() {}
    func beginArray() {}
    func element(first: Bool) {}
    func endArray() {}
    func beginMap() {}
    func key(_ key: UnsafeBufferPointer<UInt8>, first: Bool) {}
    func endMap() {}
}

/// Checks a datum before avro-c reads it (see ``AvroDatumWalker``).
enum AvroBoundsCheck {
    static func check(_ bytes: UnsafeBufferPointer<UInt8>, schema: AvroSchema) throws(AvroError) {
        var walker = AvroDatumWalker(bytes, schema: schema, output: NoOutput())
        try walker.walkWholeDatum()
    }

    /// The length of the one datum at the start of `bytes` (an object
    /// container block holds several back to back, with no lengths between).
    static func datumLength(_ bytes: UnsafeBufferPointer<UInt8>, schema: AvroSchema) throws(AvroError) -> Int {
        var walker = AvroDatumWalker(bytes, schema: schema, output: NoOutput())
        try walker.walkDatum()
        return walker.index
    }
}
