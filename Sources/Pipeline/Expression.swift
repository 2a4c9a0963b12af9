import DataModel

/// Arithmetic over a record's fields, for `compute` transforms. A tiny,
/// fixed grammar, parsed once at registration and evaluated without `eval`:
///
///     expression := term (("+" | "-") term)*
///     term       := unary (("*" | "/" | "%") unary)*
///     unary      := ("-" | "+") unary | primary
///     primary    := number | field | function "(" expression ("," expression)* ")" | "(" expression ")"
///     field      := name ("." name | "[" digits "]")*      name := [A-Za-z_][A-Za-z0-9_]*
///     function   := abs | round | floor | ceil | min | max | coalesce
///
/// `price * quantity * (1 - coalesce(discount_applied, 0))`. Integers stay
/// integers under `+ - * %` (until they would overflow); `/` and the
/// rounding functions give doubles; `round(x, n)` rounds to n decimals. A
/// missing or non-numeric field is an error for the record, except inside
/// `coalesce`, which takes its first present argument.
public indirect enum Expression: Sendable, CustomStringConvertible {
    case number(Value)
    case field(FieldPath)
    case binary(Character, Expression, Expression)
    case negate(Expression)
    case call(Function, [Expression])

    public enum Function: String, Sendable, CaseIterable {
        case abs, round, floor, ceil, min, max, coalesce

        var arity: ClosedRange<Int> {
            switch self {
            case .abs, .floor, .ceil: 1...1
            case .round: 1...2
            case .min, .max, .coalesce: 2...16
            }
        }
    }

    public struct Failure: Error, Sendable, Equatable {
        public var message: String
    }

    public init(_ text: String) throws(SpecError) {
        guard text.utf8.count <= 1024 else { throw SpecError("", "longer than 1024 characters") }
        var parser = ExpressionParser(Array(text.utf8))
        do {
            self = try parser.parse()
        } catch {
            throw SpecError("", error.message)
        }
    }

    /// The value for one record.
    public func evaluate(_ record: Value) throws(Failure) -> Value {
        switch self {
        case .number(let value):
            return value
        case .field(let path):
            guard let value = record[path], !value.isNull else { throw Failure(message: "\(path) is missing") }
            guard value.numberValue != nil, value.typeName == "number" else {
                throw Failure(message: "\(path) is not a number (\(value.typeName))")
            }
            if case .decimal = value { return .double(value.numberValue!) }
            return value
        case .negate(let inner):
            let value = try inner.evaluate(record)
            if case .int(let int) = value, int != .min { return .int(-int) }
            return .double(-value.numberValue!)
        case .binary(let op, let left, let right):
            return try Self.apply(op, try left.evaluate(record), try right.evaluate(record))
        case .call(let function, let arguments):
            if function == .coalesce {
                for argument in arguments {
                    if let value = try? argument.evaluate(record) { return value }
                }
                throw Failure(message: "coalesce: every argument is missing")
            }
            var values: [Value] = []
            for argument in arguments { values.append(try argument.evaluate(record)) }
            let numbers = values.map { $0.numberValue! }
            switch function {
            case .abs:
                if case .int(let int) = values[0], int != .min { return .int(Swift.abs(int)) }
                return .double(Swift.abs(numbers[0]))
            case .floor: return .double(numbers[0].rounded(.down))
            case .ceil: return .double(numbers[0].rounded(.up))
            case .round:
                let places = numbers.count > 1 ? Swift.max(0, Swift.min(15, Int(numbers[1]))) : 0
                let scale = (0..<places).reduce(1.0) { value, _ in value * 10 }
                return .double((numbers[0] * scale).rounded(.toNearestOrAwayFromZero) / scale)
            case .min: return values[numbers.indices.min(by: { numbers[$0] < numbers[$1] })!]
            case .max: return values[numbers.indices.max(by: { numbers[$0] < numbers[$1] })!]
            case .coalesce: fatalError("handled above")
            }
        }
    }

    private static func apply(_ op: Character, _ left: Value, _ right: Value) throws(Failure) -> Value {
        if case .int(let a) = left, case .int(let b) = right {
            switch op {
            case "+":
                let (sum, overflow) = a.addingReportingOverflow(b)
                if !overflow { return .int(sum) }
            case "-":
                let (difference, overflow) = a.subtractingReportingOverflow(b)
                if !overflow { return .int(difference) }
            case "*":
                let (product, overflow) = a.multipliedReportingOverflow(by: b)
                if !overflow { return .int(product) }
            case "%":
                guard b != 0 else { throw Failure(message: "modulo by zero") }
                if b != -1 { return .int(a % b) }
            default: break
            }
        }
        let a = left.numberValue!
        let b = right.numberValue!
        let result: Double = switch op {
        case "+": a + b
        case "-": a - b
        case "*": a * b
        case "/": a / b
        default: a.truncatingRemainder(dividingBy: b)
        }
        guard result.isFinite else { throw Failure(message: "the result is not a finite number (division by zero?)") }
        return .double(result)
    }

    public var description: String {
        switch self {
        case .number(let value): JSONWriter.string(value)
        case .field(let path): path.description
        case .binary(let op, let left, let right): "(\(left) \(op) \(right))"
        case .negate(let inner): "-\(inner)"
        case .call(let function, let arguments): "\(function.rawValue)(\(arguments.map(\.description).joined(separator: ", ")))"
        }
    }
}

private struct ExpressionParser {
    let text: [UInt8]
    var index = 0
    var depth = 0

    init(_ text: [UInt8]) { self.text = text }

    struct Failure: Error { var message: String }

    private func fail(_ message: String) -> Failure { Failure(message: "\(message) at character \(index + 1)") }

    mutating func parse() throws(Failure) -> Expression {
        let expression = try sum()
        skipSpaces()
        guard index == text.count else { throw fail("unexpected '\(Character(UnicodeScalar(text[index])))'") }
        return expression
    }

    private mutating func skipSpaces() {
        while index < text.count, text[index] == 0x20 || text[index] == 0x09 { index += 1 }
    }

    private mutating func peek() -> UInt8? {
        skipSpaces()
        return index < text.count ? text[index] : nil
    }

    private mutating func sum() throws(Failure) -> Expression {
        var left = try product()
        while let next = peek(), next == UInt8(ascii: "+") || next == UInt8(ascii: "-") {
            index += 1
            left = .binary(Character(UnicodeScalar(next)), left, try product())
        }
        return left
    }

    private mutating func product() throws(Failure) -> Expression {
        var left = try unary()
        while let next = peek(), next == UInt8(ascii: "*") || next == UInt8(ascii: "/") || next == UInt8(ascii: "%") {
            index += 1
            left = .binary(Character(UnicodeScalar(next)), left, try unary())
        }
        return left
    }

    private mutating func unary() throws(Failure) -> Expression {
        depth += 1
        defer { depth -= 1 }
        guard depth < 64 else { throw fail("nested too deeply") }
        guard let next = peek() else { throw fail("expected a number, field or '('") }
        if next == UInt8(ascii: "-") {
            index += 1
            return .negate(try unary())
        }
        if next == UInt8(ascii: "+") {
            index += 1
            return try unary()
        }
        return try primary()
    }

    private mutating func primary() throws(Failure) -> Expression {
        guard let next = peek() else { throw fail("expected a number, field or '('") }
        if next == UInt8(ascii: "(") {
            index += 1
            let inner = try sum()
            guard peek() == UInt8(ascii: ")") else { throw fail("expected ')'") }
            index += 1
            return inner
        }
        if next &- UInt8(ascii: "0") < 10 || next == UInt8(ascii: ".") {
            let start = index
            while index < text.count, text[index] &- UInt8(ascii: "0") < 10 || text[index] == UInt8(ascii: ".")
                || text[index] | 0x20 == UInt8(ascii: "e")
                || ((text[index] == UInt8(ascii: "-") || text[index] == UInt8(ascii: "+")) && text[index - 1] | 0x20 == UInt8(ascii: "e"))
            {
                index += 1
            }
            let literal = String(decoding: text[start..<index], as: UTF8.self)
            if let int = Int64(literal) { return .number(.int(int)) }
            guard let double = Double(literal), double.isFinite else { throw fail("invalid number '\(literal)'") }
            return .number(.double(double))
        }
        guard Self.isNameStart(next) else { throw fail("unexpected '\(Character(UnicodeScalar(next)))'") }
        let start = index
        while index < text.count,
            Self.isNameStart(text[index]) || text[index] &- UInt8(ascii: "0") < 10 || text[index] == UInt8(ascii: ".")
                || text[index] == UInt8(ascii: "[") || text[index] == UInt8(ascii: "]")
        {
            index += 1
        }
        let name = String(decoding: text[start..<index], as: UTF8.self)
        if peek() == UInt8(ascii: "(") {
            guard let function = Expression.Function(rawValue: name) else {
                throw fail("unknown function '\(name)' (known: \(Expression.Function.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            index += 1
            var arguments = [try sum()]
            while peek() == UInt8(ascii: ",") {
                index += 1
                arguments.append(try sum())
            }
            guard peek() == UInt8(ascii: ")") else { throw fail("expected ',' or ')'") }
            index += 1
            guard function.arity.contains(arguments.count) else {
                throw fail("\(name) takes \(function.arity.lowerBound == function.arity.upperBound ? "\(function.arity.lowerBound)" : "\(function.arity.lowerBound)-\(function.arity.upperBound)") arguments")
            }
            return .call(function, arguments)
        }
        guard let path = FieldPath(name) else { throw fail("'\(name)' is not a field path") }
        return .field(path)
    }

    private static func isNameStart(_ byte: UInt8) -> Bool {
        (byte | 0x20) &- UInt8(ascii: "a") < 26 || byte == UInt8(ascii: "_")
    }
}
