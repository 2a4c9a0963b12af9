"""Reads a Parquet file with pyarrow, the independent reader of the Parquet
tests, and prints what it sees as JSON.

Every primitive value is a string so nothing is lost on the way to Swift:
booleans "true"/"false", integers (dates, times and timestamps as their
day/microsecond counts) in decimal, float and double as the hex of their
big-endian IEEE bits ("nan" for NaN), decimals in plain notation, strings
as themselves, binary and UUIDs as hex. Structs are lists in field order.
Statistics are the raw (physical) bounds rendered the same way, with fixed
and variable byte arrays as hex.

usage: read_parquet.py FILE
"""

import json
import math
import struct
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def integer_type(arrow_type):
    """Dates, times and timestamps as plain integers: exact, and no datetime range limits."""
    if pa.types.is_date32(arrow_type):
        return pa.int32()
    if pa.types.is_time64(arrow_type) or pa.types.is_timestamp(arrow_type):
        return pa.int64()
    if pa.types.is_struct(arrow_type):
        return pa.struct([field.with_type(integer_type(field.type)) for field in arrow_type])
    return arrow_type


def float_text(value, code):
    if math.isnan(value):
        return "nan"
    return struct.pack(">" + code, value).hex()


def render(value, arrow_type):
    if value is None:
        return None
    if pa.types.is_struct(arrow_type):
        return [render(value[field.name], field.type) for field in arrow_type]
    if pa.types.is_boolean(arrow_type):
        return "true" if value else "false"
    if pa.types.is_integer(arrow_type):
        return str(value)
    if pa.types.is_float32(arrow_type):
        return float_text(value, "f")
    if pa.types.is_float64(arrow_type):
        return float_text(value, "d")
    if pa.types.is_decimal(arrow_type):
        return format(value, "f")
    if pa.types.is_string(arrow_type):
        return value
    if pa.types.is_binary(arrow_type) or pa.types.is_fixed_size_binary(arrow_type):
        return value.hex()
    raise ValueError(f"unexpected type {arrow_type}")


def render_raw(value, physical_type):
    if physical_type == "BOOLEAN":
        return "true" if value else "false"
    if physical_type in ("INT32", "INT64"):
        return str(value)
    if physical_type == "FLOAT":
        return float_text(value, "f")
    if physical_type == "DOUBLE":
        return float_text(value, "d")
    if isinstance(value, str):
        value = value.encode()
    return value.hex()


def describe_field(field):
    field_id = (field.metadata or {}).get(b"PARQUET:field_id")
    described = {
        "name": field.name,
        "type": "struct" if pa.types.is_struct(field.type) else str(field.type),
        "nullable": field.nullable,
        "field_id": int(field_id) if field_id is not None else None,
    }
    if pa.types.is_struct(field.type):
        described["children"] = [describe_field(child) for child in field.type]
    return described


def sort_key(raw, column):
    """The column's order: decimals compare as signed big-endian integers."""
    if column.logical_type.type == "DECIMAL" and isinstance(raw, bytes):
        return int.from_bytes(raw, "big", signed=True)
    return raw


def main(path):
    parquet = pq.ParquetFile(path)
    metadata = parquet.metadata
    table = pq.read_table(path)
    table = table.cast(pa.schema([field.with_type(integer_type(field.type)) for field in table.schema]))
    rows = [
        [render(row[field.name], field.type) for field in table.schema]
        for row in table.to_pylist()
    ]

    columns = []
    for index in range(metadata.num_columns):
        column = metadata.schema.column(index)
        columns.append({
            "path": column.path,
            "physical_type": column.physical_type,
            "logical_type": str(column.logical_type),
            "converted_type": column.converted_type,
            "length": column.length,
            "max_definition_level": column.max_definition_level,
        })

    row_groups = []
    totals = [{"num_values": 0, "null_count": 0, "total_compressed_size": 0, "min": None, "max": None}
              for _ in range(metadata.num_columns)]
    for group_index in range(metadata.num_row_groups):
        group = metadata.row_group(group_index)
        chunks = []
        for index in range(group.num_columns):
            chunk = group.column(index)
            stats = chunk.statistics
            has_bounds = stats is not None and stats.has_min_max
            chunks.append({
                "path": chunk.path_in_schema,
                "num_values": chunk.num_values,
                "null_count": stats.null_count if stats is not None else None,
                "min": render_raw(stats.min_raw, chunk.physical_type) if has_bounds else None,
                "max": render_raw(stats.max_raw, chunk.physical_type) if has_bounds else None,
                "compression": chunk.compression,
                "encodings": list(chunk.encodings),
                "has_dictionary_page": chunk.has_dictionary_page,
                "dictionary_page_offset": chunk.dictionary_page_offset,
                "data_page_offset": chunk.data_page_offset,
                "total_compressed_size": chunk.total_compressed_size,
            })
            total = totals[index]
            total["num_values"] += chunk.num_values
            total["null_count"] += stats.null_count
            total["total_compressed_size"] += chunk.total_compressed_size
            if has_bounds:
                key = lambda raw: sort_key(raw, metadata.schema.column(index))
                if total["min"] is None or key(stats.min_raw) < key(total["min"]):
                    total["min"] = stats.min_raw
                if total["max"] is None or key(stats.max_raw) > key(total["max"]):
                    total["max"] = stats.max_raw
        first = group.column(0)
        row_groups.append({
            "num_rows": group.num_rows,
            "offset": first.dictionary_page_offset if first.has_dictionary_page else first.data_page_offset,
            "columns": chunks,
        })

    file_columns = []
    for index, total in enumerate(totals):
        physical = metadata.schema.column(index).physical_type
        file_columns.append({
            "path": metadata.schema.column(index).path,
            "num_values": total["num_values"],
            "null_count": total["null_count"],
            "total_compressed_size": total["total_compressed_size"],
            "min": render_raw(total["min"], physical) if total["min"] is not None else None,
            "max": render_raw(total["max"], physical) if total["max"] is not None else None,
        })

    print(json.dumps({
        "num_rows": metadata.num_rows,
        "num_row_groups": metadata.num_row_groups,
        "created_by": metadata.created_by,
        "key_value_metadata": {key.decode(): value.decode() for key, value in (metadata.metadata or {}).items()},
        "arrow_schema": [describe_field(field) for field in pq.read_schema(path)],
        "columns": columns,
        "rows": rows,
        "row_groups": row_groups,
        "file_columns": file_columns,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
