"""Produces Avro records with confluent-kafka's own AvroSerializer (which
registers the schema with the registry and frames each record).

Usage: avro_produce.py BOOTSTRAP TOPIC REGISTRY_URL SCHEMA_FILE [--partition N] [--schema-id ID] < records.json
With --schema-id the registry is not contacted: records are framed with that
id and encoded with fastavro (for producing while the registry is down).
records.json: a JSON list of {"key": str|null, "value": {...}}.
Timestamps given as ISO-8601 strings are turned into datetimes, and
decimals given as strings into Decimals, where the schema asks for them.
"""

import argparse
import datetime
import decimal
import io
import json
import struct
import sys

import fastavro

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def convert(value, schema, named):
    if isinstance(schema, str):
        schema = named.get(schema, schema)
    if isinstance(schema, list):
        if value is None:
            return None
        branch = next(b for b in schema if b != "null")
        return convert(value, branch, named)
    if isinstance(schema, dict):
        t = schema["type"]
        logical = schema.get("logicalType")
        if t in ("record", "enum", "fixed") and "name" in schema:
            named[schema["name"]] = schema
        if logical in ("timestamp-millis", "timestamp-micros") and isinstance(value, str):
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if logical == "decimal" and isinstance(value, (str, int, float)):
            return decimal.Decimal(str(value))
        if t == "record":
            return {f["name"]: convert(value.get(f["name"]), f["type"], named) for f in schema["fields"] if f["name"] in value}
        if t == "array":
            return [convert(v, schema["items"], named) for v in value]
    return value


def main():
    parser = argparse.ArgumentParser()
    for name in ("bootstrap", "topic", "registry", "schema"):
        parser.add_argument(name)
    parser.add_argument("--partition", type=int)
    parser.add_argument("--schema-id", type=int)
    args = parser.parse_args()
    schema_text = open(args.schema).read()
    schema = json.loads(schema_text)
    if args.schema_id is None:
        serializer = AvroSerializer(SchemaRegistryClient({"url": args.registry}), schema_text)
    else:
        parsed = fastavro.parse_schema(schema)

        def serializer(value, _context):
            buffer = io.BytesIO()
            buffer.write(struct.pack(">bI", 0, args.schema_id))
            fastavro.schemaless_writer(buffer, parsed, value)
            return buffer.getvalue()
    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all"})
    context = SerializationContext(args.topic, MessageField.VALUE)
    for item in json.load(sys.stdin):
        value = serializer(convert(item["value"], schema, {}), context)
        kwargs = {"key": item.get("key", "").encode() if item.get("key") is not None else None, "value": value}
        if args.partition is not None:
            kwargs["partition"] = args.partition
        producer.produce(args.topic, **kwargs)
        producer.poll(0)
    sys.exit(1 if producer.flush(30) else 0)


if __name__ == "__main__":
    main()
