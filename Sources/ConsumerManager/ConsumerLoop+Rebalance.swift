import Kafka
import Pipeline
import Sinks

extension ConsumerLoop: KafkaConsumerDelegate {
    /// An operator's offset reset, or else a sink that keeps its own offsets,
    /// is where newly assigned partitions resume. When the sink cannot
    /// answer, they wait, paused, until it can.
    func consumer(_ consumer: KafkaConsumer, startingOffsetsFor assigned: [TopicPartition]) -> [TopicPartition: Int64] {
        if let reset = offsetReset?.offsets(for: assigned), !reset.isEmpty {
            resetToCommit = reset.map { TopicPartitionOffset($0.key, offset: $0.value) }.sorted { $0.topicPartition < $1.topicPartition }
            return reset
        }
        guard let sink, sink.commits == .sinkStoresOffsets, !assigned.isEmpty else { return [:] }
        do {
            let stored = try sink.storedOffsets(for: assigned)
            if !stored.isEmpty { logger.info("resuming from the sink's offsets", metadata: ["offsets": "\(stored.sorted { $0.key < $1.key })"]) }
            return stored
        } catch {
            awaitSinkOffsets(for: assigned, after: error)
            return [:]
        }
    }

    private func awaitSinkOffsets(for partitions: [TopicPartition], after error: PipelineError) {
        awaitingSinkOffsets.formUnion(partitions)
        sinkOffsetsRetryAt = clock.now + retry.jitteredBackoff(afterFailures: 1)
        runtime.record(ConsumerFailure(stage: "sink", message: "where to resume is unknown: \(error.message)"))
        logger.warning("the sink cannot say where to resume; partitions wait", metadata: ["error": "\(error.message)"])
    }

    /// Asks the sink again for the offsets of partitions that wait for them;
    /// seeks those it knows and lets them go.
    func askSinkForOffsets() throws {
        guard let sink, let consumer else { return }
        let waiting = awaitingSinkOffsets.sorted()
        do {
            let stored = try sink.storedOffsets(for: waiting)
            try consumer.seek(stored.map { TopicPartitionOffset($0.key, offset: $0.value) })
            awaitingSinkOffsets.removeAll()
            sinkOffsetsRetryAt = nil
            try updatePausedPartitions()
            logger.info("the sink answered; partitions resume", metadata: ["offsets": "\(stored.sorted { $0.key < $1.key })"])
        } catch let error as PipelineError {
            awaitSinkOffsets(for: waiting, after: error)
        }
    }
    func consumer(_ consumer: KafkaConsumer, didAssign assigned: [TopicPartition]) {
        instruments.rebalances(kind: "assign").increment()
        if !resetToCommit.isEmpty { commitOffsetReset(consumer) }
        for partition in assigned where partitions[partition] == nil {
            partitions[partition] = PartitionProgress(partition: partition, instruments: instruments)
        }
        do {
            try updatePausedPartitions()
        } catch {
            pendingFailure = error
        }
        // Joined and assigned (perhaps nothing: the group has more members
        // than partitions): the run is under way.
        if runtime.state == .starting { runtime.publish(state: operatorPaused ? .paused : .running) }
        nextRefresh = clock.now
        logger.info(
            "partitions assigned",
            metadata: ["partitions": "\(assigned.map(\.description).joined(separator: ","))", "protocol": "\(consumer.rebalanceProtocol)"])
    }

    func consumer(_ consumer: KafkaConsumer, willRevoke revoked: [TopicPartition]) {
        instruments.rebalances(kind: "revoke").increment()
        // Last chance to commit what was read from these partitions.
        do {
            try attemptFlush()
            commitStoredNow()
        } catch {
            pendingFailure = error
            dropBatch()
        }
        // A batch still waiting (sink or dead-letter topic down) keeps only
        // the partitions this member still owns; the rest is read again by
        // the new owner, uncommitted.
        let dropped = batch.remove(partitions: Set(revoked))
        if dropped > 0 { logger.warning("revoked partitions' records were not committed", metadata: ["records": "\(dropped)"]) }
        if batch.isEmpty { pendingFlush = nil }
        forget(revoked)
        logger.info("partitions revoked", metadata: ["partitions": "\(revoked.map(\.description).joined(separator: ","))"])
    }

    func consumer(_ consumer: KafkaConsumer, didLose lost: [TopicPartition]) {
        instruments.rebalances(kind: "lost").increment()
        // Another member may own these already: committing would be wrong.
        let dropped = batch.remove(partitions: Set(lost))
        if dropped > 0 { logger.warning("dropped records of lost partitions", metadata: ["records": "\(dropped)"]) }
        if batch.isEmpty { pendingFlush = nil }
        forget(lost)
        logger.warning("partitions lost", metadata: ["partitions": "\(lost.map(\.description).joined(separator: ","))"])
    }

    func consumer(_ consumer: KafkaConsumer, didReport error: KafkaError) {
        report(error)
    }

    private func forget(_ gone: [TopicPartition]) {
        awaitingSinkOffsets.subtract(gone)
        // librdkafka keeps a partition's pause across unassign and assign: one
        // paused here (a flush waiting, a held record) and assigned back
        // later would never be fetched again. Resume while it is still ours.
        let paused = gone.filter { pausedPartitions.contains($0) }
        if !paused.isEmpty {
            do {
                try consumer?.resume(paused)
            } catch {
                logger.warning("could not resume partitions on their way out", metadata: ["error": "\(error)"])
            }
        }
        for partition in gone {
            partitions.removeValue(forKey: partition)
            // Its held record is not committed; whoever owns it next reads it again.
            heldBack.removeValue(forKey: partition)
            pausedPartitions.remove(partition)
        }
        instruments.removeLag(for: gone)
        publish()
    }

    /// Makes an operator's reset the group's offsets before anything is read
    /// from the partitions it starts, so a crash cannot undo it. The commit
    /// happens as this member, inside the assignment, through the coordinator.
    private func commitOffsetReset(_ consumer: KafkaConsumer) {
        let offsets = resetToCommit
        resetToCommit = []
        do {
            try consumer.commit(offsets, timeout: Self.synchronousCommitTimeout)
            offsetReset?.remove(offsets.map(\.topicPartition))
            settings.onOffsetReset(offsets.map(\.topicPartition))
            logger.info("offset reset applied", metadata: ["offsets": "\(offsets)"])
        } catch {
            // Kept pending: the next run applies it again.
            pendingFailure = error
        }
    }
}
