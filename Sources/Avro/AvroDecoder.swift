import CAvro
import DataModel

/// Decodes Avro binary datums into ``Value``s: bounds-checked in Swift,
/// decoded by avro-c with the writer's schema, then resolved to the reader's
/// schema (when one is given) and mapped to values by ``ReadPlan``.
///
/// One decoder per consumer thread: it reuses avro-c values between
/// records, so decoding a record allocates only what the result holds.
public final class AvroDecoder {
    /// The schema records are read as; `nil` reads each with its writer's schema.
    public let readerSchema: AvroSchema?
    private var compiled: [Int64: Compiled] = [:]
    private let reader: avro_reader_t

    /// Writer schemas kept compiled; a consumer sees few, a hostile topic many.
    static let maxCompiledSchemas = 128

    private final class Compiled {
        let writer: AvroSchema
        let avro: AvroCSchema
        let plan: Result<ReadPlan.Compiled, AvroError>

        init(writer: AvroSchema, reader: AvroSchema?) throws(AvroError) {
            self.writer = writer
            self.avro = try AvroCSchema(text: writer.canonicalText)
            do throws(AvroError) {
                plan = .success(try ReadPlanBuilder.build(writer: writer, reader: reader ?? writer))
            } catch {
                plan = .failure(error)
            }
        }
    }

    public init(readerSchema: AvroSchema? = nil) {
        self.readerSchema = readerSchema
        // An empty source for now; each decode points the reader at its bytes.
        self.reader = avro_reader_memory(nil, 0)
    }

    deinit {
        avro_reader_free(reader)
    }

    /// Decodes one datum written with `writer`. `writerKey` identifies the
    /// writer's schema for the compiled-schema cache (a registry id).
    public func decode(_ payload: ArraySlice<UInt8>, writer: AvroSchema, writerKey: Int64) throws(AvroError) -> Value {
        let entry = try compiledEntry(writer, key: writerKey)
        let plan = try entry.plan.get().plan
        let result: Result<Value, AvroError> = payload.withUnsafeBufferPointer { buffer in
            do throws(AvroError) {
                try AvroBoundsCheck.check(buffer, schema: entry.writer)
                cavro_reset(&entry.avro.value)
                let base = buffer.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
                avro_reader_memory_set_source(reader, base, Int64(buffer.count))
                guard avro_value_read(reader, &entry.avro.value) == 0 else {
                    throw AvroError(.malformed, "avro-c could not decode the datum")
                }
                return .success(try Self.convert(entry.avro.value, plan))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    public func decode(_ payload: [UInt8], writer: AvroSchema, writerKey: Int64 = -1) throws(AvroError) -> Value {
        try decode(payload[...], writer: writer, writerKey: writerKey)
    }

    private func compiledEntry(_ writer: AvroSchema, key: Int64) throws(AvroError) -> Compiled {
        if let entry = compiled[key], entry.writer.text == writer.text { return entry }
        if compiled.count >= Self.maxCompiledSchemas { compiled.removeAll() }
        let entry = try Compiled(writer: writer, reader: readerSchema)
        compiled[key] = entry
        return entry
    }

    // MARK: avro-c value → Value

    private static func convert(_ value: avro_value_t, _ plan: ReadPlan) throws(AvroError) -> Value {
        var v = value
        switch plan {
        case .null:
            return .null
        case .boolean:
            var flag: Int32 = 0
            _ = cavro_get_boolean(&v, &flag)
            return .bool(flag != 0)
        case .int(let logical):
            var number: Int32 = 0
            _ = cavro_get_int(&v, &number)
            return AvroLogical.int(number, logical)
        case .long(let source, let logical):
            return AvroLogical.long(Int64(try number(&v, source)), logical)
        case .float(let source):
            if source == .float {
                var number: Float = 0
                _ = cavro_get_float(&v, &number)
                return .float(number)
            }
            return .float(Float(try number(&v, source)))
        case .double(let source):
            switch source {
            case .float:
                var number: Float = 0
                _ = cavro_get_float(&v, &number)
                return .double(Double(number))
            case .double:
                var number: Double = 0
                _ = cavro_get_double(&v, &number)
                return .double(number)
            default:
                return .double(Double(try number(&v, source)))
            }
        case .bytes(let source, let decimal):
            return AvroLogical.bytes(text(&v, source), decimal)
        case .string(let source):
            // Validated and copied once, straight from avro-c's buffer.
            guard let string = withText(&v, source, { String(validating: $0, as: UTF8.self) }) else {
                throw AvroError(.malformed, "bytes read as a string are not UTF-8")
            }
            return .string(string)
        case .fixed(let decimal):
            var pointer: UnsafeRawPointer?
            var size = 0
            _ = cavro_get_fixed(&v, &pointer, &size)
            return AvroLogical.bytes(copy(pointer, size), decimal)
        case .enumeration(let symbols, let writerSymbols):
            var index: Int32 = 0
            _ = cavro_get_enum(&v, &index)
            guard symbols.indices.contains(Int(index)) else { throw AvroError(.malformed, "enum index \(index) out of range") }
            guard let symbol = symbols[Int(index)] else {
                throw AvroError(.resolution, "enum symbol '\(writerSymbols[Int(index)])' is unknown to the reader's schema, which has no default")
            }
            return .string(symbol)
        case .array(let items):
            var count = 0
            _ = cavro_get_size(&v, &count)
            var elements: [Value] = []
            elements.reserveCapacity(count)
            for index in 0..<count {
                var child = avro_value_t()
                _ = cavro_get_by_index(&v, index, &child, nil)
                elements.append(try convert(child, items))
            }
            return .array(elements)
        case .map(let values):
            var count = 0
            _ = cavro_get_size(&v, &count)
            var object = Value.Object()
            object.fields.reserveCapacity(count)
            for index in 0..<count {
                var child = avro_value_t()
                var name: UnsafePointer<CChar>?
                _ = cavro_get_by_index(&v, index, &child, &name)
                let key = name.map { String(cString: $0) } ?? ""
                // avro-c keeps the first of repeated keys; the last one wins in Avro's other implementations.
                object[key] = try convert(child, values)
            }
            return .object(object)
        case .record(let fields):
            var object = Value.Object()
            object.fields.reserveCapacity(fields.count)
            for field in fields {
                switch field {
                case .read(let writerIndex, let key, let fieldPlan):
                    var child = avro_value_t()
                    _ = cavro_get_by_index(&v, writerIndex, &child, nil)
                    object.fields.append(.init(key, try convert(child, fieldPlan)))
                case .constant(let key, let constant):
                    object.fields.append(.init(key, constant))
                }
            }
            return .object(object)
        case .writerUnion(let branches):
            var discriminant: Int32 = 0
            _ = cavro_get_discriminant(&v, &discriminant)
            guard branches.indices.contains(Int(discriminant)) else { throw AvroError(.malformed, "union branch \(discriminant) out of range") }
            var branch = avro_value_t()
            _ = cavro_get_current_branch(&v, &branch)
            return try convert(branch, try branches[Int(discriminant)].get())
        case .deferred(let box):
            return try convert(value, box.plan)
        }
    }

    private static func number(_ v: inout avro_value_t, _ source: ReadPlan.NumberSource) throws(AvroError) -> Int64 {
        switch source {
        case .int:
            var number: Int32 = 0
            _ = cavro_get_int(&v, &number)
            return Int64(number)
        case .long:
            var number: Int64 = 0
            _ = cavro_get_long(&v, &number)
            return number
        case .float, .double:
            throw AvroError(.resolution, "a floating-point number cannot be read as an integer")
        }
    }

    private static func text(_ v: inout avro_value_t, _ source: ReadPlan.TextSource) -> [UInt8] {
        withText(&v, source) { Array($0) }
    }

    /// The bytes of a bytes or string value, inside avro-c's buffer.
    private static func withText<T>(
        _ v: inout avro_value_t, _ source: ReadPlan.TextSource, _ body: (UnsafeBufferPointer<UInt8>) -> T
    ) -> T {
        var size = 0
        var pointer: UnsafeRawPointer?
        switch source {
        case .bytes:
            _ = cavro_get_bytes(&v, &pointer, &size)
        case .string:
            var characters: UnsafePointer<CChar>?
            _ = cavro_get_string(&v, &characters, &size)
            pointer = characters.map(UnsafeRawPointer.init)
            // avro-c counts the terminating NUL.
            size = max(0, size - 1)
        }
        guard let pointer, size > 0 else { return body(UnsafeBufferPointer(start: nil, count: 0)) }
        return body(UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: UInt8.self), count: size))
    }

    private static func copy(_ pointer: UnsafeRawPointer?, _ count: Int) -> [UInt8] {
        guard let pointer, count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}

/// Confluent's Schema Registry framing: a zero magic byte, the schema id as a
/// 4-byte big-endian integer, then the Avro binary datum.
public enum ConfluentWireFormat {
    public static let magicByte: UInt8 = 0
    public static let headerSize = 5

    /// The schema id of a framed message.
    public static func schemaID(of bytes: [UInt8]) throws(AvroError) -> Int32 {
        guard bytes.count >= headerSize else {
            throw AvroError(.malformed, "\(bytes.count) bytes are too short for Confluent framing (5-byte header)")
        }
        guard bytes[0] == magicByte else {
            throw AvroError(.malformed, "unknown magic byte \(bytes[0]) (Confluent framing starts with 0)")
        }
        return Int32(bitPattern: UInt32(bytes[1]) << 24 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 8 | UInt32(bytes[4]))
    }

    public static func frame(schemaID: Int32, payload: [UInt8]) -> [UInt8] {
        let id = UInt32(bitPattern: schemaID)
        return [magicByte, UInt8(id >> 24), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)] + payload
    }
}
