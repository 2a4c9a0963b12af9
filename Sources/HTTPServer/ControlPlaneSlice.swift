import CScheduler

/// The time slice the server's threads ask the scheduler for: short, so
/// that a request arriving while consumers keep every core busy is answered
/// within a slice or so, not after the running threads' default slices.
///
/// Linux 6.12 and later (EEVDF) give a thread that asks for a shorter slice
/// an earlier deadline, and let it preempt on wakeup; the data path keeps
/// its slices (and its lower priority, see `--data-path-nice`), so it loses
/// only the CPU the answers take. Earlier kernels ignore the request. Any
/// thread may ask, without privilege.
public enum ControlPlaneSlice {
    /// The shortest slice Linux accepts.
    public static let nanoseconds: UInt64 = 100_000

    /// Asks for the short slice for the calling thread: two system calls
    /// (read the thread's attributes, write them back) the first time, none
    /// after (the shim remembers the answer per thread, a refusal too).
    public static func requestForCurrentThread() {
        _ = csched_request_slice(nanoseconds)
    }
}
