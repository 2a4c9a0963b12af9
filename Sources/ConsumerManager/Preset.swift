import DataModel
import Pipeline

/// Named record paths for the record shapes of the seeds: a schema, quality
/// rules, sequence tracking and transforms that a spec names with
/// `"preset": "market-trades"` and overrides section by section.
public enum Preset: String, Sendable, CaseIterable, Codable {
    /// E-commerce transactions (seed 002's TransactionStreamConsumer).
    case transactions
    /// Clickstream events (seed 002's UserBehaviorStreamConsumer).
    case userBehavior = "user-behavior"
    /// Market trades with per-symbol sequence numbers (seed 000).
    case marketTrades = "market-trades"
    /// Database telemetry metrics (seed 001).
    case telemetryMetrics = "telemetry-metrics"
    /// Application log events (seed 003).
    case applicationLogs = "application-logs"

    public var summary: String {
        switch self {
        case .transactions: "E-commerce transactions (seed 002): schema, price/quantity checks, total_amount, processing time, hour and weekday; invalid transactions filtered out."
        case .userBehavior: "Clickstream events (seed 002): schema, processing time, hour and weekday, mobile vs desktop, page type; events without ids filtered out."
        case .marketTrades: "Market trades (seed 000): schema, per-symbol sequence gap tracking, price and freshness checks, notional value."
        case .telemetryMetrics: "Database telemetry metrics (seed 001): schema, not-null checks, alert level for high CPU, processing time."
        case .applicationLogs: "Application log events (seed 003): schema with log levels, not-null checks, error flag, hour and weekday."
        }
    }

    /// The preset's stages, as a spec would write them.
    public var recordPath: RecordPathSpec {
        // The texts below are fixed and tested; a failure here is a bug in them.
        try! StrictJSON.decode(PresetSections.self, from: Array(json.utf8)).recordPath
    }

    /// The preset as JSON, exactly what `GET /presets` shows.
    public var json: String {
        switch self {
        case .transactions: Self.transactionsJSON
        case .userBehavior: Self.userBehaviorJSON
        case .marketTrades: Self.marketTradesJSON
        case .telemetryMetrics: Self.telemetryMetricsJSON
        case .applicationLogs: Self.applicationLogsJSON
        }
    }

    private static let transactionsJSON = #"""
        {
          "validation": {"schema": {
            "type": "object",
            "required": ["transaction_id", "user_id", "product_id", "price", "quantity", "timestamp"],
            "properties": {
              "transaction_id": {"type": "string", "minLength": 1},
              "user_id": {"type": "string"}, "session_id": {"type": "string"},
              "product_id": {"type": "string"}, "product_name": {"type": "string"},
              "category_id": {"type": "string"}, "category_name": {"type": "string"}, "subcategory": {"type": "string"},
              "brand": {"type": "string"},
              "price": {"type": "number", "minimum": 0},
              "quantity": {"type": "integer", "minimum": 0},
              "discount_applied": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
              "payment_method": {"type": "string"}, "payment_provider": {"type": "string"},
              "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
              "timestamp": {"type": "string", "format": "date-time"},
              "user_location": {"type": "object", "properties": {
                "country": {"type": "string"}, "state": {"type": "string"}, "city": {"type": "string"},
                "zip_code": {"type": "string"}, "latitude": {"type": "number"}, "longitude": {"type": "number"}}},
              "device_info": {"type": "object", "properties": {
                "type": {"type": "string"}, "os": {"type": "string"}, "browser": {"type": "string"}, "user_agent": {"type": "string"}}},
              "marketing_attribution": {"type": "object", "properties": {
                "campaign_id": {"type": "string"}, "channel": {"type": "string"}, "referrer": {"type": "string"}}}
            }
          }},
          "quality": {"rules": [
            {"check": "not_null", "field": "transaction_id"},
            {"check": "not_null", "field": "user_id"},
            {"check": "range", "field": "price", "min": 0, "max": 1000000}
          ], "on_violation": "flag"},
          "transforms": [
            {"type": "compute", "field": "total_amount", "expression": "round(price * quantity * (1 - coalesce(discount_applied, 0)), 2)"},
            {"type": "add_processing_time", "field": "processing_time"},
            {"type": "time_parts", "field": "timestamp", "hour_field": "hour_of_day", "day_of_week_field": "day_of_week"},
            {"type": "filter", "where": {"all": [{"field": "price", "op": ">", "value": 0}, {"field": "quantity", "op": ">", "value": 0}]}}
          ]
        }
        """#

    private static let userBehaviorJSON = #"""
        {
          "validation": {"schema": {
            "type": "object",
            "required": ["event_id", "user_id", "event_type", "timestamp"],
            "properties": {
              "event_id": {"type": "string"}, "user_id": {"type": "string"}, "session_id": {"type": "string"},
              "event_type": {"type": "string"}, "event_category": {"type": "string"},
              "page_url": {"type": "string"}, "page_title": {"type": "string"},
              "timestamp": {"type": "string", "format": "date-time"},
              "duration_ms": {"type": ["integer", "null"], "minimum": 0},
              "event_properties": {"type": "object", "additionalProperties": {"type": "string"}},
              "user_location": {"type": "object", "properties": {
                "country": {"type": "string"}, "state": {"type": "string"}, "city": {"type": "string"}, "ip_address": {"type": "string"}}},
              "device_info": {"type": "object", "properties": {
                "type": {"type": "string"}, "os": {"type": "string"}, "browser": {"type": "string"},
                "screen_resolution": {"type": "string"}, "viewport_size": {"type": "string"}}}
            }
          }},
          "quality": {"rules": [
            {"check": "not_null", "field": "event_id"},
            {"check": "not_null", "field": "user_id"}
          ], "on_violation": "flag"},
          "transforms": [
            {"type": "add_processing_time", "field": "processing_time"},
            {"type": "time_parts", "field": "timestamp", "hour_field": "hour_of_day", "day_of_week_field": "day_of_week"},
            {"type": "classify", "field": "is_mobile", "cases": [
              {"when": {"field": "device_info.type", "op": "in", "value": ["mobile", "tablet"]}, "value": true}
            ], "default": false},
            {"type": "classify", "field": "page_type", "cases": [
              {"when": {"field": "page_url", "op": "contains", "value": "/product"}, "value": "product"},
              {"when": {"field": "page_url", "op": "contains", "value": "/category"}, "value": "category"},
              {"when": {"field": "page_url", "op": "contains", "value": "/cart"}, "value": "cart"},
              {"when": {"field": "page_url", "op": "contains", "value": "/checkout"}, "value": "checkout"},
              {"when": {"field": "page_url", "op": "contains", "value": "/search"}, "value": "search"}
            ], "default": "other"},
            {"type": "filter", "where": {"all": [{"field": "event_id", "op": "exists"}, {"field": "user_id", "op": "exists"}]}}
          ]
        }
        """#

    private static let marketTradesJSON = #"""
        {
          "validation": {"schema": {
            "type": "object",
            "required": ["symbol", "sequence_number", "price", "quantity", "timestamp"],
            "properties": {
              "symbol": {"type": "string", "minLength": 1},
              "sequence_number": {"type": "integer", "minimum": 0},
              "price": {"type": "number", "exclusiveMinimum": 0},
              "quantity": {"type": "integer", "minimum": 1},
              "side": {"type": "string", "enum": ["BUY", "SELL"]},
              "exchange": {"type": "string"},
              "timestamp": {"type": "string", "format": "date-time"}
            }
          }},
          "quality": {"rules": [
            {"check": "not_null", "field": "symbol"},
            {"check": "range", "field": "price", "min": 0},
            {"check": "freshness", "field": "timestamp", "max_age_s": 300}
          ], "on_violation": "flag"},
          "sequence": {"key_field": "symbol", "sequence_field": "sequence_number", "max_keys": 100000, "drop_duplicates": false},
          "transforms": [
            {"type": "compute", "field": "notional", "expression": "price * quantity"},
            {"type": "add_processing_time", "field": "ingested_at"}
          ]
        }
        """#

    private static let telemetryMetricsJSON = #"""
        {
          "validation": {"schema": {
            "type": "object",
            "required": ["timestamp", "database_type", "instance_id", "metric_name", "value"],
            "properties": {
              "timestamp": {"type": "string", "format": "date-time"},
              "database_type": {"type": "string"},
              "instance_id": {"type": "string"},
              "metric_name": {"type": "string"},
              "value": {"type": "number"},
              "tags": {"type": "object", "additionalProperties": {"type": "string"}}
            }
          }},
          "quality": {"rules": [
            {"check": "not_null", "field": "instance_id"},
            {"check": "not_null", "field": "metric_name"},
            {"check": "freshness", "field": "timestamp", "max_age_s": 600}
          ], "on_violation": "flag"},
          "transforms": [
            {"type": "classify", "field": "alert_level", "cases": [
              {"when": {"all": [{"field": "metric_name", "op": "==", "value": "cpu_usage_percent"}, {"field": "value", "op": ">", "value": 80}]}, "value": "high"}
            ], "default": "normal"},
            {"type": "add_processing_time", "field": "processed_at"}
          ]
        }
        """#

    private static let applicationLogsJSON = #"""
        {
          "validation": {"schema": {
            "type": "object",
            "required": ["timestamp", "level", "service", "message"],
            "properties": {
              "timestamp": {"type": "string", "format": "date-time"},
              "level": {"type": "string", "enum": ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]},
              "service": {"type": "string", "minLength": 1},
              "message": {"type": "string"},
              "trace_id": {"type": ["string", "null"]},
              "user_id": {"type": ["string", "null"]},
              "metadata": {"type": "object"}
            }
          }},
          "quality": {"rules": [
            {"check": "not_null", "field": "service"},
            {"check": "not_null", "field": "message"}
          ], "on_violation": "flag"},
          "transforms": [
            {"type": "classify", "field": "is_error", "cases": [
              {"when": {"field": "level", "op": "in", "value": ["ERROR", "FATAL"]}, "value": true}
            ], "default": false},
            {"type": "time_parts", "field": "timestamp", "hour_field": "hour_of_day", "day_of_week_field": "day_of_week"},
            {"type": "add_processing_time", "field": "processed_at"}
          ]
        }
        """#
}

/// The sections a preset fills, decoded like a spec's.
private struct PresetSections: Decodable {
    var recordPath: RecordPathSpec

    enum CodingKeys: String, CodingKey, CaseIterable { case validation, quality, sequence, transforms }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        recordPath = RecordPathSpec(
            validation: try container.decodeUnlessAbsent(ValidationSpec.self, forKey: .validation),
            quality: try container.decodeUnlessAbsent(QualitySpec.self, forKey: .quality),
            sequence: try container.decodeUnlessAbsent(SequenceSpec.self, forKey: .sequence),
            transforms: try container.decodeUnlessAbsent([TransformSpec].self, forKey: .transforms))
    }
}
