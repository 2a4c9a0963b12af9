import DataModel
import Foundation

/// `"quality": {"rules": [...], "on_violation": "flag" | "drop" | "dead_letter", "flag_field": "_quality"}`
///
/// Rules (seed 002's data-quality checks):
/// - `{"check": "not_null", "field": "symbol"}`: present and not null;
/// - `{"check": "range", "field": "price", "min": 0, "max": 1e6}`: a number within bounds (inclusive);
/// - `{"check": "freshness", "field": "timestamp", "max_age_s": 60}`: a timestamp no older than that
///   (ISO-8601 text, an Avro timestamp, or epoch time in `unit`: `milliseconds` (default), `seconds`, `microseconds`).
///
/// Every violation is counted per rule (`consumerd_quality_violations_total`). `flag` keeps the
/// record (and, with `flag_field`, lists the violated rules in that field); `drop` and
/// `dead_letter` turn it away.
public struct QualitySpec: Sendable, Equatable {
    public var rules: [Rule]
    public var onViolation: Policy
    public var flagField: String?

    public enum Policy: String, Sendable, Codable, CaseIterable {
        case flag, drop
        case deadLetter = "dead_letter"
    }

    public struct Rule: Sendable, Equatable {
        public enum Check: String, Sendable, Codable, CaseIterable {
            case notNull = "not_null", range, freshness
        }

        public enum Unit: String, Sendable, Codable, CaseIterable {
            case seconds, milliseconds, microseconds
        }

        public var check: Check
        public var field: String
        public var min: Double?
        public var max: Double?
        public var maxAgeSeconds: Double?
        public var unit: Unit?
        /// The metrics label; `<check>_<field>` by default.
        public var name: String?

        public init(check: Check, field: String, min: Double? = nil, max: Double? = nil, maxAgeSeconds: Double? = nil, unit: Unit? = nil, name: String? = nil) {
            self.check = check
            self.field = field
            self.min = min
            self.max = max
            self.maxAgeSeconds = maxAgeSeconds
            self.unit = unit
            self.name = name
        }

        public var label: String {
            name ?? "\(check.rawValue)_\(field.replacingOccurrences(of: ".", with: "_"))"
        }
    }

    public static let defaultPolicy = Policy.flag

    public init(rules: [Rule], onViolation: Policy = defaultPolicy, flagField: String? = nil) {
        self.rules = rules
        self.onViolation = onViolation
        self.flagField = flagField
    }

    public static let maxRules = 64
}

/// Applies the quality rules to each record.
public final class QualityStage: RecordStage {
    public let stage = PipelineError.Stage.quality
    private let rules: [(rule: QualitySpec.Rule, path: FieldPath)]
    private let policy: QualitySpec.Policy
    private let flagField: FieldPath?
    /// Violations per rule label, cumulative for this run.
    public private(set) var violations: [String: Int64] = [:]

    public init(_ spec: QualitySpec) throws(SpecError) {
        guard !spec.rules.isEmpty, spec.rules.count <= QualitySpec.maxRules else {
            throw SpecError("rules", "must list 1-\(QualitySpec.maxRules) rules")
        }
        var rules: [(QualitySpec.Rule, FieldPath)] = []
        var labels = Set<String>()
        for (index, rule) in spec.rules.enumerated() {
            let field = "rules[\(index)]"
            guard let path = FieldPath(rule.field) else { throw SpecError("\(field).field", "'\(rule.field)' is not a field path") }
            guard labels.insert(rule.label).inserted else { throw SpecError("\(field).name", "'\(rule.label)' names two rules") }
            guard rule.label.utf8.count <= 64 else { throw SpecError("\(field).name", "must be at most 64 bytes") }
            switch rule.check {
            case .notNull:
                if rule.min != nil || rule.max != nil || rule.maxAgeSeconds != nil { throw SpecError(field, "not_null takes only a field") }
            case .range:
                guard rule.min != nil || rule.max != nil else { throw SpecError(field, "range needs min, max or both") }
                if let min = rule.min, let max = rule.max, min > max { throw SpecError("\(field).min", "is greater than max") }
                if rule.maxAgeSeconds != nil { throw SpecError("\(field).max_age_s", "belongs to a freshness check") }
            case .freshness:
                guard let age = rule.maxAgeSeconds, age > 0, age.isFinite else { throw SpecError("\(field).max_age_s", "must be a positive number") }
                if rule.min != nil || rule.max != nil { throw SpecError(field, "freshness takes max_age_s, not min or max") }
            }
            rules.append((rule, path))
        }
        self.rules = rules
        self.policy = spec.onViolation
        if let flag = spec.flagField {
            guard let path = FieldPath(flag) else { throw SpecError("flag_field", "'\(flag)' is not a field path") }
            guard spec.onViolation == .flag else { throw SpecError("flag_field", "only applies with on_violation: flag") }
            flagField = path
        } else {
            flagField = nil
        }
    }

    public func process(_ record: inout Record) -> Disposition {
        guard let value = try? record.structuredValue(), !value.isNull else { return .keep }
        var violated: [String] = []
        var first: String?
        let now = Date().timeIntervalSince1970
        for (rule, path) in rules {
            let field = value[path]
            let problem: String? = switch rule.check {
            case .notNull:
                field.map { $0.isNull ? "\(path) is null" : nil } ?? "\(path) is missing"
            case .range:
                Self.rangeProblem(field, rule, path)
            case .freshness:
                Self.freshnessProblem(field, rule, path, now: now)
            }
            guard let problem else { continue }
            violations[rule.label, default: 0] += 1
            violated.append(rule.label)
            if first == nil { first = problem }
        }
        guard let first else { return .keep }
        switch policy {
        case .flag:
            if let flagField {
                var tree = value
                tree.set(.array(violated.map(Value.string)), at: flagField)
                record.value = .structured(tree)
            }
            return .keep
        case .drop:
            return .drop(reason: violated[0])
        case .deadLetter:
            return .deadLetter(Rejection(stage: stage, reason: violated[0], message: first))
        }
    }

    private static func rangeProblem(_ field: Value?, _ rule: QualitySpec.Rule, _ path: FieldPath) -> String? {
        guard let field, let number = field.numberValue, field.typeName == "number" else {
            return "\(path) is not a number"
        }
        if let min = rule.min, number < min { return "\(path) = \(number) is below \(min)" }
        if let max = rule.max, number > max { return "\(path) = \(number) is above \(max)" }
        return nil
    }

    private static func freshnessProblem(_ field: Value?, _ rule: QualitySpec.Rule, _ path: FieldPath, now: Double) -> String? {
        let seconds: Double?
        switch field {
        case .timestamp(let micros, _, _)?: seconds = Double(micros) / 1e6
        case .string(let text)?: seconds = CivilTime.parseTimestamp(text).map { Double($0) / 1e6 }
        case let number? where number.typeName == "number":
            let raw = number.numberValue ?? 0
            switch rule.unit ?? .milliseconds {
            case .seconds: seconds = raw
            case .milliseconds: seconds = raw / 1e3
            case .microseconds: seconds = raw / 1e6
            }
        default: seconds = nil
        }
        guard let seconds else { return "\(path) is not a timestamp" }
        let age = now - seconds
        guard let maxAge = rule.maxAgeSeconds, age > maxAge else { return nil }
        return "\(path) is \(Int(age))s old (max \(Int(maxAge))s)"
    }
}

// MARK: - JSON

extension QualitySpec: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case rules
        case onViolation = "on_violation"
        case flagField = "flag_field"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            rules: try container.decode([Rule].self, forKey: .rules),
            onViolation: try container.decodeEnumIfPresent(Policy.self, forKey: .onViolation) ?? Self.defaultPolicy,
            flagField: try container.decodeUnlessAbsent(String.self, forKey: .flagField))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rules, forKey: .rules)
        try container.encode(onViolation, forKey: .onViolation)
        try container.encodeIfPresent(flagField, forKey: .flagField)
    }
}

extension QualitySpec.Rule: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case check, field, min, max, unit, name
        case maxAgeSeconds = "max_age_s"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            check: try container.decodeEnum(Check.self, forKey: .check),
            field: try container.decode(String.self, forKey: .field),
            min: try container.decodeUnlessAbsent(Double.self, forKey: .min),
            max: try container.decodeUnlessAbsent(Double.self, forKey: .max),
            maxAgeSeconds: try container.decodeUnlessAbsent(Double.self, forKey: .maxAgeSeconds),
            unit: try container.decodeEnumIfPresent(Unit.self, forKey: .unit),
            name: try container.decodeUnlessAbsent(String.self, forKey: .name))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(check, forKey: .check)
        try container.encode(field, forKey: .field)
        try container.encodeIfPresent(min, forKey: .min)
        try container.encodeIfPresent(max, forKey: .max)
        try container.encodeIfPresent(maxAgeSeconds, forKey: .maxAgeSeconds)
        try container.encodeIfPresent(unit, forKey: .unit)
        try container.encodeIfPresent(name, forKey: .name)
    }
}
