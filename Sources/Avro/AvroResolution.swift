import DataModel

/// How a datum decoded with the writer's schema becomes a value of the
/// reader's schema (Avro's schema resolution), compiled once per pair.
///
/// avro-c 1.11's own resolver cannot be used: it refuses reader fields that
/// the writer lacks even when they have defaults, and it passes enum indexes
/// through instead of matching symbols. So avro-c decodes with the writer's
/// schema alone, and this plan maps the result: fields by name, defaults for
/// added fields, numeric promotion, enum symbols by name (or the reader's
/// default symbol), union branches, logical types of the reader.
indirect enum ReadPlan {
    case null
    case boolean
    case int(AvroType.IntLogical?)
    case long(from: NumberSource, AvroType.LongLogical?)
    case float(from: NumberSource)
    case double(from: NumberSource)
    case bytes(from: TextSource, decimal: AvroType.DecimalType?)
    case string(from: TextSource)
    case fixed(decimal: AvroType.DecimalType?)
    /// Writer symbol index → reader symbol; `nil` where the reader lacks the
    /// symbol and has no default.
    case enumeration(symbols: [String?], writerSymbols: [String])
    case array(ReadPlan)
    case map(ReadPlan)
    case record([FieldPlan])
    /// Per writer branch: its plan, or why no reader branch takes it.
    case writerUnion([Result<ReadPlan, AvroError>])
    /// A recursive type, resolved once the enclosing record's plan is built.
    case deferred(PlanBox)

    enum NumberSource { case int, long, float, double }
    enum TextSource { case bytes, string }

    enum FieldPlan {
        case read(writerIndex: Int, key: String, plan: ReadPlan)
        case constant(key: String, value: Value)
    }

    final class PlanBox {
        var plan: ReadPlan = .null
    }

    /// A plan and the boxes of its recursive types, whose cycles are broken on release.
    final class Compiled {
        let plan: ReadPlan
        private let boxes: [PlanBox]

        init(plan: ReadPlan, boxes: [PlanBox]) {
            self.plan = plan
            self.boxes = boxes
        }

        deinit {
            for box in boxes { box.plan = .null }
        }
    }
}

struct ReadPlanBuilder {
    let writer: AvroSchema
    let reader: AvroSchema
    /// Record pairs being resolved, so that recursive types terminate.
    private var inProgress: [String: ReadPlan.PlanBox] = [:]
    /// Every box of a recursive type: each holds a plan that refers back to
    /// it, a cycle that ``ReadPlan/Compiled`` breaks when it is released.
    private(set) var boxes: [ReadPlan.PlanBox] = []

    init(writer: AvroSchema, reader: AvroSchema) {
        self.writer = writer
        self.reader = reader
    }

    static func build(writer: AvroSchema, reader: AvroSchema) throws(AvroError) -> ReadPlan.Compiled {
        var builder = ReadPlanBuilder(writer: writer, reader: reader)
        let plan = try builder.resolve(writer.root, reader.root)
        return ReadPlan.Compiled(plan: plan, boxes: builder.boxes)
    }

    mutating func resolve(_ writerType: AvroType, _ readerType: AvroType) throws(AvroError) -> ReadPlan {
        if case .reference(let writerName) = writerType, case .reference(let readerName) = readerType,
            let box = inProgress["\(writerName)|\(readerName)"]
        {
            if !boxes.contains(where: { $0 === box }) { boxes.append(box) }
            return .deferred(box)
        }
        let w = writer.resolve(writerType)
        let r = reader.resolve(readerType)
        if case .union(let branches) = w {
            var plans: [Result<ReadPlan, AvroError>] = []
            for branch in branches {
                do throws(AvroError) {
                    plans.append(.success(try resolve(branch, readerType)))
                } catch {
                    plans.append(.failure(error))
                }
            }
            return .writerUnion(plans)
        }
        if case .union(let branches) = r {
            // The first reader branch of the same kind, else the first the
            // writer's type promotes to.
            let ordered = branches.filter { Self.sameKind(w, reader.resolve($0)) }
                + branches.filter { !Self.sameKind(w, reader.resolve($0)) }
            for branch in ordered {
                if let plan = try? resolve(writerType, branch) { return plan }
            }
            throw AvroError(.resolution, "no branch of the reader's union accepts the writer's \(w.branchName)")
        }
        switch (w, r) {
        case (.null, .null): return .null
        case (.boolean, .boolean): return .boolean
        case (.int, .int(let logical)): return .int(logical)
        case (.int, .long(let logical)): return .long(from: .int, logical)
        case (.long, .long(let logical)): return .long(from: .long, logical)
        case (.int, .float): return .float(from: .int)
        case (.long, .float): return .float(from: .long)
        case (.float, .float): return .float(from: .float)
        case (.int, .double): return .double(from: .int)
        case (.long, .double): return .double(from: .long)
        case (.float, .double): return .double(from: .float)
        case (.double, .double): return .double(from: .double)
        case (.bytes, .bytes(let decimal)): return .bytes(from: .bytes, decimal: decimal)
        case (.string, .bytes(let decimal)): return .bytes(from: .string, decimal: decimal)
        case (.string, .string): return .string(from: .string)
        case (.bytes, .string): return .string(from: .bytes)
        case (.fixed(let wf), .fixed(let rf)):
            guard Self.namesMatch(wf.fullName, rf.fullName, aliases: rf.aliases), wf.size == rf.size else {
                throw AvroError(.resolution, "fixed \(wf.fullName)(\(wf.size)) does not resolve to \(rf.fullName)(\(rf.size))")
            }
            return .fixed(decimal: rf.decimal)
        case (.enumeration(let we), .enumeration(let re)):
            guard Self.namesMatch(we.fullName, re.fullName, aliases: re.aliases) else {
                throw AvroError(.resolution, "enum \(we.fullName) does not resolve to \(re.fullName)")
            }
            let symbols = we.symbols.map { re.symbols.contains($0) ? $0 : re.defaultSymbol }
            return .enumeration(symbols: symbols, writerSymbols: we.symbols)
        case (.array(let wi), .array(let ri)):
            return .array(try resolve(wi, ri))
        case (.map(let wv), .map(let rv)):
            return .map(try resolve(wv, rv))
        case (.record(let wr), .record(let rr)):
            return try resolveRecord(wr, rr)
        default:
            throw AvroError(.resolution, "the writer's \(w.branchName) does not resolve to the reader's \(r.branchName)")
        }
    }

    private mutating func resolveRecord(_ w: AvroType.Record, _ r: AvroType.Record) throws(AvroError) -> ReadPlan {
        guard Self.namesMatch(w.fullName, r.fullName, aliases: r.aliases) else {
            throw AvroError(.resolution, "record \(w.fullName) does not resolve to \(r.fullName)")
        }
        let key = "\(w.fullName)|\(r.fullName)"
        let box = ReadPlan.PlanBox()
        inProgress[key] = box
        defer { inProgress[key] = nil }
        var fields: [ReadPlan.FieldPlan] = []
        for field in r.fields {
            let names = [field.name] + field.aliases
            if let index = w.fields.firstIndex(where: { names.contains($0.name) }) {
                do throws(AvroError) {
                    fields.append(.read(writerIndex: index, key: field.name, plan: try resolve(w.fields[index].type, field.type)))
                } catch {
                    throw AvroError(.resolution, "field \(r.fullName).\(field.name): \(error.message)")
                }
            } else if let defaultValue = field.defaultValue {
                fields.append(.constant(key: field.name, value: try AvroDefaults.value(defaultValue, as: field.type, in: reader)))
            } else {
                throw AvroError(.resolution, "field \(r.fullName).\(field.name) is not in the writer's schema and has no default")
            }
        }
        let plan = ReadPlan.record(fields)
        box.plan = plan
        return plan
    }

    /// Unqualified names match (Avro's rule since 1.8), or a reader alias names the writer.
    static func namesMatch(_ writer: String, _ reader: String, aliases: [String]) -> Bool {
        unqualified(writer) == unqualified(reader) || aliases.contains(writer) || aliases.map(unqualified).contains(unqualified(writer))
    }

    static func sameKind(_ a: AvroType, _ b: AvroType) -> Bool {
        switch (a, b) {
        case (.null, .null), (.boolean, .boolean), (.int, .int), (.long, .long), (.float, .float), (.double, .double),
            (.bytes, .bytes), (.string, .string), (.array, .array), (.map, .map):
            return true
        case (.record(let x), .record(let y)): return unqualified(x.fullName) == unqualified(y.fullName)
        case (.enumeration(let x), .enumeration(let y)): return unqualified(x.fullName) == unqualified(y.fullName)
        case (.fixed(let x), .fixed(let y)): return unqualified(x.fullName) == unqualified(y.fullName)
        default: return false
        }
    }
}

/// Schema defaults (JSON) as typed values, by the rules of the Avro spec:
/// a union's default is of its first branch; bytes and fixed defaults are
/// strings whose code points 0-255 are the bytes.
enum AvroDefaults {
    static func value(_ json: Value, as type: AvroType, in schema: AvroSchema) throws(AvroError) -> Value {
        let type = schema.resolve(type)
        func mismatch() -> AvroError {
            AvroError(.schema, "default \(JSONWriter.string(json)) does not fit \(type.branchName)")
        }
        switch (type, json) {
        case (.null, .null): return .null
        case (.boolean, .bool(let flag)): return .bool(flag)
        case (.int(let logical), _):
            guard let number = json.integerValue, let int = Int32(exactly: number) else { throw mismatch() }
            return AvroLogical.int(int, logical)
        case (.long(let logical), _):
            guard let number = json.integerValue else { throw mismatch() }
            return AvroLogical.long(number, logical)
        case (.float, _):
            guard let number = json.numberValue else { throw mismatch() }
            return .float(Float(number))
        case (.double, _):
            guard let number = json.numberValue else { throw mismatch() }
            return .double(number)
        case (.string, .string(let text)): return .string(text)
        case (.bytes(let decimal), .string(let text)):
            guard let bytes = codePointBytes(text) else { throw mismatch() }
            return AvroLogical.bytes(bytes, decimal)
        case (.fixed(let fixed), .string(let text)):
            guard let bytes = codePointBytes(text), bytes.count == fixed.size else { throw mismatch() }
            return AvroLogical.bytes(bytes, fixed.decimal)
        case (.enumeration(let enumeration), .string(let symbol)):
            guard enumeration.symbols.contains(symbol) else { throw mismatch() }
            return .string(symbol)
        case (.array(let items), .array(let elements)):
            var values: [Value] = []
            for element in elements { values.append(try value(element, as: items, in: schema)) }
            return .array(values)
        case (.map(let valueType), .object(let object)):
            var result = Value.Object()
            for field in object.fields { result.fields.append(.init(field.key, try value(field.value, as: valueType, in: schema))) }
            return .object(result)
        case (.record(let record), .object(let object)):
            var result = Value.Object()
            for field in record.fields {
                guard let given = object[field.name] ?? field.defaultValue else { throw mismatch() }
                result.fields.append(.init(field.name, try value(given, as: field.type, in: schema)))
            }
            return .object(result)
        case (.union(let branches), _):
            guard let first = branches.first else { throw mismatch() }
            return try value(json, as: first, in: schema)
        default:
            throw mismatch()
        }
    }

    private static func codePointBytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            guard scalar.value <= 0xFF else { return nil }
            bytes.append(UInt8(scalar.value))
        }
        return bytes
    }
}

/// Logical types as ``Value``s: the one place where Avro's numbers become
/// dates, times, timestamps and decimals. A time outside the day it counts
/// into is no time: like a logical type the spec calls invalid, it reads
/// as its underlying number.
enum AvroLogical {
    static func int(_ value: Int32, _ logical: AvroType.IntLogical?) -> Value {
        switch logical {
        case .date: .date(value)
        case .timeMillis: (0..<86_400_000).contains(value) ? .time(Int64(value) * 1000, .milliseconds) : .int(Int64(value))
        case nil: .int(Int64(value))
        }
    }

    static func long(_ value: Int64, _ logical: AvroType.LongLogical?) -> Value {
        switch logical {
        case .timeMicros: (0..<CivilTime.microsPerDay).contains(value) ? .time(value, .microseconds) : .int(value)
        // Millisecond timestamps beyond ±292,000 years would overflow microseconds.
        case .timestampMillis: .timestamp(value.multipliedReportingOverflow(by: 1000).partialValue, .milliseconds, utc: true)
        case .timestampMicros: .timestamp(value, .microseconds, utc: true)
        case .localTimestampMillis: .timestamp(value.multipliedReportingOverflow(by: 1000).partialValue, .milliseconds, utc: false)
        case .localTimestampMicros: .timestamp(value, .microseconds, utc: false)
        case nil: .int(value)
        }
    }

    static func bytes(_ bytes: [UInt8], _ decimal: AvroType.DecimalType?) -> Value {
        guard let decimal else { return .bytes(bytes) }
        return .decimal(DecimalText.fromTwosComplement(bytes, scale: decimal.scale))
    }
}

/// Exact decimal text from Avro's big-endian two's-complement unscaled integer.
public enum DecimalText {
    public static func fromTwosComplement(_ bytes: [UInt8], scale: Int) -> String {
        guard !bytes.isEmpty else { return scale > 0 ? "0." + String(repeating: "0", count: scale) : "0" }
        let negative = bytes[0] & 0x80 != 0
        // Magnitude: negate two's complement when negative.
        var magnitude = bytes
        if negative {
            var carry = true
            for i in stride(from: magnitude.count - 1, through: 0, by: -1) {
                magnitude[i] = ~magnitude[i]
                if carry {
                    let (sum, overflow) = magnitude[i].addingReportingOverflow(1)
                    magnitude[i] = sum
                    carry = overflow
                }
            }
        }
        // Long division of the base-256 magnitude by 10^9, nine digits at a
        // time. Each quotient digit is below 256 because the running
        // remainder is below 10^9.
        var digits: [UInt8] = []
        var number = magnitude.drop(while: { $0 == 0 }).map { UInt64($0) }
        while !number.isEmpty {
            var remainder: UInt64 = 0
            var quotient: [UInt64] = []
            quotient.reserveCapacity(number.count)
            for byte in number {
                let current = remainder << 8 | byte
                let digit = current / 1_000_000_000
                remainder = current % 1_000_000_000
                if !quotient.isEmpty || digit != 0 { quotient.append(digit) }
            }
            number = quotient
            var chunk = Array(String(remainder).utf8)
            if !number.isEmpty { chunk = Array(repeating: UInt8(ascii: "0"), count: 9 - chunk.count) + chunk }
            digits = chunk + digits
        }
        if digits.isEmpty { digits = [UInt8(ascii: "0")] }
        if scale > 0 {
            if digits.count <= scale {
                digits = Array(repeating: UInt8(ascii: "0"), count: scale - digits.count + 1) + digits
            }
            digits.insert(UInt8(ascii: "."), at: digits.count - scale)
        }
        return (negative ? "-" : "") + String(decoding: digits, as: UTF8.self)
    }
}
