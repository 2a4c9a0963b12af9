import DataModel
import Foundation

/// One step of `"transforms": [...]` (seed 002's transformations), applied in order:
///
/// | type | fields | does |
/// |---|---|---|
/// | `compute` | `field`, `expression` | sets `field` to an ``Expression`` over the record |
/// | `add_processing_time` | `field` | sets `field` to the time the record was processed (UTC) |
/// | `time_parts` | `field`, `hour_field` (`hour_of_day`), `day_of_week_field` (`day_of_week`) | hour 0-23 and ISO weekday 1 (Monday)-7 of a timestamp field, in UTC |
/// | `rename` | `from`, `to` | moves a field |
/// | `project` | `fields` | keeps only these fields |
/// | `drop` | `fields` | removes these fields |
/// | `filter` | `where` (a ``Predicate``) | drops records for which it does not hold (their offsets still advance) |
/// | `classify` | `field`, `cases: [{"when": predicate, "value": v}]`, `default` | sets `field` to the value of the first case that holds |
public enum TransformSpec: Sendable, Equatable {
    case compute(field: String, expression: String)
    case addProcessingTime(field: String)
    case timeParts(field: String, hourField: String, dayOfWeekField: String)
    case rename(from: String, to: String)
    case project(fields: [String])
    case drop(fields: [String])
    case filter(condition: Value)
    case classify(field: String, cases: [ClassifyCase], defaultValue: Value?)

    public struct ClassifyCase: Sendable, Equatable {
        public var when: Value
        public var value: Value

        public init(when: Value, value: Value) {
            self.when = when
            self.value = value
        }
    }

    public static let maxTransforms = 64
    public static let defaultHourField = "hour_of_day"
    public static let defaultDayOfWeekField = "day_of_week"
}

/// Runs a consumer's transforms on each record. A transform that cannot
/// apply (a missing operand, an unparseable timestamp) rejects the record
/// by the transforms' error policy; a filter drops it.
public final class TransformStage: RecordStage {
    public let stage = PipelineError.Stage.transform
    private let transforms: [Compiled]
    private let policy: RejectionPolicy

    private enum Compiled {
        case compute(FieldPath, Expression)
        case processingTime(FieldPath)
        case timeParts(source: FieldPath, hour: FieldPath, weekday: FieldPath)
        case rename(FieldPath, FieldPath)
        case project([FieldPath])
        case drop([FieldPath])
        case filter(Predicate)
        case classify(FieldPath, [(Predicate, Value)], Value?)
    }

    public init(_ specs: [TransformSpec], onError: RejectionPolicy) throws(SpecError) {
        guard specs.count <= TransformSpec.maxTransforms else {
            throw SpecError("", "at most \(TransformSpec.maxTransforms) transforms")
        }
        var compiled: [Compiled] = []
        for (index, spec) in specs.enumerated() {
            do {
                compiled.append(try Self.compile(spec))
            } catch {
                throw error.under("[\(index)]")
            }
        }
        transforms = compiled
        policy = onError
    }

    private static func path(_ text: String, _ field: String) throws(SpecError) -> FieldPath {
        guard let path = FieldPath(text) else { throw SpecError(field, "'\(text)' is not a field path (a.b[0].c)") }
        return path
    }

    private static func paths(_ texts: [String], _ field: String) throws(SpecError) -> [FieldPath] {
        guard !texts.isEmpty, texts.count <= 256 else { throw SpecError(field, "must list 1-256 fields") }
        var result: [FieldPath] = []
        for (index, text) in texts.enumerated() { result.append(try path(text, "\(field)[\(index)]")) }
        return result
    }

    private static func compile(_ spec: TransformSpec) throws(SpecError) -> Compiled {
        switch spec {
        case .compute(let field, let expression):
            do {
                return .compute(try path(field, "field"), try Expression(expression))
            } catch {
                throw error.field.isEmpty ? error.under("expression") : error
            }
        case .addProcessingTime(let field):
            return .processingTime(try path(field, "field"))
        case .timeParts(let field, let hour, let weekday):
            return .timeParts(source: try path(field, "field"), hour: try path(hour, "hour_field"), weekday: try path(weekday, "day_of_week_field"))
        case .rename(let from, let to):
            return .rename(try path(from, "from"), try path(to, "to"))
        case .project(let fields):
            return .project(try paths(fields, "fields"))
        case .drop(let fields):
            return .drop(try paths(fields, "fields"))
        case .filter(let condition):
            do {
                return .filter(try Predicate(condition))
            } catch {
                throw error.under("where")
            }
        case .classify(let field, let cases, let defaultValue):
            guard !cases.isEmpty, cases.count <= 256 else { throw SpecError("cases", "must list 1-256 cases") }
            var compiled: [(Predicate, Value)] = []
            for (index, item) in cases.enumerated() {
                do {
                    compiled.append((try Predicate(item.when), item.value))
                } catch {
                    throw error.under("cases[\(index)].when")
                }
            }
            return .classify(try path(field, "field"), compiled, defaultValue)
        }
    }

    public func process(_ record: inout Record) -> Disposition {
        let original: Value
        do {
            guard let tree = try record.structuredValue(), !tree.isNull else { return .keep }
            original = tree
        } catch {
            return policy.disposition(Rejection(stage: stage, reason: error.reason, message: error.message))
        }
        var value = original
        for (index, transform) in transforms.enumerated() {
            switch transform {
            case .compute(let target, let expression):
                do {
                    value.set(try expression.evaluate(value), at: target)
                } catch {
                    return reject("compute_failed", "transforms[\(index)] (compute \(target)): \(error.message)")
                }
            case .processingTime(let target):
                let micros = Int64((Date().timeIntervalSince1970 * 1e6).rounded(.down))
                value.set(.timestamp(micros, .milliseconds, utc: true), at: target)
            case .timeParts(let source, let hour, let weekday):
                guard let micros = Self.timestamp(value[source]) else {
                    return reject("time_parts_failed", "transforms[\(index)] (time_parts): \(source) is not a timestamp")
                }
                let (days, ofDay) = CivilTime.split(micros: micros)
                value.set(.int(ofDay / (3600 * CivilTime.microsPerSecond)), at: hour)
                value.set(.int(CivilTime.weekday(days: days) + 1), at: weekday)
            case .rename(let from, let to):
                if let moved = value.remove(at: from) { value.set(moved, at: to) }
            case .project(let keep):
                var projected = Value.object(.init())
                for path in keep {
                    if let field = value[path] { projected.set(field, at: path) }
                }
                value = projected
            case .drop(let paths):
                for path in paths { value.remove(at: path) }
            case .filter(let predicate):
                guard predicate.holds(for: value) else { return .drop(reason: "filtered") }
            case .classify(let target, let cases, let defaultValue):
                if let match = cases.first(where: { $0.0.holds(for: value) }) {
                    value.set(match.1, at: target)
                } else if let defaultValue {
                    value.set(defaultValue, at: target)
                }
            }
        }
        record.value = .structured(value)
        return .keep
    }

    private func reject(_ reason: String, _ message: String) -> Disposition {
        policy.disposition(Rejection(stage: stage, reason: reason, message: message))
    }

    /// Microseconds since the epoch of a timestamp field: ISO-8601 text, an
    /// Avro timestamp, or epoch milliseconds.
    static func timestamp(_ value: Value?) -> Int64? {
        switch value {
        case .timestamp(let micros, _, _)?: micros
        case .string(let text)?: CivilTime.parseTimestamp(text)
        case .date(let days)?: Int64(days) * CivilTime.microsPerDay
        case .int(let millis)?: millis.multipliedReportingOverflow(by: 1000).overflow ? nil : millis * 1000
        default: nil
        }
    }
}

// MARK: - JSON

extension TransformSpec: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, field, expression, from, to, fields, cases, `where`
        case hourField = "hour_field"
        case dayOfWeekField = "day_of_week_field"
        case defaultValue = "default"
    }

    enum Kind: String, CaseIterable {
        case compute
        case addProcessingTime = "add_processing_time"
        case timeParts = "time_parts"
        case rename, project, drop, filter, classify

        var keys: [CodingKeys] {
            switch self {
            case .compute: [.type, .field, .expression]
            case .addProcessingTime: [.type, .field]
            case .timeParts: [.type, .field, .hourField, .dayOfWeekField]
            case .rename: [.type, .from, .to]
            case .project, .drop: [.type, .fields]
            case .filter: [.type, .where]
            case .classify: [.type, .field, .cases, .defaultValue]
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decodeEnum(Kind.self, forKey: .type)
        // Each type has its own fields; anything else is a mistake worth naming.
        let all = try decoder.container(keyedBy: AnyCodingKey.self)
        for key in all.allKeys where !kind.keys.map(\.stringValue).contains(key.stringValue) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath + [key],
                debugDescription: "is not a field of a \(kind.rawValue) transform (fields: \(kind.keys.map(\.stringValue).joined(separator: ", ")))"))
        }
        switch kind {
        case .compute:
            self = .compute(field: try container.decode(String.self, forKey: .field), expression: try container.decode(String.self, forKey: .expression))
        case .addProcessingTime:
            self = .addProcessingTime(field: try container.decode(String.self, forKey: .field))
        case .timeParts:
            self = .timeParts(
                field: try container.decode(String.self, forKey: .field),
                hourField: try container.decodeUnlessAbsent(String.self, forKey: .hourField) ?? Self.defaultHourField,
                dayOfWeekField: try container.decodeUnlessAbsent(String.self, forKey: .dayOfWeekField) ?? Self.defaultDayOfWeekField)
        case .rename:
            self = .rename(from: try container.decode(String.self, forKey: .from), to: try container.decode(String.self, forKey: .to))
        case .project:
            self = .project(fields: try container.decode([String].self, forKey: .fields))
        case .drop:
            self = .drop(fields: try container.decode([String].self, forKey: .fields))
        case .filter:
            self = .filter(condition: try container.decode(Value.self, forKey: .where))
        case .classify:
            self = .classify(
                field: try container.decode(String.self, forKey: .field),
                cases: try container.decode([ClassifyCase].self, forKey: .cases),
                defaultValue: container.contains(.defaultValue) ? try container.decode(Value.self, forKey: .defaultValue) : nil)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .compute(let field, let expression):
            try container.encode(Kind.compute.rawValue, forKey: .type)
            try container.encode(field, forKey: .field)
            try container.encode(expression, forKey: .expression)
        case .addProcessingTime(let field):
            try container.encode(Kind.addProcessingTime.rawValue, forKey: .type)
            try container.encode(field, forKey: .field)
        case .timeParts(let field, let hour, let weekday):
            try container.encode(Kind.timeParts.rawValue, forKey: .type)
            try container.encode(field, forKey: .field)
            try container.encode(hour, forKey: .hourField)
            try container.encode(weekday, forKey: .dayOfWeekField)
        case .rename(let from, let to):
            try container.encode(Kind.rename.rawValue, forKey: .type)
            try container.encode(from, forKey: .from)
            try container.encode(to, forKey: .to)
        case .project(let fields):
            try container.encode(Kind.project.rawValue, forKey: .type)
            try container.encode(fields, forKey: .fields)
        case .drop(let fields):
            try container.encode(Kind.drop.rawValue, forKey: .type)
            try container.encode(fields, forKey: .fields)
        case .filter(let condition):
            try container.encode(Kind.filter.rawValue, forKey: .type)
            try container.encode(condition, forKey: .where)
        case .classify(let field, let cases, let defaultValue):
            try container.encode(Kind.classify.rawValue, forKey: .type)
            try container.encode(field, forKey: .field)
            try container.encode(cases, forKey: .cases)
            try container.encodeIfPresent(defaultValue, forKey: .defaultValue)
        }
    }
}

extension TransformSpec.ClassifyCase: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable { case when, value }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(when: try container.decode(Value.self, forKey: .when), value: try container.decode(Value.self, forKey: .value))
    }
}
