import DataModel

/// Walks Avro binary data against the writer's schema, checking every byte,
/// and tells an ``AvroDatumOutput`` what it read. With ``NoOutput`` it is
/// ``AvroBoundsCheck``, before avro-c decodes into trees; with others it
/// checks an ``AvroDatum`` and writes it as JSON. One walker means both
/// paths refuse exactly the same data.
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
    private let program: AvroProgram
    private(set) var index = 0
    private var depth = 0
    private var elements = 0
    var output: Output

    init(_ bytes: UnsafeBufferPointer<UInt8>, schema: AvroSchema, output: Output) {
        self.bytes = bytes
        self.program = schema.program
        self.output = output
    }

    /// Walks the one datum at the start of the bytes; ``index`` is then its length.
    mutating func walkDatum() throws(AvroError) {
        try walk(program.root)
    }

    /// Walks the datum and refuses bytes after it.
    mutating func walkWholeDatum() throws(AvroError) {
        try walk(program.root)
        guard index == bytes.count else {
            throw AvroError(.malformed, "\(bytes.count - index) bytes left over after the datum (wrong schema?)")
        }
    }

    private func fail(_ reason: String) -> AvroError {
        AvroError(.malformed, "\(reason) at byte \(index)")
    }

    private var remaining: Int { bytes.count - index }

    private mutating func walk(_ instruction: Int) throws(AvroError) {
        switch program.instructions[instruction] {
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
        case .fixed(let size, let decimal, let name):
            output.bytes(try take(size, "fixed \(program.names[name])"), decimal: decimal)
        case .enumeration(let symbols, let name):
            let symbol = try varint()
            guard (0..<Int64(symbols.count)).contains(symbol) else {
                throw fail("enum index \(symbol) out of range for \(program.names[name])")
            }
            output.symbol(program.text(program.symbols[symbols.lowerBound + Int(symbol)]))
        case .union(let branches):
            let branch = try varint()
            guard (0..<Int64(branches.count)).contains(branch) else { throw fail("union branch \(branch) out of range") }
            try enter()
            try walk(program.branches[branches.lowerBound + Int(branch)])
            depth -= 1
        case .record(let fields):
            try enter()
            output.beginRecord()
            for position in fields {
                let field = program.fields[position]
                let member = position == fields.lowerBound ? field.member.dropFirst() : field.member
                output.field(program.text(member))
                try walk(field.type)
            }
            output.endRecord()
            depth -= 1
        case .array(let items):
            try enter()
            output.beginArray()
            var first = true
            while let count = try nextBlock("array") {
                for _ in 0..<count {
                    output.element(first: first)
                    first = false
                    try walk(items)
                }
            }
            output.endArray()
            depth -= 1
        case .map(let values):
            try enter()
            output.beginMap()
            var first = true
            while let count = try nextBlock("map") {
                for _ in 0..<count {
                    let length = try length("map key")
                    let key = UnsafeBufferPointer(rebasing: bytes[index..<index + length])
                    guard UTF8Validation.isValid(key), !key.contains(0) else { throw fail("map key is not UTF-8 text without NUL") }
                    index += length
                    output.key(key, first: first)
                    first = false
                    try walk(values)
                }
            }
            output.endMap()
            depth -= 1
        }
    }

    /// One level deeper. A walk that throws is over, so only a walk that
    /// returns steps back out (`depth -= 1`), without a closure or `defer`
    /// on this hot path.
    private mutating func enter() throws(AvroError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth)") }
    }

    /// The item count of the next array or map block, `nil` after the last.
    /// A block is a count (negative: followed by the block's byte size) and
    /// its items; a zero count ends the collection.
    private mutating func nextBlock(_ what: String) throws(AvroError) -> Int64? {
        var count = try varint()
        if count == 0 { return nil }
        if count < 0 {
            guard count != .min else { throw fail("\(what) block count out of range") }
            count = -count
            let size = try varint()
            guard size >= 0, size <= remaining else { throw fail("\(what) block size \(size) exceeds the data") }
        }
        guard count <= Self.maxElements - elements else {
            throw fail("\(what) holds more than \(Self.maxElements) elements")
        }
        elements += Int(count)
        return count
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
/// (or the schema's names) and stay valid for the rest of the walk.
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
    /// An enum's symbol, quoted: an Avro name (letters, digits and `_`) is
    /// already a JSON string.
    mutating func symbol(_ quoted: UnsafeBufferPointer<UInt8>)
    mutating func beginRecord()
    /// A record field begins: `"name":`, after a comma unless it is the
    /// record's first (an Avro name needs no escaping).
    mutating func field(_ member: UnsafeBufferPointer<UInt8>)
    mutating func endRecord()
    mutating func beginArray()
    mutating func element(first: Bool)
    mutating func endArray()
    mutating func beginMap()
    /// A map key, UTF-8 without NUL.
    mutating func key(_ key: UnsafeBufferPointer<UInt8>, first: Bool)
    mutating func endMap()
}

/// Every hook reads nothing out by default.
extension AvroDatumOutput {
    func null() {}
    func boolean(_ value: Bool) {}
    func int(_ value: Int32, _ logical: AvroType.IntLogical?) {}
    func long(_ value: Int64, _ logical: AvroType.LongLogical?) {}
    func float(_ value: Float) {}
    func double(_ value: Double) {}
    func bytes(_ value: UnsafeBufferPointer<UInt8>, decimal: AvroType.DecimalType?) {}
    func string(_ value: UnsafeBufferPointer<UInt8>) {}
    func symbol(_ quoted: UnsafeBufferPointer<UInt8>) {}
    func beginRecord() {}
    func field(_ member: UnsafeBufferPointer<UInt8>) {}
    func endRecord() {}
    func beginArray() {}
    func element(first: Bool) {}
    func endArray() {}
    func beginMap() {}
    func key(_ key: UnsafeBufferPointer<UInt8>, first: Bool) {}
    func endMap() {}
}

/// Reads nothing out: the walker as a bounds check.
struct NoOutput: AvroDatumOutput {}

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
