import ConsumerManager
import Foundation
import Kafka
import Testing
import TestSupport

/// Cluster mode: managers sharing one registry through a config topic on one
/// embedded cluster, each as an instance of its own.
@Suite("Cluster mode", .serialized)
struct ClusterTests {
    /// Two (or more) instances of one cluster on one embedded Kafka cluster.
    final class Instances: Sendable {
        let kafka: EmbeddedCluster
        let clusterID = uniqueName("c")
        let fixtures: [String: ManagerFixture]

        init(_ ids: [String], key: SecretBox? = nil, allowPlaintextSecrets: Bool = false) throws {
            kafka = try EmbeddedCluster(brokers: 1, logger: testLogger())
            // The mock cluster does not answer CreateTopics: its topics are made here.
            for kind in ["configs", "status"] { try kafka.createTopic("_consumerd-\(clusterID)-\(kind)", partitions: 1) }
            var fixtures: [String: ManagerFixture] = [:]
            for id in ids {
                let fixture = try ManagerFixture(cluster: kafka)
                try fixture.manager.joinCluster(.init(
                    clusterID: clusterID, instance: id, secrets: key, allowPlaintextSecrets: allowPlaintextSecrets))
                fixtures[id] = fixture
            }
            self.fixtures = fixtures
        }

        subscript(id: String) -> ConsumerManager { fixtures[id]!.manager }

        /// Another instance joining later, on a data directory of its own.
        func join(_ id: String) throws -> ManagerFixture {
            let fixture = try ManagerFixture(cluster: kafka)
            try fixture.manager.joinCluster(.init(clusterID: clusterID, instance: id))
            return fixture
        }

        func shutdown() async {
            for fixture in fixtures.values { await fixture.shutdown() }
        }
    }

    @Test("a consumer created on one instance runs on every instance; both members appear in its status, the partitions split")
    func createdEverywhere() async throws {
        let cluster = try Instances(["a", "b"])
        let topic = uniqueName("orders")
        try cluster.kafka.createTopic(topic, partitions: 4)
        _ = try cluster["a"].create(cluster.fixtures["a"]!.spec("orders", topic: topic))
        #expect(await eventually { (try? cluster["b"].status("orders").state) == .running })
        #expect(await eventually(timeout: .seconds(30)) {
            let members = (try? cluster["b"].status("orders").members) ?? []
            let partitions = members.flatMap { $0.partitions.map(\.partition) }
            return members.map(\.instance) == ["a", "b"] && partitions.sorted() == [0, 1, 2, 3] && members.allSatisfy { !$0.partitions.isEmpty }
        })
        // a hears b through the registry topic, on its own schedule.
        #expect(await eventually { cluster["a"].health().cluster?.instances == ["a", "b"] })
        await cluster.shutdown()
    }

    @Test("verbs reach every instance, or one with instance:; a delete is gone everywhere; a late instance finds the same registry")
    func verbsAndDeletes() async throws {
        let cluster = try Instances(["a", "b"])
        let topic = uniqueName("events")
        try cluster.kafka.createTopic(topic, partitions: 2)
        _ = try cluster["a"].create(cluster.fixtures["a"]!.spec("events", topic: topic))
        #expect(await eventually { (try? cluster["b"].status("events").state) == .running })

        _ = try cluster["b"].perform(.pause, on: "events", instance: "a")
        #expect(await eventually { (try? cluster["a"].status("events").state) == .paused })
        #expect((try? cluster["b"].status("events").state) == .running)
        _ = try cluster["a"].perform(.resume, on: "events", instance: "a")
        #expect(await eventually { (try? cluster["a"].status("events").state) == .running })

        let generations = (try cluster["a"].status("events").generation, try cluster["b"].status("events").generation)
        _ = try cluster["b"].perform(.restart, on: "events")
        #expect(await eventually {
            (try? cluster["a"].status("events").generation) == generations.0 + 1 && (try? cluster["b"].status("events").generation) == generations.1 + 1
        })
        _ = try cluster["a"].perform(.stop, on: "events")
        #expect(await eventually { (try? cluster["b"].status("events").state) == .stopped })

        let late = try cluster.join("c")
        #expect((try? late.manager.status("events").desiredState) == .stopped)
        #expect((try? late.manager.status("events").spec) == (try? cluster["a"].status("events").spec))

        _ = try cluster["b"].delete("events")
        #expect(await eventually { cluster["a"].names.isEmpty && late.manager.names.isEmpty })
        await late.shutdown()
        await cluster.shutdown()
    }

    @Test("two instances creating one name at once: exactly one wins, the other gets a conflict")
    func concurrentCreate() async throws {
        let cluster = try Instances(["a", "b"])
        let topic = uniqueName("race")
        try cluster.kafka.createTopic(topic, partitions: 1)
        let spec = cluster.fixtures["a"]!.spec("race", topic: topic, autostart: false)
        let managers = [cluster["a"], cluster["b"]]
        let results = await withTaskGroup(of: Bool.self) { group in
            for manager in managers {
                group.addTask { (try? await offPool { try manager.create(spec) }) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 1)
        #expect(await eventually { cluster["a"].names == ["race"] && cluster["b"].names == ["race"] })
        await cluster.shutdown()
    }

    @Test("secrets: refused without a key; sealed with one (the config topic never holds them in plain text); a keyless instance cannot join")
    func secrets() async throws {
        let key = try SecretBox(key: Array(repeating: 7, count: 32))
        let cluster = try Instances(["a"], key: key)
        let topic = uniqueName("secret")
        try cluster.kafka.createTopic(topic, partitions: 1)
        var spec = cluster.fixtures["a"]!.spec("secret", topic: topic, autostart: false)
        spec.kafka["sasl.password"] = "hunter2-in-the-spec"
        _ = try cluster["a"].create(spec)
        let bootstrap = cluster.kafka.bootstrapServers
        let configTopic = "_consumerd-\(cluster.clusterID)-configs"
        let raw = try await offPool { try PythonKafka.read(topic: configTopic, bootstrap: bootstrap) }
        #expect(raw.count == 1)
        let stored = raw.first?.value ?? ""
        #expect(stored.contains("sealed"))
        #expect(!stored.isEmpty && stored.range(of: "hunter2") == nil)

        let keyless = try ManagerFixture(cluster: cluster.kafka)
        #expect(throws: ConsumerManagerError.self) {
            try keyless.manager.joinCluster(.init(clusterID: cluster.clusterID, instance: "b"))
        }
        await keyless.shutdown()

        let plain = try Instances(["p"])
        var another = plain.fixtures["p"]!.spec("plain", topic: topic, autostart: false)
        another.kafka["sasl.password"] = "hunter2"
        #expect(throws: ConsumerManagerError.self) { try plain["p"].create(another) }
        await plain.shutdown()
        await cluster.shutdown()
    }
}
