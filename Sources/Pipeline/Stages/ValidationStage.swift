import DataModel

/// `"validation": {"schema": {...JSON Schema subset...}, "on_invalid": "dead_letter" | "drop" | "fail"}`
public struct ValidationSpec: Sendable, Equatable {
    public var schema: Value
    /// `nil`: dead-letter when the consumer has a dead-letter topic, else fail.
    public var onInvalid: RejectionPolicy?

    public init(schema: Value, onInvalid: RejectionPolicy? = nil) {
        self.schema = schema
        self.onInvalid = onInvalid
    }
}

/// Checks every record against the consumer's expected schema; a mismatch
/// names the field (`legs[0].qty: expected number, got string`).
public final class ValidationStage: RecordStage {
    public let stage = PipelineError.Stage.validation
    let schema: JSONSchema
    let policy: RejectionPolicy

    public init(_ spec: ValidationSpec, defaultPolicy: RejectionPolicy) throws(SpecError) {
        do {
            schema = try JSONSchema(spec.schema)
        } catch {
            throw error.under("schema")
        }
        policy = spec.onInvalid ?? defaultPolicy
    }

    public func process(_ record: inout Record) -> Disposition {
        let value: Value
        do {
            guard let tree = try record.structuredValue() else { return .keep }
            value = tree
        } catch {
            return policy.disposition(Rejection(stage: stage, reason: error.reason, message: error.message))
        }
        guard let mismatch = schema.validate(value) else { return .keep }
        return policy.disposition(Rejection(stage: stage, reason: mismatch.reason, message: mismatch.message))
    }
}

extension ValidationSpec: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case schema
        case onInvalid = "on_invalid"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            schema: try container.decode(Value.self, forKey: .schema),
            onInvalid: try container.decodeEnumIfPresent(RejectionPolicy.self, forKey: .onInvalid))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(schema, forKey: .schema)
        try container.encodeIfPresent(onInvalid, forKey: .onInvalid)
    }
}
