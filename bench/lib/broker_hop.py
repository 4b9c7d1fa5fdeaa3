"""One producer → broker → consumer hop, message by message (bench/broker-hop).

Usage: broker_hop.py BROKERS LINGER_MS FETCH_WAIT_MS COUNT
The producer is set up as the worker's increments' producer is (idempotent, one request in flight) with the given
linger; the consumer reads the one partition with the given fetch wait. Each message carries its send time; the next
is sent 20 ms after the previous one arrived. Prints the end-to-end and the delivery-report medians and p90 (ms).
"""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

brokers, linger, wait, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
topic = f"hop-{int(time.time() * 1000)}"
admin = AdminClient({"bootstrap.servers": brokers})
admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
time.sleep(1)
producer = Producer({"bootstrap.servers": brokers, "linger.ms": linger, "enable.idempotence": True,
                     "max.in.flight.requests.per.connection": 1})
consumer = Consumer({"bootstrap.servers": brokers, "group.id": topic, "fetch.wait.max.ms": wait,
                     "enable.auto.commit": False})
consumer.assign([TopicPartition(topic, 0, 0)])
consumer.poll(1)
hops, deliveries = [], []
deadline = time.time() + 60 + count
for _ in range(count):
    delivered = []
    sent = time.time()
    producer.produce(topic, repr(sent).encode(), on_delivery=lambda err, msg: delivered.append(time.time()))
    producer.poll(0)
    while time.time() < deadline:
        m = consumer.poll(0.001)
        if m is not None and not m.error():
            hops.append((time.time() - float(m.value())) * 1000)
            break
    producer.flush(5)
    if delivered:
        deliveries.append((delivered[0] - sent) * 1000)
    time.sleep(0.02)
consumer.close()
if not hops:
    sys.exit("no message came back")


def q(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


print(f"| {linger} | {wait} | {len(hops)} | {q(hops, 0.5):.1f} / {q(hops, 0.9):.1f} | "
      f"{q(deliveries, 0.5):.1f} / {q(deliveries, 0.9):.1f} |")
