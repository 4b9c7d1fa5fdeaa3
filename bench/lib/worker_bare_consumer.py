"""`python worker_bare_consumer.py BROKERS TOPIC EXPECTED`: a bare confluent-kafka consumer, no processing.

Assigns every partition of TOPIC from the beginning (no group join), drains it with `consume()` batches
until EXPECTED messages arrived (or 10 s pass without any), touching only each message's length, and prints
one JSON line: messages, seconds from the first to the last message (the worker's busy-time definition),
and wall seconds from start to the last message (including connection set-up).
"""

import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition


def main() -> None:
    brokers, topic, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    started = time.perf_counter()
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"bench-bare-{time.time_ns()}",  # required by the client; no join happens with assign()
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    })
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)])
    count = 0
    nbytes = 0
    first = last = None
    idle_since = time.perf_counter()
    while count < expected:
        batch = consumer.consume(num_messages=10000, timeout=0.5)
        now = time.perf_counter()
        if not batch:
            if now - idle_since > 10:
                break
            continue
        idle_since = now
        for m in batch:
            if m.error() is None:
                count += 1
                nbytes += len(m)
        if first is None:
            first = now
        last = now
    consumer.close()
    print(json.dumps({
        "messages": count, "bytes": nbytes,
        "busy_seconds": (last - first) if first is not None else 0.0,
        "wall_seconds": (last - started) if last is not None else 0.0,
    }))


if __name__ == "__main__":
    main()
