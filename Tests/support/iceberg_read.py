"""Reads the Iceberg sink's tables with nobody's code but pyiceberg's and
pyarrow's: the SQL catalog on SQLite (pyiceberg's own layout) and the
filesystem catalog (`metadata/version-hint.text` naming `vN.metadata.json`).

As a module (Tests/e2e/test_iceberg.py):
  sql_catalog(sinks, db, warehouse)          pyiceberg's SqlCatalog on the sink's SQLite file
  filesystem_table(table_dir)                a StaticTable of the newest metadata
  sql_metadata_location(db, table)           the catalog's pointer, read without pyiceberg
  committed_rows(table)                      rows of the current snapshot, from the manifests only
  snapshot_offsets(table, consumer)          [(snapshot, {topic: {partition: next offset}})], oldest first
  referenced_files(table)                    every data file of every snapshot
  parquet_files(table_dir)                   every .parquet file under data/
As a command (for a table kept with KEEP_E2E=1):
  iceberg_read.py --sql SINKS/iceberg/catalog.db --table market.trades [--rows|--snapshots|--files]
  iceberg_read.py --table-dir SINKS/iceberg/warehouse/market/trades [--rows|--snapshots|--files]
prints one JSON object per line.
"""

import argparse
import base64
import datetime
import decimal
import json
import os
import sqlite3
import sys
import uuid
from urllib.parse import urlparse

OFFSETS_KEY = "consumerd.offsets"
CONSUMER_KEY = "consumerd.consumer"


def local_path(location):
    """A location from the metadata as a filesystem path (`file://` or a bare absolute path)."""
    parsed = urlparse(location)
    return parsed.path if parsed.scheme == "file" else location


def sql_catalog(sinks, db="iceberg/catalog.db", warehouse="iceberg/warehouse", name="default"):
    from pyiceberg.catalog.sql import SqlCatalog
    return SqlCatalog(name, uri=f"sqlite:///{os.path.join(sinks, db)}", warehouse=f"file://{os.path.join(sinks, warehouse)}")


def sql_table(sinks, table, **catalog):
    """`(table, catalog)`; dispose of `catalog.engine` when done."""
    opened = sql_catalog(sinks, **catalog)
    return opened.load_table(table), opened


def version_hint(table_dir):
    with open(os.path.join(table_dir, "metadata", "version-hint.text"), encoding="utf-8") as f:
        return int(f.read().strip())


def metadata_versions(table_dir):
    """The N of every `vN.metadata.json` in metadata/."""
    versions = []
    for name in os.listdir(os.path.join(table_dir, "metadata")):
        if name.startswith("v") and name.endswith(".metadata.json") and name[1:-len(".metadata.json")].isdigit():
            versions.append(int(name[1:-len(".metadata.json")]))
    return sorted(versions)


def filesystem_table(table_dir):
    from pyiceberg.table import StaticTable
    return StaticTable.from_metadata(os.path.join(table_dir, "metadata", f"v{version_hint(table_dir)}.metadata.json"))


def sql_metadata_location(db_path, table, catalog="default"):
    """The current metadata location of `namespace.name` in pyiceberg's
    `iceberg_tables`, or None while the catalog or the table does not exist.
    Plain sqlite3, so that polling a running server's catalog creates nothing."""
    if not os.path.exists(db_path):
        return None
    namespace, name = table.rsplit(".", 1)
    connection = sqlite3.connect(db_path, timeout=30)
    try:
        row = connection.execute(
            "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?",
            (catalog, namespace, name)).fetchone()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return None
        raise
    finally:
        connection.close()
    return row[0] if row else None


def static_table(metadata_location):
    from pyiceberg.table import StaticTable
    return StaticTable.from_metadata(local_path(metadata_location))


def committed_rows(table):
    """Rows in the current snapshot, summed over its data files (manifests only, no Parquet read)."""
    if table.current_snapshot() is None:
        return 0
    return sum(task.file.record_count for task in table.scan().plan_files())


def snapshots(table):
    """Every snapshot, oldest first."""
    return sorted(table.snapshots(), key=lambda s: (s.sequence_number or 0, s.timestamp_ms))


def snapshot_offsets(table, consumer):
    """[(snapshot, {topic: {partition: next offset}})], oldest first; a
    snapshot without `consumerd.offsets` has None."""
    result = []
    for snapshot in snapshots(table):
        text = snapshot.summary[OFFSETS_KEY] if snapshot.summary else None
        if text is None:
            result.append((snapshot, None))
            continue
        topics = json.loads(text).get(consumer, {})
        result.append((snapshot, {topic: {int(p): int(o) for p, o in partitions.items()} for topic, partitions in topics.items()}))
    return result


def referenced_files(table):
    """The data file paths of every snapshot (pyiceberg 0.8.1 has no inspect.all_files)."""
    paths = set()
    for snapshot in table.snapshots():
        paths.update(local_path(p) for p in table.inspect.files(snapshot.snapshot_id).column("file_path").to_pylist())
    return paths


def parquet_files(table_dir):
    found = set()
    for directory, _, names in os.walk(os.path.join(table_dir, "data")):
        found.update(os.path.join(directory, name) for name in names if name.endswith(".parquet"))
    return found


def _jsonable(value):
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--sql", help="the SQL catalog's SQLite file")
    where.add_argument("--table-dir", help="a filesystem catalog's table directory")
    parser.add_argument("--table", default="market.trades")
    parser.add_argument("--catalog", default="default")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--rows", action="store_true", help="every row (the default)")
    what.add_argument("--snapshots", action="store_true")
    what.add_argument("--files", action="store_true")
    args = parser.parse_args()

    if args.sql:
        location = sql_metadata_location(args.sql, args.table, args.catalog)
        if location is None:
            sys.exit(f"{args.table} is not in {args.sql}")
        table = static_table(location)
    else:
        table = filesystem_table(args.table_dir)
    if args.snapshots:
        rows = [{"snapshot_id": s.snapshot_id, "sequence_number": s.sequence_number, "timestamp_ms": s.timestamp_ms,
                 "summary": s.summary.model_dump() if s.summary else None} for s in snapshots(table)]
    elif args.files:
        rows = table.inspect.files().drop_columns(["readable_metrics"]).to_pylist()
    else:
        rows = table.scan().to_arrow().to_pylist()
    for row in rows:
        print(json.dumps(_jsonable(row), ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
