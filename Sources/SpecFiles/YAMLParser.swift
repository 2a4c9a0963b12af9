import CYAML
import DataModel

/// Parses YAML (a stream of one or more documents) into ``Value``s with
/// libyaml, resolving plain scalars by YAML 1.2's core schema: `null`, `~`
/// and empty are null, `true`/`false` booleans, integers and floats numbers,
/// anything else (and every quoted scalar) a string.
///
/// Spec files are configuration, not data, so the parser is strict: aliases
/// are refused (no billion laughs), keys must be strings and unique, and
/// nesting and document size are bounded.
public enum YAMLParser {
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public var message: String
        /// 1-based.
        public var line: Int
        public var column: Int
        public var description: String { "line \(line), column \(column): \(message)" }
    }

    public static let maxDepth = 64

    public static func parseDocuments(_ text: String) throws(SyntaxError) -> [Value] {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw SyntaxError(message: "libyaml could not start", line: 0, column: 0) }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer throws(SyntaxError) -> [Value] in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var reader = EventReader(parser: &parser)
            return try reader.stream()
        }
    }

    private struct EventReader: ~Copyable {
        let parser: UnsafeMutablePointer<yaml_parser_t>

        init(parser: UnsafeMutablePointer<yaml_parser_t>) {
            self.parser = parser
        }

        /// The next event; the caller deletes it.
        mutating func next() throws(SyntaxError) -> yaml_event_t {
            var event = yaml_event_t()
            guard yaml_parser_parse(parser, &event) == 1 else {
                let mark = parser.pointee.problem_mark
                let problem = parser.pointee.problem.map { String(cString: $0) } ?? "invalid YAML"
                throw SyntaxError(message: problem, line: mark.line + 1, column: mark.column + 1)
            }
            return event
        }

        mutating func stream() throws(SyntaxError) -> [Value] {
            var documents: [Value] = []
            while true {
                var event = try next()
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return documents
                case YAML_DOCUMENT_START_EVENT:
                    var first = try next()
                    let value = try node(&first, depth: 0)
                    yaml_event_delete(&first)
                    var end = try next()
                    yaml_event_delete(&end)
                    documents.append(value)
                default:
                    continue
                }
            }
        }

        /// The node that starts with `event` (which the caller deletes).
        mutating func node(_ event: inout yaml_event_t, depth: Int) throws(SyntaxError) -> Value {
            let mark = event.start_mark
            func failure(_ message: String) -> SyntaxError {
                SyntaxError(message: message, line: mark.line + 1, column: mark.column + 1)
            }
            guard depth < YAMLParser.maxDepth else { throw failure("nested deeper than \(YAMLParser.maxDepth) levels") }
            switch event.type {
            case YAML_ALIAS_EVENT:
                throw failure("aliases (*name) are not supported in spec files")
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
                let tag = scalar.tag.map { String(cString: $0) }
                if scalar.plain_implicit == 1 && tag == nil { return YAMLParser.resolvePlain(text) }
                if tag == nil || tag == "tag:yaml.org,2002:str" || tag == "!" { return .string(text) }
                throw failure("tag \(tag ?? "") is not supported")
            case YAML_SEQUENCE_START_EVENT:
                var items: [Value] = []
                while true {
                    var item = try next()
                    defer { yaml_event_delete(&item) }
                    if item.type == YAML_SEQUENCE_END_EVENT { return .array(items) }
                    items.append(try node(&item, depth: depth + 1))
                }
            case YAML_MAPPING_START_EVENT:
                var object = Value.Object()
                while true {
                    var keyEvent = try next()
                    defer { yaml_event_delete(&keyEvent) }
                    if keyEvent.type == YAML_MAPPING_END_EVENT { return .object(object) }
                    guard case .string(let key) = try node(&keyEvent, depth: depth + 1).asKey else {
                        throw SyntaxError(message: "mapping keys must be strings", line: keyEvent.start_mark.line + 1, column: keyEvent.start_mark.column + 1)
                    }
                    if object[key] != nil {
                        throw SyntaxError(message: "duplicate key '\(key)'", line: keyEvent.start_mark.line + 1, column: keyEvent.start_mark.column + 1)
                    }
                    var valueEvent = try next()
                    defer { yaml_event_delete(&valueEvent) }
                    object[key] = try node(&valueEvent, depth: depth + 1)
                }
            default:
                throw failure("unexpected YAML event")
            }
        }
    }

    /// YAML 1.2 core schema for plain (unquoted) scalars.
    static func resolvePlain(_ text: String) -> Value {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .double(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .double(-.infinity)
        case ".nan", ".NaN", ".NAN": return .double(.nan)
        default: break
        }
        if text.wholeMatch(of: /[-+]?[0-9]+/) != nil, let int = Int64(text) { return .int(int) }
        if text.hasPrefix("0x"), let int = Int64(text.dropFirst(2), radix: 16) { return .int(int) }
        if text.hasPrefix("0o"), let int = Int64(text.dropFirst(2), radix: 8) { return .int(int) }
        if text.wholeMatch(of: /[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?/) != nil, let double = Double(text) {
            return .double(double)
        }
        return .string(text)
    }
}

private extension Value {
    /// Scalar keys as strings (`8080: x` has the key "8080").
    var asKey: Value {
        switch self {
        case .string: self
        case .int(let int): .string(String(int))
        case .bool(let bool): .string(String(bool))
        default: self
        }
    }
}
