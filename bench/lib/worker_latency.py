"""End-to-end latency from the load producer's and the reader's files (see worker_load_producer.py and
worker_scores_reader.py): every received line names the input event it answers by (partition, offset); its
latency is receive_ns − that event's send_ns (both CLOCK_MONOTONIC). Recorded in an HdrHistogram (µs)."""

from __future__ import annotations

import collections
from typing import Dict, List, Tuple

from hdrh.histogram import HdrHistogram

PERCENTILES = (50, 90, 99, 99.9)


def read_positions(path: str) -> List[Tuple[int, int, int]]:
    """Lines `partition offset ns` of a producer or reader file."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            p, o, t = line.split()
            out.append((int(p), int(o), int(t)))
    return out


def latency_stats(sent_path: str, received_path: str) -> dict:
    """Counts, percentiles, mean and max in ms, and the worst 0.5 s window (by p50) over send time."""
    sent: Dict[Tuple[int, int], int] = {(p, o): t for p, o, t in read_positions(sent_path)}
    hist = HdrHistogram(1, 3_600_000_000, 3)  # microseconds, 1 µs .. 1 h, 3 significant digits
    seen = set()
    unmatched = 0
    start = min(sent.values()) if sent else 0
    windows: Dict[int, List[float]] = collections.defaultdict(list)
    for p, o, t in read_positions(received_path):
        key = (p, o)
        if key not in sent or key in seen:
            unmatched += 1
            continue
        seen.add(key)
        micros = max(1, (t - sent[key]) // 1000)
        hist.record_value(micros)
        windows[(sent[key] - start) // 500_000_000].append(micros / 1000)
    result = {
        "sent": len(sent), "matched": len(seen), "unmatched_or_repeated": unmatched,
        "inputs_without_answer": len(sent) - len(seen),
        "mean_ms": hist.get_mean_value() / 1000 if seen else None,
        "max_ms": hist.get_max_value() / 1000 if seen else None,
    }
    for q in PERCENTILES:
        result[f"p{q}_ms"] = hist.get_value_at_percentile(q) / 1000 if seen else None
    # Per half-second of send time: median latency, to show stalls and backlogs in the report.
    series = []
    for k in sorted(windows):
        v = sorted(windows[k])
        series.append((k * 0.5, v[len(v) // 2], v[-1]))
    result["series"] = series
    return result
