import DataModel

/// Avro binary straight to JSON text, for consumers whose stages and sink
/// never read a field: the bytes are checked and written out in one walk,
/// with no avro-c value and no ``Value`` tree in between.
///
/// The JSON is byte for byte what ``JSONWriter`` writes for the value
/// ``AvroDecoder`` reads with the writer's schema, so a consumer's output
/// does not depend on which path it took; the tests hold the two together.
public enum AvroJSONTranscoder {
    /// The datum as JSON, or `nil` when only the tree path can say what it
    /// reads as (a map that repeats a key, or too many keys to check
    /// cheaply). Malformed data is refused exactly as ``AvroDecoder`` refuses it.
    public static func transcode(_ payload: ArraySlice<UInt8>, writer: AvroSchema) throws(AvroError) -> [UInt8]? {
        let result: Result<JSONOutput, AvroError> = payload.withUnsafeBufferPointer { buffer in
            var walker = AvroDatumWalker(buffer, schema: writer, output: JSONOutput(capacity: 2 * buffer.count + 16))
            do throws(AvroError) {
                try walker.walkWholeDatum()
                return .success(walker.output)
            } catch {
                return .failure(error)
            }
        }
        let output = try result.get()
        return output.needsTree ? nil : output.out
    }
}

/// Writes what the walker reads as JSON. Logical types, floating-point
/// numbers and bytes go through ``AvroLogical`` and ``JSONWriter``, the
/// tree path's own mapping, so the two cannot drift apart.
struct JSONOutput: AvroDatumOutput {
    var out: [UInt8] = []
    /// Set when a map repeats a key: a JSON object must not, and avro-c's
    /// choice of which one survives is the tree path's to make.
    private(set) var needsTree = false
    /// The keys of the maps being written, innermost last, and where each
    /// map's keys start. They point into the datum, which outlives the walk.
    private var mapKeys: [UnsafeBufferPointer<UInt8>] = []
    private var mapStarts: [Int] = []

    /// Keys per map compared for repeats; a larger map takes the tree path.
    static let maxComparedKeys = 64

    init(capacity: Int) {
        out.reserveCapacity(capacity)
    }

    mutating func null() { out.append(contentsOf: "null".utf8) }

    mutating func boolean(_ value: Bool) { out.append(contentsOf: (value ? "true" : "false").utf8) }

    mutating func int(_ value: Int32, _ logical: AvroType.IntLogical?) {
        if logical == nil {
            JSONWriter.appendInteger(Int64(value), to: &out)
        } else {
            JSONWriter.append(AvroLogical.int(value, logical), to: &out)
        }
    }

    mutating func long(_ value: Int64, _ logical: AvroType.LongLogical?) {
        if logical == nil {
            JSONWriter.appendInteger(value, to: &out)
        } else {
            JSONWriter.append(AvroLogical.long(value, logical), to: &out)
        }
    }

    mutating func float(_ value: Float) { JSONWriter.append(.float(value), to: &out) }

    mutating func double(_ value: Double) { JSONWriter.append(.double(value), to: &out) }

    mutating func bytes(_ value: UnsafeBufferPointer<UInt8>, decimal: AvroType.DecimalType?) {
        JSONWriter.append(AvroLogical.bytes(Array(value), decimal), to: &out)
    }

    mutating func string(_ value: UnsafeBufferPointer<UInt8>) { JSONWriter.appendString(value, to: &out) }

    mutating func symbol(_ name: String) { JSONWriter.appendString(name, to: &out) }

    mutating func beginRecord() { out.append(UInt8(ascii: "{")) }

    mutating func field(_ name: String, first: Bool) {
        if !first { out.append(UInt8(ascii: ",")) }
        JSONWriter.appendString(name, to: &out)
        out.append(UInt8(ascii: ":"))
    }

    mutating func endRecord() { out.append(UInt8(ascii: "}")) }

    mutating func beginArray() { out.append(UInt8(ascii: "[")) }

    mutating func element(first: Bool) {
        if !first { out.append(UInt8(ascii: ",")) }
    }

    mutating func endArray() { out.append(UInt8(ascii: "]")) }

    mutating func beginMap() {
        out.append(UInt8(ascii: "{"))
        mapStarts.append(mapKeys.count)
    }

    mutating func key(_ key: UnsafeBufferPointer<UInt8>, first: Bool) {
        if !first { out.append(UInt8(ascii: ",")) }
        JSONWriter.appendString(key, to: &out)
        out.append(UInt8(ascii: ":"))
        guard !needsTree, let start = mapStarts.last else { return }
        let seen = mapKeys[start...]
        if seen.count >= Self.maxComparedKeys || seen.contains(where: { $0.elementsEqual(key) }) {
            needsTree = true
            return
        }
        mapKeys.append(key)
    }

    mutating func endMap() {
        out.append(UInt8(ascii: "}"))
        if let start = mapStarts.popLast() { mapKeys.removeSubrange(start...) }
    }
}
