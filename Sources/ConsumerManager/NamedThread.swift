import CScheduler
import Foundation

extension Thread {
    /// Starts `body` on a new thread that `top -H`, `ps -L`, perf and gdb
    /// show under `name` (Linux keeps its first 15 bytes).
    ///
    /// The thread names itself: Foundation on Linux applies a `Thread.name`
    /// set before `start()` to no thread, so every thread kept the name of
    /// the one that created it (a Dispatch worker's "…root.default-qos"),
    /// and a busy consumer could not be told from the others.
    @discardableResult
    public static func start(named name: String, _ body: @escaping @Sendable () -> Void) -> Thread {
        let thread = Thread {
            _ = cthread_set_name(name)
            body()
        }
        thread.name = name
        thread.start()
        return thread
    }
}
