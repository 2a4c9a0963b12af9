import DataModel

/// An Avro datum checked against its writer's schema, kept as bytes and
/// written as JSON only when a sink encodes it: for consumers whose stages
/// and sink never read a field. The consumer thread pays for one checking
/// walk; the writer thread writes the JSON straight into its batch buffer,
/// with no avro-c value and no ``Value`` tree in between.
///
/// The JSON is byte for byte what ``JSONWriter`` writes for the value
/// ``AvroDecoder`` reads with the writer's schema, so a consumer's output
/// does not depend on which path it took; the tests hold the two together.
public struct AvroDatum: Sendable, Equatable {
    public let bytes: ArraySlice<UInt8>
    public let writer: AvroSchema

    /// Checks `bytes` as ``AvroDecoder`` does (what it refuses, this
    /// throws). `nil` when only the tree path can say what the datum reads
    /// as: a map repeats a key (a JSON object must not, and which one
    /// survives is avro-c's choice), or has too many keys to compare cheaply.
    public init?(checking bytes: ArraySlice<UInt8>, writer: AvroSchema) throws(AvroError) {
        let repeats: Result<Bool, AvroError> = bytes.withUnsafeBufferPointer { buffer in
            var walker = AvroDatumWalker(buffer, schema: writer, output: MapKeyCheck())
            do throws(AvroError) {
                try walker.walkWholeDatum()
                return .success(walker.output.repeats)
            } catch {
                return .failure(error)
            }
        }
        guard try !repeats.get() else { return nil }
        self.bytes = bytes
        self.writer = writer
    }

    /// Appends the datum as JSON.
    public func appendJSON(to out: inout [UInt8]) {
        StagedBytes.appending(to: &out) { appendJSON(to: &$0) }
    }

    public func appendJSON(to out: inout StagedBytes) {
        withUnsafeMutablePointer(to: &out) { out in
            bytes.withUnsafeBufferPointer { buffer in
                var walker = AvroDatumWalker(buffer, schema: writer, output: JSONOutput(out: out))
                do {
                    try walker.walkWholeDatum()
                } catch {
                    preconditionFailure("an Avro datum that passed its check fails the same walk: \(error)")
                }
            }
        }
    }

    public static func == (lhs: AvroDatum, rhs: AvroDatum) -> Bool {
        lhs.bytes == rhs.bytes && lhs.writer.text == rhs.writer.text
    }
}

/// Finds a map that repeats a key. Keys point into the datum, which
/// outlives the walk.
struct MapKeyCheck: AvroDatumOutput {
    private(set) var repeats = false
    /// The keys of the maps being read, innermost last, and where each
    /// map's keys start.
    private var keys: [UnsafeBufferPointer<UInt8>] = []
    private var starts: [Int] = []

    /// Keys per map compared; a larger map counts as repeating.
    static let maxComparedKeys = 64

    mutating func beginMap() {
        starts.append(keys.count)
    }

    mutating func key(_ key: UnsafeBufferPointer<UInt8>, first: Bool) {
        guard !repeats, let start = starts.last else { return }
        let seen = keys[start...]
        if seen.count >= Self.maxComparedKeys || seen.contains(where: { $0.elementsEqual(key) }) {
            repeats = true
        } else {
            keys.append(key)
        }
    }

    mutating func endMap() {
        if let start = starts.popLast() { keys.removeSubrange(start...) }
    }
}

/// Writes what the walker reads as JSON. Logical types, floating-point
/// numbers and bytes go through ``AvroLogical`` and ``JSONWriter``, the
/// tree path's own mapping, so the two cannot drift apart.
struct JSONOutput: AvroDatumOutput {
    /// The caller's output, lent for the walk: a copy would share its
    /// array, and the first flush would copy everything written before.
    let out: UnsafeMutablePointer<StagedBytes>

    mutating func null() { out.pointee.append(literal: "null") }

    mutating func boolean(_ value: Bool) {
        if value { out.pointee.append(literal: "true") } else { out.pointee.append(literal: "false") }
    }

    mutating func int(_ value: Int32, _ logical: AvroType.IntLogical?) {
        if logical == nil {
            JSONWriter.appendInteger(Int64(value), to: &out.pointee)
        } else {
            JSONWriter.append(AvroLogical.int(value, logical), to: &out.pointee)
        }
    }

    mutating func long(_ value: Int64, _ logical: AvroType.LongLogical?) {
        if logical == nil {
            JSONWriter.appendInteger(value, to: &out.pointee)
        } else {
            JSONWriter.append(AvroLogical.long(value, logical), to: &out.pointee)
        }
    }

    mutating func float(_ value: Float) { JSONWriter.append(.float(value), to: &out.pointee) }

    mutating func double(_ value: Double) { JSONWriter.append(.double(value), to: &out.pointee) }

    mutating func bytes(_ value: UnsafeBufferPointer<UInt8>, decimal: AvroType.DecimalType?) {
        JSONWriter.append(AvroLogical.bytes(Array(value), decimal), to: &out.pointee)
    }

    mutating func string(_ value: UnsafeBufferPointer<UInt8>) { JSONWriter.appendString(value, to: &out.pointee) }

    mutating func symbol(_ quoted: UnsafeBufferPointer<UInt8>) { out.pointee.append(quoted) }

    mutating func beginRecord() { out.pointee.append(UInt8(ascii: "{")) }

    mutating func field(_ member: UnsafeBufferPointer<UInt8>) { out.pointee.append(member) }

    mutating func endRecord() { out.pointee.append(UInt8(ascii: "}")) }

    mutating func beginArray() { out.pointee.append(UInt8(ascii: "[")) }

    mutating func element(first: Bool) {
        if !first { out.pointee.append(UInt8(ascii: ",")) }
    }

    mutating func endArray() { out.pointee.append(UInt8(ascii: "]")) }

    mutating func beginMap() { out.pointee.append(UInt8(ascii: "{")) }

    mutating func key(_ key: UnsafeBufferPointer<UInt8>, first: Bool) {
        if !first { out.pointee.append(UInt8(ascii: ",")) }
        JSONWriter.appendString(key, to: &out.pointee)
        out.pointee.append(UInt8(ascii: ":"))
    }

    mutating func endMap() { out.pointee.append(UInt8(ascii: "}")) }
}
