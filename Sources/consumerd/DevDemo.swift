import Avro
import ConsumerManager
import DataModel
import Foundation
import Kafka
import Logging
import Pipeline
import ServiceLifecycle

/// What `serve --dev` sets up so that a newcomer sees a live system: market
/// trades produced as Confluent-framed Avro through an embedded Schema
/// Registry, and a consumer with the `market-trades` preset (validation,
/// quality checks, per-symbol sequence tracking, a computed `notional`).
enum DevDemo {
    static let topic = "market.trades"
    static let consumerName = "demo-trades"
    static let subject = "market.trades-value"

    /// The trades' Avro schema, as the seed's producers would register it.
    static let schema = #"""
        {"type": "record", "name": "Trade", "namespace": "market", "fields": [
          {"name": "symbol", "type": "string"},
          {"name": "sequence_number", "type": "long"},
          {"name": "price", "type": "double"},
          {"name": "quantity", "type": "int"},
          {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}},
          {"name": "exchange", "type": ["null", "string"], "default": null},
          {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}}
        ]}
        """#

    /// Registers the demo consumer, or points it at this run's registry
    /// (its port changes with every start).
    static func registerConsumer(in manager: ConsumerManager, registryURL: String, logger: Logger) {
        let spec = ConsumerSpec(
            name: consumerName,
            description: "Demo: Avro market trades from the embedded cluster, market-trades preset, to sinks/demo-trades.jsonl",
            topics: [topic],
            format: FormatSpec(type: .avro, schemaRegistry: .init(url: registryURL)),
            preset: .marketTrades,
            batch: .init(maxRecords: 500, maxWaitMilliseconds: 1000),
            sink: .file("demo-trades.jsonl"))
        do {
            _ = try manager.replace(consumerName, with: spec)
        } catch {
            logger.error("could not register the demo consumer", metadata: ["error": "\(error)"])
        }
    }
}

/// Produces a steady stream of market trades to the demo topic: `symbol`,
/// per-symbol `sequence_number`, `price`, `quantity`, `side`, `timestamp`,
/// as Avro framed with the registry's schema id.
struct DemoProducerService: Service {
    let producer: KafkaProducer
    let rate: Int
    let logger: Logger
    let schemaID: Int32

    static let symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "BHP"]

    init(bootstrap: String, registry: DevSchemaRegistry, rate: Int, logger: Logger) throws {
        self.producer = try KafkaProducer(
            config: KafkaConfig(["bootstrap.servers": bootstrap, "linger.ms": "20", "acks": "all"]),
            logger: logger)
        self.rate = rate
        self.logger = logger
        self.schemaID = Int32(registry.register(DevDemo.schema, subject: DevDemo.subject))
    }

    func run() async throws {
        let interval = Duration.seconds(1) / rate
        let schema = try AvroSchema(text: DevDemo.schema)
        logger.info("demo producer started", metadata: ["topic": "\(DevDemo.topic)", "rate_per_second": "\(rate)", "schema_id": "\(schemaID)"])
        await cancelWhenGracefulShutdown {
            // The schema is fixed and tested; an encoder belongs to one task.
            let encoder = try! AvroEncoder(schema: schema)
            var sequence: [String: Int] = [:]
            var prices = Dictionary(uniqueKeysWithValues: Self.symbols.map { ($0, Double.random(in: 50...500)) })
            while !Task.isCancelled {
                let symbol = Self.symbols.randomElement()!
                let next = (sequence[symbol] ?? 0) + 1
                sequence[symbol] = next
                let price = max(1, (prices[symbol] ?? 100) * Double.random(in: 0.998...1.002))
                prices[symbol] = price
                let trade: Value = [
                    "symbol": .string(symbol), "sequence_number": .int(Int64(next)), "price": .double((price * 100).rounded() / 100),
                    "quantity": .int(Int64.random(in: 1...500)), "side": .string(Bool.random() ? "BUY" : "SELL"),
                    "exchange": symbol == "BHP" ? "ASX" : "XNAS", "timestamp": .timestamp(Int64(Date().timeIntervalSince1970 * 1e6), .milliseconds, utc: true),
                ]
                do {
                    let payload = ConfluentWireFormat.frame(schemaID: schemaID, payload: try encoder.encode(trade))
                    try producer.send(topic: DevDemo.topic, key: Array(symbol.utf8), value: payload)
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
