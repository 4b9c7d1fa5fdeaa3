"""`python worker_scores_reader.py [--raw] BROKERS TOPIC OUT [KEY=VALUE ...]`: timestamps messages on arrival.

Assigns partition 0 of TOPIC from the beginning (no group join), prints "ready" once its first poll is done,
then records for each message CLOCK_MONOTONIC in ns (system-wide, so comparable with the producer process)
before anything else. On SIGTERM/SIGINT it stops and writes OUT: one line `partition offset receive_ns` per
message, where partition/offset name the *input event* it answers: the score's `source.partition` and
`source.offset` fields (one line per event of the run `source.first_offset`..`offset` a refresh covers), or with --raw the message's own position (to time a bare producer → consumer hop).
Extra KEY=VALUE arguments are librdkafka consumer properties (e.g. fetch.wait.max.ms=5).
A separate process (not a thread of the producer) so neither side's timestamps wait for the other's GIL.
"""

import json
import signal
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

stopping = False


def stop(_signum, _frame) -> None:
    global stopping
    stopping = True


def main() -> None:
    argv = sys.argv[1:]
    raw = argv[:1] == ["--raw"]
    if raw:
        argv = argv[1:]
    brokers, topic, out_path = argv[0], argv[1], argv[2]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    config = {
        "bootstrap.servers": brokers,
        "group.id": f"bench-reader-{time.time_ns()}",  # required by the client; no join happens with assign()
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    }
    for prop in argv[3:]:
        key, value = prop.split("=", 1)
        config[key] = value
    consumer = Consumer(config)
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    received = []  # (receive_ns, message)
    ready = False
    clock = time.monotonic_ns
    while not stopping:
        m = consumer.poll(0.05)
        if not ready:
            print("ready", flush=True)
            ready = True
        if m is None:
            continue
        t = clock()
        if m.error() is None:
            received.append((t, m))
    consumer.close()
    with open(out_path, "w", encoding="utf-8") as out:
        for t, m in received:
            if raw:
                out.write(f"{m.partition()} {m.offset()} {t}\n")
                continue
            try:
                source = json.loads(m.value())["source"]
                # A refresh coalesces its user's run first_offset..offset: it answers every event of it, each
                # timed from its own send (the run's first event waited longest).
                first = source.get("first_offset", source["offset"])
                for o in range(first, source["offset"] + 1):
                    out.write(f"{source['partition']} {o} {t}\n")
            except (ValueError, KeyError, TypeError):
                out.write(f"-1 -1 {t}\n")


if __name__ == "__main__":
    main()
