"""`python worker_load_producer.py BROKERS TOPIC EVENTS.jsonl RATE SECONDS OUT`: paced load with send times.

Publishes the first RATE×SECONDS lines of EVENTS.jsonl to TOPIC (key = user id) at RATE messages per second
with a confluent-kafka Producer (client defaults, e.g. linger.ms 5). Just before each produce() it records
CLOCK_MONOTONIC in ns (system-wide, comparable with the scores reader's receive times); the delivery report
then tells that message's partition and offset. Writes OUT: one line `partition offset send_ns` per delivered
message, and prints a JSON line: sent, delivered, failed, seconds, achieved rate, max schedule slip (ms).
"""

import json
import sys
import time

from confluent_kafka import Producer


def main() -> None:
    brokers, topic, events_path = sys.argv[1], sys.argv[2], sys.argv[3]
    rate, seconds, out_path = float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
    limit = int(rate * seconds)
    lines = []
    with open(events_path, "rb") as f:
        for raw in f:
            raw = raw.rstrip(b"\n")
            if not raw:
                continue
            lines.append((json.loads(raw)["user_id"].encode(), raw))
            if len(lines) >= limit:
                break
    if len(lines) < limit:
        sys.exit(f"{events_path} has only {len(lines)} events; {limit} needed")

    producer = Producer({"bootstrap.servers": brokers})
    send_ns = [0] * limit
    delivered = {}  # index -> (partition, offset)
    failed = [0]

    def report(index, err, msg):
        if err is None:
            delivered[index] = (msg.partition(), msg.offset())
        else:
            failed[0] += 1

    clock = time.monotonic_ns
    interval_ns = int(1e9 / rate)
    start = clock()
    max_slip = 0
    i = 0
    while i < limit:
        now = clock()
        due = start + i * interval_ns
        if now < due:
            producer.poll(0)
            wait = (due - clock()) / 1e9
            if wait > 0:
                time.sleep(min(wait, 0.001))
            continue
        max_slip = max(max_slip, now - due)
        while i < limit and start + i * interval_ns <= now:
            key, value = lines[i]
            send_ns[i] = clock()
            producer.produce(topic, value=value, key=key, on_delivery=lambda err, msg, i=i: report(i, err, msg))
            i += 1
        producer.poll(0)
    elapsed = (clock() - start) / 1e9
    producer.flush(30)
    with open(out_path, "w", encoding="utf-8") as out:
        for index, (partition, offset) in delivered.items():
            out.write(f"{partition} {offset} {send_ns[index]}\n")
    print(json.dumps({"sent": limit, "delivered": len(delivered), "failed": failed[0], "seconds": elapsed,
                      "rate": limit / elapsed, "max_slip_ms": max_slip / 1e6}))


if __name__ == "__main__":
    main()
