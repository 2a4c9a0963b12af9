import CRdKafka
import Logging

/// Routes librdkafka's own log lines (called on librdkafka's threads) into swift-log.
/// The `opaque` of every handle we create is a ``ClientContext``.
let logCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    rk, level, facility, message in
    guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
    let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    let text = message.map { String(cString: $0) } ?? ""
    context.logger.log(
        level: Logger.Level(syslogLevel: level),
        "librdkafka: \(text)",
        metadata: [
            "facility": .string(facility.map { String(cString: $0) } ?? ""),
            "client": .string(String(cString: rd_kafka_name(rk))),
        ]
    )
}

/// Global client errors (all brokers down, authentication, fatal). Served on
/// the thread that polls the handle.
let errorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    rk, code, reason, opaque in
    guard let rk, let opaque else { return }
    let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    var error = KafkaError(rd_kafka_resp_err_t(rawValue: code), context: reason.map { String(cString: $0) })
    if code == RD_KAFKA_RESP_ERR__FATAL.rawValue {
        var reason = ErrorText()
        let underlying = rd_kafka_fatal_error(rk, &reason.buffer, reason.buffer.count)
        error = KafkaError(
            code: KafkaError.Code(underlying),
            message: "fatal: " + reason.string,
            isFatal: true
        )
    }
    context.report(error)
}

extension Logger.Level {
    init(syslogLevel level: Int32) {
        switch level {
        case ...2: self = .critical
        case 3: self = .error
        case 4: self = .warning
        case 5: self = .notice
        case 6: self = .info
        default: self = .debug
        }
    }
}
