import CRdKafka

/// An error from librdkafka or from this wrapper, carrying librdkafka's code and name.
public struct KafkaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A librdkafka error code (`rd_kafka_resp_err_t`), negative for client-side errors.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int32

        public init(rawValue: Int32) { self.rawValue = rawValue }
        init(_ err: rd_kafka_resp_err_t) { self.rawValue = err.rawValue }

        /// librdkafka's symbolic name, e.g. `_PARTITION_EOF` or `UNKNOWN_TOPIC_OR_PART`.
        public var name: String { String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: rawValue))) }
        public var description: String { name }

        public static let noError = Code(RD_KAFKA_RESP_ERR_NO_ERROR)
        public static let invalidArgument = Code(RD_KAFKA_RESP_ERR__INVALID_ARG)
        public static let state = Code(RD_KAFKA_RESP_ERR__STATE)
        public static let timedOut = Code(RD_KAFKA_RESP_ERR__TIMED_OUT)
        public static let partitionEOF = Code(RD_KAFKA_RESP_ERR__PARTITION_EOF)
        public static let noOffset = Code(RD_KAFKA_RESP_ERR__NO_OFFSET)
        public static let allBrokersDown = Code(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        public static let transport = Code(RD_KAFKA_RESP_ERR__TRANSPORT)
        public static let fatal = Code(RD_KAFKA_RESP_ERR__FATAL)
        public static let queueFull = Code(RD_KAFKA_RESP_ERR__QUEUE_FULL)
        public static let unknownTopic = Code(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
        public static let unknownTopicOrPartition = Code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        public static let unknownPartition = Code(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
        public static let topicAlreadyExists = Code(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        public static let maxPollExceeded = Code(RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED)
        public static let assignmentLost = Code(RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST)
        public static let destroyed = Code(RD_KAFKA_RESP_ERR__DESTROY)
        public static let authentication = Code(RD_KAFKA_RESP_ERR__AUTHENTICATION)
        public static let topicAuthorizationFailed = Code(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
        public static let groupAuthorizationFailed = Code(RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED)
        public static let leaderNotAvailable = Code(RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
        public static let messageTooLarge = Code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        public static let invalidRecord = Code(RD_KAFKA_RESP_ERR_INVALID_RECORD)
        public static let badMessage = Code(RD_KAFKA_RESP_ERR__BAD_MSG)
        public static let messageTimedOut = Code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
        /// A newer producer with the same transactional id took over.
        public static let producerFenced = Code(RD_KAFKA_RESP_ERR__FENCED)
    }

    public let code: Code
    public let message: String
    /// The client instance cannot continue; it must be destroyed and recreated.
    public let isFatal: Bool
    /// Retrying the same operation may succeed.
    public let isRetriable: Bool
    /// A transaction failed in a way that only aborting it can clear.
    public let requiresAbort: Bool

    public init(code: Code, message: String, isFatal: Bool = false, isRetriable: Bool = false, requiresAbort: Bool = false) {
        self.code = code
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
        self.requiresAbort = requiresAbort
    }

    init(_ err: rd_kafka_resp_err_t, context: String? = nil) {
        let text = String(cString: rd_kafka_err2str(err))
        self.init(
            code: Code(err),
            message: context.map { "\($0): \(text)" } ?? text,
            isFatal: err == RD_KAFKA_RESP_ERR__FATAL,
            isRetriable: Self.retriableCodes.contains(err.rawValue)
        )
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer, context: String? = nil) {
        let text = String(cString: rd_kafka_error_string(error))
        self.init(
            code: Code(rd_kafka_error_code(error)),
            message: context.map { "\($0): \(text)" } ?? text,
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            isRetriable: rd_kafka_error_is_retriable(error) != 0,
            requiresAbort: rd_kafka_error_txn_requires_abort(error) != 0
        )
        rd_kafka_error_destroy(error)
    }

    public var description: String { "\(code.name): \(message)" }

    private static let retriableCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue,
        RD_KAFKA_RESP_ERR__TRANSPORT.rawValue,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue,
        RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT.rawValue,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR.rawValue,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE.rawValue,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS.rawValue,
        RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS.rawValue,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE.rawValue,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue,
        RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION.rawValue,
    ]

    static func invalidArgument(_ message: String) -> KafkaError {
        KafkaError(code: .invalidArgument, message: message)
    }
}

/// A zeroed buffer for librdkafka's `errstr` out-parameters.
struct ErrorText {
    var buffer = [CChar](repeating: 0, count: 512)

    var string: String { buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }
}

/// Turns a non-zero `rd_kafka_resp_err_t` into a thrown ``KafkaError``.
@inline(__always)
func check(_ err: rd_kafka_resp_err_t, _ context: @autoclosure () -> String) throws(KafkaError) {
    if err != RD_KAFKA_RESP_ERR_NO_ERROR {
        throw KafkaError(err, context: context())
    }
}
