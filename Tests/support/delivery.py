"""The delivery checker: what was produced against what arrived.

In the manner of Jepsen's Kafka checker, reduced to what a consumer owes:
every produced record delivered (to the sink or the dead-letter topic) at
least once, and how far from exactly once and in order it came.

Inputs are record ids per partition:
  produced      {partition: [id, ...]} in the order the log holds them
  delivered     [(partition, id), ...] in the order the sink holds them
  dead_lettered [(partition, id), ...] from the dead-letter topic

Per partition the report counts:
  produced, delivered (distinct ids that arrived), dead_lettered,
  lost        produced, never delivered nor dead-lettered
  duplicated  extra copies beyond the first (sink and DLQ together)
  reordered   first deliveries that came after a later-produced id
  unexpected  arrivals that were never produced there

As a module: check(produced, delivered, dead_lettered) -> Report.
As a command (for bench/ and by hand):
  delivery.py --produced P.jsonl --sink SINK.jsonl [--dlq DLQ.jsonl] [--id-field id]
where P.jsonl has {"partition": p, "id": i} per line, SINK.jsonl is a
consumerd file sink (the id is read from value[id-field]) and DLQ.jsonl is
read_topic.py output of the dead-letter topic. Prints the report as JSON;
exits 1 when anything was lost.
"""

import argparse
import collections
import json
import sys


class Report:
    def __init__(self, partitions):
        self.partitions = partitions

    def total(self, key):
        return sum(counts[key] for counts in self.partitions.values())

    @property
    def lost(self):
        return self.total("lost")

    @property
    def duplicated(self):
        return self.total("duplicated")

    @property
    def reordered(self):
        return self.total("reordered")

    @property
    def unexpected(self):
        return self.total("unexpected")

    def max_duplicated_per_partition(self):
        return max((counts["duplicated"] for counts in self.partitions.values()), default=0)

    def summary(self):
        keys = ["produced", "delivered", "dead_lettered", "lost", "duplicated", "reordered", "unexpected"]
        return {key: self.total(key) for key in keys}

    def line(self, name):
        """One line for a test's output: the counts that matter."""
        s = self.summary()
        return (f"{name}: produced {s['produced']}, delivered {s['delivered']}, DLQ {s['dead_lettered']}, "
                f"lost {s['lost']}, duplicated {s['duplicated']}, reordered {s['reordered']}, "
                f"unexpected {s['unexpected']}")

    def as_json(self):
        return {"total": self.summary(), "partitions": {str(p): c for p, c in sorted(self.partitions.items())}}


def check(produced, delivered, dead_lettered=()):
    arrivals = collections.defaultdict(list)
    for partition, record_id in delivered:
        arrivals[partition].append(record_id)
    letters = collections.defaultdict(list)
    for partition, record_id in dead_lettered:
        letters[partition].append(record_id)

    partitions = {}
    for partition in set(produced) | set(arrivals) | set(letters):
        sent = produced.get(partition, [])
        position = {record_id: index for index, record_id in enumerate(sent)}
        got = arrivals.get(partition, [])
        dlq = letters.get(partition, [])
        copies = collections.Counter(got) + collections.Counter(dlq)
        reordered = 0
        highest = -1
        seen = set()
        for record_id in got:
            if record_id in seen or record_id not in position:
                continue
            seen.add(record_id)
            if position[record_id] < highest:
                reordered += 1
            highest = max(highest, position[record_id])
        partitions[partition] = {
            "produced": len(sent),
            "delivered": len(set(got) & set(position)),
            "dead_lettered": len(set(dlq) & set(position)),
            "lost": sum(1 for record_id in sent if copies[record_id] == 0),
            "duplicated": sum(count - 1 for record_id, count in copies.items() if record_id in position and count > 1),
            "reordered": reordered,
            "unexpected": sum(count for record_id, count in copies.items() if record_id not in position),
        }
    return Report(partitions)


def read_jsonl(path):
    """Every line must be a JSON object: a torn or garbled line is an error, never skipped."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                yield json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not a JSON line ({error}): {line[:120]!r}") from None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--produced", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--dlq")
    parser.add_argument("--id-field", default="id")
    args = parser.parse_args()

    produced = collections.defaultdict(list)
    for entry in read_jsonl(args.produced):
        produced[entry["partition"]].append(entry["id"])
    delivered = [(line["partition"], line["value"][args.id_field]) for line in read_jsonl(args.sink)]
    dead_lettered = []
    if args.dlq:
        for record in read_jsonl(args.dlq):
            original = int(record["headers"]["consumerd.original.partition"])
            dead_lettered.append((original, json.loads(record["value"])[args.id_field]))
    report = check(produced, delivered, dead_lettered)
    json.dump(report.as_json(), sys.stdout, indent=2)
    print()
    return 1 if report.lost else 0


if __name__ == "__main__":
    sys.exit(main())
