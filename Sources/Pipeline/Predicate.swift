import DataModel

/// A condition on a record's fields, for `filter` and `classify`:
///
///     {"field": "price", "op": ">", "value": 0}
///     {"all": [{...}, {...}]}   {"any": [{...}, {...}]}   {"not": {...}}
///
/// Operators: `==` `!=` `>` `>=` `<` `<=` (numbers by value, strings in
/// order), `in` / `not_in` (a list), `exists` / `not_exists`, `contains`,
/// `starts_with`, `ends_with` (strings), `matches` (POSIX extended regex).
/// A missing or null field fails every comparison (as NULL does in SQL);
/// only `not_exists` holds for it.
public indirect enum Predicate: Sendable {
    case compare(FieldPath, Operator, Value)
    case among(FieldPath, [Value], negated: Bool)
    case exists(FieldPath, negated: Bool)
    case text(FieldPath, TextOperator, String)
    case matches(FieldPath, POSIXRegex)
    case all([Predicate])
    case any([Predicate])
    case not(Predicate)

    public enum Operator: String, Sendable, CaseIterable {
        case equal = "==", notEqual = "!=", greater = ">", greaterOrEqual = ">=", less = "<", lessOrEqual = "<="
    }

    public enum TextOperator: String, Sendable {
        case contains, startsWith = "starts_with", endsWith = "ends_with"
    }

    static let operatorNames = Operator.allCases.map(\.rawValue)
        + ["in", "not_in", "exists", "not_exists", "contains", "starts_with", "ends_with", "matches"]

    /// Parses a predicate; errors name the field inside `json` (`where.all[1].op`).
    public init(_ json: Value, depth: Int = 0) throws(SpecError) {
        guard depth < 16 else { throw SpecError("", "conditions nested deeper than 16") }
        guard case .object(let object) = json else { throw SpecError("", "a condition must be an object") }
        if let list = object["all"] ?? object["any"] {
            let key = object["all"] != nil ? "all" : "any"
            guard object.count == 1, let items = list.arrayValue, !items.isEmpty else {
                throw SpecError(key, "must be the only key, with a non-empty list of conditions")
            }
            var parts: [Predicate] = []
            for (index, item) in items.enumerated() {
                do {
                    parts.append(try Predicate(item, depth: depth + 1))
                } catch {
                    throw error.under("\(key)[\(index)]")
                }
            }
            self = key == "all" ? .all(parts) : .any(parts)
            return
        }
        if let inner = object["not"] {
            guard object.count == 1 else { throw SpecError("not", "must be the only key") }
            do {
                self = .not(try Predicate(inner, depth: depth + 1))
            } catch {
                throw error.under("not")
            }
            return
        }
        for key in object.keys where !["field", "op", "value"].contains(key) {
            throw SpecError(key, "is not a condition field (field, op, value; or all, any, not)")
        }
        guard let text = object["field"]?.stringValue else { throw SpecError("field", "is required") }
        guard let path = FieldPath(text) else { throw SpecError("field", "'\(text)' is not a field path (a.b[0].c)") }
        guard let op = object["op"]?.stringValue, Self.operatorNames.contains(op) else {
            throw SpecError("op", "must be one of \(Self.operatorNames.joined(separator: ", "))")
        }
        let value = object["value"]
        switch op {
        case "exists", "not_exists":
            guard value == nil else { throw SpecError("value", "\(op) takes no value") }
            self = .exists(path, negated: op == "not_exists")
        case "in", "not_in":
            guard let list = value?.arrayValue, !list.isEmpty else { throw SpecError("value", "\(op) needs a non-empty list") }
            self = .among(path, list, negated: op == "not_in")
        case "contains", "starts_with", "ends_with":
            guard let string = value?.stringValue else { throw SpecError("value", "\(op) needs a string") }
            self = .text(path, TextOperator(rawValue: op)!, string)
        case "matches":
            guard let pattern = value?.stringValue else { throw SpecError("value", "matches needs a regular expression") }
            do {
                self = .matches(path, try POSIXRegex(pattern))
            } catch {
                throw SpecError("value", error.message)
            }
        default:
            guard let value, value.objectValue == nil, value.arrayValue == nil else {
                throw SpecError("value", "\(op) needs a number, string, boolean or null")
            }
            self = .compare(path, Operator(rawValue: op)!, value)
        }
    }

    public func holds(for value: Value) -> Bool {
        switch self {
        case .all(let parts): return parts.allSatisfy { $0.holds(for: value) }
        case .any(let parts): return parts.contains { $0.holds(for: value) }
        case .not(let inner): return !inner.holds(for: value)
        case .exists(let path, let negated):
            let present = value[path].map { !$0.isNull } ?? false
            return present != negated
        case .among(let path, let list, let negated):
            guard let field = value[path], !field.isNull else { return false }
            return list.contains { jsonEqual($0, field) } != negated
        case .text(let path, let op, let operand):
            guard let field = value[path].flatMap(Self.text) else { return false }
            switch op {
            case .contains: return field.contains(operand)
            case .startsWith: return field.hasPrefix(operand)
            case .endsWith: return field.hasSuffix(operand)
            }
        case .matches(let path, let regex):
            guard let field = value[path].flatMap(Self.text) else { return false }
            return regex.matches(field)
        case .compare(let path, let op, let operand):
            guard let field = value[path], !field.isNull else { return false }
            if op == .equal { return jsonEqual(field, operand) }
            if op == .notEqual { return !jsonEqual(field, operand) }
            let order: Int
            if let x = field.numberValue, let y = operand.numberValue, field.typeName == "number", operand.typeName == "number" {
                order = x < y ? -1 : (x > y ? 1 : 0)
            } else if let x = Self.text(field), let y = Self.text(operand) {
                order = x < y ? -1 : (x > y ? 1 : 0)
            } else {
                return false
            }
            switch op {
            case .greater: return order > 0
            case .greaterOrEqual: return order >= 0
            case .less: return order < 0
            case .lessOrEqual: return order <= 0
            case .equal, .notEqual: return false
            }
        }
    }

    /// Strings, and values whose JSON form is a string (timestamps, dates), as text.
    private static func text(_ value: Value) -> String? {
        switch value {
        case .string(let text), .decimal(let text): return text
        case .date, .time, .timestamp:
            let json = JSONWriter.string(value)
            return String(json.dropFirst().dropLast())
        default: return nil
        }
    }
}
