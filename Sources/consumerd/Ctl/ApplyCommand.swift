import ArgumentParser
import ConsumerManager
import ControlPlane
import Foundation
import SpecFiles

/// `ctl apply -f`: declarative, like `kubectl apply`. Prints the plan, then
/// carries it out (unless `--dry-run`).
struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Create or update every consumer in the spec files; with --prune, delete the ones they do not list.",
        discussion: "FILE is a JSON or YAML file or a directory of them; see the README for the shapes accepted.")
    @OptionGroup var options: CtlOptions
    @Option(name: .shortAndLong, help: ArgumentHelp("Spec file or directory.", valueName: "path")) var file: String
    @Flag(help: "Delete registered consumers the files do not list.") var prune = false
    @Flag(help: "Print the plan only.") var dryRun = false
    @Option(help: "Seconds a pruned consumer may take to drain.") var wait: Double = 30

    func run() throws {
        let desired: [ConsumerSpec]
        do {
            desired = try SpecFiles.load(file)
        } catch {
            throw CommandFailure(description: error.description)
        }
        let client = try options.client()
        let (list, _) = try client.get(ConsumerList.self, "/consumers")
        let registered = Set(list.consumers.map(\.name))
        var current: [ConsumerSpec] = []
        for spec in desired where registered.contains(spec.name) {
            current.append(try client.get(ConsumerResource.self, "/consumers/\(CtlClient.segment(spec.name))").0.spec)
        }
        let others = Array(registered.subtracting(desired.map(\.name)))
        let plan = SpecPlan(desired: desired, current: current, otherNames: others, prune: prune, currentIsRedacted: true)
        if dryRun {
            emit(plan, outcomes: nil)
            return
        }
        var outcomes: [String: String] = [:]
        var failed = false
        for step in plan.steps {
            do {
                switch step.action {
                case .create, .update:
                    try put(step.spec, client)
                case .unchanged:
                    // A changed secret looks unchanged through the masked
                    // spec; the server compares the real values (a no-op otherwise).
                    if let spec = step.spec, spec != spec.redacted { try put(spec, client) }
                case .delete:
                    _ = try client.call("DELETE", "/consumers/\(CtlClient.segment(step.name))", wait: wait)
                }
                outcomes[step.name] = "ok"
            } catch {
                outcomes[step.name] = "failed: \(error)"
                failed = true
            }
        }
        emit(plan, outcomes: outcomes)
        if failed { throw ExitCode(1) }
    }

    private func put(_ spec: ConsumerSpec?, _ client: CtlClient) throws {
        guard let spec else { return }
        let body = try JSONEncoder().encode(spec)
        _ = try client.call("PUT", "/consumers/\(CtlClient.segment(spec.name))", body: Array(body))
    }

    /// `outcomes` nil: a dry run.
    private func emit(_ plan: SpecPlan, outcomes: [String: String]?) {
        switch options.output {
        case .json:
            let steps: [[String: Any]] = plan.steps.map { step in
                var entry: [String: Any] = ["name": step.name, "action": step.action.rawValue, "changed_fields": step.changedFields]
                if let outcome = outcomes?[step.name] { entry["result"] = outcome }
                return entry
            }
            let document: [String: Any] = ["dry_run": outcomes == nil, "steps": steps]
            if let data = try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]) {
                print(String(decoding: data, as: UTF8.self))
            }
        case .table:
            var table = outcomes == nil ? Table("ACTION", "NAME", "CHANGES") : Table("ACTION", "NAME", "CHANGES", "RESULT")
            for step in plan.steps {
                let changes = step.changedFields.joined(separator: ",")
                if let outcomes {
                    table.add(step.action.rawValue, step.name, changes, outcomes[step.name] ?? "")
                } else {
                    table.add(step.action.rawValue, step.name, changes)
                }
            }
            print(table.rendered)
            print("\nPlan: \(plan.summary)" + (outcomes == nil ? " (dry run: nothing changed)" : "."))
            if let outcomes {
                let failed = outcomes.values.filter { $0 != "ok" }.count
                print("Applied: \(outcomes.count - failed) ok, \(failed) failed.")
            }
        }
    }
}

/// `ctl create -f`: registers the file's consumers; fails on an existing name.
struct CreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Register the consumers of a spec file (JSON or YAML).")
    @OptionGroup var options: CtlOptions
    @Option(name: .shortAndLong, help: ArgumentHelp("Spec file or directory.", valueName: "path")) var file: String

    func run() throws {
        let specs: [ConsumerSpec]
        do {
            specs = try SpecFiles.load(file)
        } catch {
            throw CommandFailure(description: error.description)
        }
        let client = try options.client()
        for spec in specs {
            let reply = try client.call("POST", "/consumers", body: Array(try JSONEncoder().encode(spec)))
            let resource = try client.decode(ConsumerResource.self, reply, "/consumers")
            options.emit(reply) { "created \(resource.name) (\(resource.status.state))" }
        }
    }
}
