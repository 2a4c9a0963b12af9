import Foundation
import Kafka
import Pipeline
import Prometheus

/// Stage counts as last added to Prometheus, to add only what is new.
struct ReportedCounts {
    var stages: [StageCounts] = []
    var quality: [String: Int64] = [:]
    var sequence = SequenceStatistics()
}

extension ConsumerLoop {
    /// Refreshes positions, watermarks and lag from librdkafka's local state.
    /// Committed offsets are asked of the coordinator once per assignment.
    func refreshProgress() {
        nextRefresh = clock.now + settings.refreshInterval
        reportStageCounts()
        // Statistics arrive every few seconds; a fetched record or an
        // answered commit since then is contact too, and more recent.
        if heardFromBroker {
            heardFromBroker = false
            lastBrokerContact = Date()
        }
        if let contact = consumer?.brokerContact {
            let reportedAt = Date().addingTimeInterval((contact.reportedAt - clock.now).timeInterval)
            if contact.up > 0 { lastBrokerContact = max(lastBrokerContact ?? reportedAt, reportedAt) }
            brokers = BrokerStatus(up: contact.up, known: contact.known, lastContact: lastBrokerContact, reportedAt: reportedAt)
        }
        guard let consumer, !partitions.isEmpty else {
            publish()
            return
        }
        let assigned = Array(partitions.keys)
        let now = clock.now
        let unknown = assigned.filter { partitions[$0]?.needsCommittedQuery(at: now) == true }
        if !unknown.isEmpty {
            for partition in unknown { partitions[partition]?.committedQueriedAt = now }
            do {
                for entry in try consumer.committed(unknown, timeout: .seconds(2)) {
                    partitions[entry.topicPartition]?.committedKnown = true
                    if partitions[entry.topicPartition]?.committed == nil {
                        partitions[entry.topicPartition]?.committed = entry.offset
                    }
                }
            } catch {
                // Asked again after a while: until then lag falls back to the position.
                logger.debug("could not read committed offsets", metadata: ["error": "\(error)"])
            }
        }
        lastMeasured = Date()
        if let positions = try? consumer.positions(assigned) {
            for entry in positions { partitions[entry.topicPartition]?.position = entry.offset }
        }
        let stale = assigned.filter { pausedPartitions.contains($0) }
        if !stale.isEmpty {
            // Paused partitions are not fetched, so their cached watermarks are
            // stale: ask the leaders (one request), or lag would stand still.
            for entry in (try? consumer.queryHighWatermarks(stale, timeout: .seconds(1))) ?? [] {
                if let high = entry.offset { partitions[entry.topicPartition]?.highWatermark = high }
            }
        }
        for partition in assigned {
            // A paused partition's cached low watermark is old but still a
            // valid lower bound; its high watermark came from the query above.
            if let marks = consumer.cachedWatermarks(partition) {
                partitions[partition]?.lowWatermark = marks.low
                if !stale.contains(partition) { partitions[partition]?.highWatermark = marks.high }
            }
            if let lag = partitions[partition]?.status(paused: pausedPartitions.contains(partition)).lag {
                instruments.setLag(lag, for: partition)
            }
        }
        publish()
    }

    /// Publishes everything the status shows, as one value.
    func publish() {
        var progress = RuntimeProgress()
        progress.partitions = partitions.values.map { $0.status(paused: pausedPartitions.contains($0.partition)) }.sorted {
            ($0.topic, $0.partition) < ($1.topic, $1.partition)
        }
        progress.stats = stats
        if let path {
            progress.stages = path.counts
            progress.qualityViolations = path.qualityViolations
            progress.sequence = path.sequenceStatistics
        }
        progress.retrying = retrying
        progress.brokers = brokers
        progress.measuredAt = lastMeasured
        runtime.publish(progress)
    }

    /// What completed batches changed, at most every
    /// ``batchProgressInterval`` while records flow and at once when the
    /// loop is about to wait for more: an operator, a test or a script that
    /// sees a consumer idle sees every batch it completed.
    func publishBatchProgress(_ now: ContinuousClock.Instant) {
        batchProgressPending = false
        nextBatchProgress = now + Self.batchProgressInterval
        reportStageCounts()
        publish()
    }

    /// Adds what the record path counted since the last report to the Prometheus counters.
    func reportStageCounts() {
        guard let path else { return }
        if reported.stages.count != path.counts.count { reported.stages = path.counts.map { StageCounts(stage: $0.stage) } }
        for (now, before) in zip(path.counts, reported.stages) {
            let stage = now.stage.rawValue
            instruments.stageRecords(stage: stage, outcome: "in").increment(by: now.input - before.input)
            instruments.stageRecords(stage: stage, outcome: "kept").increment(by: now.kept - before.kept)
            for outcome in StageCounts.Outcome.allCases {
                for (reason, total) in now.rejected[outcome] ?? [:] {
                    let delta = total - (before.rejected[outcome]?[reason] ?? 0)
                    guard delta > 0 else { continue }
                    instruments.stageRecords(stage: stage, outcome: outcome.rawValue).increment(by: delta)
                    instruments.stageRejections(stage: stage, outcome: outcome.rawValue, reason: reason).increment(by: delta)
                }
            }
        }
        reported.stages = path.counts
        for (rule, total) in path.qualityViolations where total > reported.quality[rule] ?? 0 {
            instruments.qualityViolations(rule: rule).increment(by: total - (reported.quality[rule] ?? 0))
        }
        reported.quality = path.qualityViolations
        if let sequence = path.sequenceStatistics {
            instruments.sequenceGaps.increment(by: sequence.gaps - reported.sequence.gaps)
            instruments.sequenceDuplicates.increment(by: sequence.duplicates - reported.sequence.duplicates)
            instruments.sequenceOutOfOrder.increment(by: sequence.outOfOrder - reported.sequence.outOfOrder)
            reported.sequence = sequence
        }
        let decodeDuration = instruments.decodeDuration(format: spec.format.type.rawValue)
        for sample in path.takeDecodeSamples() { decodeDuration.record(sample) }
    }
}

/// What the loop knows about one assigned partition.
struct PartitionProgress {
    let partition: TopicPartition
    let consumedCounter: Counter
    let writtenCounter: Counter
    var committed: Int64?
    /// The group's committed offset has been read (it may be none).
    var committedKnown = false
    var committedQueriedAt: ContinuousClock.Instant?
    /// Stored but maybe not yet committed.
    var stored: Int64?
    var position: Int64?
    var highWatermark: Int64?
    var lowWatermark: Int64?

    init(partition: TopicPartition, instruments: ConsumerInstruments) {
        self.partition = partition
        self.consumedCounter = instruments.consumed(partition)
        self.writtenCounter = instruments.written(partition)
    }

    /// Committed offsets are read once per assignment; a failed read is
    /// retried after a pause rather than on every refresh.
    func needsCommittedQuery(at now: ContinuousClock.Instant) -> Bool {
        guard !committedKnown, committed == nil else { return false }
        guard let last = committedQueriedAt else { return true }
        return now - last >= .seconds(5)
    }

    func status(paused: Bool) -> PartitionStatus {
        // The cached watermark is refreshed periodically; a committed offset
        // proves the log already reaches at least that far.
        let high = highWatermark.map { max($0, committed ?? $0) }
        // Likewise the position is read periodically while commits land in
        // between: the consumer has read at least as far as it committed.
        let reached = position.map { max($0, committed ?? $0) } ?? committed
        return PartitionStatus(
            topic: partition.topic, partition: partition.partition, committedOffset: committed,
            position: reached, highWatermark: high, lowWatermark: lowWatermark, paused: paused)
    }
}
