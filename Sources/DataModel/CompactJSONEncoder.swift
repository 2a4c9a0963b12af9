import Foundation

/// Encodes `Encodable` values as compact JSON with sorted keys: the
/// control plane's response encoder.
///
/// Foundation's `JSONEncoder` spent most of an API request: 38 % of the
/// CPU of `GET /health` and 70 % of `GET /consumers` (perf, 4 consumers),
/// in its reference tree, its dictionaries, a dynamic cast per value for
/// the types it special-cases, and its generic serializer. This encoder
/// keeps each container's members in an array, takes strings, numbers and
/// booleans without boxing them, sorts each object's members once and
/// writes through ``JSONWriter``.
///
/// It writes what `JSONEncoder` with `.sortedKeys` and
/// `.withoutEscapingSlashes` writes on Linux: keys in byte order, an
/// integral double as an integer (`3`, not `3.0`), `Data` in base64, a
/// `URL` as its absolute string. Where `JSONEncoder` fails, it does not:
/// non-finite numbers are the strings ``JSONWriter`` writes for them.
public struct CompactJSONEncoder: Sendable {
    public init() {}

    public func encode(_ value: some Encodable) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        try Slot.encode(value, at: nil).write(to: &out)
        return out
    }
}

extension Value {
    /// The same value with every object's members sorted by key, compared
    /// as UTF-8 bytes.
    func sortingKeys() -> Value {
        switch self {
        case .object(var object):
            for index in object.fields.indices { object.fields[index].value = object.fields[index].value.sortingKeys() }
            object.fields.sort { keyPrecedes($0.key, $1.key) }
            return .object(object)
        case .array(let elements):
            return .array(elements.map { $0.sortingKeys() })
        default:
            return self
        }
    }
}

/// Keys compare as their UTF-8 bytes, for order and for equality alike
/// (`String`'s `==` also equates differently normalized text, which would
/// make the order inconsistent).
private func keyPrecedes(_ lhs: String, _ rhs: String) -> Bool {
    lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
}

private func sameKey(_ lhs: String, _ rhs: String) -> Bool {
    lhs.utf8.elementsEqual(rhs.utf8)
}

/// What a container member holds: a finished value, or the container an
/// encoder handed out for it, which may still be written to until the
/// whole encoding ends (Codable allows nested containers to outlive the
/// call that made them).
private enum Slot {
    case value(Value)
    case container(ContainerBox)

    func write(to out: inout [UInt8]) {
        switch self {
        case .value(let value): JSONWriter.append(value, to: &out)
        case .container(let box): box.write(to: &out)
        }
    }

    /// Scalars and trees as they are; anything else through its
    /// `encode(to:)`, with `path` built only then. Type comparisons, not
    /// casts: this runs for every member that is not a plain scalar.
    static func encode<T: Encodable>(_ value: T, at path: @autoclosure () -> CodingPathNode?) throws -> Slot {
        if T.self == String.self { return .value(.string(value as! String)) }
        if T.self == Int.self { return .value(.int(Int64(value as! Int))) }
        if T.self == Int64.self { return .value(.int(value as! Int64)) }
        if T.self == Int32.self { return .value(.int(Int64(value as! Int32))) }
        if T.self == Bool.self { return .value(.bool(value as! Bool)) }
        if T.self == Double.self { return .value((value as! Double).encodedValue) }
        if T.self == Value.self { return .value((value as! Value).sortingKeys()) }
        if T.self == Data.self { return .value(.bytes(Array(value as! Data))) }
        if T.self == URL.self { return .value(.string((value as! URL).absoluteString)) }
        // The rarer scalars: the containers' own overloads for them end up here.
        if T.self == Float.self { return .value((value as! Float).encodedValue) }
        if T.self == UInt64.self || T.self == UInt.self || T.self == UInt32.self || T.self == UInt16.self
            || T.self == UInt8.self || T.self == Int16.self || T.self == Int8.self
        {
            let number = value as! any BinaryInteger
            guard let integer = Int64(exactly: number) else {
                throw EncodingError.invalidValue(
                    value, .init(codingPath: path()?.codingPath ?? [], debugDescription: "\(number) is outside 64-bit signed integers"))
            }
            return .value(.int(integer))
        }
        let encoder = TreeEncoder(path: path())
        try value.encode(to: encoder)
        return .container(encoder.box)
    }
}

extension Double {
    /// An integral double as an integer, as `JSONEncoder` writes it (`3`,
    /// not `3.0`); within ±2^53 the digits are the same.
    fileprivate var encodedValue: Value {
        if isFinite, rounded() == self, magnitude < 9_007_199_254_740_992 { return .int(Int64(self)) }
        return .double(self)
    }
}

extension Float {
    fileprivate var encodedValue: Value {
        if isFinite, rounded() == self, magnitude < 16_777_216 { return .int(Int64(self)) }
        return .float(self)
    }
}

/// The storage behind one encoder: empty until a container is asked for.
private final class ContainerBox {
    enum Content {
        case empty
        case single(Value)
        case object([(key: String, slot: Slot)])
        case array([Slot])
    }

    var content = Content.empty

    /// Room for a typical response object's members: growing one by one
    /// reallocated each array several times (perf: 10 % of `GET /consumers`).
    static func members() -> [(key: String, slot: Slot)] {
        var members: [(key: String, slot: Slot)] = []
        members.reserveCapacity(16)
        return members
    }

    /// Writes the container, its object members sorted by key. A key
    /// encoded twice keeps its last value, as with `JSONEncoder`: the sort
    /// puts equal keys together in encoding order, and only the last is
    /// written (members are not searched on every append, which made a
    /// dictionary of n entries cost n² comparisons).
    func write(to out: inout [UInt8]) {
        switch content {
        case .empty:
            out.append(literal: "{}")
        case .single(let value):
            JSONWriter.append(value, to: &out)
        case .object(let members):
            let order = members.indices.sorted { a, b in
                sameKey(members[a].key, members[b].key) ? a < b : keyPrecedes(members[a].key, members[b].key)
            }
            out.append(UInt8(ascii: "{"))
            var first = true
            for (position, index) in order.enumerated() {
                if position + 1 < order.count, sameKey(members[order[position + 1]].key, members[index].key) { continue }
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                JSONWriter.appendString(members[index].key, to: &out)
                out.append(UInt8(ascii: ":"))
                members[index].slot.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let slots):
            out.append(UInt8(ascii: "["))
            for (index, slot) in slots.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                slot.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    func append(_ slot: Slot, forKey key: String) {
        guard case .object(var members) = content else {
            content = .object([(key, slot)])
            return
        }
        content = .empty  // the only reference while appending: no copy
        members.append((key, slot))
        content = .object(members)
    }

    func append(_ slot: Slot) {
        guard case .array(var slots) = content else {
            content = .array([slot])
            return
        }
        content = .empty
        slots.append(slot)
        content = .array(slots)
    }

    var count: Int {
        switch content {
        case .array(let slots): slots.count
        case .object(let members): members.count
        case .empty, .single: 0
        }
    }

    /// A nested container's box, attached where the parent will read it.
    func nested(forKey key: String) -> ContainerBox {
        let box = ContainerBox()
        append(.container(box), forKey: key)
        return box
    }

    func nested() -> ContainerBox {
        let box = ContainerBox()
        append(.container(box))
        return box
    }
}

/// Where an encoder or container is: a list from the innermost key out,
/// turned into a `codingPath` array only when asked for (an error, a type
/// that reads it). Appending to an array per member cost two allocations.
private final class CodingPathNode: Sendable {
    let parent: CodingPathNode?
    let key: any CodingKey

    init(_ parent: CodingPathNode?, _ key: any CodingKey) {
        self.parent = parent
        self.key = key
    }

    var codingPath: [any CodingKey] {
        var keys: [any CodingKey] = []
        var node: CodingPathNode? = self
        while let current = node {
            keys.append(current.key)
            node = current.parent
        }
        return keys.reversed()
    }
}

private struct TreeEncoder: Encoder {
    let box = ContainerBox()
    let path: CodingPathNode?
    var codingPath: [any CodingKey] { path?.codingPath ?? [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(path: CodingPathNode?) {
        self.path = path
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .empty = box.content { box.content = .object(ContainerBox.members()) }
        return KeyedEncodingContainer(KeyedContainer<Key>(box: box, path: path))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .empty = box.content { box.content = .array([]) }
        return UnkeyedContainer(box: box, path: path)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(box: box, path: path)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: ContainerBox
    let path: CodingPathNode?
    var codingPath: [any CodingKey] { path?.codingPath ?? [] }

    mutating func encodeNil(forKey key: Key) { box.append(.value(.null), forKey: key.stringValue) }
    mutating func encode(_ value: Bool, forKey key: Key) { box.append(.value(.bool(value)), forKey: key.stringValue) }
    mutating func encode(_ value: String, forKey key: Key) { box.append(.value(.string(value)), forKey: key.stringValue) }
    mutating func encode(_ value: Double, forKey key: Key) { box.append(.value(value.encodedValue), forKey: key.stringValue) }
    mutating func encode(_ value: Int, forKey key: Key) { box.append(.value(.int(Int64(value))), forKey: key.stringValue) }
    mutating func encode(_ value: Int32, forKey key: Key) { box.append(.value(.int(Int64(value))), forKey: key.stringValue) }
    mutating func encode(_ value: Int64, forKey key: Key) { box.append(.value(.int(value)), forKey: key.stringValue) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        box.append(try Slot.encode(value, at: CodingPathNode(path, key)), forKey: key.stringValue)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = box.nested(forKey: key.stringValue)
        nested.content = .object(ContainerBox.members())
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(box: nested, path: CodingPathNode(path, key)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = box.nested(forKey: key.stringValue)
        nested.content = .array([])
        return UnkeyedContainer(box: nested, path: CodingPathNode(path, key))
    }

    mutating func superEncoder() -> any Encoder { superEncoder(key: "super") }

    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(key: key.stringValue) }

    private func superEncoder(key: String) -> any Encoder {
        let encoder = TreeEncoder(path: CodingPathNode(path, AnyCodingKey(stringValue: key)))
        box.append(.container(encoder.box), forKey: key)
        return encoder
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let box: ContainerBox
    let path: CodingPathNode?
    var codingPath: [any CodingKey] { path?.codingPath ?? [] }
    var count: Int { box.count }

    private var nextPath: CodingPathNode { CodingPathNode(path, AnyCodingKey(intValue: count)) }

    mutating func encodeNil() { box.append(.value(.null)) }
    mutating func encode(_ value: Bool) { box.append(.value(.bool(value))) }
    mutating func encode(_ value: String) { box.append(.value(.string(value))) }
    mutating func encode(_ value: Double) { box.append(.value(value.encodedValue)) }
    mutating func encode(_ value: Int) { box.append(.value(.int(Int64(value)))) }
    mutating func encode(_ value: Int64) { box.append(.value(.int(value))) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        box.append(try Slot.encode(value, at: nextPath))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nestedPath = nextPath
        let nested = box.nested()
        nested.content = .object(ContainerBox.members())
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(box: nested, path: nestedPath))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nestedPath = nextPath
        let nested = box.nested()
        nested.content = .array([])
        return UnkeyedContainer(box: nested, path: nestedPath)
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = TreeEncoder(path: nextPath)
        box.append(.container(encoder.box))
        return encoder
    }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let box: ContainerBox
    let path: CodingPathNode?
    var codingPath: [any CodingKey] { path?.codingPath ?? [] }

    mutating func encodeNil() { box.content = .single(.null) }
    mutating func encode(_ value: Bool) { box.content = .single(.bool(value)) }
    mutating func encode(_ value: String) { box.content = .single(.string(value)) }
    mutating func encode(_ value: Double) { box.content = .single(value.encodedValue) }
    mutating func encode(_ value: Int) { box.content = .single(.int(Int64(value))) }
    mutating func encode(_ value: Int64) { box.content = .single(.int(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        switch try Slot.encode(value, at: path) {
        case .value(let value): box.content = .single(value)
        case .container(let nested): box.content = nested.content
        }
    }
}
