"""The seeds' Python pattern (confluent-kafka): poll(0.1) into a batch of
decoded records, write the batch, then commit synchronously. As in the seeds,
each value is json.loads-ed and written back with json.dumps.

    python_consumer.py BOOTSTRAP TOPIC GROUP COUNT OUT_FILE BATCH
Prints: records seconds cpu_seconds batch_p50_ms batch_p99_ms
(a batch's latency: its first poll to its commit's answer)
"""
import json
import math
import os
import resource
import sys
import time

from confluent_kafka import Consumer


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(bootstrap, topic, group, count, out_path, batch_size):
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "fetch.wait.max.ms": 10,
    })
    consumer.subscribe([topic])
    total = 0
    start = cpu_start = None
    latencies = []
    with open(out_path, "w") as out:
        while total < count:
            batch = []
            batch_start = time.monotonic()
            deadline = time.time() + 1.0
            while len(batch) < batch_size and time.time() < deadline and total + len(batch) < count:
                msg = consumer.poll(timeout=0.1)
                if msg is None or msg.error():
                    continue
                if start is None:
                    start, cpu_start = time.monotonic(), cpu()
                if not batch:
                    batch_start = time.monotonic()
                batch.append({
                    "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
                    "key": msg.key().decode() if msg.key() else None,
                    "value": json.loads(msg.value()),
                })
            if batch:
                out.write("".join(json.dumps(record) + "\n" for record in batch))
                out.flush()
                os.fdatasync(out.fileno())
                consumer.commit(asynchronous=False)
                latencies.append((time.monotonic() - batch_start) * 1000)
                total += len(batch)
    seconds, cpu_seconds = time.monotonic() - start, cpu() - cpu_start
    latencies.sort()

    def quantile(q):
        return latencies[min(len(latencies) - 1, max(0, math.ceil(len(latencies) * q) - 1))] if latencies else 0
    print(f"{total} {seconds:.3f} {cpu_seconds:.3f} {quantile(0.5):.2f} {quantile(0.99):.2f}")
    consumer.close()


if __name__ == "__main__":
    b, t, g, n, o, s = sys.argv[1:7]
    main(b, t, g, int(n), o, int(s))
