"""Reads an Iceberg table with pyiceberg and prints it as JSON: the rows
(sorted by `id`), the snapshots with their summaries, and the data files.

    read_iceberg.py static <metadata.json>
    read_iceberg.py sql <sqlite db> <warehouse> <catalog name> <namespace.table>
    read_iceberg.py append <sqlite db> <warehouse> <catalog name> <namespace.table> <first id> <count>
        (pyiceberg commits rows of its own: another writer of the table)
"""
import json
import sys

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import StaticTable


def load(argv):
    if argv[1] == "static":
        return StaticTable.from_metadata(argv[2])
    catalog = SqlCatalog(argv[4], uri=f"sqlite:///{argv[2]}", warehouse=f"file://{argv[3]}")
    return catalog.load_table(argv[5])


def plain(value):
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value if isinstance(value, (int, float, str, bool, type(None), list, dict)) else str(value)


def append(argv):
    import datetime
    import pyarrow as pa
    table = load(argv)
    first, count = int(argv[6]), int(argv[7])
    schema = pa.schema([
        pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.large_string()), pa.field("price", pa.float64()),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False)])
    ts = datetime.datetime(2024, 1, 1, 12, tzinfo=datetime.timezone.utc)
    table.append(pa.table({"id": list(range(first, first + count)), "name": [f"py{i}" for i in range(count)],
                           "price": [1.0] * count, "ts": [ts] * count}, schema=schema))


def main():
    if sys.argv[1] == "append":
        append(sys.argv)
        return
    table = load(sys.argv)
    rows = table.scan().to_arrow().to_pylist()
    rows = [{key: plain(value) for key, value in row.items()} for row in rows]
    rows.sort(key=lambda row: row.get("id") or 0)
    # inspect.entries() fails in pyiceberg 0.8.1 on any file with bounds
    # (it hands pyarrow a LazyDict); files() has all but the partition,
    # which the Hive-style path names.
    files = table.inspect.files().to_pylist() if table.current_snapshot() else []
    print(json.dumps({
        "rows": rows,
        "snapshots": [{"id": s.snapshot_id, "parent": s.parent_snapshot_id, "summary": dict(s.summary.additional_properties, operation=s.summary.operation.value)} for s in table.snapshots()],
        "files": [{
            "path": f["file_path"],
            "records": f["record_count"],
            "partition": dict(part.split("=", 1) for part in f["file_path"].split("/") if "=" in part),
            "id_bounds": [f["readable_metrics"]["id"]["lower_bound"], f["readable_metrics"]["id"]["upper_bound"]],
        } for f in files],
        "partition_spec": str(table.spec()),
        "schema": str(table.schema()),
    }))


main()
