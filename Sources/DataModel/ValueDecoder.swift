/// Decodes `Decodable` types from a parsed ``Value``, the way `JSONDecoder`
/// decodes from bytes, but keeping what bytes-to-dictionary decoding loses:
/// members stay in order (an Avro schema's fields, a JSON Schema's
/// properties), duplicate keys were already refused by ``JSONParser``, and
/// numbers are checked exactly (`10.5` is not an integer, `1e999` never
/// reaches here). Errors are ordinary `DecodingError`s with coding paths.
public struct ValueDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from value: Value) throws -> T {
        try TreeDecoder(value, codingPath: []).decodeValue(type)
    }
}

private struct TreeDecoder: Decoder {
    let value: Value
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ value: Value, codingPath: [any CodingKey]) {
        self.value = value
        self.codingPath = codingPath
    }

    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        if type == Value.self { return value as! T }
        return try T(from: self)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else { throw mismatch([String: Any].self, value, codingPath) }
        return KeyedDecodingContainer(KeyedContainer<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw mismatch([Any].self, value, codingPath) }
        return UnkeyedContainer(elements: elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleContainer(value: value, codingPath: codingPath)
    }
}

private func mismatch(_ type: Any.Type, _ value: Value, _ path: [any CodingKey]) -> DecodingError {
    .typeMismatch(type, .init(codingPath: path, debugDescription: "got \(value.typeName)"))
}

/// Conversions shared by the three container kinds.
private enum Scalar {
    static func decode<T: Decodable>(_ type: T.Type, _ value: Value, _ path: [any CodingKey]) throws -> T {
        switch type {
        case is Bool.Type:
            guard case .bool(let flag) = value else { throw mismatch(type, value, path) }
            return flag as! T
        case is String.Type:
            guard case .string(let text) = value else { throw mismatch(type, value, path) }
            return text as! T
        case is Double.Type:
            guard let number = value.numberValue, !(value.isDecimal && !number.isFinite) else { throw mismatch(type, value, path) }
            return number as! T
        case is Float.Type:
            guard let number = value.numberValue else { throw mismatch(type, value, path) }
            return Float(number) as! T
        case is Int.Type: return try integer(Int.self, value, path) as! T
        case is Int64.Type: return try integer(Int64.self, value, path) as! T
        case is Int32.Type: return try integer(Int32.self, value, path) as! T
        case is Int16.Type: return try integer(Int16.self, value, path) as! T
        case is Int8.Type: return try integer(Int8.self, value, path) as! T
        case is UInt.Type: return try integer(UInt.self, value, path) as! T
        case is UInt64.Type: return try integer(UInt64.self, value, path) as! T
        case is UInt32.Type: return try integer(UInt32.self, value, path) as! T
        case is UInt16.Type: return try integer(UInt16.self, value, path) as! T
        case is UInt8.Type: return try integer(UInt8.self, value, path) as! T
        default:
            return try TreeDecoder(value, codingPath: path).decodeValue(type)
        }
    }

    static func integer<I: FixedWidthInteger>(_ type: I.Type, _ value: Value, _ path: [any CodingKey]) throws -> I {
        switch value {
        case .int(let number):
            guard let exact = I(exactly: number) else {
                throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "\(number) is out of range"))
            }
            return exact
        case .decimal(let text):
            throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "\(text) is out of range"))
        default:
            throw mismatch(type, value, path)
        }
    }
}

extension Value {
    fileprivate var isDecimal: Bool {
        if case .decimal = self { return true }
        return false
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: Value.Object
    let codingPath: [any CodingKey]

    var allKeys: [Key] { object.fields.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    private func member(_ key: Key) throws -> Value {
        guard let value = object[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "is required"))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { try member(key).isNull }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let value = try member(key)
        if value.isNull, type != Value.self {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [key], debugDescription: "null"))
        }
        return try Scalar.decode(type, value, codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try TreeDecoder(try member(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try TreeDecoder(try member(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { TreeDecoder(.object(object), codingPath: codingPath) }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        TreeDecoder(try member(key), codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let elements: [Value]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(elements: [Value], codingPath: [any CodingKey]) {
        self.elements = elements
        self.codingPath = codingPath
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private var indexKey: any CodingKey { IndexKey(currentIndex) }

    private mutating func next() throws -> Value {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Value.self, .init(codingPath: codingPath + [indexKey], debugDescription: "no more elements"))
        }
        defer { currentIndex += 1 }
        return elements[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, elements[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let path = codingPath + [indexKey]
        let value = try next()
        if value.isNull, type != Value.self {
            throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "null"))
        }
        return try Scalar.decode(type, value, path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let path = codingPath + [indexKey]
        return try TreeDecoder(try next(), codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let path = codingPath + [indexKey]
        return try TreeDecoder(try next(), codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let path = codingPath + [indexKey]
        return TreeDecoder(try next(), codingPath: path)
    }
}

private struct SingleContainer: SingleValueDecodingContainer {
    let value: Value
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { value.isNull }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if value.isNull, type != Value.self {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath, debugDescription: "null"))
        }
        return try Scalar.decode(type, value, codingPath)
    }
}

/// An array position in a coding path (`topics[2]`).
struct IndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?

    init(_ index: Int) {
        self.stringValue = "Index \(index)"
        self.intValue = index
    }

    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.init(intValue) }
}

// MARK: - Value as Codable

extension Value: Codable {
    /// Through ``ValueDecoder`` the parsed value is taken as is. Through other
    /// decoders (`JSONDecoder`) it is rebuilt from their containers, which may
    /// not keep member order.
    public init(from decoder: any Decoder) throws {
        if let tree = decoder as? TreeDecoder {
            self = tree.value
            return
        }
        if let container = try? decoder.container(keyedBy: AnyCodingKey.self) {
            var object = Object()
            for key in container.allKeys { object[key.stringValue] = try container.decode(Value.self, forKey: key) }
            self = .object(object)
        } else if var container = try? decoder.unkeyedContainer() {
            var elements: [Value] = []
            while !container.isAtEnd { elements.append(try container.decode(Value.self)) }
            self = .array(elements)
        } else {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let flag = try? container.decode(Bool.self) {
                self = .bool(flag)
            } else if let number = try? container.decode(Int64.self) {
                self = .int(number)
            } else if let number = try? container.decode(Double.self) {
                self = .double(number)
            } else {
                self = .string(try container.decode(String.self))
            }
        }
    }

    /// Encodes as the JSON it maps to (``JSONWriter``), through the encoder's containers.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .object(let object):
            var container = encoder.container(keyedBy: AnyCodingKey.self)
            for field in object.fields { try container.encode(field.value, forKey: AnyCodingKey(stringValue: field.key)) }
        case .array(let elements):
            var container = encoder.unkeyedContainer()
            for element in elements { try container.encode(element) }
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let flag):
            var container = encoder.singleValueContainer()
            try container.encode(flag)
        case .int(let number):
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case .double(let number) where number.isFinite:
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case .float(let number) where number.isFinite:
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case .string(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        default:
            // Everything else is a JSON string in the mapping (decimals,
            // bytes, dates, non-finite numbers): write that string.
            var container = encoder.singleValueContainer()
            var out: [UInt8] = []
            JSONWriter.append(self, to: &out)
            let text = (try? JSONParser.parse(out))?.stringValue ?? ""
            try container.encode(text)
        }
    }
}
