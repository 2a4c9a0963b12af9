import DataModel
import Glibc

/// A compiled JSON Schema, the subset consumerd documents (draft 2020-12
/// semantics for what it supports):
///
/// `type` (a name or a list), `properties`, `required`,
/// `additionalProperties` (boolean or schema), `items`, `minItems`,
/// `maxItems`, `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`,
/// `exclusiveMaximum`, `minLength`, `maxLength`, `pattern` (POSIX extended
/// regular expression, unanchored like JSON Schema's), `format` (`date-time`,
/// `date`, `uuid`); annotations (`title`, `description`, `$schema`, `$id`,
/// `$comment`, `default`, `examples`) are ignored. Any other keyword is an
/// error at registration rather than a silently unchecked rule.
///
/// Values are checked as the JSON the sink receives, with one addition: an
/// exact decimal (Avro `decimal`) is a number for ranges and types.
public final class JSONSchema: Sendable {
    private let root: Node

    public static let maxErrors = 3

    public init(_ json: Value) throws(SpecError) {
        var budget = 10_000
        root = try Node(json, path: "", budget: &budget)
    }

    /// `nil` when the value conforms; else its first mismatches, each naming the field.
    public func validate(_ value: Value) -> Mismatch? {
        var mismatches: [Mismatch] = []
        root.check(value, at: "", into: &mismatches)
        guard let first = mismatches.first else { return nil }
        guard mismatches.count > 1 else { return first }
        return Mismatch(reason: first.reason, message: mismatches.map(\.message).joined(separator: "; "))
    }

    public struct Mismatch: Sendable, Equatable {
        /// `type_mismatch`, `required_missing`, `not_allowed`, `out_of_range`,
        /// `length`, `pattern_mismatch`, `format_mismatch`, `additional_property`, `item_count`.
        public var reason: String
        public var message: String
    }

    /// The property names and declared types of the top-level object, for
    /// typed sinks (PostgreSQL columns, Iceberg).
    public var topLevelProperties: [(name: String, types: [String])] {
        root.properties.map { ($0.name, $0.node.types?.names ?? []) }
    }
}

private final class Node: Sendable {
    typealias Mismatch = JSONSchema.Mismatch

    let types: TypeSet?
    let properties: [(name: String, node: Node)]
    let required: [String]
    let additional: Additional
    let items: Node?
    let minItems: Int?
    let maxItems: Int?
    let allowed: [Value]?
    let constant: Value?
    let minimum: Double?
    let maximum: Double?
    let exclusiveMinimum: Double?
    let exclusiveMaximum: Double?
    let minLength: Int?
    let maxLength: Int?
    let pattern: POSIXRegex?
    let format: Format?

    enum Additional: Sendable {
        case allowed, forbidden
        case schema(Node)
    }

    enum Format: String, Sendable {
        case dateTime = "date-time", date, uuid
    }

    static let keywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "format",
        "title", "description", "$schema", "$id", "$comment", "default", "examples",
    ]

    init(_ json: Value, path: String, budget: inout Int) throws(SpecError) {
        budget -= 1
        guard budget > 0 else { throw SpecError(path, "schema has more than 10000 subschemas") }
        guard case .object(let object) = json else { throw SpecError(path, "a schema must be an object") }
        func field(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
        for key in object.keys where !Self.keywords.contains(key) {
            throw SpecError(field(key), "unsupported JSON Schema keyword (supported: \(Self.keywords.sorted().joined(separator: ", ")))")
        }
        func number(_ key: String) throws(SpecError) -> Double? {
            guard let value = object[key] else { return nil }
            guard let number = value.numberValue, number.isFinite else { throw SpecError(field(key), "must be a number") }
            return number
        }
        func count(_ key: String) throws(SpecError) -> Int? {
            guard let value = object[key] else { return nil }
            guard let number = value.integerValue, number >= 0, number <= Int64(Int32.max) else {
                throw SpecError(field(key), "must be a non-negative integer")
            }
            return Int(number)
        }
        switch object["type"] {
        case nil: types = nil
        case .string(let name)?:
            guard let set = TypeSet(name) else { throw SpecError(field("type"), "unknown type '\(name)'") }
            types = set
        case .array(let names)?:
            var set = TypeSet(rawValue: 0)
            for (index, name) in names.enumerated() {
                guard let name = name.stringValue, let one = TypeSet(name) else {
                    throw SpecError(field("type") + "[\(index)]", "must be one of \(TypeSet.allNames.joined(separator: ", "))")
                }
                set.formUnion(one)
            }
            guard !names.isEmpty else { throw SpecError(field("type"), "must list at least one type") }
            types = set
        default:
            throw SpecError(field("type"), "must be a type name or a list of them")
        }
        var properties: [(String, Node)] = []
        if let value = object["properties"] {
            guard case .object(let members) = value else { throw SpecError(field("properties"), "must be an object") }
            for member in members.fields {
                properties.append((member.key, try Node(member.value, path: field("properties.\(member.key)"), budget: &budget)))
            }
        }
        self.properties = properties
        if let value = object["required"] {
            guard let names = value.arrayValue?.compactMap(\.stringValue), names.count == value.arrayValue?.count else {
                throw SpecError(field("required"), "must be an array of property names")
            }
            required = names
        } else {
            required = []
        }
        switch object["additionalProperties"] {
        case nil, .bool(true)?: additional = .allowed
        case .bool(false)?: additional = .forbidden
        case let schema?: additional = .schema(try Node(schema, path: field("additionalProperties"), budget: &budget))
        }
        items = try object["items"].map { (schema) throws(SpecError) in try Node(schema, path: field("items"), budget: &budget) }
        minItems = try count("minItems")
        maxItems = try count("maxItems")
        if let value = object["enum"] {
            guard let values = value.arrayValue, !values.isEmpty else { throw SpecError(field("enum"), "must be a non-empty array") }
            allowed = values
        } else {
            allowed = nil
        }
        constant = object["const"]
        minimum = try number("minimum")
        maximum = try number("maximum")
        exclusiveMinimum = try number("exclusiveMinimum")
        exclusiveMaximum = try number("exclusiveMaximum")
        minLength = try count("minLength")
        maxLength = try count("maxLength")
        if let value = object["pattern"] {
            guard let text = value.stringValue else { throw SpecError(field("pattern"), "must be a string") }
            do {
                pattern = try POSIXRegex(text)
            } catch {
                throw SpecError(field("pattern"), error.message)
            }
        } else {
            pattern = nil
        }
        if let value = object["format"] {
            guard let name = value.stringValue, let format = Format(rawValue: name) else {
                throw SpecError(field("format"), "supported formats: date-time, date, uuid")
            }
            self.format = format
        } else {
            format = nil
        }
    }

    func check(_ value: Value, at path: String, into mismatches: inout [Mismatch]) {
        guard mismatches.count < JSONSchema.maxErrors else { return }
        func fail(_ reason: String, _ message: String) {
            mismatches.append(Mismatch(reason: reason, message: path.isEmpty ? message : "\(path): \(message)"))
        }
        if let types, !types.matches(value) {
            fail("type_mismatch", "expected \(types.names.joined(separator: " or ")), got \(TypeSet.name(of: value))")
            return
        }
        if let allowed, !allowed.contains(where: { jsonEqual($0, value) }) {
            fail("not_allowed", "\(JSONWriter.string(value)) is not one of \(allowed.map(JSONWriter.string).joined(separator: ", "))")
        }
        if let constant, !jsonEqual(constant, value) {
            fail("not_allowed", "must be \(JSONWriter.string(constant))")
        }
        if let number = value.numberValue {
            if let minimum, number < minimum { fail("out_of_range", "\(number) is less than the minimum \(minimum)") }
            if let maximum, number > maximum { fail("out_of_range", "\(number) is greater than the maximum \(maximum)") }
            if let exclusiveMinimum, number <= exclusiveMinimum { fail("out_of_range", "\(number) must be greater than \(exclusiveMinimum)") }
            if let exclusiveMaximum, number >= exclusiveMaximum { fail("out_of_range", "\(number) must be less than \(exclusiveMaximum)") }
        }
        if case .string(let text) = value {
            if minLength != nil || maxLength != nil {
                let length = text.unicodeScalars.count
                if let minLength, length < minLength { fail("length", "shorter than \(minLength) characters") }
                if let maxLength, length > maxLength { fail("length", "longer than \(maxLength) characters") }
            }
            if let pattern, !pattern.matches(text) { fail("pattern_mismatch", "does not match \(pattern.source)") }
        }
        if let format, !Self.conforms(value, to: format) { fail("format_mismatch", "is not a valid \(format.rawValue)") }
        switch value {
        case .object(let object):
            for name in required where object[name] == nil {
                mismatches.append(Mismatch(reason: "required_missing", message: "\(path.isEmpty ? name : "\(path).\(name)"): is required"))
            }
            for field in object.fields {
                let childPath = path.isEmpty ? field.key : "\(path).\(field.key)"
                if let node = properties.first(where: { $0.name == field.key })?.node {
                    node.check(field.value, at: childPath, into: &mismatches)
                } else {
                    switch additional {
                    case .allowed: break
                    case .forbidden: mismatches.append(Mismatch(reason: "additional_property", message: "\(childPath): is not an allowed property"))
                    case .schema(let node): node.check(field.value, at: childPath, into: &mismatches)
                    }
                }
            }
        case .array(let elements):
            if let minItems, elements.count < minItems { fail("item_count", "has fewer than \(minItems) items") }
            if let maxItems, elements.count > maxItems { fail("item_count", "has more than \(maxItems) items") }
            if let items {
                for (index, element) in elements.enumerated() { items.check(element, at: "\(path)[\(index)]", into: &mismatches) }
            }
        default:
            break
        }
    }

    private static func conforms(_ value: Value, to format: Format) -> Bool {
        switch (format, value) {
        case (.dateTime, .timestamp), (.date, .date): return true
        case (.dateTime, .string(let text)):
            return text.utf8.count > 10 && CivilTime.parseTimestamp(text) != nil
        case (.date, .string(let text)):
            return text.utf8.count == 10 && CivilTime.parseTimestamp(text) != nil
        case (.uuid, .string(let text)):
            let utf8 = Array(text.utf8)
            guard utf8.count == 36 else { return false }
            return utf8.enumerated().allSatisfy { index, byte in
                [8, 13, 18, 23].contains(index) ? byte == UInt8(ascii: "-") : isHexDigit(byte)
            }
        default:
            // Formats only constrain strings.
            return value.stringValue == nil
        }
    }
}

private func isHexDigit(_ byte: UInt8) -> Bool {
    byte &- UInt8(ascii: "0") < 10 || (byte | 0x20) &- UInt8(ascii: "a") < 6
}

/// JSON equality: numbers by value (1 equals 1.0), objects by members regardless of order.
func jsonEqual(_ a: Value, _ b: Value) -> Bool {
    switch (a, b) {
    case (.object(let x), .object(let y)):
        return x.count == y.count && x.fields.allSatisfy { field in y[field.key].map { jsonEqual(field.value, $0) } ?? false }
    case (.array(let x), .array(let y)):
        return x.count == y.count && zip(x, y).allSatisfy(jsonEqual)
    default:
        if let x = a.numberValue, let y = b.numberValue, a.typeName == "number", b.typeName == "number" { return x == y }
        return JSONWriter.string(a) == JSONWriter.string(b)
    }
}

/// JSON Schema's type names as a set.
struct TypeSet: OptionSet, Sendable {
    let rawValue: UInt8
    static let null = TypeSet(rawValue: 1)
    static let boolean = TypeSet(rawValue: 2)
    static let integer = TypeSet(rawValue: 4)
    static let number = TypeSet(rawValue: 8)
    static let string = TypeSet(rawValue: 16)
    static let array = TypeSet(rawValue: 32)
    static let object = TypeSet(rawValue: 64)

    static let allNames = ["null", "boolean", "integer", "number", "string", "array", "object"]

    init(rawValue: UInt8) { self.rawValue = rawValue }

    init?(_ name: String) {
        guard let index = Self.allNames.firstIndex(of: name) else { return nil }
        self.init(rawValue: 1 << index)
    }

    var names: [String] {
        Self.allNames.enumerated().filter { rawValue & (1 << $0.offset) != 0 }.map(\.element)
    }

    func matches(_ value: Value) -> Bool {
        switch value {
        case .null: contains(.null)
        case .bool: contains(.boolean)
        case .int: contains(.integer) || contains(.number)
        case .float, .double: contains(.number) || (contains(.integer) && value.integerValue != nil)
        case .decimal: contains(.number) || contains(.string)
        case .string, .bytes, .date, .time, .timestamp: contains(.string)
        case .array: contains(.array)
        case .object: contains(.object)
        }
    }

    static func name(of value: Value) -> String {
        switch value {
        case .int: "integer"
        case .decimal: "number"
        default: value.typeName == "bytes" ? "string" : value.typeName
        }
    }
}

/// A POSIX extended regular expression (glibc's engine; `regexec` is safe
/// to call from several threads on one compiled expression).
public final class POSIXRegex: @unchecked Sendable {
    private var regex = regex_t()
    public let source: String

    public struct Failure: Error { public var message: String }

    public init(_ pattern: String) throws(Failure) {
        source = pattern
        guard pattern.utf8.count <= 1024, !pattern.utf8.contains(0) else {
            throw Failure(message: "pattern must be at most 1024 bytes, without NUL")
        }
        let status = regcomp(&regex, pattern, REG_EXTENDED | REG_NOSUB)
        guard status == 0 else {
            var buffer = [CChar](repeating: 0, count: 256)
            regerror(status, &regex, &buffer, buffer.count)
            let reason = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw Failure(message: "invalid regular expression: \(reason)")
        }
    }

    deinit { regfree(&regex) }

    public func matches(_ text: String) -> Bool {
        regexec(&regex, text, 0, nil, 0) == 0
    }
}
