import CRdKafka
import Glibc
import Synchronization

/// The nice value of the threads that move records: librdkafka's threads
/// (of every client created after it is set) and the consumer and writer
/// threads, which call ``applyToCurrentThread()`` when they start.
///
/// `serve` sets it above 0 so that the control plane (the API, health
/// probes, `/metrics`) answers promptly while consumers drain flat out: the
/// scheduler then favours a waiting request, and the data path has all of
/// the CPU again as soon as the request is answered. Every client created
/// after it is set is niced, also those of the lag monitor and of cluster
/// mode's registry topic. Linux keeps nice values per thread, and raising
/// one needs no privilege.
public enum DataPathPriority {
    private static let niceness = Atomic<Int32>(0)

    /// 0 (the default) leaves every thread as it was created.
    public static var nice: Int32 {
        get { niceness.load(ordering: .relaxed) }
        set { niceness.store(min(max(newValue, 0), 19), ordering: .relaxed) }
    }

    /// Gives the calling thread the data path's nice value.
    public static func applyToCurrentThread() {
        apply(nice)
    }

    fileprivate static func apply(_ value: Int32) {
        guard value > 0 else { return }
        // PRIO_PROCESS with 0 names the calling thread on Linux.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, value)
    }

    /// Registers the interceptor that renices librdkafka's threads as they start.
    ///
    /// The value is taken now and travels in the interceptor's opaque
    /// pointer: librdkafka starts its threads asynchronously, and a thread
    /// that read ``nice`` when it got to run would miss a value set only
    /// while the client was created.
    static func install(on conf: OpaquePointer) {
        let value = nice
        guard value > 0 else { return }
        _ = rd_kafka_conf_interceptor_add_on_new(
            conf, "consumerd.data-path-priority", onNew, UnsafeMutableRawPointer(bitPattern: Int(value)))
    }
}

private let onNew: @convention(c) (
    OpaquePointer?, OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<CChar>?, Int
) -> rd_kafka_resp_err_t = { handle, _, value, _, _ in
    rd_kafka_interceptor_add_on_thread_start(handle, "consumerd.data-path-priority", onThreadStart, value)
}

private let onThreadStart: @convention(c) (
    OpaquePointer?, rd_kafka_thread_type_t, UnsafePointer<CChar>?, UnsafeMutableRawPointer?
) -> rd_kafka_resp_err_t = { _, _, _, value in
    DataPathPriority.apply(Int32(truncatingIfNeeded: Int(bitPattern: value)))
    return RD_KAFKA_RESP_ERR_NO_ERROR
}
