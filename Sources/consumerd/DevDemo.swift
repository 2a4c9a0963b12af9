import ConsumerManager
import Foundation
import Kafka
import Logging
import ServiceLifecycle

/// What `serve --dev` sets up so that a newcomer sees a live system.
enum DevDemo {
    static let topic = "market.trades"
    static let consumerName = "demo-trades"

    /// Registers (once) a consumer that writes the demo trades to a file.
    static func registerConsumer(in manager: ConsumerManager, logger: Logger) {
        guard (try? manager.status(consumerName)) == nil else { return }
        let spec = ConsumerSpec(
            name: consumerName,
            description: "Demo: market trades from the embedded cluster to sinks/demo-trades.jsonl",
            topics: [topic],
            batch: .init(maxRecords: 500, maxWaitMilliseconds: 1000),
            sink: .init(type: .file, path: "demo-trades.jsonl"))
        do {
            _ = try manager.create(spec)
        } catch {
            logger.error("could not register the demo consumer", metadata: ["error": "\(error)"])
        }
    }
}

/// Produces a steady stream of market trades to the demo topic: `symbol`,
/// per-symbol `sequence_number`, `price`, `quantity`, `timestamp`.
struct DemoProducerService: Service {
    let producer: KafkaProducer
    let rate: Int
    let logger: Logger

    static let symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "ASX:BHP"]

    init(bootstrap: String, rate: Int, logger: Logger) throws {
        self.producer = try KafkaProducer(
            config: KafkaConfig(["bootstrap.servers": bootstrap, "linger.ms": "20", "acks": "all"]),
            logger: logger)
        self.rate = rate
        self.logger = logger
    }

    func run() async throws {
        let interval = Duration.seconds(1) / rate
        logger.info("demo producer started", metadata: ["topic": "\(DevDemo.topic)", "rate_per_second": "\(rate)"])
        await cancelWhenGracefulShutdown {
            var sequence: [String: Int] = [:]
            var prices = Dictionary(uniqueKeysWithValues: Self.symbols.map { ($0, Double.random(in: 50...500)) })
            while !Task.isCancelled {
                let symbol = Self.symbols.randomElement()!
                let next = (sequence[symbol] ?? 0) + 1
                sequence[symbol] = next
                let price = max(1, (prices[symbol] ?? 100) * Double.random(in: 0.998...1.002))
                prices[symbol] = price
                let trade = #"{"symbol":"\#(symbol)","sequence_number":\#(next),"price":\#((price * 100).rounded() / 100),"quantity":\#(Int.random(in: 1...500)),"timestamp":"\#(Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))"}"#
                do {
                    try producer.send(topic: DevDemo.topic, key: Array(symbol.utf8), value: Array(trade.utf8))
                } catch {
                    logger.warning("demo produce failed", metadata: ["error": "\(error)"])
                }
                producer.poll()
                try? await Task.sleep(for: interval)
            }
        }
        try? producer.flush(timeout: .seconds(5))
        logger.info("demo producer stopped", metadata: ["delivered": "\(producer.delivered)", "failed": "\(producer.failed)"])
    }
}
