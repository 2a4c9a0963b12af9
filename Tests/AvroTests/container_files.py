"""Object container files across fastavro and consumerd.

    container_files.py write <dir>   fastavro writes null.avro and deflate.avro
                                     (3,000 records each, blocks of 1,000) with
                                     header metadata `schema-id: 7`
    container_files.py read <file>   fastavro reads a file consumerd wrote and
                                     prints its records, header metadata and
                                     the schema text of the header, as JSON
"""
import base64
import json
import sys

import fastavro

SCHEMA = {
    "type": "record", "name": "manifest_file", "fields": [
        {"name": "manifest_path", "type": "string", "field-id": 500},
        {"name": "added_rows_count", "type": "long", "field-id": 512},
        {"name": "lower_bound", "type": ["null", "bytes"], "default": None, "field-id": 510},
    ],
}


def records():
    return [{"manifest_path": f"m{i}.avro", "added_rows_count": i * 1000, "lower_bound": None if i % 3 else bytes([i % 256, 1])}
            for i in range(3000)]


def main():
    if sys.argv[1] == "write":
        for codec in ("null", "deflate"):
            with open(f"{sys.argv[2]}/{codec}.avro", "wb") as out:
                fastavro.writer(out, fastavro.parse_schema(SCHEMA, _write_hint=False), records(), codec=codec,
                                sync_interval=40_000, metadata={"schema-id": "7"})
        return
    with open(sys.argv[2], "rb") as source:
        reader = fastavro.reader(source)
        rows = [{k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in row.items()} for row in reader]
        metadata = {k: v.decode() if isinstance(v, bytes) else v for k, v in reader.metadata.items()}
    print(json.dumps({"records": rows, "metadata": metadata}))


main()
