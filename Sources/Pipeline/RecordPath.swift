import DataModel
import Foundation
import Kafka

/// The declarative part of a spec between poll and sink: which stages run
/// and what each does with the records it rejects.
public struct RecordPathSpec: Sendable, Equatable {
    public var validation: ValidationSpec?
    public var quality: QualitySpec?
    public var sequence: SequenceSpec?
    public var transforms: [TransformSpec]?
    public var onError: OnError

    /// Policies for records that a stage cannot handle at all.
    public struct OnError: Sendable, Equatable {
        /// Undecodable records (malformed bytes, an unknown schema id).
        public var decode: RejectionPolicy?
        /// Records a transform cannot apply to.
        public var transform: RejectionPolicy?

        public init(decode: RejectionPolicy? = nil, transform: RejectionPolicy? = nil) {
            self.decode = decode
            self.transform = transform
        }
    }

    public init(
        validation: ValidationSpec? = nil, quality: QualitySpec? = nil, sequence: SequenceSpec? = nil,
        transforms: [TransformSpec]? = nil, onError: OnError = OnError()
    ) {
        self.validation = validation
        self.quality = quality
        self.sequence = sequence
        self.transforms = transforms
        self.onError = onError
    }

    /// Whether any stage reads fields (and so needs a structured format).
    public var readsFields: Bool {
        validation != nil || quality != nil || sequence != nil || !(transforms ?? []).isEmpty
    }

    /// The fields that explicitly send records to the dead-letter topic (which
    /// the spec must then name).
    public var explicitDeadLetterFields: [String] {
        var fields: [String] = []
        if validation?.onInvalid == .deadLetter { fields.append("validation.on_invalid") }
        if quality?.onViolation == .deadLetter { fields.append("quality.on_violation") }
        if onError.decode == .deadLetter { fields.append("on_error.decode") }
        if onError.transform == .deadLetter { fields.append("on_error.transform") }
        return fields
    }

    /// Builds the stages; every error names its field inside the spec.
    /// `deadLetterAvailable` decides the default for unset policies:
    /// dead-letter when there is a dead-letter topic, else fail.
    public func makeStages(deadLetterAvailable: Bool) throws(SpecError) -> [any RecordStage] {
        let fallback: RejectionPolicy = deadLetterAvailable ? .deadLetter : .fail
        var stages: [any RecordStage] = []
        if let validation {
            do { stages.append(try ValidationStage(validation, defaultPolicy: fallback)) } catch { throw error.under("validation") }
        }
        if let quality {
            do { stages.append(try QualityStage(quality)) } catch { throw error.under("quality") }
        }
        if let sequence {
            do { stages.append(try SequenceStage(sequence)) } catch { throw error.under("sequence") }
        }
        if let transforms, !transforms.isEmpty {
            do { stages.append(try TransformStage(transforms, onError: onError.transform ?? fallback)) } catch { throw error.under("transforms") }
        }
        return stages
    }
}

/// One run's record path: decode, then each stage in order. Counts what
/// each stage did with the records it saw, for the status and the metrics.
///
/// Thread-confined to the consumer thread.
public final class RecordPath {
    private let decoder: any RecordDecoder
    private let decodePolicy: RejectionPolicy
    private let stages: [any RecordStage]
    /// Per stage, decode first: cumulative counts of this run.
    ///
    /// Updated twice per record per stage on the one thread that owns the
    /// path, never while another access is open: the runtime's exclusivity
    /// check (a thread-local lookup each time) cost more than the counting,
    /// 1.3 % of a JSON drain.
    @exclusivity(unchecked)
    public private(set) var counts: [StageCounts]
    /// Decode durations of every 64th record: timing each would cost more
    /// than some decodes do.
    private var decodeSamples: [Duration] = []
    private static let sampleEvery: Int64 = 64

    /// Where a message ends up. Each case carries the record, whose
    /// message the path took: the caller completes, dead-letters or holds
    /// back that message.
    public enum Outcome {
        case keep(Record)
        case drop(Record, PipelineError.Stage, reason: String)
        case deadLetter(Record, Rejection)
        /// Retriable: hold the partition back and retry. Permanent: stop.
        case fail(Record, PipelineError)
    }

    public init(decoder: any RecordDecoder, decodePolicy: RejectionPolicy, stages: [any RecordStage]) {
        self.decoder = decoder
        self.decodePolicy = decodePolicy
        self.stages = stages
        counts = [StageCounts(stage: .decode)] + stages.map { StageCounts(stage: $0.stage) }
    }

    /// Takes the message: it moves into the record, not copied.
    public func process(_ message: consuming KafkaMessage) -> Outcome {
        counts[0].input += 1
        let value: RecordValue
        do {
            // No optional instant for the records not timed: the type is
            // opaque here, and testing an optional of it went through its
            // value witnesses (perf: 0.7 % of a JSON drain).
            if counts[0].input % Self.sampleEvery == 0 && decodeSamples.count < 1024 {
                let started = ContinuousClock.now
                value = try decoder.value(of: message)
                decodeSamples.append(ContinuousClock.now - started)
            } else {
                value = try decoder.value(of: message)
            }
        } catch {
            if error.isRetriable { return settle(0, .fail(error), Record(message: message, value: .null)) }
            return settle(0, decodePolicy.disposition(Rejection(error)), Record(message: message, value: .null))
        }
        let decoded = Record(message: message, value: consume value)
        counts[0].kept += 1
        // Handed on, not copied, when no stage runs (perf: the copy and its
        // release were 2 % of a JSON drain). Tombstones carry no fields: they
        // pass through (a compacted topic's deletes).
        if stages.isEmpty { return .keep(decoded) }
        if case .null = decoded.value { return .keep(decoded) }
        var record = decoded
        for (index, stage) in stages.enumerated() {
            counts[index + 1].input += 1
            let disposition = stage.process(&record)
            guard case .keep = disposition else { return settle(index + 1, disposition, record) }
            counts[index + 1].kept += 1
        }
        return .keep(record)
    }

    private func settle(_ index: Int, _ disposition: Disposition, _ record: consuming Record) -> Outcome {
        let stage = counts[index].stage
        switch disposition {
        case .keep:
            counts[index].kept += 1
            return .keep(record)
        case .drop(let reason):
            counts[index].count(.dropped, reason)
            return .drop(record, stage, reason: reason)
        case .deadLetter(let rejection):
            counts[index].count(.deadLettered, rejection.reason)
            counts[index].lastError = StageError(reason: rejection.reason, message: rejection.message, record: record.coordinates)
            return .deadLetter(record, rejection)
        case .fail(let error):
            let error = error.record == nil ? error.at(record.coordinates) : error
            counts[index].count(.failed, error.reason)
            counts[index].lastError = StageError(reason: error.reason, message: error.message, record: error.record)
            return .fail(record, error)
        }
    }

    /// Decode durations sampled since the last call.
    public func takeDecodeSamples() -> [Duration] {
        defer { decodeSamples.removeAll(keepingCapacity: true) }
        return decodeSamples
    }

    /// What quality checks and sequence tracking have seen in this run.
    public var qualityViolations: [String: Int64] {
        stages.compactMap { $0 as? QualityStage }.first?.violations ?? [:]
    }

    public var sequenceStatistics: SequenceStatistics? {
        stages.compactMap { $0 as? SequenceStage }.first?.statistics
    }
}

/// What one stage did in a run.
public struct StageCounts: Sendable, Equatable {
    public var stage: PipelineError.Stage
    public var input: Int64 = 0
    public var kept: Int64 = 0
    /// By outcome, then reason.
    public var rejected: [Outcome: [String: Int64]] = [:]
    public var lastError: StageError?

    public enum Outcome: String, Sendable, CaseIterable {
        case dropped
        case deadLettered = "dead_lettered"
        case failed
    }

    public init(stage: PipelineError.Stage) {
        self.stage = stage
    }

    mutating func count(_ outcome: Outcome, _ reason: String) {
        rejected[outcome, default: [:]][reason, default: 0] += 1
    }

    public func total(_ outcome: Outcome) -> Int64 {
        rejected[outcome]?.values.reduce(0, +) ?? 0
    }
}

/// The last record a stage turned away or failed on.
public struct StageError: Sendable, Equatable {
    public var reason: String
    public var message: String
    public var record: RecordCoordinates?
    public var at = Date()
}
