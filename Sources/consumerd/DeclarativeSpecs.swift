import ConsumerManager
import Dispatch
import Foundation
import Logging
import SpecFiles

/// `serve --specs PATH`: consumers kept in files (in git, next to the
/// deployment), reconciled with the registry like `consumerd ctl apply` at
/// start and again on SIGHUP. At start a bad file or a refused spec stops
/// the server (a deployment should fail loudly); on SIGHUP it is logged and
/// the registry keeps what it has.
final class DeclarativeSpecs: Sendable {
    let path: String
    let prune: Bool
    let manager: ConsumerManager
    let logger: Logger

    init(path: String, prune: Bool, manager: ConsumerManager, logger: Logger) {
        self.path = path
        self.prune = prune
        self.manager = manager
        self.logger = logger
    }

    /// Loads the files and applies them; the failures, described.
    @discardableResult
    func reconcile() -> [String] {
        let specs: [ConsumerSpec]
        do {
            specs = try SpecFiles.load(path)
        } catch {
            logger.error("spec files not applied", metadata: ["specs": "\(path)", "error": "\(error)"])
            return [error.description]
        }
        var failures: [String] = []
        var counts: [SpecPlan.Action: Int] = [:]
        for result in manager.reconcile(with: specs, prune: prune) {
            if let error = result.error {
                failures.append("\(result.step.action.rawValue) \(result.step.name): \(error.field.map { "\($0): " } ?? "")\(error.message)")
                logger.error("spec not applied", metadata: ["consumer": "\(result.step.name)", "action": "\(result.step.action.rawValue)", "error": "\(error)"])
            } else {
                counts[result.step.action, default: 0] += 1
                if result.step.action != .unchanged {
                    logger.info("spec applied", metadata: [
                        "consumer": "\(result.step.name)", "action": "\(result.step.action.rawValue)",
                        "changed": "\(result.step.changedFields.joined(separator: ","))",
                    ])
                }
            }
        }
        logger.info("spec files reconciled", metadata: [
            "specs": "\(path)", "created": "\(counts[.create] ?? 0)", "updated": "\(counts[.update] ?? 0)",
            "unchanged": "\(counts[.unchanged] ?? 0)", "deleted": "\(counts[.delete] ?? 0)", "failed": "\(failures.count)",
        ])
        return failures
    }

    /// Reconciles again on every SIGHUP; keep the source alive while serving.
    func reloadOnSIGHUP() -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { [self] in
            logger.info("SIGHUP: reloading spec files", metadata: ["specs": "\(path)"])
            reconcile()
        }
        source.resume()
        return source
    }
}
