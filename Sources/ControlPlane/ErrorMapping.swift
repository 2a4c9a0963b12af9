import DataModel
import ConsumerManager
import HTTPServer

extension HTTPError {
    /// The REST face of a manager error.
    init(_ error: ConsumerManagerError) {
        switch error.kind {
        case .invalidSpec, .invalidRequest:
            let message = error.field.map { "\($0): \(error.message)" } ?? error.message
            self.init(status: 400, code: error.kind.rawValue, message: message, field: error.field)
        case .notFound:
            self.init(status: 404, code: error.kind.rawValue, message: error.message)
        case .alreadyExists, .conflict, .limitExceeded, .consumerFailed:
            self.init(status: 409, code: error.kind.rawValue, message: error.message, field: error.field)
        case .waitTimeout:
            self.init(status: 408, code: error.kind.rawValue, message: error.message)
        case .shuttingDown:
            self.init(status: 503, code: error.kind.rawValue, message: error.message, headers: [.init("Retry-After", "5")])
        case .kafkaUnavailable:
            self.init(status: 503, code: error.kind.rawValue, message: error.message, headers: [.init("Retry-After", "5")])
        case .persistence:
            // The details (paths, errno) go to the log, not to the client.
            self.init(status: 500, code: error.kind.rawValue, message: "the consumer's spec could not be saved; see the server log")
        }
    }

    /// A body that failed to decode: `invalid_spec` for a consumer spec,
    /// `invalid_request` for other bodies.
    init(_ failure: StrictJSON.Failure, code: String = "invalid_spec") {
        if let field = failure.field {
            self.init(status: 400, code: code, message: "\(field): \(failure.message)", field: field)
        } else {
            self.init(status: 400, code: "invalid_json", message: failure.message)
        }
    }
}
