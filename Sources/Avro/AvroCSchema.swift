import CAvro
import Synchronization

/// A schema parsed by avro-c, with the generic value class and one reusable
/// value instance for it. Owned by one thread at a time.
///
/// avro-c reports errors through one process-wide buffer (`avro_strerror`,
/// not thread-local in Debian's build), so calls whose error text we read
/// run under ``AvroCSchema/errorLock``.
final class AvroCSchema {
    let schema: avro_schema_t
    let iface: UnsafeMutablePointer<avro_value_iface_t>
    var value = avro_value_t()

    static let errorLock = Mutex<Void>(())

    init(text: String) throws(AvroError) {
        var parsed: avro_schema_t?
        let failure: String? = Self.errorLock.withLock { _ in
            let status = text.withCString { avro_schema_from_json_length($0, strlen($0), &parsed) }
            return status == 0 ? nil : String(cString: avro_strerror())
        }
        guard let parsed, failure == nil else {
            throw AvroError(.schema, "avro-c refuses the schema: \(failure ?? "unknown error")")
        }
        guard let iface = avro_generic_class_from_schema(parsed) else {
            avro_schema_decref(parsed)
            throw AvroError(.schema, "avro-c cannot build values for the schema")
        }
        schema = parsed
        self.iface = iface
        guard avro_generic_value_new(iface, &value) == 0 else {
            cavro_iface_decref(iface)
            avro_schema_decref(parsed)
            throw AvroError(.schema, "avro-c cannot allocate a value for the schema")
        }
    }

    deinit {
        avro_value_decref(&value)
        cavro_iface_decref(iface)
        avro_schema_decref(schema)
    }

    /// Whether avro-c accepts the schema text.
    static func check(_ text: String) throws(AvroError) {
        _ = try AvroCSchema(text: text)
    }
}
