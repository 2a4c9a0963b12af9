import DataModel
import Foundation

/// `"sequence": {"key_field": "symbol", "sequence_field": "sequence_number", "max_keys": 100000, "drop_duplicates": false}`
///
/// Seed 000's gap detection: per key, each record's sequence number should
/// be the previous one plus one. Never blocks: gaps, duplicates (the same
/// number again) and out-of-order records (a smaller number) are counted and
/// shown in the status; with `drop_duplicates` a repeated number is dropped.
/// Memory is bounded: past `max_keys`, the least recently seen keys are forgotten.
public struct SequenceSpec: Sendable, Equatable {
    public var keyField: String
    public var sequenceField: String
    public var maxKeys: Int
    public var dropDuplicates: Bool

    public static let maxKeysRange = 1...10_000_000
    public static let defaultMaxKeys = 100_000

    public init(keyField: String, sequenceField: String, maxKeys: Int = defaultMaxKeys, dropDuplicates: Bool = false) {
        self.keyField = keyField
        self.sequenceField = sequenceField
        self.maxKeys = maxKeys
        self.dropDuplicates = dropDuplicates
    }
}

/// What sequence tracking has seen in one run.
public struct SequenceStatistics: Sendable, Equatable {
    /// Times a number was skipped ahead.
    public var gaps: Int64 = 0
    /// Numbers skipped in total.
    public var missing: Int64 = 0
    public var duplicates: Int64 = 0
    public var outOfOrder: Int64 = 0
    /// Records without a key or an integer sequence number.
    public var unsequenced: Int64 = 0
    public var trackedKeys = 0
    /// The latest gaps, newest last.
    public var recentGaps: [SequenceGap] = []

    public init() {}
}

public struct SequenceGap: Sendable, Equatable {
    public var key: String
    public var expected: Int64
    public var received: Int64
    public var record: RecordCoordinates
    public var at: Date
}

public final class SequenceStage: RecordStage {
    public let stage = PipelineError.Stage.sequence
    private let keyPath: FieldPath
    private let sequencePath: FieldPath
    private let maxKeys: Int
    private let dropDuplicates: Bool
    private var last: [String: (sequence: Int64, tick: UInt64)] = [:]
    private var tick: UInt64 = 0
    public private(set) var statistics = SequenceStatistics()

    static let recentGapCount = 20

    public init(_ spec: SequenceSpec) throws(SpecError) {
        guard let key = FieldPath(spec.keyField) else { throw SpecError("key_field", "'\(spec.keyField)' is not a field path") }
        guard let sequence = FieldPath(spec.sequenceField) else {
            throw SpecError("sequence_field", "'\(spec.sequenceField)' is not a field path")
        }
        guard SequenceSpec.maxKeysRange.contains(spec.maxKeys) else {
            throw SpecError("max_keys", "must be between \(SequenceSpec.maxKeysRange.lowerBound) and \(SequenceSpec.maxKeysRange.upperBound)")
        }
        keyPath = key
        sequencePath = sequence
        maxKeys = spec.maxKeys
        dropDuplicates = spec.dropDuplicates
    }

    public func process(_ record: inout Record) -> Disposition {
        guard let value = try? record.structuredValue(), let keyValue = value[keyPath], !keyValue.isNull,
            let sequence = value[sequencePath]?.integerValue
        else {
            statistics.unsequenced += 1
            return .keep
        }
        let key = keyValue.stringValue ?? JSONWriter.string(keyValue)
        tick += 1
        defer { statistics.trackedKeys = last.count }
        guard let previous = last[key]?.sequence else {
            remember(key, sequence)
            return .keep
        }
        if sequence == previous &+ 1 {
            remember(key, sequence)
        } else if sequence > previous {
            statistics.gaps += 1
            statistics.missing += sequence - previous - 1
            statistics.recentGaps.append(SequenceGap(key: key, expected: previous + 1, received: sequence, record: record.coordinates, at: Date()))
            if statistics.recentGaps.count > Self.recentGapCount { statistics.recentGaps.removeFirst() }
            remember(key, sequence)
        } else if sequence == previous {
            statistics.duplicates += 1
            if dropDuplicates { return .drop(reason: "duplicate") }
        } else {
            statistics.outOfOrder += 1
        }
        return .keep
    }

    private func remember(_ key: String, _ sequence: Int64) {
        last[key] = (sequence, tick)
        guard last.count > maxKeys else { return }
        // Forget the least recently seen tenth at once: amortised, bounded.
        let forget = max(1, maxKeys / 10)
        for old in last.sorted(by: { $0.value.tick < $1.value.tick }).prefix(forget) {
            last[old.key] = nil
        }
    }
}

extension SequenceSpec: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case keyField = "key_field"
        case sequenceField = "sequence_field"
        case maxKeys = "max_keys"
        case dropDuplicates = "drop_duplicates"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            keyField: try container.decode(String.self, forKey: .keyField),
            sequenceField: try container.decode(String.self, forKey: .sequenceField),
            maxKeys: try container.decodeUnlessAbsent(Int.self, forKey: .maxKeys) ?? Self.defaultMaxKeys,
            dropDuplicates: try container.decodeUnlessAbsent(Bool.self, forKey: .dropDuplicates) ?? false)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(keyField, forKey: .keyField)
        try container.encode(sequenceField, forKey: .sequenceField)
        try container.encode(maxKeys, forKey: .maxKeys)
        try container.encode(dropDuplicates, forKey: .dropDuplicates)
    }
}
