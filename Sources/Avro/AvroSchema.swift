import DataModel

/// An Avro schema as Swift reads it: the types, names, defaults and logical
/// types. avro-c 1.11 decodes the bytes but knows no logical types, no
/// defaults and maps enums by position, so everything that gives the bytes
/// meaning is taken from here (see ``AvroDecoder``).
public struct AvroSchema: Sendable {
    /// One reference, however much the schema holds: every Avro record's
    /// datum carries its writer schema, and copying four references
    /// (retained and released per record on both threads) was about 2.5 %
    /// of an Avro drain's CPU.
    private final class Storage: Sendable {
        let root: AvroType
        let namedTypes: [String: AvroType]
        let text: String
        let program: AvroProgram

        init(root: AvroType, namedTypes: [String: AvroType], text: String) {
            self.root = root
            self.namedTypes = namedTypes
            self.text = text
            program = AvroProgram(root: root, namedTypes: namedTypes)
        }
    }

    private let storage: Storage

    public var root: AvroType { storage.root }
    /// Records, enums and fixed types by full name; ``AvroType/reference(_:)`` points here.
    public var namedTypes: [String: AvroType] { storage.namedTypes }
    /// The schema text as given, for avro-c and for the Schema Registry.
    public var text: String { storage.text }
    /// The schema as ``AvroDatumWalker`` reads it.
    var program: AvroProgram { storage.program }

    /// Longest schema accepted: registry responses and specs are untrusted.
    public static let maxTextBytes = 1 << 20

    /// Parses and checks a schema. avro-c must accept it too.
    public init(text: String) throws(AvroError) {
        guard text.utf8.count <= Self.maxTextBytes else { throw AvroError(.schema, "schema larger than \(Self.maxTextBytes) bytes") }
        let json: Value
        do {
            json = try JSONParser.parse(Array(text.utf8))
        } catch {
            throw AvroError(.schema, "schema is not JSON: \(error)")
        }
        try self.init(json: json, text: text)
    }

    /// Parses a schema given as JSON (a spec's `writer_schema`).
    public init(json: Value) throws(AvroError) {
        try self.init(json: json, text: JSONWriter.string(json))
    }

    private init(json: Value, text: String) throws(AvroError) {
        var parser = SchemaParser()
        let root = try parser.parse(json, namespace: nil)
        storage = Storage(root: root, namedTypes: parser.named, text: text)
        try AvroCSchema.check(canonicalText)
    }

    /// Avro's Parsing Canonical Form: full names, no docs, defaults, aliases
    /// or logical types. This is what avro-c gets: it needs nothing else,
    /// and its JSON parser refuses some valid defaults (a `\u0000` in a
    /// bytes default).
    public var canonicalText: String {
        var out: [UInt8] = []
        var defined = Set<String>()
        Self.appendCanonical(root, to: &out, defined: &defined)
        return String(decoding: out, as: UTF8.self)
    }

    private static func appendCanonical(_ type: AvroType, to out: inout [UInt8], defined: inout Set<String>) {
        func name(_ fullName: String) -> Bool {
            // A named type is spelled out once, then referred to by name.
            guard defined.insert(fullName).inserted else {
                JSONWriter.appendString(fullName, to: &out)
                return false
            }
            return true
        }
        func text(_ string: String) { out.append(contentsOf: string.utf8) }
        switch type {
        case .record(let record):
            guard name(record.fullName) else { return }
            text(#"{"name":"#)
            JSONWriter.appendString(record.fullName, to: &out)
            text(#","type":"record","fields":["#)
            for (index, field) in record.fields.enumerated() {
                if index > 0 { text(",") }
                text(#"{"name":"#)
                JSONWriter.appendString(field.name, to: &out)
                text(#","type":"#)
                appendCanonical(field.type, to: &out, defined: &defined)
                text("}")
            }
            text("]}")
        case .enumeration(let enumeration):
            guard name(enumeration.fullName) else { return }
            text(#"{"name":"#)
            JSONWriter.appendString(enumeration.fullName, to: &out)
            text(#","type":"enum","symbols":["#)
            text(enumeration.symbols.map { "\"\($0)\"" }.joined(separator: ","))
            text("]}")
        case .fixed(let fixed):
            guard name(fixed.fullName) else { return }
            text(#"{"name":"#)
            JSONWriter.appendString(fixed.fullName, to: &out)
            text(#","type":"fixed","size":\#(fixed.size)}"#)
        case .array(let items):
            text(#"{"type":"array","items":"#)
            appendCanonical(items, to: &out, defined: &defined)
            text("}")
        case .map(let values):
            text(#"{"type":"map","values":"#)
            appendCanonical(values, to: &out, defined: &defined)
            text("}")
        case .union(let branches):
            text("[")
            for (index, branch) in branches.enumerated() {
                if index > 0 { text(",") }
                appendCanonical(branch, to: &out, defined: &defined)
            }
            text("]")
        case .reference(let fullName):
            JSONWriter.appendString(fullName, to: &out)
        default:
            JSONWriter.appendString(type.branchName, to: &out)
        }
    }

    /// Follows a reference to its definition.
    public func resolve(_ type: AvroType) -> AvroType {
        if case .reference(let name) = type, let defined = namedTypes[name] { return defined }
        return type
    }
}

/// One Avro type. Named types appear in full where first defined and as
/// `.reference` after that, which is how recursive schemas stay finite.
public indirect enum AvroType: Sendable, Equatable {
    case null
    case boolean
    case int(IntLogical?)
    case long(LongLogical?)
    case float
    case double
    case bytes(decimal: DecimalType?)
    case string(uuid: Bool)
    case record(Record)
    case enumeration(Enumeration)
    case array(AvroType)
    case map(AvroType)
    case fixed(Fixed)
    case union([AvroType])
    case reference(String)

    public enum IntLogical: Sendable, Equatable { case date, timeMillis }
    public enum LongLogical: Sendable, Equatable {
        case timeMicros, timestampMillis, timestampMicros, localTimestampMillis, localTimestampMicros
    }

    public struct DecimalType: Sendable, Equatable {
        public var precision: Int
        public var scale: Int
    }

    public struct Record: Sendable, Equatable {
        public var fullName: String
        public var aliases: [String]
        public var fields: [Field]

        public struct Field: Sendable, Equatable {
            public var name: String
            public var type: AvroType
            /// The default as written in the schema (JSON), if any.
            public var defaultValue: Value?
            public var aliases: [String]
        }
    }

    public struct Enumeration: Sendable, Equatable {
        public var fullName: String
        public var aliases: [String]
        public var symbols: [String]
        public var defaultSymbol: String?
    }

    public struct Fixed: Sendable, Equatable {
        public var fullName: String
        public var aliases: [String]
        public var size: Int
        public var decimal: DecimalType?
    }

    /// The name a union branch is known by (`int`, `com.acme.Trade`).
    public var branchName: String {
        switch self {
        case .null: "null"
        case .boolean: "boolean"
        case .int: "int"
        case .long: "long"
        case .float: "float"
        case .double: "double"
        case .bytes: "bytes"
        case .string: "string"
        case .record(let record): record.fullName
        case .enumeration(let enumeration): enumeration.fullName
        case .array: "array"
        case .map: "map"
        case .fixed(let fixed): fixed.fullName
        case .union: "union"
        case .reference(let name): name
        }
    }
}

/// `a.b.C` → `C`.
func unqualified(_ name: String) -> String {
    name.split(separator: ".").last.map(String.init) ?? name
}

private struct SchemaParser {
    var named: [String: AvroType] = [:]
    private var depth = 0

    static let primitives = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]

    mutating func parse(_ json: Value, namespace: String?) throws(AvroError) -> AvroType {
        depth += 1
        defer { depth -= 1 }
        guard depth <= 64 else { throw AvroError(.schema, "schema nested deeper than 64 levels") }
        switch json {
        case .string(let name):
            return try reference(name, namespace: namespace)
        case .array(let branches):
            var types: [AvroType] = []
            var seen = Set<String>()
            for branch in branches {
                let type = try parse(branch, namespace: namespace)
                if case .union = type { throw AvroError(.schema, "a union may not directly contain a union") }
                guard seen.insert(type.branchName).inserted else {
                    throw AvroError(.schema, "union lists '\(type.branchName)' twice")
                }
                types.append(type)
            }
            return .union(types)
        case .object(let object):
            return try parseObject(object, namespace: namespace)
        default:
            throw AvroError(.schema, "a schema is a type name, an object or a union array, not \(json.typeName)")
        }
    }

    private func reference(_ name: String, namespace: String?) throws(AvroError) -> AvroType {
        if Self.primitives.contains(name) { return primitive(name) }
        for candidate in [qualify(name, namespace), name] where named[candidate] != nil {
            return .reference(candidate)
        }
        throw AvroError(.schema, "unknown type '\(name)'")
    }

    private func primitive(_ name: String) -> AvroType {
        switch name {
        case "null": .null
        case "boolean": .boolean
        case "int": .int(nil)
        case "long": .long(nil)
        case "float": .float
        case "double": .double
        case "bytes": .bytes(decimal: nil)
        default: .string(uuid: false)
        }
    }

    private mutating func parseObject(_ object: Value.Object, namespace: String?) throws(AvroError) -> AvroType {
        guard let typeValue = object["type"] else { throw AvroError(.schema, "a schema object needs a 'type'") }
        guard case .string(let type) = typeValue else { return try parse(typeValue, namespace: namespace) }
        let logical = object["logicalType"]?.stringValue
        switch type {
        case "int":
            switch logical {
            case "date": return .int(.date)
            case "time-millis": return .int(.timeMillis)
            default: return .int(nil)
            }
        case "long":
            switch logical {
            case "time-micros": return .long(.timeMicros)
            case "timestamp-millis": return .long(.timestampMillis)
            case "timestamp-micros": return .long(.timestampMicros)
            case "local-timestamp-millis": return .long(.localTimestampMillis)
            case "local-timestamp-micros": return .long(.localTimestampMicros)
            default: return .long(nil)
            }
        case "bytes":
            return .bytes(decimal: logical == "decimal" ? decimal(object, maxPrecision: nil) : nil)
        case "string":
            return .string(uuid: logical == "uuid")
        case "null", "boolean", "float", "double":
            return primitive(type)
        case "array":
            guard let items = object["items"] else { throw AvroError(.schema, "an array needs 'items'") }
            return .array(try parse(items, namespace: namespace))
        case "map":
            guard let values = object["values"] else { throw AvroError(.schema, "a map needs 'values'") }
            return .map(try parse(values, namespace: namespace))
        case "record", "error":
            return try parseRecord(object, namespace: namespace)
        case "enum":
            let (fullName, aliases, _) = try define(object, namespace: namespace)
            guard let symbols = object["symbols"]?.arrayValue?.compactMap(\.stringValue),
                symbols.count == object["symbols"]?.arrayValue?.count, !symbols.isEmpty
            else { throw AvroError(.schema, "enum '\(fullName)' needs a non-empty 'symbols' array of strings") }
            guard Set(symbols).count == symbols.count else { throw AvroError(.schema, "enum '\(fullName)' repeats a symbol") }
            for symbol in symbols where !Self.isValidName(symbol) {
                throw AvroError(.schema, "enum '\(fullName)': '\(symbol)' is not a valid symbol")
            }
            let defaultSymbol = object["default"]?.stringValue
            if let defaultSymbol, !symbols.contains(defaultSymbol) {
                throw AvroError(.schema, "enum '\(fullName)': default '\(defaultSymbol)' is not a symbol")
            }
            let type = AvroType.enumeration(.init(fullName: fullName, aliases: aliases, symbols: symbols, defaultSymbol: defaultSymbol))
            named[fullName] = type
            return type
        case "fixed":
            let (fullName, aliases, _) = try define(object, namespace: namespace)
            guard let size = object["size"]?.integerValue, (0...(1 << 20)).contains(size) else {
                throw AvroError(.schema, "fixed '\(fullName)' needs a 'size' between 0 and 1048576")
            }
            let maxPrecision = size > 0 ? Int((Double(8 * size - 1) * 0.30103).rounded(.down)) : 0
            let decimal = logical == "decimal" ? decimal(object, maxPrecision: maxPrecision) : nil
            let type = AvroType.fixed(.init(fullName: fullName, aliases: aliases, size: Int(size), decimal: decimal))
            named[fullName] = type
            return type
        default:
            return try reference(type, namespace: namespace)
        }
    }

    private mutating func parseRecord(_ object: Value.Object, namespace: String?) throws(AvroError) -> AvroType {
        let (fullName, aliases, recordNamespace) = try define(object, namespace: namespace)
        guard let fieldValues = object["fields"]?.arrayValue else {
            throw AvroError(.schema, "record '\(fullName)' needs a 'fields' array")
        }
        // Registered before its fields, so that fields may refer to the record.
        named[fullName] = .record(.init(fullName: fullName, aliases: aliases, fields: []))
        var fields: [AvroType.Record.Field] = []
        var seen = Set<String>()
        for fieldValue in fieldValues {
            guard let field = fieldValue.objectValue, let name = field["name"]?.stringValue, Self.isValidName(name) else {
                throw AvroError(.schema, "record '\(fullName)': every field needs a valid 'name'")
            }
            guard seen.insert(name).inserted else { throw AvroError(.schema, "record '\(fullName)' has two fields named '\(name)'") }
            guard let typeValue = field["type"] else { throw AvroError(.schema, "field '\(fullName).\(name)' needs a 'type'") }
            let type = try parse(typeValue, namespace: recordNamespace)
            let fieldAliases = field["aliases"]?.arrayValue?.compactMap(\.stringValue) ?? []
            fields.append(.init(name: name, type: type, defaultValue: field["default"], aliases: fieldAliases))
        }
        let type = AvroType.record(.init(fullName: fullName, aliases: aliases, fields: fields))
        named[fullName] = type
        return type
    }

    /// Validates a named type's name and namespace; returns its full name,
    /// aliases (qualified) and the namespace its members inherit.
    private func define(_ object: Value.Object, namespace: String?) throws(AvroError) -> (String, [String], String?) {
        guard let name = object["name"]?.stringValue, !name.isEmpty else {
            throw AvroError(.schema, "a named type needs a 'name'")
        }
        let explicitNamespace = object["namespace"]?.stringValue
        let fullName = name.contains(".") ? name : qualify(name, explicitNamespace ?? namespace)
        for part in fullName.split(separator: ".", omittingEmptySubsequences: false) where !Self.isValidName(String(part)) {
            throw AvroError(.schema, "'\(fullName)' is not a valid Avro name")
        }
        guard named[fullName] == nil, !Self.primitives.contains(fullName) else {
            throw AvroError(.schema, "'\(fullName)' is defined twice")
        }
        let ownNamespace = fullName.contains(".") ? String(fullName[..<fullName.lastIndex(of: ".")!]) : nil
        let aliases = (object["aliases"]?.arrayValue?.compactMap(\.stringValue) ?? []).map { $0.contains(".") ? $0 : qualify($0, ownNamespace) }
        return (fullName, aliases, ownNamespace)
    }

    /// A `decimal` logical type, or `nil` when its parameters are invalid
    /// (the spec says to ignore an invalid logical type).
    private func decimal(_ object: Value.Object, maxPrecision: Int?) -> AvroType.DecimalType? {
        guard let precision = object["precision"]?.integerValue, precision > 0 else { return nil }
        let scale = object["scale"]?.integerValue ?? 0
        guard scale >= 0, scale <= precision else { return nil }
        if let maxPrecision, precision > maxPrecision { return nil }
        return .init(precision: Int(precision), scale: Int(scale))
    }

    private func qualify(_ name: String, _ namespace: String?) -> String {
        guard let namespace, !namespace.isEmpty, !name.contains(".") else { return name }
        return "\(namespace).\(name)"
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || first.isLetter else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || $0.isLetter || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }
}

extension UInt8 {
    fileprivate var isLetter: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
    }
}
