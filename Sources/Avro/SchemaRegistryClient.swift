import DataModel
import Dispatch
import Glibc
import HTTPClient
import Synchronization

/// Reads writer schemas from a Confluent Schema Registry by id
/// (`GET /schemas/ids/{id}`), for every consumer of the server that names
/// the same registry: one cache, bounded, and one request per id however
/// many consumers ask at once.
///
/// Errors keep their class: an id the registry says does not exist, or a
/// schema that is not Avro, is permanent for the record; an unreachable,
/// slow, failing or credential-refusing registry is transient, so a good
/// record never becomes poison because the registry was down.
public final class SchemaRegistryClient: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var url: String
        public var username: String?
        public var password: String?
        public var timeout: Duration
        /// Attempts per look-up before the error is reported (transient ones only).
        public var attempts: Int
        public var cacheSize: Int

        public init(
            url: String, username: String? = nil, password: String? = nil, timeout: Duration = .seconds(5),
            attempts: Int = 3, cacheSize: Int = 1000
        ) {
            self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
            self.username = username
            self.password = password
            self.timeout = timeout
            self.attempts = attempts
            self.cacheSize = cacheSize
        }
    }

    public let configuration: Configuration
    private let state = Mutex<State>(State())
    /// How long "no such id" is remembered, so poison records do not hammer the registry.
    private static let notFoundTTL: Duration = .seconds(30)

    private struct State {
        var cache: [Int32: Cached] = [:]
        var clock: UInt64 = 0
        var inFlight: [Int32: Flight] = [:]
        var fetches = 0
    }

    private struct Cached {
        var result: Result<AvroSchema, SchemaRegistryError>
        var lastUsed: UInt64
        var expires: ContinuousClock.Instant?
    }

    /// One look-up in progress; later askers for the same id wait for it.
    private final class Flight: Sendable {
        let group = DispatchGroup()
        let result = Mutex<Result<AvroSchema, SchemaRegistryError>?>(nil)
        init() { group.enter() }
    }

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Registry requests made so far (for tests of the cache and single-flight).
    public var fetchCount: Int { state.withLock { $0.fetches } }

    /// The writer schema with this id. Blocks while it is fetched.
    public func schema(id: Int32) throws(SchemaRegistryError) -> AvroSchema {
        enum Step { case cached(Result<AvroSchema, SchemaRegistryError>), wait(Flight), fetch(Flight) }
        let now = ContinuousClock.now
        let step = state.withLock { state -> Step in
            state.clock += 1
            if var cached = state.cache[id] {
                if let expires = cached.expires, expires <= now {
                    state.cache[id] = nil
                } else {
                    cached.lastUsed = state.clock
                    state.cache[id] = cached
                    return .cached(cached.result)
                }
            }
            if let flight = state.inFlight[id] { return .wait(flight) }
            let flight = Flight()
            state.inFlight[id] = flight
            state.fetches += 1
            return .fetch(flight)
        }
        switch step {
        case .cached(let result):
            return try result.get()
        case .wait(let flight):
            let deadline = configuration.timeout * (configuration.attempts + 1)
            guard flight.group.wait(timeout: .now() + .nanoseconds(Int(deadline.components.seconds * 1_000_000_000))) == .success,
                let result = flight.result.withLock({ $0 })
            else {
                throw .unavailable("\(configuration.url): timed out waiting for schema \(id)")
            }
            return try result.get()
        case .fetch(let flight):
            let result = fetchWithRetries(id)
            state.withLock { state in
                state.inFlight[id] = nil
                // Transient failures are not cached: the next record asks again.
                switch result {
                case .success:
                    store(id, Cached(result: result, lastUsed: state.clock, expires: nil), in: &state)
                case .failure(let error) where !error.isTransient:
                    store(id, Cached(result: result, lastUsed: state.clock, expires: .now + Self.notFoundTTL), in: &state)
                case .failure:
                    break
                }
            }
            flight.result.withLock { $0 = result }
            flight.group.leave()
            return try result.get()
        }
    }

    private func store(_ id: Int32, _ entry: Cached, in state: inout State) {
        if state.cache.count >= configuration.cacheSize,
            let oldest = state.cache.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key
        {
            state.cache[oldest] = nil
        }
        state.cache[id] = entry
    }

    private func fetchWithRetries(_ id: Int32) -> Result<AvroSchema, SchemaRegistryError> {
        var attempt = 0
        var backoff = Duration.milliseconds(100)
        while true {
            attempt += 1
            let result = fetch(id)
            guard case .failure(let error) = result, error.isTransient, attempt < configuration.attempts else { return result }
            sleepThread(backoff)
            backoff *= 2
        }
    }

    private func fetch(_ id: Int32) -> Result<AvroSchema, SchemaRegistryError> {
        let url = "\(configuration.url)/schemas/ids/\(id)"
        var request = HTTPClient.Request(
            url: url, headers: [("Accept", "application/vnd.schemaregistry.v1+json, application/json")],
            timeout: configuration.timeout, maxResponseBytes: 2 * AvroSchema.maxTextBytes)
        if let username = configuration.username {
            request.basicAuth = (username, configuration.password ?? "")
        }
        let where_ = HTTPClient.describe(configuration.url)
        let response: HTTPClient.Response
        do {
            response = try HTTPClient().perform(request)
        } catch {
            // Refused, reset, timed out: the registry's state, never the record's.
            return .failure(.unavailable("\(where_): \(error.message)"))
        }
        let body = try? JSONParser.parse(response.body, duplicateKeys: .lastWins)
        switch response.status {
        case 200:
            guard let text = body?.objectValue?["schema"]?.stringValue else {
                return .failure(.unavailable("\(where_): schema \(id): the response has no 'schema' string"))
            }
            if let type = body?.objectValue?["schemaType"]?.stringValue, type != "AVRO" {
                return .failure(.notAvro(id: id, type: type))
            }
            if let references = body?.objectValue?["references"]?.arrayValue, !references.isEmpty {
                return .failure(.invalidSchema(id: id, AvroError(.schema, "schema references are not supported")))
            }
            do {
                return .success(try AvroSchema(text: text))
            } catch {
                return .failure(.invalidSchema(id: id, error))
            }
        case 404 where body?.objectValue?["error_code"]?.integerValue == 40403:
            return .failure(.notFound(id: id))
        default:
            // 5xx, auth refusals, a proxy's 404: the registry's problem, not the record's.
            let detail = body?.objectValue?["message"]?.stringValue ?? "HTTP \(response.status)"
            return .failure(.unavailable("\(where_): schema \(id): HTTP \(response.status): \(detail)"))
        }
    }
}

/// Why a writer schema could not be had.
public enum SchemaRegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The registry says the id does not exist (error 40403): permanent.
    case notFound(id: Int32)
    /// The id names a Protobuf or JSON schema: permanent.
    case notAvro(id: Int32, type: String)
    /// The schema cannot be used (not valid Avro, references): permanent.
    case invalidSchema(id: Int32, AvroError)
    /// Unreachable, timing out, failing or refusing credentials: transient.
    case unavailable(String)

    public var isTransient: Bool {
        if case .unavailable = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .notFound(let id): "schema id \(id) does not exist in the registry"
        case .notAvro(let id, let type): "schema id \(id) is \(type), not Avro"
        case .invalidSchema(let id, let error): "schema id \(id) cannot be used: \(error.message)"
        case .unavailable(let reason): "schema registry unavailable: \(reason)"
        }
    }
}

/// Sleeps the calling (dedicated, non-cooperative) thread.
func sleepThread(_ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    var remaining = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    while true {
        var request = remaining
        guard nanosleep(&request, &remaining) == -1, errno == EINTR else { return }
    }
}

