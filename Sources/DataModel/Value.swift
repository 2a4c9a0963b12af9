/// A structured record value: what stages read and change, what Avro decodes
/// into, and what typed sinks write. JSON that no stage reads never becomes a
/// `Value` (see `RecordValue.json` in Pipeline): building the tree costs.
///
/// Besides JSON's types it keeps what Avro's logical types mean (exact
/// decimals, dates, times, timestamps, single precision), so that nothing is
/// lost before a sink decides how to write it. ``JSONWriter`` holds the one
/// mapping from every case to JSON.
public enum Value: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    /// Avro `float`: kept single precision so it prints as written (`0.1`, not `0.10000000149011612`).
    case float(Float)
    case double(Double)
    /// An exact decimal number as canonical text (`-12.340`): Avro `decimal`,
    /// or a JSON integer too large for 64 bits. Never a binary float.
    case decimal(String)
    case string(String)
    case bytes([UInt8])
    case array([Value])
    case object(Object)
    /// Days since 1970-01-01 (Avro `date`).
    case date(Int32)
    /// Microseconds since midnight (Avro `time-millis`, `time-micros`).
    case time(Int64, TimePrecision)
    /// Microseconds since 1970-01-01T00:00:00 (Avro `timestamp-*`, `local-timestamp-*`).
    case timestamp(Int64, TimePrecision, utc: Bool)

    /// How many fraction digits a time or timestamp is written with.
    public enum TimePrecision: Sendable, Equatable {
        case milliseconds, microseconds
    }

    /// JSON objects keep their members in order; keys are unique.
    public struct Object: Sendable, Equatable {
        public var fields: [Field]

        public struct Field: Sendable, Equatable {
            public var key: String
            public var value: Value

            public init(_ key: String, _ value: Value) {
                self.key = key
                self.value = value
            }
        }

        public init(_ fields: [Field] = []) {
            self.fields = fields
        }

        public init(_ pairs: KeyValuePairs<String, Value>) {
            self.fields = pairs.map { Field($0.key, $0.value) }
        }

        public var count: Int { fields.count }
        public var isEmpty: Bool { fields.isEmpty }
        public var keys: [String] { fields.map(\.key) }

        /// The member's value; objects are small, so a scan beats hashing.
        public subscript(key: String) -> Value? {
            get {
                for field in fields where field.key == key { return field.value }
                return nil
            }
            set {
                if let index = fields.firstIndex(where: { $0.key == key }) {
                    if let newValue {
                        fields[index].value = newValue
                    } else {
                        fields.remove(at: index)
                    }
                } else if let newValue {
                    fields.append(Field(key, newValue))
                }
            }
        }

        @discardableResult
        public mutating func removeValue(forKey key: String) -> Value? {
            guard let index = fields.firstIndex(where: { $0.key == key }) else { return nil }
            return fields.remove(at: index).value
        }
    }
}

extension Value {
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public var objectValue: Object? {
        if case .object(let object) = self { return object }
        return nil
    }

    public var arrayValue: [Value]? {
        if case .array(let array) = self { return array }
        return nil
    }

    public var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let bool) = self { return bool }
        return nil
    }

    /// The value as a number, for comparisons and arithmetic. Exact decimals
    /// convert here, which is fine for range checks and computed fields.
    public var numberValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .float(let value): Double(value)
        case .double(let value): value
        case .decimal(let text): Double(text)
        default: nil
        }
    }

    /// A whole number, when the value is one exactly.
    public var integerValue: Int64? {
        switch self {
        case .int(let value): return value
        case .double(let value):
            guard value.rounded() == value, let exact = Int64(exactly: value) else { return nil }
            return exact
        case .float(let value):
            guard value.rounded() == value, let exact = Int64(exactly: value) else { return nil }
            return exact
        default: return nil
        }
    }

    /// The JSON type name a reader would use in an error message.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int, .float, .double, .decimal: "number"
        case .string, .date, .time, .timestamp: "string"
        case .bytes: "bytes"
        case .array: "array"
        case .object: "object"
        }
    }
}

// Not ExpressibleByNilLiteral: `nil` must stay Optional's, or `Value?`
// closures silently produce `.null` instead of `nil`.
extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) {
        self = .object(Object(elements.map { Object.Field($0.0, $0.1) }))
    }
}
