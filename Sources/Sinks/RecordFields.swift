import DataModel
import Pipeline

extension Record {
    /// The value as the bytes a system of opaque values stores: JSON text for
    /// JSON and structured values, the raw bytes of text and bytes, `nil` for
    /// a tombstone.
    var payload: [UInt8]? {
        switch value {
        case .null: nil
        case .json(let bytes, _), .text(let bytes), .bytes(let bytes): bytes
        case .structured, .avro: json
        }
    }

    /// The value as JSON text (text as a JSON string, bytes as base64).
    var json: [UInt8] {
        var out: [UInt8] = []
        JSONLinesEncoder.appendValue(value, to: &out)
        return out
    }

    /// The field at `path` as text: strings as they are, numbers and booleans
    /// as JSON writes them; `nil` when the record has no such field (or it is
    /// null, an object or an array).
    func text(at path: FieldPath) -> String? {
        var copy = self
        guard let tree = try? copy.structuredValue(), let field = tree[path] else { return nil }
        switch field {
        case .null, .object, .array: return nil
        default: return field.plainText
        }
    }

    /// The structured value (JSON parsed on demand), `nil` for text and bytes.
    var tree: Value? {
        var copy = self
        return try? copy.structuredValue()
    }
}

/// A field path from a spec, or a spec error naming `field`.
func parseFieldPath(_ text: String, field: String) throws(SpecError) -> FieldPath {
    guard let path = FieldPath(text) else { throw SpecError(field, "'\(text)' is not a field path (a.b[0].c)") }
    return path
}

extension Value {
    /// The value as plain text for a typed column or a key: strings as they
    /// are, numbers and booleans as JSON writes them, dates and times in
    /// ISO 8601, bytes in base64, objects and arrays as JSON; `nil` for null.
    var plainText: String? {
        switch self {
        case .null: return nil
        case .string(let text), .decimal(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .object, .array, .int, .float, .double: return JSONWriter.string(self)
        case .bytes, .date, .time, .timestamp:
            // JSON writes these as strings: take the text between the quotes.
            let quoted = JSONWriter.string(self)
            return String(quoted.dropFirst().dropLast())
        }
    }
}
