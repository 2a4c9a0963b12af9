"""End-to-end: the Iceberg sink through the real `consumerd serve`, its
tables read back by code nobody here wrote: pyiceberg (the SQL catalog on
SQLite, and static tables of the filesystem catalog) and pyarrow's Parquet
reader on the data files directly.

  SqlCatalogRoundTrip         every mapped type, value by value; day partitions;
                              the Parquet files; offsets in every snapshot; metrics
  FilesystemCatalogRoundTrip  the same through version-hint.text, hour partitions,
                              no batch section, uncompressed
  PresetTable                 market-trades: the columns come from the preset's schema
  KillNine                    kill -9 twice mid-stream: exactly once, no orphan files
  HostileSpecs                schemas and paths the sink cannot take: 400 naming the field
  PoisonRecords               records that do not fit the table go to the dead-letter topic

Set KEEP_E2E=1 to keep the data directories; Tests/support/iceberg_read.py
prints a kept table's rows, snapshots and files.
"""

import base64
import collections
import datetime
import decimal
import json
import math
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import pyarrow.parquet as pq
from confluent_kafka import Producer
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan
from pyiceberg.table.snapshots import Operation
from pyiceberg.types import (BinaryType, BooleanType, DateType, DecimalType, DoubleType, FloatType, IntegerType, LongType,
                             StringType, StructType, TimestampType, TimestamptzType, TimeType, UUIDType)

import harness
from harness import FAST, DevBroker, Server, committed, high_watermarks, read_topic, wait_for
from delivery import check
import iceberg_read

PARTITIONS = 3
TABLE = "market.trades"
CATALOG_DB = "iceberg/catalog.db"
WAREHOUSE = "iceberg/warehouse"
SQL_CATALOG = {"type": "sql", "uri": f"sqlite:///{CATALOG_DB}", "name": "default"}
FILESYSTEM_CATALOG = {"type": "filesystem"}

UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_NAIVE = datetime.datetime(1970, 1, 1)
EPOCH_DATE = datetime.date(1970, 1, 1)
HOUR = 3600 * 1_000_000
DAY = 24 * HOUR
WIDTH = {"day": DAY, "hour": HOUR}


# Fixtures

class Stack:
    """A dev broker, and the `consumerd serve` processes started one after
    another on one data directory."""

    def __init__(self, prefix, topics=()):
        self.workdir = tempfile.mkdtemp(prefix=prefix)
        self.data_dir = os.path.join(self.workdir, "data")
        self.sinks = os.path.join(self.data_dir, "sinks")
        self.log_path = os.path.join(self.workdir, "consumerd.log")
        self.servers = []
        try:
            self.broker = DevBroker(os.path.join(self.workdir, "broker.log"), partitions=PARTITIONS, topics=list(topics))
        except BaseException:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        self.bootstrap = self.broker.bootstrap

    @property
    def server(self):
        return self.servers[-1] if self.servers else None

    def start(self):
        server = Server(self.data_dir, self.bootstrap, self.log_path)
        self.servers.append(server)
        return server

    def table_dir(self, warehouse=WAREHOUSE, table=TABLE):
        namespace, name = table.split(".")
        return os.path.join(self.sinks, warehouse, namespace, name)

    def close(self):
        for server in self.servers:
            if server.process.poll() is None:
                server.kill()
            else:
                server.log.close()
        self.broker.stop()
        if os.environ.get("KEEP_E2E"):
            print(f"kept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def iceberg_sink(catalog=SQL_CATALOG, schema=None, **settings):
    """A sink section; a short commit interval so that tests finish quickly."""
    sink = {"type": "iceberg", "catalog": catalog, "warehouse": WAREHOUSE, "table": TABLE, "commit_interval_ms": 500,
            "compression": "zstd"}
    if schema is not None:
        sink["schema"] = schema
    sink.update(settings)
    return sink


def consumer_spec(name, topic, sink, **extra):
    return {"name": name, "topics": [topic], "group_id": f"consumerd-{name}", "sink": sink, "kafka": dict(FAST), **extra}


def produce(bootstrap, topic, records, pace=0.0, gates=None, progress=None):
    """Produces `records`, (id, value) pairs with a dict or bytes value, to
    partition id % PARTITIONS, keyed by the id, with an idempotent producer.
    `gates`: {id: threading.Event}, waited for before that id is produced;
    `progress(n)`: called with the number of records produced so far.
    Returns {partition: [ids in log order]} from the delivery reports."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5, "log_level": 2})
    acked = collections.defaultdict(list)
    failures = []

    def report(error, message):
        if error is not None:
            failures.append(error)
        else:
            acked[message.partition()].append((message.offset(), int(message.key())))

    for record_id, value in records:
        if gates and record_id in gates:
            producer.flush(30)
            if not gates[record_id].wait(300):
                raise AssertionError(f"the producer waited 300 s to produce id {record_id}")
        payload = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
        producer.produce(topic, key=str(record_id).encode(), value=payload, partition=record_id % PARTITIONS, on_delivery=report)
        producer.poll(0)
        if progress:
            progress(len(failures) + sum(map(len, acked.values())) + len(producer))
        if pace:
            time.sleep(pace)
    remaining = producer.flush(60)
    assert remaining == 0 and not failures, f"produce: {remaining} unflushed, errors {failures[:3]}"
    return {partition: [i for _, i in sorted(entries)] for partition, entries in acked.items()}


class Producing(harness.Producing):
    """`produce` in the background; `sent` counts the records so far."""

    def __init__(self, *args, **kwargs):
        self.sent = 0
        super().__init__(*args, produce=produce, progress=self._progress, **kwargs)

    def _progress(self, sent):
        self.sent = sent


def table_ids(ids):
    """Rows' ids as the delivery checker takes them: (partition, id). A table
    has no order, so they are sorted, which is each partition's produce order."""
    return [(i % PARTITIONS, i) for i in sorted(ids)]


def metric_samples(text, name, **labels):
    """The values of `name`'s samples (Prometheus text) whose labels include `labels`."""
    values = []
    for line in text.splitlines():
        match = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if not match or match.group(1) != name:
            continue
        found = {k: v for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or "")}
        if all(found.get(k) == v for k, v in labels.items()):
            values.append(float(match.group(3)))
    return values


# Values as the readers return them, made comparable

def micros(value):
    """Microseconds since the epoch (datetime) or since midnight (time)."""
    if isinstance(value, datetime.datetime):
        return (value - (EPOCH if value.tzinfo else EPOCH_NAIVE)) // datetime.timedelta(microseconds=1)
    if isinstance(value, datetime.time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    raise TypeError(f"not a time: {value!r}")


def float32(value):
    return struct.unpack("<f", struct.pack("<f", value))[0]


def comparable(value, iceberg_type, json_text=False):
    """A value read by pyiceberg/pyarrow in the form the expected rows use."""
    if value is None:
        return None
    if json_text:
        return json.loads(value)
    if isinstance(iceberg_type, (TimestampType, TimestamptzType, TimeType)):
        return micros(value)
    if isinstance(iceberg_type, UUIDType):
        return value if isinstance(value, uuid.UUID) else uuid.UUID(bytes=bytes(value))
    if isinstance(iceberg_type, StructType):
        return {f.name: comparable(value.get(f.name), f.field_type) for f in iceberg_type.fields}
    if isinstance(iceberg_type, BinaryType):
        return bytes(value)
    return value


def partition_ordinal(value):
    """A day or hour partition value as inspect.partitions() gives it, as an ordinal."""
    if isinstance(value, datetime.date):
        return (value - EPOCH_DATE).days
    return int(value)


def partition_name(transform, ordinal):
    if transform == "day":
        return (EPOCH_DATE + datetime.timedelta(days=ordinal)).isoformat()
    return (EPOCH_NAIVE + datetime.timedelta(hours=ordinal)).isoformat("-", "hours")


def read_parquet(path, columns=None):
    """One data file by pyarrow alone (not taking `timestamp_day=…` in its path for a column)."""
    return pq.read_table(path, columns=columns, partitioning=None)


def utc_text(instant_micros):
    return (EPOCH + datetime.timedelta(microseconds=instant_micros)).isoformat()


# The all-types table: its schema, and the records produced with the rows they must become

TRADE_SCHEMA = {
    "type": "object",
    "required": ["id", "flag", "notional", "symbol", "timestamp"],
    "properties": {
        "id": {"type": "integer"},
        "volume": {"type": "integer"},
        "small": {"type": "integer", "format": "int32"},
        "flag": {"type": "boolean"},
        "ratio": {"type": "number"},
        "ratio32": {"type": "number", "format": "float"},
        "notional": {"type": "string", "format": "decimal", "precision": 38, "scale": 10},
        "price": {"type": "number", "format": "decimal", "precision": 10, "scale": 2},
        "symbol": {"type": "string"},
        "note": {"type": ["string", "null"]},
        "trade_date": {"type": "string", "format": "date"},
        "trade_time": {"type": "string", "format": "time"},
        "timestamp": {"type": "string", "format": "date-time"},
        "local_ts": {"type": "string", "format": "timestamp"},
        "trade_id": {"type": "string", "format": "uuid"},
        "payload": {"type": "string", "contentEncoding": "base64"},
        "venue": {"type": "object", "required": ["code"], "properties": {
            "code": {"type": "string"}, "country": {"type": "string"}, "lat": {"type": "number"}}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "attributes": {"type": "object"},
    },
}
VENUE_TYPE = {"code": (StringType(), True), "country": (StringType(), False), "lat": (DoubleType(), False)}
COLUMN_TYPES = {
    "id": LongType(), "volume": LongType(), "small": IntegerType(), "flag": BooleanType(), "ratio": DoubleType(),
    "ratio32": FloatType(), "notional": DecimalType(38, 10), "price": DecimalType(10, 2), "symbol": StringType(),
    "note": StringType(), "trade_date": DateType(), "trade_time": TimeType(), "timestamp": TimestamptzType(),
    "local_ts": TimestampType(), "trade_id": UUIDType(), "payload": BinaryType(), "venue": None,  # a struct, checked apart
    "tags": StringType(), "attributes": StringType(),
}
JSON_TEXT_COLUMNS = {"tags", "attributes"}  # an array and a map: their JSON text
ROWS = 500
FIRST_DAY = datetime.date(2024, 2, 28)  # 28 Feb, 29 Feb (a leap day), 1 Mar
STEP = 3 * DAY // ROWS
SYMBOLS = ["AAPL", "日本電信電話", "Ünïcödé AG", "📈 rocket", 'tab\tand "quotes"', "line\nbreak", "back\\slash", ""]
OFFSETS = [datetime.timedelta(0), datetime.timedelta(hours=5, minutes=30), datetime.timedelta(hours=-8), datetime.timedelta(0)]


def trade(i):
    """The i-th record as produced, and the row the table must hold for it
    (timestamps and times as microseconds, decimals as Decimal, UUIDs as
    UUID, the array and the map as parsed JSON). Optional fields are
    sometimes left out; only `note`, declared ["string", "null"], is
    sometimes an explicit null."""
    value, row = {}, {}

    def put(name, produced, expected):
        value[name] = produced
        row[name] = expected

    put("id", i, i)
    if i % 10 != 9:
        volume = {0: 2**63 - 1, 1: -2**63}.get(i % 50, i * 1_000_003 - 250_000_000)
        put("volume", volume, volume)
    if i % 7 != 6:
        small = {2: 2**31 - 1, 3: -2**31}.get(i % 50, i - 250)
        put("small", small, small)
    put("flag", i % 3 == 0, i % 3 == 0)
    ratio = [0.1, 1e-300, 1.7976931348623157e308, math.pi, -2.5e-10, 123456.789][i % 6]
    put("ratio", ratio, ratio)
    put("ratio32", i * 0.1, float32(i * 0.1))

    notional = {4: "9999999999999999999999999999.9999999999", 5: "-9999999999999999999999999999.9999999999",
                6: "0.0000000001"}.get(i % 50, f"{'-' if i % 2 else ''}{i * 98765432109}.{i % 1000:03d}")
    put("notional", notional, decimal.Decimal(notional))
    if i % 50 == 7:
        put("price", "99999999.99", decimal.Decimal("99999999.99"))  # the widest decimal(10,2), as a string
    elif i % 50 == 8:
        put("price", -99999999.99, decimal.Decimal("-99999999.99"))  # and as a JSON number
    elif i % 2 == 0:
        price = round(i * 1.37 + 0.01, 2)
        put("price", price, decimal.Decimal(repr(price)))
    else:
        put("price", f"-{i}.{i % 100:02d}", decimal.Decimal(f"-{i}.{i % 100:02d}"))

    put("symbol", SYMBOLS[i % len(SYMBOLS)], SYMBOLS[i % len(SYMBOLS)])
    if i % 3 == 0:
        put("note", None, None)
    elif i % 3 == 2:
        put("note", f"note {i} – ünïcode ✓ 取引", f"note {i} – ünïcode ✓ 取引")

    if i % 4 == 0:
        day = datetime.date(1969, 12, 31) - datetime.timedelta(days=i * 37)  # before 1970
    elif i % 4 == 1:
        day = datetime.date(2024, 2, 29)
    else:
        day = EPOCH_DATE + datetime.timedelta(days=i * 40)
    put("trade_date", day.isoformat(), day)
    of_day = {9: DAY - 1, 10: 0}.get(i % 50, i * (DAY - 1) // ROWS)
    time_text = (datetime.datetime.min + datetime.timedelta(microseconds=of_day)).time().isoformat()
    put("trade_time", time_text, of_day)

    # Spread over three UTC days, written with and without fractions and in other zones.
    instant = (FIRST_DAY - EPOCH_DATE).days * DAY + i * STEP + (i * 7919) % 1_000_000
    style = i % 4
    if style == 1:
        instant -= instant % 1000
    elif style == 3:
        instant -= instant % 1_000_000
    local = (EPOCH + datetime.timedelta(microseconds=instant)).astimezone(datetime.timezone(OFFSETS[style]))
    text = local.isoformat(timespec=["microseconds", "milliseconds", "microseconds", "seconds"][style])
    put("timestamp", text.replace("+00:00", "Z") if style in (0, 3) else text, instant)
    naive = -1 if i % 50 == 11 else instant - 5 * HOUR  # 1969-12-31T23:59:59.999999 once
    put("local_ts", (EPOCH_NAIVE + datetime.timedelta(microseconds=naive)).isoformat(timespec="microseconds"), naive)

    trade_id = uuid.UUID(int=(i * 0x9E3779B97F4A7C15F39CC0605CEDC835) % 2**128)
    put("trade_id", str(trade_id), trade_id)
    payload = bytes((i * 31 + j) % 256 for j in range(i % 40))  # empty once in 40, NUL bytes included
    put("payload", base64.b64encode(payload).decode(), payload)
    if i % 5 == 1:
        put("venue", {"code": "XNAS", "country": "US", "lat": 40.7}, {"code": "XNAS", "country": "US", "lat": 40.7})
    elif i % 5 == 2:
        put("venue", {"code": "XTKS", "lat": -35.5 + i}, {"code": "XTKS", "country": None, "lat": -35.5 + i})
    elif i % 5 == 3:
        put("venue", {"code": "ÉCHANGE"}, {"code": "ÉCHANGE", "country": None, "lat": None})
    if i % 9 != 0:
        tags = [] if i % 4 == 0 else ["a", "β", str(i), 'with "quotes" and \\']
        put("tags", tags, tags)
    attributes = {"desk": "fx", "ü": "ß", "n": i, "deep": {"x": [i]}} if i % 2 else {}
    put("attributes", attributes, attributes)
    value["extra"] = {"not": "in the schema"}  # never written
    for name in TRADE_SCHEMA["properties"]:
        row.setdefault(name, None)
    return value, row


# Test bases

class IcebergTest(unittest.TestCase):
    """A broker and a data directory of its own for each test."""

    prefix = "consumerd-iceberg-"
    topics = ()
    stack = None

    @property
    def server(self):
        return self.stack.server if self.stack else None

    def setUp(self):
        self.stack = Stack(self.prefix, self.topics)

    def tearDown(self):
        self.print_log_if_failed()
        self.stack.close()

    def print_log_if_failed(self):
        """The tail of the server's log when this test failed. (The harness's
        ServerLogOnFailure looks after tearDown, when a test's own data
        directory is gone.) pytest's result keeps no failures: there the tail
        is printed always, and pytest shows it only for a test that failed."""
        result = self._outcome.result
        failed = (not hasattr(result, "failures")
                  or any(getattr(test, "test_case", test) is self for test, _ in result.failures + result.errors))
        if failed and self.server:
            print(f"\n--- consumerd log (tail) ---\n{self.server.log_tail()}")

    def register(self, spec):
        status, body = self.stack.server.json("POST", "/consumers", spec)
        self.assertEqual(status, 201, body)
        return body

    def wait_until_committed(self, group, topic, timeout=120):
        """Until the group's committed offsets are the topic's high watermarks
        (the sink commits to the table first: the table holds everything)."""
        highs = high_watermarks(self.stack.bootstrap, topic, PARTITIONS)
        wait_for(lambda: committed(self.stack.bootstrap, group, topic, PARTITIONS) == highs, timeout=timeout,
                 message=f"{group}'s committed offsets at the log end {highs}")
        return highs

    def sql_table(self):
        table, catalog = iceberg_read.sql_table(self.stack.sinks, TABLE, db=CATALOG_DB, warehouse=WAREHOUSE)
        self.addCleanup(catalog.engine.dispose)
        return table

    def assert_offsets_in_snapshots(self, table, consumer, topic, highs):
        """Every snapshot is an append by `consumer` carrying its next offsets,
        which never go back; the newest are the log end."""
        history = iceberg_read.snapshot_offsets(table, consumer)
        self.assertTrue(history, "the table has snapshots")
        last = {}
        for snapshot, offsets in history:
            summary = snapshot.summary
            self.assertEqual(summary.operation, Operation.APPEND, f"snapshot {snapshot.snapshot_id}")
            self.assertIsNotNone(offsets, f"snapshot {snapshot.snapshot_id} has no {iceberg_read.OFFSETS_KEY}: {summary}")
            self.assertEqual(summary[iceberg_read.CONSUMER_KEY], consumer)
            self.assertEqual(set(offsets), {topic}, f"snapshot {snapshot.snapshot_id}'s offsets are for {topic}")
            for partition, offset in offsets[topic].items():
                self.assertGreaterEqual(offset, last.get(partition, 0),
                                        f"snapshot {snapshot.snapshot_id}: partition {partition}'s offset went back")
                last[partition] = offset
        self.assertEqual(history[-1][1][topic], dict(enumerate(highs)), "the newest snapshot's offsets are the log end")


class SharedServerTest(IcebergTest):
    """A broker and a server started once for the class (in its setUpClass),
    shared by its tests."""

    def setUp(self):
        pass

    def tearDown(self):
        self.print_log_if_failed()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()


class RoundTripChecks:
    """Checks of the all-types table, for a TestCase that made it in
    setUpClass with `make_table`, opens it with `open_table` and says how it
    was made: transform ("day" or "hour"), compression ("ZSTD" or
    "UNCOMPRESSED"), max_batch (records per snapshot, None without a batch
    section) and table_dir."""

    consumer = "rt"
    topic = "iceberg.trades"

    @classmethod
    def make_table(cls, sink, **extra):
        cls.stack = Stack(f"consumerd-iceberg-{cls.__name__}-", [cls.topic])
        try:
            cls.stack.start()
            status, body = cls.stack.server.json("POST", "/consumers", consumer_spec(cls.consumer, cls.topic, sink, **extra))
            assert status == 201, body
            records = [trade(i) for i in range(ROWS)]
            cls.expected = {row["id"]: row for _, row in records}
            cls.produced = produce(cls.stack.bootstrap, cls.topic, [(value["id"], value) for value, _ in records])
            cls.highs = high_watermarks(cls.stack.bootstrap, cls.topic, PARTITIONS)
            assert sum(cls.highs) == ROWS, cls.highs
            group = f"consumerd-{cls.consumer}"
            wait_for(lambda: committed(cls.stack.bootstrap, group, cls.topic, PARTITIONS) == cls.highs, timeout=120,
                     message=f"{group}'s committed offsets at the log end {cls.highs}")
        except BaseException:
            if cls.stack.server:
                print(f"\n--- consumerd log (tail) ---\n{cls.stack.server.log_tail()}")
            cls.stack.close()
            raise

    def open_table(self):
        raise NotImplementedError

    def setUp(self):
        self.table = self.open_table()

    def data_files(self):
        return self.table.inspect.files().to_pylist()

    def test_columns_map_every_type(self):
        schema = self.table.schema()
        self.assertEqual(sorted(f.name for f in schema.fields), sorted(TRADE_SCHEMA["properties"]), "the schema's columns")
        required = set(TRADE_SCHEMA["required"])
        for field in schema.fields:
            with self.subTest(column=field.name):
                self.assertEqual(field.required, field.name in required, "required exactly when the schema says so")
                if field.name == "venue":
                    self.assertIsInstance(field.field_type, StructType)
                    self.assertEqual({f.name: (f.field_type, f.required) for f in field.field_type.fields}, VENUE_TYPE)
                else:
                    self.assertEqual(field.field_type, COLUMN_TYPES[field.name])
        ids = [f.field_id for f in schema.fields] + [f.field_id for f in schema.find_field("venue").field_type.fields]
        self.assertEqual(len(ids), len(set(ids)), "field ids are unique")

    def test_every_value_round_trips(self):
        schema = self.table.schema()
        rows = self.table.scan().to_arrow().to_pylist()
        report = check(self.produced, table_ids(row["id"] for row in rows))
        self.assertEqual((len(rows), report.lost, report.duplicated, report.unexpected), (ROWS, 0, 0, 0), report.line("rows"))
        mismatches = []
        for row in rows:
            expected = self.expected[row["id"]]
            for field in schema.fields:
                got = comparable(row[field.name], field.field_type, field.name in JSON_TEXT_COLUMNS)
                if got != expected[field.name]:
                    mismatches.append(f"id {row['id']} {field.name}: produced {expected[field.name]!r}, read {got!r}")
        self.assertEqual(mismatches[:10], [], f"{len(mismatches)} values differ")

    def test_partitioned_by_timestamp(self):
        transform, width = self.transform, WIDTH[self.transform]
        expected = collections.Counter(row["timestamp"] // width for row in self.expected.values())
        if transform == "day":
            self.assertEqual(len(expected), 3, "the records span three days")
        partition_field = f"timestamp_{transform}"
        partitions = {partition_ordinal(p["partition"][partition_field]): p["record_count"]
                      for p in self.table.inspect.partitions().to_pylist()}
        self.assertEqual(partitions, dict(expected), "rows per partition (inspect.partitions)")
        files = self.data_files()
        directories = {os.path.basename(os.path.dirname(iceberg_read.local_path(f["file_path"]))) for f in files}
        self.assertEqual(directories, {f"{partition_field}={partition_name(transform, o)}" for o in expected})
        for f in files:
            path = iceberg_read.local_path(f["file_path"])
            instants = [micros(t) for t in read_parquet(path, columns=["timestamp"]).column("timestamp").to_pylist()]
            ordinals = {t // width for t in instants}
            self.assertEqual(len(ordinals), 1, f"{path} holds rows of one partition")
            directory = os.path.basename(os.path.dirname(path))
            self.assertEqual(directory, f"{partition_field}={partition_name(transform, ordinals.pop())}",
                             "each file is in its partition's directory")

        # A scan of one partition finds its rows, from that partition's files only.
        busiest = max(expected, key=lambda o: expected[o])
        start = busiest * width
        scan = self.table.scan(row_filter=And(GreaterThanOrEqual("timestamp", utc_text(start)),
                                              LessThan("timestamp", utc_text(start + width))))
        planned = [task.file.file_path for task in scan.plan_files()]
        self.assertTrue(planned, "the scan plans files")
        for path in planned:
            self.assertIn(f"/{partition_field}={partition_name(transform, busiest)}/", path, "the scan prunes other partitions")
        ids = sorted(scan.to_arrow().column("id").to_pylist())
        self.assertEqual(ids, sorted(i for i, row in self.expected.items() if row["timestamp"] // width == busiest))

    def test_parquet_files_read_directly(self):
        schema = self.table.schema()
        files = self.data_files()
        self.assertTrue(files)
        self.assertEqual(sum(f["record_count"] for f in files), ROWS)
        for f in files:
            path = iceberg_read.local_path(f["file_path"])
            with self.subTest(file=os.path.relpath(path, self.table_dir)):
                self.assertTrue(os.path.isabs(path) and path.startswith(os.path.join(self.table_dir, "data") + "/"), path)
                self.assertEqual(f["file_format"], "PARQUET")
                self.assertEqual(f["file_size_in_bytes"], os.path.getsize(path))
                data = read_parquet(path)
                self.assertEqual(data.num_rows, f["record_count"])
                self.assertEqual(sorted(data.schema.names), sorted(field.name for field in schema.fields))
                for column in data.schema:
                    field = schema.find_field(column.name)
                    self.assertEqual((column.metadata or {}).get(b"PARQUET:field_id"), str(field.field_id).encode(),
                                     f"{column.name}'s PARQUET:field_id")
                    if column.name == "venue":
                        for child in column.type:
                            nested = field.field_type.field_by_name(child.name)
                            self.assertEqual((child.metadata or {}).get(b"PARQUET:field_id"), str(nested.field_id).encode(),
                                             f"venue.{child.name}'s PARQUET:field_id")
                self.assertEqual((data.schema.field("timestamp").type.unit, data.schema.field("timestamp").type.tz is not None),
                                 ("us", True), "timestamptz: microseconds, adjusted to UTC")
                self.assertEqual((data.schema.field("local_ts").type.unit, data.schema.field("local_ts").type.tz),
                                 ("us", None), "timestamp: microseconds, no zone")
                metadata = pq.ParquetFile(path).metadata
                codecs = {metadata.row_group(g).column(c).compression
                          for g in range(metadata.num_row_groups) for c in range(metadata.num_columns)}
                self.assertEqual(codecs, {self.compression})
                # The bounds pyiceberg prunes by are the file's own minimum and maximum.
                ids = data.column("id").to_pylist()
                instants = [micros(t) for t in data.column("timestamp").to_pylist()]
                bounds = f["readable_metrics"]
                self.assertEqual((bounds["id"]["lower_bound"], bounds["id"]["upper_bound"]), (min(ids), max(ids)))
                self.assertEqual((micros(bounds["timestamp"]["lower_bound"]), micros(bounds["timestamp"]["upper_bound"])),
                                 (min(instants), max(instants)))
                self.assertEqual(f["value_counts"] and dict(f["value_counts"]).get(schema.find_field("id").field_id),
                                 f["record_count"])

    def test_table_layout(self):
        location = iceberg_read.local_path(self.table.metadata.location)
        self.assertTrue(os.path.isabs(location), f"the table location {location!r} is an absolute path")
        self.assertEqual(os.path.realpath(location), os.path.realpath(self.table_dir))
        metadata = os.path.join(os.path.realpath(self.table_dir), "metadata") + "/"
        self.assertTrue(os.path.realpath(iceberg_read.local_path(self.table.metadata_location)).startswith(metadata))
        snapshot = self.table.current_snapshot()
        manifest_list = os.path.realpath(iceberg_read.local_path(snapshot.manifest_list))
        self.assertTrue(manifest_list.startswith(metadata) and manifest_list.endswith(".avro"), manifest_list)
        for manifest in snapshot.manifests(self.table.io):
            path = os.path.realpath(iceberg_read.local_path(manifest.manifest_path))
            self.assertTrue(path.startswith(metadata) and path.endswith(".avro") and os.path.exists(path), path)

    def test_snapshots_carry_the_offsets(self):
        self.assert_offsets_in_snapshots(self.table, self.consumer, self.topic, self.highs)
        added = [int(s.summary["added-records"]) for s in iceberg_read.snapshots(self.table)]
        self.assertEqual(sum(added), ROWS, f"records added per snapshot: {added}")
        if self.max_batch:
            self.assertLessEqual(max(added), self.max_batch, "one snapshot per consumer batch")
        self.assertEqual(int(self.table.current_snapshot().summary["total-records"]), ROWS)


class SqlCatalogRoundTrip(RoundTripChecks, SharedServerTest):
    transform = "day"
    compression = "ZSTD"
    max_batch = 100

    @classmethod
    def setUpClass(cls):
        cls.make_table(iceberg_sink(SQL_CATALOG, TRADE_SCHEMA, partition_by=[{"field": "timestamp", "transform": "day"}],
                                    target_file_bytes=64 << 20, commit_interval_ms=60000),
                       batch={"max_records": cls.max_batch, "max_wait_ms": 200})
        cls.table_dir = cls.stack.table_dir()

    def open_table(self):
        return self.sql_table()

    def test_metrics(self):
        # Published with the batch's progress, a moment after the commit.
        wait_for(lambda: metric_samples(self.server.request("GET", "/metrics")[1].decode(),
                                        "consumerd_iceberg_rows_written_total", consumer=self.consumer) == [ROWS],
                 timeout=15, message=f"consumerd_iceberg_rows_written_total {ROWS}")
        status, payload, _ = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        promtool = subprocess.run(["promtool", "check", "metrics"], input=payload, capture_output=True, timeout=30)
        self.assertEqual(promtool.returncode, 0, promtool.stdout.decode() + promtool.stderr.decode())
        text = payload.decode()

        def value(name, **labels):
            found = metric_samples(text, name, consumer=self.consumer, **labels)
            self.assertEqual(len(found), 1, f"one {name} sample for {labels or 'the consumer'}: {found}")
            return found[0]

        snapshots = len(self.table.snapshots())
        files = self.data_files()
        commits = value("consumerd_iceberg_commits_total", table=TABLE)
        self.assertEqual(commits, snapshots, "a commit per snapshot")
        self.assertGreaterEqual(value("consumerd_iceberg_commit_duration_seconds_count"), commits)
        self.assertGreater(value("consumerd_iceberg_commit_duration_seconds_sum"), 0)
        self.assertEqual(value("consumerd_iceberg_commit_duration_seconds_bucket", le="+Inf"),
                         value("consumerd_iceberg_commit_duration_seconds_count"))
        self.assertEqual(value("consumerd_iceberg_rows_written_total"), ROWS)
        self.assertEqual(value("consumerd_iceberg_files_written_total"), len(files))
        self.assertGreaterEqual(value("consumerd_iceberg_bytes_written_total"), sum(f["file_size_in_bytes"] for f in files))
        self.assertIn("# TYPE consumerd_iceberg_commit_conflicts_total counter", text)
        self.assertEqual(set(metric_samples(text, "consumerd_iceberg_commit_conflicts_total", consumer=self.consumer)) - {0.0},
                         set(), "no conflicts with a single writer")


class FilesystemCatalogRoundTrip(RoundTripChecks, SharedServerTest):
    transform = "hour"
    compression = "UNCOMPRESSED"
    max_batch = None  # no batch section: commits by interval and size

    @classmethod
    def setUpClass(cls):
        cls.make_table(iceberg_sink(FILESYSTEM_CATALOG, TRADE_SCHEMA, partition_by=[{"field": "timestamp", "transform": "hour"}],
                                    target_file_bytes=1 << 20, commit_interval_ms=500, compression="uncompressed"))
        cls.table_dir = cls.stack.table_dir()

    def open_table(self):
        return iceberg_read.filesystem_table(self.table_dir)

    def test_version_hint_names_the_newest_metadata(self):
        versions = iceberg_read.metadata_versions(self.table_dir)
        self.assertEqual(iceberg_read.version_hint(self.table_dir), versions[-1], f"metadata versions {versions}")
        self.assertEqual(versions, list(range(versions[0], versions[-1] + 1)), "no version is skipped")
        self.assertFalse(os.path.exists(os.path.join(self.stack.sinks, CATALOG_DB)), "no SQL catalog")


class PresetTable(IcebergTest):
    topics = ("iceberg.preset.trades",)

    def test_market_trades_preset_makes_the_columns(self):
        topic = self.topics[0]
        self.stack.start()
        # No sink schema: the columns are the preset's validation schema; its transforms' fields are not columns.
        self.register(consumer_spec("trades", topic, iceberg_sink(partition_by=[{"field": "symbol", "transform": "identity"}]),
                                    preset="market-trades", batch={"max_records": 50, "max_wait_ms": 200}))
        now = datetime.datetime.now(UTC).replace(microsecond=0)
        records, expected = [], {}
        for i in range(60):
            symbol = "AAPL" if i % 2 else "MSFT"
            value = {"symbol": symbol, "sequence_number": i // 2 + 1, "price": 189.5 + i / 4, "quantity": 10 + i,
                     "side": "BUY" if i % 3 else "SELL", "timestamp": (now + datetime.timedelta(milliseconds=i)).isoformat(
                         timespec="milliseconds").replace("+00:00", "Z")}
            if i % 2 == 0:
                value["exchange"] = "XNAS"
            records.append((i, value))
            expected[(symbol, value["sequence_number"])] = dict(
                value, exchange=value.get("exchange"), timestamp=micros(now) + i * 1000)
        produced = produce(self.stack.bootstrap, topic, records)
        self.wait_until_committed("consumerd-trades", topic)

        table = self.sql_table()
        schema = table.schema()
        columns = {f.name: (f.field_type, f.required) for f in schema.fields}
        self.assertEqual(columns, {
            "symbol": (StringType(), True), "sequence_number": (LongType(), True), "price": (DoubleType(), True),
            "quantity": (LongType(), True), "side": (StringType(), False), "exchange": (StringType(), False),
            "timestamp": (TimestamptzType(), True)}, "the preset's schema; notional and ingested_at are not columns")
        rows = table.scan().to_arrow().to_pylist()
        got = {(r["symbol"], r["sequence_number"]): dict(r, timestamp=micros(r["timestamp"])) for r in rows}
        self.assertEqual(len(rows), sum(len(ids) for ids in produced.values()))
        self.assertEqual(got, expected)
        directories = {os.path.basename(os.path.dirname(iceberg_read.local_path(f)))
                       for f in table.inspect.files().column("file_path").to_pylist()}
        self.assertEqual(directories, {"symbol=AAPL", "symbol=MSFT"})


class KillNine(IcebergTest):
    COUNT = 20000
    topics = ("iceberg.kill9",)

    def rows(self):
        """Rows in the table's current snapshot, read from the catalog without pyiceberg's catalog code."""
        location = iceberg_read.sql_metadata_location(os.path.join(self.stack.sinks, CATALOG_DB), TABLE)
        return 0 if location is None else iceberg_read.committed_rows(iceberg_read.static_table(location))

    def plant_orphan(self):
        """A data file as a batch killed between writing and committing it
        leaves one (a kill rarely lands in that window by itself): a copy of
        a written file, named like the sink's own files (their common prefix)."""
        files = sorted(iceberg_read.parquet_files(self.stack.table_dir()))
        self.assertGreater(len(files), 1)
        prefix = os.path.commonprefix([os.path.basename(f) for f in files])
        orphan = os.path.join(os.path.dirname(files[0]), f"{prefix}{uuid.uuid4()}.parquet")
        shutil.copyfile(files[0], orphan)
        return orphan

    def test_kill_9_twice_mid_stream_exactly_once(self):
        topic, count = self.topics[0], self.COUNT
        server = self.stack.start()
        schema = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}
        self.register(consumer_spec("k9", topic, iceberg_sink(schema=schema), batch={"max_records": 1000, "max_wait_ms": 200},
                                    retry={"initial_backoff_ms": 100, "max_backoff_ms": 1000}))
        # About 1000 records/s, so that records keep coming while a restarted
        # server rejoins the group and catches up. Should it ever catch up with
        # the producer, the producer holds before 10000 until the first kill
        # and before 17000 until the second: each kill finds some rows in the
        # table, never all. Each kill comes a while after a commit was seen,
        # into the next batch's files or commit.
        kills = [(3000, 10000, 0.13), (12000, 17000, 0.37)]
        gates = {hold: threading.Event() for _, hold, _ in kills}
        producing = Producing(self.stack.bootstrap, topic, ((i, {"id": i}) for i in range(count)), pace=0.001, gates=gates)
        producing.start()
        try:
            for mark, hold, delay in kills:
                wait_for(lambda: self.rows() >= mark, timeout=120, interval=0.2, message=f"{mark} rows in the table")
                time.sleep(delay)
                server.kill()
                at_kill = self.rows()
                print(f"\n  kill -9 with {at_kill} rows in the table, {producing.sent} records produced", flush=True)
                self.assertLess(at_kill, count, "killed mid-stream")
                gates[hold].set()
                orphan = self.plant_orphan()
                server = self.stack.start()
        finally:
            for gate in gates.values():
                gate.set()
        produced = producing.finish()
        wait_for(lambda: self.rows() >= count, timeout=180, interval=0.5, message=f"all {count} rows in the table")
        # The group commits after the table does: at the high watermarks,
        # nothing is still on its way to the table.
        highs = self.wait_until_committed("consumerd-k9", topic)

        table = self.sql_table()
        ids = table.scan().to_arrow().column("id").to_pylist()
        report = check(produced, table_ids(ids))
        print(f"  {report.line('iceberg, two kill -9')}", flush=True)
        self.assertEqual((report.lost, report.duplicated, report.unexpected), (0, 0, 0), report.line("exactly once"))
        self.assertEqual((len(ids), len(set(ids))), (count, count), f"rows {len(ids)}, distinct ids {len(set(ids))}")
        self.assert_offsets_in_snapshots(table, "k9", topic, highs)

        # Parquet files of the batches the kills interrupted were deleted when the sink started again.
        table_dir = os.path.realpath(self.stack.table_dir())
        on_disk = {os.path.realpath(p) for p in iceberg_read.parquet_files(table_dir)}
        referenced = {os.path.realpath(p) for p in iceberg_read.referenced_files(table)}
        self.assertEqual(sorted(referenced - on_disk), [], "every referenced file exists")
        self.assertFalse(os.path.exists(orphan),
                         f"{os.path.relpath(orphan, table_dir)} (a crashed batch's file) is removed when the sink starts")
        self.assertEqual(sorted(os.path.relpath(p, table_dir) for p in on_disk - referenced)[:10], [],
                         f"{len(on_disk - referenced)} orphan Parquet files of {len(on_disk)}")


class HostileSpecs(SharedServerTest):
    """Specs the sink cannot take: 400 naming the field, nothing registered."""

    SCHEMA = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}, "venue": {
        "type": "object", "properties": {"code": {"type": "string"}}}}}

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("consumerd-iceberg-hostile-")
        try:
            cls.stack.start()
        except BaseException:
            cls.stack.close()
            raise

    def spec(self, sink=None, **extra):
        return consumer_spec("hostile", "iceberg.hostile", sink or iceberg_sink(schema=self.SCHEMA), autostart=False, **extra)

    def assert_refused(self, spec, field):
        """400 naming `field`, or something inside it (`….bad.type`,
        `…partition_by[0].field`), in the error's field and its message."""
        status, body = self.server.json("POST", "/consumers", spec)
        if status == 201:  # not refused: out of the way of the next cases
            self.server.request("DELETE", f"/consumers/{spec['name']}?wait=30")
        self.assertEqual(status, 400, body)
        error = body["error"]
        self.assertEqual(error["code"], "invalid_spec", error)
        named = error["field"] or ""
        self.assertTrue(named == field or named.startswith((field + ".", field + "[")), f"{field} is named: {error}")
        self.assertIn(field, error["message"], "the message names the field")
        self.assertEqual(self.server.json("GET", "/consumers")[1]["count"], 0, "nothing registered")

    def test_the_base_spec_is_accepted(self):
        status, body = self.server.json("POST", "/consumers", self.spec())
        self.assertEqual(status, 201, body)
        status, _, _ = self.server.request("DELETE", "/consumers/hostile?wait=30")
        self.assertEqual(status, 204)

    def test_unsupported_schemas_name_the_field(self):
        unsupported = {
            "bad": {"type": ["string", "integer"]},
            "nothing": {"type": "null"},
            "ref": {"$ref": "#/definitions/trade"},
            "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "untyped": {},
        }
        for name, property_schema in unsupported.items():
            with self.subTest(name=name):
                schema = json.loads(json.dumps(self.SCHEMA))
                schema["properties"][name] = property_schema
                self.assert_refused(self.spec(iceberg_sink(schema=schema)), f"sink.schema.properties.{name}")
        with self.subTest(name="nested"):
            schema = json.loads(json.dumps(self.SCHEMA))
            schema["properties"]["venue"]["properties"]["bad"] = {"type": ["string", "integer"]}
            self.assert_refused(self.spec(iceberg_sink(schema=schema)), "sink.schema.properties.venue.properties.bad")

    def test_paths_outside_the_sink_directory(self):
        outside = os.path.join(self.stack.workdir, "outside")
        cases = [
            ({"warehouse": "../outside"}, "sink.warehouse"),
            ({"warehouse": "iceberg/../../outside"}, "sink.warehouse"),
            ({"warehouse": outside}, "sink.warehouse"),
            ({"catalog": dict(SQL_CATALOG, uri=f"sqlite:///{outside}/catalog.db")}, "sink.catalog.uri"),
            ({"catalog": dict(SQL_CATALOG, uri="sqlite:///../catalog.db")}, "sink.catalog.uri"),
        ]
        for settings, field in cases:
            with self.subTest(settings=settings):
                self.assert_refused(self.spec(iceberg_sink(schema=self.SCHEMA, **settings)), field)
        self.assertFalse(os.path.exists(outside), "nothing was made outside the sink directory")

    def test_a_missing_warehouse_defaults_under_the_sink_directory(self):
        sink = iceberg_sink(schema=self.SCHEMA)
        del sink["warehouse"]
        status, body = self.server.json("POST", "/consumers", self.spec(sink))
        self.assertEqual(status, 201, body)
        self.assertEqual(body["spec"]["sink"]["warehouse"], "warehouse", "GET shows the default that runs")
        status, _, _ = self.server.request("DELETE", "/consumers/hostile?wait=30")
        self.assertEqual(status, 204)

    def test_no_schema_anywhere(self):
        self.assert_refused(self.spec(iceberg_sink()), "sink.schema")

    def test_partitions_the_table_cannot_have(self):
        # The contract names transforms identity, day and hour, on the table's columns.
        for partition_by in ({"field": "missing", "transform": "day"}, {"field": "id", "transform": "bucket"}):
            with self.subTest(partition_by=partition_by):
                self.assert_refused(self.spec(iceberg_sink(schema=self.SCHEMA, partition_by=[partition_by])), "sink.partition_by")


class PoisonRecords(IcebergTest):
    topics = ("iceberg.poison",)
    SCHEMA = {"type": "object", "required": ["id", "qty"], "properties": {
        "id": {"type": "integer"}, "qty": {"type": "integer"}, "small": {"type": "integer", "format": "int32"},
        "price": {"type": "string", "format": "decimal", "precision": 10, "scale": 2},
        "day": {"type": "string", "format": "date"}, "ref": {"type": "string", "format": "uuid"},
        "blob": {"type": "string", "contentEncoding": "base64"}}}
    # i % 40 -> what makes record i unconvertible
    POISON = {
        3: ("qty", "ten"),                 # a string in a long column
        11: ("qty", None),                 # a required field missing
        17: ("small", 2**31),              # out of int's range
        23: ("price", "123456789.00"),     # nine integer digits in decimal(10,2)
        29: ("day", "2024-02-30"),         # no such date
        31: ("ref", "not-a-uuid"),
        37: ("blob", "***"),               # not base64
    }

    def record(self, i):
        value = {"id": i, "qty": i * 2, "small": i - 200, "price": f"{i}.25", "day": "2024-02-29",
                 "ref": str(uuid.UUID(int=i)), "blob": base64.b64encode(bytes([i % 256])).decode(), "unused": [i]}
        poison = self.POISON.get(i % 40)
        if poison:
            field, bad = poison
            if bad is None:
                del value[field]
            else:
                value[field] = bad
        return value

    def test_records_that_do_not_fit_go_to_the_dead_letter_topic(self):
        topic, count = self.topics[0], 400
        self.stack.start()
        self.register(consumer_spec("poison", topic, iceberg_sink(schema=self.SCHEMA), dead_letter={"topic": "{topic}.dlq"},
                                    batch={"max_records": 100, "max_wait_ms": 200}))
        produced = produce(self.stack.bootstrap, topic, [(i, self.record(i)) for i in range(count)])
        poison = {i for i in range(count) if i % 40 in self.POISON}
        highs = self.wait_until_committed("consumerd-poison", topic)

        table = self.sql_table()
        rows = table.scan().to_arrow().to_pylist()
        letters = read_topic(self.stack.bootstrap, f"{topic}.dlq")
        dead_lettered = [(int(r["headers"]["consumerd.original.partition"]), int(r["key"])) for r in letters]
        report = check(produced, table_ids(r["id"] for r in rows), dead_lettered)
        print(f"\n  {report.line('iceberg poison records')}", flush=True)
        self.assertEqual(sorted(i for _, i in dead_lettered), sorted(poison), "exactly the poison records are dead-lettered")
        self.assertEqual(sorted(r["id"] for r in rows), sorted(set(range(count)) - poison), "exactly the others are in the table")
        self.assertEqual((report.lost, report.duplicated, report.total("dead_lettered")), (0, 0, len(poison)))
        for record in letters:
            headers = record["headers"]
            self.assertEqual(headers["consumerd.original.topic"], topic)
            self.assertTrue(headers.get("consumerd.stage") and headers.get("consumerd.error.message"), headers)
            self.assertEqual(json.loads(record["value"]), self.record(int(record["key"])), "the original value, unchanged")
        good = next(r for r in rows if r["id"] == 1)
        good = dict(good, ref=comparable(good["ref"], UUIDType()))
        self.assertEqual({k: good[k] for k in ("qty", "small", "price", "day", "ref", "blob")},
                         {"qty": 2, "small": -199, "price": decimal.Decimal("1.25"), "day": datetime.date(2024, 2, 29),
                          "ref": uuid.UUID(int=1), "blob": b"\x01"}, "a good record's values")
        self.assertNotIn("unused", table.schema().column_names)
        # The table's offsets step past the dead-lettered records too.
        self.assert_offsets_in_snapshots(table, "poison", topic, highs)
        status = self.server.status("poison")
        self.assertEqual(status["stats"]["records_dead_lettered"], len(poison))
        self.assertEqual(status["state"], "running")


if __name__ == "__main__":
    unittest.main()
