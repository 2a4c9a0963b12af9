import ConsumerManager
import HTTPServer

extension ControlPlane {
    static func addConsumerRoutes(to router: inout Router, manager: ConsumerManager, blocking: BlockingCalls) {
        router.on(.get, "/consumers") { [manager] _ in
            let statuses = manager.list().map(StatusBody.init)
            return .json(ConsumerList(consumers: statuses, count: statuses.count))
        }
        router.on(.post, "/consumers") { [manager, blocking] request in
            let spec = try request.decodeJSON(ConsumerSpec.self)
            let status = try await mutation(manager, blocking) { () throws(ConsumerManagerError) in try manager.create(spec) }
            return .json(ConsumerResource(status), status: 201, headers: [("Location", "/consumers/\(status.name)")])
        }
        router.onInline(.get, "/consumers/{name}") { [manager] request in
            .json(ConsumerResource(try manager.status(request.pathParameter("name"))))
        }
        router.on(.put, "/consumers/{name}") { [manager, blocking] request in
            let name = request.pathParameter("name")
            try ConsumerSpec.validateName(name)
            let spec = try request.decodeJSON(ConsumerSpec.self)
            let (status, created) = try await mutation(manager, blocking) { () throws(ConsumerManagerError) in
                try manager.replace(name, with: spec)
            }
            return .json(ConsumerResource(status), status: created ? 201 : 200)
        }
        router.on(.delete, "/consumers/{name}") { [manager, blocking] request in
            let name = request.pathParameter("name")
            let wait = try request.waitDuration() ?? ControlPlane.defaultDeleteWait
            let outcome = try await mutation(manager, blocking) { () throws(ConsumerManagerError) in try manager.delete(name) }
            guard case .stopping = outcome else { return .noContent() }
            do {
                try await manager.waitUntilRemoved(name, timeout: wait)
                return .noContent()
            } catch let error as ConsumerManagerError where error.kind == .waitTimeout {
                // Still draining its last batch; it disappears when done.
                return .json(StatusBody(try manager.status(name)), status: 202)
            }
        }
        router.onInline(.get, "/consumers/{name}/status") { [manager] request in
            .json(StatusBody(try manager.status(request.pathParameter("name"))))
        }
        router.on(.get, "/consumers/{name}/offsets") { [manager, blocking] request in
            let name = request.pathParameter("name")
            return .json(OffsetsBody(try await blocking.run { () throws(ConsumerManagerError) in try manager.offsets(of: name) }))
        }
        router.on(.patch, "/consumers/{name}/offsets") { [manager, blocking] request in
            let name = request.pathParameter("name")
            let reset = try request.decodeJSON(OffsetsPatchBody.self, invalidCode: "invalid_request").request
            return .json(OffsetsBody(try await blocking.run { () throws(ConsumerManagerError) in
                try manager.resetOffsets(of: name, to: reset)
            }))
        }
        router.on(.get, "/consumers/{name}/dead-letters") { [manager, blocking] request in
            let name = request.pathParameter("name")
            let partition = try request.integerParameter("partition", in: 0...Int64(Int32.max)).map { Int32($0) }
            let from = try request.integerParameter("from", in: 0...Int64.max)
            let limit = try request.integerParameter("limit", in: 1...Int64(ConsumerManager.maxDeadLetterPage)).map { Int($0) } ?? 100
            let page = try await blocking.run { () throws(ConsumerManagerError) in
                try manager.deadLetters(of: name, partition: partition, from: from, limit: limit)
            }
            return .json(DeadLettersBody(name: name, page))
        }
        router.on(.post, "/consumers/{name}/dead-letters/redrive") { [manager, blocking] request in
            let name = request.pathParameter("name")
            let redrive = try request.decodeJSON(RedriveBody.self, invalidCode: "invalid_request").request
            let report = try await blocking.run(timeout: ControlPlane.redriveTimeout) { () throws(ConsumerManagerError) in
                try manager.redriveDeadLetters(of: name, redrive)
            }
            return .json(RedriveReportBody(report))
        }
        for action in LifecycleAction.allCases {
            router.on(.post, "/consumers/{name}/\(action.rawValue)") { [manager, blocking] request in
                let wait = try request.waitDuration()
                let name = request.pathParameter("name")
                let instance = request.query["instance"]
                let outcome = try await mutation(manager, blocking) { () throws(ConsumerManagerError) in
                    try manager.perform(action, on: name, instance: instance)
                }
                if let wait {
                    return .json(StatusBody(try await manager.waitForOutcome(outcome, timeout: wait)))
                }
                return .json(StatusBody(outcome.status), status: outcome.changed ? 202 : 200)
            }
        }
        for action in [LifecycleAction.start, .stop] {
            router.on(.post, "/consumers/\(action.rawValue)-all") { [manager, blocking] request in
                let wait = try request.waitDuration()
                let deadline = wait.map { ContinuousClock.now + $0 }
                var results: [String: BulkResultBody.Entry] = [:]
                let all = try await mutation(manager, blocking) { () throws(ConsumerManagerError) in manager.performAll(action) }
                for (name, result) in all {
                    do throws(ConsumerManagerError) {
                        var outcome = try result.get()
                        if let deadline, let wait {
                            outcome.status = try await manager.waitForOutcome(outcome, timeout: wait, deadline: deadline)
                        }
                        results[name] = .init(changed: outcome.changed, status: StatusBody(outcome.status))
                    } catch {
                        results[name] = .init(error: .init(code: error.kind.rawValue, message: error.message))
                    }
                }
                let failed = results.values.contains { $0.error != nil }
                return .json(BulkResultBody(results: results), status: failed ? 207 : (wait == nil ? 202 : 200))
            }
        }
    }
}

/// A change to the registry. In cluster mode it is a produce to the config
/// topic and a wait until this instance has read it back: Kafka calls, so it
/// runs on the bounded executor, never on the HTTP pool. On one node it is
/// a file write, done in place.
private func mutation<T: Sendable>(
    _ manager: ConsumerManager, _ blocking: BlockingCalls, _ work: @escaping @Sendable () throws(ConsumerManagerError) -> T
) async throws -> T {
    guard manager.isClustered else { return try work() }
    return try await blocking.run(timeout: ConsumerManager.clusterPublishTimeout + .seconds(5), work)
}
