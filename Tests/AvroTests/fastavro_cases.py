"""Avro conformance cases written and read by fastavro, an independent Avro
implementation, for consumerd's decoder to match value for value.

Prints a JSON list of cases to stdout:
  {"name", "writer": schema, "reader": schema | null,
   "records": [{"avro": base64 datum, "expected": JSON per consumerd's mapping}]}

`expected` is fastavro's reading (schemaless_reader with the reader schema)
turned into JSON by the mapping documented in the README: unions as their
plain value, enums as symbols, bytes/fixed as base64, decimals as exact
strings, dates, times and timestamps as ISO-8601 text, float as its
shortest single-precision form, NaN/Infinity as strings.
"""

import base64
import datetime
import decimal
import io
import json
import math
import struct
import sys
import uuid

import fastavro

UTC = datetime.timezone.utc


def shortest_float32(x):
    packed = struct.pack("<f", x)
    for precision in range(1, 10):
        text = "%.*g" % (precision, struct.unpack("<f", packed)[0])
        try:
            if struct.pack("<f", float(text)) == packed:
                return float(text)
        except OverflowError:  # A rounding past the largest float32.
            continue
    return struct.unpack("<f", packed)[0]


class Mapper:
    """fastavro's Python values to consumerd's JSON, directed by the schema."""

    def __init__(self, schema):
        self.named = {}
        self.root = self.index(schema, None)

    def index(self, schema, namespace):
        if isinstance(schema, list):
            return [self.index(s, namespace) for s in schema]
        if isinstance(schema, dict):
            t = schema["type"]
            if t in ("record", "error", "enum", "fixed"):
                name = schema["name"]
                ns = schema.get("namespace", namespace)
                full = name if "." in name or not ns else f"{ns}.{name}"
                self.named[full] = schema
                self.named[name.split(".")[-1]] = schema
                if t in ("record", "error"):
                    inner_ns = full.rsplit(".", 1)[0] if "." in full else None
                    for f in schema["fields"]:
                        self.index(f["type"], inner_ns)
            elif t == "array":
                self.index(schema["items"], namespace)
            elif t == "map":
                self.index(schema["values"], namespace)
        return schema

    def resolve(self, schema):
        if isinstance(schema, str) and schema in self.named:
            return self.named[schema]
        return schema

    def kind(self, schema):
        schema = self.resolve(schema)
        if isinstance(schema, str):
            return schema, None
        if isinstance(schema, list):
            return "union", None
        return schema["type"], schema.get("logicalType")

    def fits(self, schema, value):
        t, logical = self.kind(schema)
        if value is None:
            return t == "null"
        if isinstance(value, bool):
            return t == "boolean"
        if isinstance(value, datetime.datetime):
            return logical in ("timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros")
        if isinstance(value, datetime.date):
            return logical == "date"
        if isinstance(value, datetime.time):
            return logical in ("time-millis", "time-micros")
        if isinstance(value, decimal.Decimal):
            return logical == "decimal"
        if isinstance(value, uuid.UUID):
            return logical == "uuid"
        if isinstance(value, int):
            return t in ("int", "long") and logical is None
        if isinstance(value, float):
            return t in ("float", "double")
        if isinstance(value, str):
            return t in ("string", "enum")
        if isinstance(value, bytes):
            return t in ("bytes", "fixed")
        if isinstance(value, list):
            return t == "array"
        if isinstance(value, dict):
            return t in ("record", "error", "map")
        return False

    def to_json(self, value, schema):
        schema = self.resolve(schema)
        t, logical = self.kind(schema)
        if t == "union":
            branch = next(b for b in schema if self.fits(b, value))
            return self.to_json(value, branch)
        if value is None:
            return None
        # fastavro returns defaults of added fields as written in the schema
        # (a date as its day count, bytes as a string of code points 0-255);
        # the spec gives them the field's type, as for any value read.
        if logical == "date" and isinstance(value, int):
            value = datetime.date(1970, 1, 1) + datetime.timedelta(days=value)
        if t in ("bytes", "fixed") and isinstance(value, str):
            value = value.encode("latin-1")
        if logical == "decimal":
            return format(value, "f")
        if logical == "uuid":
            return str(value)
        if logical == "date":
            return value.isoformat()
        if logical == "time-millis":
            return value.strftime("%H:%M:%S.") + "%03d" % (value.microsecond // 1000)
        if logical == "time-micros":
            return value.strftime("%H:%M:%S.%f")
        if logical in ("timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros"):
            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            text = value.strftime("%Y-%m-%dT%H:%M:%S.")
            text += "%03d" % (value.microsecond // 1000) if logical.endswith("millis") else "%06d" % value.microsecond
            return text + ("" if logical.startswith("local") else "Z")
        if t in ("float", "double"):
            if math.isnan(value):
                return "NaN"
            if math.isinf(value):
                return "Infinity" if value > 0 else "-Infinity"
            return shortest_float32(value) if t == "float" else value
        if t in ("bytes", "fixed"):
            return base64.b64encode(value).decode()
        if t == "array":
            return [self.to_json(v, schema["items"]) for v in value]
        if t == "map":
            return {k: self.to_json(v, schema["values"]) for k, v in value.items()}
        if t in ("record", "error"):
            return {f["name"]: self.to_json(value[f["name"]], f["type"]) for f in schema["fields"]}
        return value


def case(name, writer, records, reader=None):
    parsed_writer = fastavro.parse_schema(writer)
    parsed_reader = fastavro.parse_schema(reader) if reader is not None else None
    mapper = Mapper(reader if reader is not None else writer)
    out = []
    for record in records:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed_writer, record)
        data = buffer.getvalue()
        read = fastavro.schemaless_reader(io.BytesIO(data), parsed_writer, parsed_reader)
        out.append({"avro": base64.b64encode(data).decode(), "expected": mapper.to_json(read, mapper.root)})
    return {"name": name, "writer": writer, "reader": reader, "records": out}


def record(name, fields, **extra):
    return {"type": "record", "name": name, "fields": fields, **extra}


def field(name, type_, **extra):
    return {"name": name, "type": type_, **extra}


def single(name, type_, values, reader_type=None):
    """A record with one field `v` of `type_` holding each of `values`."""
    writer = record("R", [field("v", type_)])
    reader = record("R", [field("v", reader_type)]) if reader_type is not None else None
    return case(name, writer, [{"v": v} for v in values], reader)


def cases():
    ts = datetime.datetime(2025, 11, 23, 17, 19, 34, 891123, tzinfo=UTC)
    before_epoch = datetime.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    dec = decimal.Decimal
    yield single("null", "null", [None])
    yield single("boolean", "boolean", [True, False])
    yield single("int", "int", [0, 1, -1, 2**31 - 1, -(2**31)])
    yield single("long", "long", [0, 2**63 - 1, -(2**63), 1234567890123])
    yield single("float", "float", [0.0, 0.1, -3.4028234663852886e38, 1e-7, 1.5, float("nan"), float("inf")])
    yield single("double", "double", [0.0, 0.1, 1e308, -2.5e-308, 5e-324, float("-inf")])
    yield single("bytes", "bytes", [b"", b"\x00\xff\x10", bytes(range(256))])
    yield single("string", "string", ["", "ascii", "é ☃ 😀", "quote \" backslash \\ newline \n tab \t \x01"])
    yield single("fixed", {"type": "fixed", "name": "F4", "size": 4}, [b"\x00\x01\x02\x03", b"\xff\xff\xff\xff"])
    yield single("enum", {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL", "HOLD"]}, ["BUY", "SELL", "HOLD"])
    yield single("array", {"type": "array", "items": "long"}, [[], [1, 2, 3], list(range(1000))])
    yield single("map", {"type": "map", "values": "string"}, [{}, {"a": "x", "b": "y", "é": "z"}])
    yield single("union", ["null", "string", "long", {"type": "array", "items": "int"}], [None, "s", 7, [1, 2]])
    yield single("decimal (bytes)", {"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 4},
                 [dec("0"), dec("12.3400"), dec("-12.3400"), dec("0.0001"), dec("-0.0001"), dec("9999999999999999.9999"),
                  dec("-9999999999999999.9999"), dec("128"), dec("-128"), dec("0.0128")])
    yield single("decimal (fixed)", {"type": "fixed", "name": "D8", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 2},
                 [dec("0.00"), dec("123456789012345.67"), dec("-123456789012345.67"), dec("-0.01")])
    yield single("decimal (scale 0)", {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 0},
                 [dec("0"), dec("12345678901234567890123456789012345678"), dec("-1")])
    yield single("uuid", {"type": "string", "logicalType": "uuid"},
                 [uuid.UUID("f81d4fae-7dec-11d0-a765-00a0c91e6bf6"), uuid.UUID(int=0)])
    yield single("date", {"type": "int", "logicalType": "date"},
                 [datetime.date(2025, 11, 23), datetime.date(1970, 1, 1), datetime.date(1969, 12, 31), datetime.date(2000, 2, 29)])
    yield single("time-millis", {"type": "int", "logicalType": "time-millis"},
                 [datetime.time(0, 0), datetime.time(12, 34, 56, 789000), datetime.time(23, 59, 59, 999000)])
    yield single("time-micros", {"type": "long", "logicalType": "time-micros"},
                 [datetime.time(0, 0), datetime.time(12, 34, 56, 789012), datetime.time(23, 59, 59, 999999)])
    yield single("timestamp-millis", {"type": "long", "logicalType": "timestamp-millis"},
                 [ts.replace(microsecond=891000), before_epoch, datetime.datetime(1970, 1, 1, tzinfo=UTC)])
    yield single("timestamp-micros", {"type": "long", "logicalType": "timestamp-micros"},
                 [ts, before_epoch, datetime.datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC)])
    yield single("local-timestamp-millis", {"type": "long", "logicalType": "local-timestamp-millis"},
                 [datetime.datetime(2025, 11, 23, 17, 19, 34, 891000)])
    yield single("local-timestamp-micros", {"type": "long", "logicalType": "local-timestamp-micros"},
                 [datetime.datetime(2025, 11, 23, 17, 19, 34, 891123)])
    # A record holding every kind at once, nested and optional.
    trade = record("Trade", [
        field("symbol", "string"),
        field("sequence_number", "long"),
        field("price", {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 4}),
        field("quantity", "int"),
        field("side", {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}),
        field("timestamp", {"type": "long", "logicalType": "timestamp-millis"}),
        field("venue", ["null", record("Venue", [field("mic", "string"), field("tags", {"type": "map", "values": "string"})])]),
        field("legs", {"type": "array", "items": record("Leg", [field("qty", "double"), field("side", "Side")])}),
    ], namespace="market")
    yield case("nested record", trade, [
        {"symbol": "AAPL", "sequence_number": 1, "price": dec("189.1200"), "quantity": 100, "side": "BUY",
         "timestamp": ts.replace(microsecond=891000), "venue": {"mic": "XNAS", "tags": {"a": "b"}},
         "legs": [{"qty": 1.5, "side": "SELL"}]},
        {"symbol": "ASX:BHP", "sequence_number": 2, "price": dec("-0.0001"), "quantity": 0, "side": "SELL",
         "timestamp": before_epoch, "venue": None, "legs": []},
    ])
    linked = record("Node", [field("value", "int"), field("next", ["null", "Node"])])
    yield case("recursive record", linked, [{"value": 1, "next": {"value": 2, "next": {"value": 3, "next": None}}}])

    # Schema evolution: written with one schema, read with another.
    v1 = record("Trade", [field("symbol", "string"), field("qty", "int"), field("note", "string")])
    v2 = record("Trade", [
        field("symbol", "string"),
        field("qty", "long"),
        field("venue", "string", default="XNAS"),
        field("fees", ["null", "double"], default=None),
        field("flags", {"type": "array", "items": "string"}, default=["new"]),
        field("meta", record("Meta", [field("source", "string", default="unknown")]), default={"source": "default"}),
        field("day", {"type": "int", "logicalType": "date"}, default=20415),
        field("raw", "bytes", default="\u00ff\u0000A"),
    ])
    rows = [{"symbol": "AAPL", "qty": 5, "note": "dropped"}, {"symbol": "MSFT", "qty": -2**31, "note": ""}]
    yield case("evolution: added fields with defaults, removed field, int→long", v1, rows, v2)
    for source, target, values in [
        ("int", "long", [1, -(2**31)]), ("int", "float", [16777217, -3]), ("int", "double", [2**31 - 1]),
        ("long", "float", [2**40 + 1]), ("long", "double", [2**53 + 1, -7]), ("float", "double", [0.1, 1e-7]),
        ("string", "bytes", ["é☃"]), ("bytes", "string", [b"plain"]),
    ]:
        yield single(f"evolution: {source}→{target}", source, values, target)
    side_v1 = {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL", "SHORT"]}
    side_v2 = {"type": "enum", "name": "Side", "symbols": ["SELL", "BUY", "OTHER"], "default": "OTHER"}
    yield single("evolution: enum symbols by name, unknown to the default", side_v1, ["BUY", "SELL", "SHORT"], side_v2)
    yield single("evolution: plain type into a union", "int", [3], ["null", "long"])
    yield single("evolution: union to a wider union", ["null", "int"], [None, 3], ["null", "string", "long"])
    yield case("evolution: renamed field through an alias",
               record("R", [field("qty", "int")]), [{"qty": 4}],
               record("R", [field("quantity", "long", aliases=["qty"])]))


if __name__ == "__main__":
    json.dump(list(cases()), sys.stdout)
