"""Reads every record of a topic, from the log start to the high watermark,
with confluent-kafka (no consumer group, nothing committed) and prints one
JSON object per record: topic, partition, offset, timestamp, key, value
(UTF-8 text, or base64 with "value_base64": true) and headers as
{name: text}.

Usage: read_topic.py BOOTSTRAP TOPIC
"""

import base64
import json
import sys

from confluent_kafka import Consumer, TopicPartition


def text(data):
    if data is None:
        return None, False
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), True


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "read-topic", "enable.auto.commit": False})
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = sorted(metadata.topics[topic].partitions) if topic in metadata.topics else []
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in partitions}
    wanted = {p: high for p, (low, high) in ends.items() if high > low}
    consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in wanted])
    done = set()
    while len(done) < len(wanted):
        message = consumer.poll(10)
        if message is None:
            raise SystemExit(f"timed out reading {topic}: {len(done)} of {len(wanted)} partitions complete")
        if message.error():
            raise SystemExit(str(message.error()))
        value, value_b64 = text(message.value())
        key, _ = text(message.key())
        print(json.dumps({
            "topic": message.topic(), "partition": message.partition(), "offset": message.offset(),
            "timestamp": message.timestamp()[1], "key": key, "value": value, "value_base64": value_b64,
            "headers": {name: (raw or b"").decode("utf-8", "replace") for name, raw in (message.headers() or [])},
        }))
        if message.offset() + 1 >= wanted[message.partition()]:
            done.add(message.partition())
    consumer.close()


if __name__ == "__main__":
    main()
