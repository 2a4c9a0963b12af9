import Foundation

/// What applying a set of specs does to a registry, step by step: the
/// plan `consumerd ctl apply` prints (and `--dry-run` stops at) and the
/// reconciliation `consumerd serve --specs` performs. Declarative, like
/// `kubectl apply`: each listed spec is created or updated; with `prune`,
/// registered consumers the specs do not list are deleted.
public struct SpecPlan: Sendable {
    public enum Action: String, Sendable {
        case create, update, unchanged, delete
    }

    public struct Step: Sendable {
        public var name: String
        public var action: Action
        /// The spec to send (nil for a delete).
        public var spec: ConsumerSpec?
        /// Top-level spec fields that differ (for an update).
        public var changedFields: [String]
    }

    public var steps: [Step]

    /// `current` as the REST API shows it is redacted; the desired specs
    /// are then compared redacted too, so a changed secret alone looks
    /// unchanged. Apply sends every listed spec anyway: the server compares
    /// the real values and restarts only what really changed.
    /// `otherNames`: registered consumers whose specs were not fetched (the
    /// desired specs do not name them); they matter only to `prune`.
    public init(desired: [ConsumerSpec], current: [ConsumerSpec], otherNames: [String] = [], prune: Bool, currentIsRedacted: Bool) {
        let registered = Dictionary(current.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var steps: [Step] = []
        for spec in desired.sorted(by: { $0.name < $1.name }) {
            guard let existing = registered[spec.name] else {
                steps.append(Step(name: spec.name, action: .create, spec: spec, changedFields: []))
                continue
            }
            let compared = currentIsRedacted ? spec.redacted : spec
            let changed = Self.changedFields(compared, existing)
            steps.append(Step(name: spec.name, action: changed.isEmpty ? .unchanged : .update, spec: spec, changedFields: changed))
        }
        if prune {
            let listed = Set(desired.map(\.name))
            for name in Set(registered.keys).union(otherNames).sorted() where !listed.contains(name) {
                steps.append(Step(name: name, action: .delete, spec: nil, changedFields: []))
            }
        }
        self.steps = steps
    }

    public func count(_ action: Action) -> Int { steps.filter { $0.action == action }.count }

    /// "2 to create, 1 to update, 3 unchanged, 0 to delete".
    public var summary: String {
        "\(count(.create)) to create, \(count(.update)) to update, \(count(.unchanged)) unchanged, \(count(.delete)) to delete"
    }

    /// Fields whose JSON differs, by name; none when the specs are equal.
    static func changedFields(_ a: ConsumerSpec, _ b: ConsumerSpec) -> [String] {
        guard a != b else { return [] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let left = (try? encoder.encode(a)).flatMap({ try? JSONSerialization.jsonObject(with: $0) as? NSDictionary }),
            let right = (try? encoder.encode(b)).flatMap({ try? JSONSerialization.jsonObject(with: $0) as? NSDictionary })
        else { return ["spec"] }
        let keys = Set(left.allKeys.compactMap { $0 as? String }).union(right.allKeys.compactMap { $0 as? String })
        let changed = keys.filter { key in
            let l = left[key] as? NSObject
            let r = right[key] as? NSObject
            return l != r && !(l?.isEqual(r) ?? false)
        }
        // Equal JSON, unequal specs: a difference the JSON does not show.
        return changed.isEmpty ? ["spec"] : changed.sorted()
    }
}

extension ConsumerManager {
    /// One step of ``reconcile(with:prune:)`` and how it went.
    public struct ReconcileResult: Sendable {
        public var step: SpecPlan.Step
        public var error: ConsumerManagerError?
    }

    /// Makes the registry match `specs` (see ``SpecPlan``): creates and
    /// updates each spec (an update restarts a running consumer, as PUT
    /// does), and with `prune` deletes consumers the specs do not list.
    /// One bad spec does not stop the others.
    public func reconcile(with specs: [ConsumerSpec], prune: Bool) -> [ReconcileResult] {
        let current = registry.withLock { $0.entries.values.filter { !$0.deleting }.map(\.spec) }
        let plan = SpecPlan(desired: specs, current: current, prune: prune, currentIsRedacted: false)
        return plan.steps.map { step in
            do throws(ConsumerManagerError) {
                switch step.action {
                case .create, .update:
                    if let spec = step.spec { _ = try replace(step.name, with: spec) }
                case .delete:
                    _ = try delete(step.name)
                case .unchanged:
                    break
                }
                return ReconcileResult(step: step, error: nil)
            } catch {
                return ReconcileResult(step: step, error: error)
            }
        }
    }
}
