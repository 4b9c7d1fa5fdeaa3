"""The Kafka worker's targets, measured side by side on the local broker: one table.

Run through `bench/worker` (which installs kcat and the Python packages, fetches the data, builds feedloop,
starts the broker and exports FEEDLOOP_BROKERS and LD_LIBRARY_PATH). Sections:

1. Throughput: the MovieLens stream (x10 unless --quick) is produced to a fresh topic per partition count;
   then, interleaved run by run, a bare kcat (librdkafka, no processing), a bare confluent-kafka consumer
   (Python, no processing) and the worker (own group, fresh checkpoints) drain it. The worker's events/s is
   `run.events / run.busy_seconds` of its summary; kcat's is messages / wall time of the process.
2. Memory: the worker's VmRSS every 0.5 s during those runs, tied to its `feedloop_events_total`;
   RSS after 10 % and 50 % of the events, at the end and the peak (median run).
3. Latency: a worker (`--refresh-interval 0s`) on fresh topics; once it is assigned, events are produced at
   a fixed rate while another process timestamps every score message; latency = score receive time − send
   time of each input event the score covers, `source.first_offset`..`source.offset` (a refresh coalesces its
   user's run of events; same CLOCK_MONOTONIC), in an HdrHistogram.
4. Optionally (default on) one more worker run under `perf record -g`: top symbols by self time and by DSO.

Writes bench/out/worker-<date>.md (the table, the command, load, versions, per-run details, profile) and
bench/out/worker-<date>.json, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_latency import latency_stats  # noqa: E402
from worker_run import WorkerProcess, cpu_share, memory_profile, read_summary  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.path.join(ROOT, "bench", "lib")
PY = sys.executable

THROUGHPUT_TARGET = 100_000
RATIO_TARGET = 0.70
P99_TARGET_MS = 50.0
# "Flat": RSS at the end within +10 % of RSS at half the events. The first part of a run is warm-up (librdkafka's
# prefetch queue fills to queued.max.messages.kbytes, allocator and output buffers grow); a leak keeps growing after.
FLAT_TOLERANCE = 0.10


def say(text: str) -> None:
    print(f"[worker-bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def load1() -> float:
    with open("/proc/loadavg", encoding="ascii") as f:
        return float(f.read().split()[0])


def top_processes(n: int = 6) -> List[str]:
    """The busiest processes over one second (top's second iteration), as `%CPU COMMAND` lines."""
    try:
        out = subprocess.run(["top", "-b", "-n", "2", "-d", "1", "-w", "200"], capture_output=True, text=True,
                             timeout=15).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = []
    header_seen = 0
    for line in out.splitlines():
        if line.strip().startswith("PID"):
            header_seen += 1
            continue
        if header_seen == 2 and line.strip():
            parts = line.split(None, 11)
            if len(parts) >= 12:
                rows.append(f"{parts[8]:>5}% {parts[11][:60]}")
    return rows[:n]


def fmt_int(x: Optional[float]) -> str:
    return "—" if x is None else f"{x:,.0f}"


def fmt_mib(kib: Optional[float]) -> str:
    return "—" if kib is None else f"{kib / 1024:.1f}"


def fmt_pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


# MARK: setup


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.bin = args.bin
        self.brokers = os.environ["FEEDLOOP_BROKERS"]
        self.broker_pid = self._broker_pid()
        self.stamp = time.strftime("%Y-%m-%d_%H%M%S")
        self.run_id = f"wb{int(time.time())}"
        self.work = os.path.join(ROOT, "runtime", "bench-worker", self.stamp)
        os.makedirs(self.work, exist_ok=True)
        self.data = os.path.join(ROOT, "data", "ml-100k", "events.jsonl" if args.quick else "events-x10.jsonl")
        self.latency_data = os.path.join(ROOT, "data", "ml-100k", "events.jsonl")
        self.notes: List[str] = []

    @staticmethod
    def _broker_pid() -> Optional[int]:
        try:
            with open(os.path.join(ROOT, "runtime", "broker.env"), encoding="utf-8") as f:
                for line in f:
                    if line.startswith("BROKER_PID="):
                        return int(line.split("=", 1)[1])
        except (OSError, ValueError):
            return None
        return None

    def pipeline(self, tag: str) -> Tuple[str, str, str]:
        """A copy of the benchmarked pipeline (--pipeline) with run-specific topic names; returns (path, input topic,
        scores topic)."""
        source = self.args.pipeline
        with open(os.path.join(ROOT, source), encoding="utf-8") as f:
            text = f.read()
        names = {"events": f"{tag}.events", "scores": f"{tag}.scores", "adjustments": f"{tag}.adjustments",
                 "dlq": f"{tag}.dlq"}
        text, n = re.subn(r"^(  topics: )\[[^\]]*\]", rf"\g<1>[{names['events']}]", text, count=1, flags=re.M)
        if n != 1:
            raise SystemExit(f"{source}: no input.topics line (  topics: [...])")
        for key, value in (("scores_topic", names["scores"]), ("adjustments_topic", names["adjustments"]),
                           ("dlq_topic", names["dlq"])):
            text, n = re.subn(rf"^(  {key}: ).*$", rf"\g<1>{value}", text, count=1, flags=re.M)
            if n == 0:  # the file keeps the default topic: name it under outputs
                text, n = re.subn(r"^outputs:[ \t]*$", f"outputs:\n  {key}: {value}", text, count=1, flags=re.M)
                if n == 0:
                    text += f"\noutputs:\n  {key}: {value}\n"
        path = os.path.join(self.work, f"{tag}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path, names["events"], names["scores"]

    def feedloop(self, *args: str, timeout: float = 600) -> str:
        cmd = [self.bin, *args]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r.stdout

    def create_topics(self, pipeline: str, partitions: int) -> None:
        self.feedloop("topics", "create", "--pipeline", pipeline, "--partitions", str(partitions))

    def worker(self, pipeline: str, tag: str, refresh: str, idle: float,
               extra_properties: List[str] = ()) -> Tuple[WorkerProcess, str]:
        ckpt = os.path.join(self.work, f"{tag}.checkpoints")
        summary = os.path.join(self.work, f"{tag}.summary.json")
        cmd = [self.bin, "worker", "--pipeline", pipeline, "--brokers", self.brokers, "--group", tag,
               "--session-timeout", "6", "--checkpoint-dir", ckpt, "--exit-when-idle", str(idle),
               "--summary-json", summary, "--metrics-port", "0", "--refresh-interval", refresh,
               "--progress-seconds", str(self.args.progress_seconds), "--log-level", self.args.log_level]
        for prop in [*self.args.worker_property, *extra_properties]:
            cmd += ["--kafka-property", prop]
        w = WorkerProcess(cmd, os.path.join(self.work, f"{tag}.log"), broker_pid=self.broker_pid).start()
        return w, summary

    # MARK: versions

    def versions(self) -> Dict[str, str]:
        out = {}
        v = subprocess.run(["kcat", "-V"], capture_output=True, text=True).stdout
        m = re.search(r"Version (\S+).*?librdkafka (\S+)", v, re.S)
        out["kcat"] = f"kcat {m.group(1)}, librdkafka {m.group(2)}" if m else v.strip()
        if m and tuple(int(x) for x in m.group(2).split(".")[:3]) < (2, 1, 2):
            raise SystemExit(f"kcat runs librdkafka {m.group(2)}, which cannot talk to Tansu: "
                             "LD_LIBRARY_PATH must point at runtime/lib (scripts/broker env)")
        import confluent_kafka
        client = getattr(confluent_kafka, "__version__", None) or confluent_kafka.version()[0]
        out["confluent-kafka"] = f"confluent-kafka {client}, librdkafka {confluent_kafka.libversion()[0]}"
        return out

    # MARK: throughput + memory

    def kcat_drain(self, topic: str) -> dict:
        cmd = ["kcat", "-C", "-b", self.brokers, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o\n"]
        start = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        assert p.stdout is not None
        count = 0
        while True:
            chunk = p.stdout.read(1 << 20)
            if not chunk:
                break
            count += chunk.count(b"\n")
        rc = p.wait()
        wall = time.perf_counter() - start
        if rc != 0:
            raise SystemExit(f"kcat failed ({rc}): {shlex.join(cmd)}")
        return {"messages": count, "wall_seconds": wall, "rate": count / wall, "load1": load1()}

    def python_drain(self, topic: str, expected: int) -> dict:
        r = subprocess.run([PY, os.path.join(LIB, "worker_bare_consumer.py"), self.brokers, topic, str(expected)],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            raise SystemExit(f"bare confluent-kafka consumer failed:\n{r.stderr}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["rate"] = res["messages"] / res["busy_seconds"] if res["busy_seconds"] > 0 else 0.0
        res["load1"] = load1()
        return res

    def worker_drain(self, pipeline: str, tag: str, expected: int, refresh: str = "10m", perf: bool = False) -> dict:
        load_before = load1()
        w, summary_path = self.worker(pipeline, tag, refresh=refresh, idle=3)
        perf_proc = None
        perf_data = os.path.join(self.work, f"{tag}.perf.data")
        if not w.wait_assigned(120):
            w.wait(5)
            raise SystemExit(f"worker {tag} was not assigned its partitions within 120 s (log: {w.log_path})")
        if perf:
            perf_proc = subprocess.Popen(["perf", "record", "-F", "499", "-g", "-p", str(w.pid), "-o", perf_data],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=open(os.path.join(self.work, f"{tag}.perf.log"), "w"))
        rc = w.wait(expected / 5_000 + 180)
        if perf_proc is not None:
            try:
                perf_proc.wait(60)
            except subprocess.TimeoutExpired:
                perf_proc.send_signal(signal.SIGINT)
                perf_proc.wait(60)
        if rc != 0:
            raise SystemExit(f"worker {tag} exited with {rc} (log: {w.log_path})")
        s = read_summary(summary_path)
        run = s["run"]
        busy = run["busy_seconds"]
        res = {
            "events": run["events"], "busy_seconds": busy, "rate": run["events"] / busy if busy > 0 else 0.0,
            "published": s["published"], "rejected": s["rejected"], "refresh": refresh, "pending": s.get("pending"),
            "cpu_seconds_total": (w.samples[-1].cpu_seconds if w.samples else None),
            "memory": memory_profile(w.samples, run["events"]),
            "cpu": cpu_share(w.samples, run["first_message_at"], run["last_message_at"]),
            "load1_before": load_before, "load1_after": load1(), "log": os.path.relpath(w.log_path, ROOT),
        }
        if run["events"] != expected:
            res["warning"] = f"worker processed {run['events']} events of {expected}"
        if perf:
            res["perf"] = self.perf_report(perf_data)
        return res

    def throughput(self, partitions: int) -> dict:
        tag = f"{self.run_id}-p{partitions}"
        pipeline, topic, _ = self.pipeline(tag)
        self.create_topics(pipeline, partitions)
        say(f"producing {os.path.relpath(self.data, ROOT)} to {topic} ({partitions} partition(s))")
        out = self.feedloop("produce", "--input", self.data, "--topic", topic, timeout=1800)
        m = re.search(r"produced (\d+) messages .* (\d+) failed", out)
        if not m or m.group(2) != "0":
            raise SystemExit(f"produce failed: {out}")
        produced = int(m.group(1))
        say(out.strip())
        res: Dict[str, object] = {"partitions": partitions, "topic": topic, "produced": produced,
                                  "kcat": [], "python": [], "worker": []}
        for k in range(self.args.runs):
            say(f"run {k + 1}/{self.args.runs}: bare kcat")
            r = self.kcat_drain(topic)
            if r["messages"] != produced:
                self.notes.append(f"kcat read {r['messages']} of {produced} messages on {topic}")
            res["kcat"].append(r)
            say(f"  kcat {r['messages']:,} msgs in {r['wall_seconds']:.2f} s = {r['rate']:,.0f}/s")
            if not self.args.no_python_bare:
                say(f"run {k + 1}/{self.args.runs}: bare confluent-kafka")
                r = self.python_drain(topic, produced)
                res["python"].append(r)
                say(f"  confluent-kafka {r['messages']:,} msgs in {r['busy_seconds']:.2f} s = {r['rate']:,.0f}/s")
            say(f"run {k + 1}/{self.args.runs}: worker")
            r = self.worker_drain(pipeline, f"{tag}-w{k + 1}", produced)
            res["worker"].append(r)
            say(f"  worker {r['events']:,} events in {r['busy_seconds']:.2f} s = {r['rate']:,.0f}/s, "
                f"RSS end {fmt_mib(r['memory']['end'])} MiB, CPU worker {fmt_pct(r['cpu']['worker'])} "
                f"broker {fmt_pct(r['cpu']['broker'])}")
        if self.args.perf and partitions == self.args.partitions[0]:
            say("one more worker run under perf record -g (not counted)")
            res["perf_run"] = self.worker_drain(pipeline, f"{tag}-perf", produced, perf=True)
        return res

    # MARK: profile

    def perf_report(self, data: str) -> dict:
        def report(*extra: str) -> str:
            r = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none", *extra],
                               capture_output=True, text=True, timeout=600)
            return r.stdout

        def demangle(text: str) -> str:
            swift = shutil.which("swift")
            if not swift:
                return text
            r = subprocess.run([swift, "demangle", "--simplified"], input=text, capture_output=True, text=True)
            return r.stdout if r.returncode == 0 else text

        def rows(text: str, limit: int) -> List[str]:
            out = []
            for line in text.splitlines():
                if re.match(r"^\s+\d+\.\d+%", line):
                    line = re.sub(r"(\s+-)+\s*$", "", line.strip())
                    out.append(re.sub(r"\s+", " ", line)[:160])
                if len(out) >= limit:
                    break
            return out

        self_text = demangle(report("--no-children", "--sort", "dso,symbol", "--percent-limit", "0.5"))
        dso_text = report("--no-children", "--sort", "dso", "--percent-limit", "0.5")
        incl_text = demangle(report("--children", "--sort", "symbol", "--percent-limit", "4"))
        threads_text = report("--no-children", "--sort", "comm", "--percent-limit", "0.5")
        with open(data + ".txt", "w", encoding="utf-8") as f:
            f.write(self_text + "\n\n" + dso_text + "\n\n" + threads_text + "\n\n" + incl_text)
        return {"self": rows(self_text, 25), "dso": rows(dso_text, 10), "threads": rows(threads_text, 10),
                "inclusive": rows(incl_text, 25), "full": os.path.relpath(data + ".txt", ROOT)}

    # MARK: latency

    def _reader(self, topic: str, out_path: str, props: List[str], raw: bool) -> subprocess.Popen:
        cmd = [PY, os.path.join(LIB, "worker_scores_reader.py"), *(["--raw"] if raw else []), self.brokers, topic,
               out_path, *props]
        reader = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        assert reader.stdout is not None
        if reader.stdout.readline().strip() != "ready":
            raise SystemExit(f"reader did not start: {shlex.join(cmd)}")
        return reader

    def _load(self, topic: str, sent_path: str) -> dict:
        r = subprocess.run([PY, os.path.join(LIB, "worker_load_producer.py"), self.brokers, topic, self.latency_data,
                            str(self.args.rate), str(self.args.latency_seconds), sent_path],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=self.args.latency_seconds + 300)
        if r.returncode != 0:
            raise SystemExit(f"load producer failed:\n{r.stderr}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    @staticmethod
    def _stop_reader(reader: subprocess.Popen) -> None:
        reader.send_signal(signal.SIGTERM)
        try:
            reader.wait(60)
        except subprocess.TimeoutExpired:
            reader.kill()
            reader.wait()

    def _latency_setup(self, name: str, props: List[str], raw: bool):
        """Fresh topics (1 partition) and a reader timestamping the input topic (raw) or the scores topic:
        (tag, pipeline, input topic, scores topic, sent file, received file, reader process)."""
        tag = f"{self.run_id}-{name}"
        pipeline, topic, scores = self.pipeline(tag)
        self.create_topics(pipeline, 1)
        received = os.path.join(self.work, f"{tag}.received.txt")
        sent = os.path.join(self.work, f"{tag}.sent.txt")
        reader = self._reader(topic if raw else scores, received, props, raw=raw)
        return tag, pipeline, topic, scores, sent, received, reader

    def bare_hop(self, name: str, props: List[str]) -> dict:
        """Producer → broker → consumer with no worker: the floor any score latency sits on."""
        tag, pipeline, topic, _, sent, received, reader = self._latency_setup(f"hop-{name}", props, raw=True)
        load_before = load1()
        try:
            load = self._load(topic, sent)
            time.sleep(1.0)
        finally:
            self._stop_reader(reader)
        res = latency_stats(sent, received)
        res.update({"producer": load, "load1_before": load_before, "load1_after": load1()})
        return res

    def worker_latency(self, name: str, props: List[str]) -> dict:
        """Producer → worker (--refresh-interval 0s) → scores → reader, once the worker is assigned."""
        tag, pipeline, topic, scores, sent, received, reader = self._latency_setup(f"lat-{name}", props, raw=False)
        load_before = load1()
        w, summary_path = self.worker(pipeline, tag, refresh="0s", idle=5, extra_properties=props)
        try:
            if not w.wait_assigned(120):
                w.wait(5)
                raise SystemExit(f"latency worker was not assigned within 120 s (log: {w.log_path})")
            say(f"  worker assigned; producing {self.args.rate:,.0f} events/s for {self.args.latency_seconds:.0f} s")
            load = self._load(topic, sent)
            rc = w.wait(self.args.latency_seconds * 10 + 120)
            time.sleep(1.0)
        finally:
            self._stop_reader(reader)
        if rc != 0:
            raise SystemExit(f"latency worker exited with {rc} (log: {w.log_path})")
        summary = read_summary(summary_path)
        run = summary["run"]
        res = latency_stats(sent, received)
        res.update({
            "producer": load, "worker_published": summary["published"], "worker_events": run["events"],
            "score_delay": summary.get("score_delay"),
            "memory": memory_profile(w.samples, run["events"]),
            "cpu": cpu_share(w.samples, run["first_message_at"], run["last_message_at"]),
            "load1_before": load_before, "load1_after": load1(), "log": os.path.relpath(w.log_path, ROOT),
            "pipeline": pipeline, "topic": topic,
        })
        return res

    def latency(self) -> dict:
        variants = [("defaults", [])]
        if self.args.fetch_wait_ms > 0:
            variants.append((f"fetch{self.args.fetch_wait_ms}", [f"fetch.wait.max.ms={self.args.fetch_wait_ms}"]))
        out: dict = {"variants": []}
        for name, props in variants:
            reader_props = [*self.args.reader_property, *props]
            say(f"latency [{name}]: bare producer → consumer hop")
            hop = self.bare_hop(name, reader_props)
            say(f"  hop p50 {hop['p50_ms']:.1f} ms, p99 {hop['p99_ms']:.1f} ms")
            say(f"latency [{name}]: through the worker")
            lat = self.worker_latency(name, reader_props)
            say(f"  worker p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms")
            out["variants"].append({"name": name, "properties": props, "hop": hop, "worker": lat})
        # How many events/s can the worker score with --refresh-interval 0s? Drain the last latency input again.
        last = out["variants"][-1]["worker"]
        say("worker capacity with --refresh-interval 0s (drain of the latency input, new group)")
        out["capacity"] = self.worker_drain(last["pipeline"], f"{self.run_id}-cap", last["worker_events"],
                                            refresh="0s")
        c = out["capacity"]
        say(f"  {c['events']:,} events in {c['busy_seconds']:.2f} s = {c['rate']:,.0f}/s")
        if self.args.perf:
            say("one more capacity run under perf record -g (not counted)")
            out["capacity_perf_run"] = self.worker_drain(last["pipeline"], f"{self.run_id}-cap-perf",
                                                         last["worker_events"], refresh="0s", perf=True)
        return out


# MARK: table


def verdict(ok: Optional[bool]) -> str:
    return "—" if ok is None else ("met" if ok else "MISSED")


def median_of(runs: List[dict], key: str) -> Optional[float]:
    values = [r[key] for r in runs if r.get(key)]
    return statistics.median(values) if values else None


def median_run(runs: List[dict]) -> Optional[dict]:
    if not runs:
        return None
    ordered = sorted(runs, key=lambda r: r["rate"])
    return ordered[(len(ordered) - 1) // 2]


def per_event_us(run: dict) -> Optional[float]:
    """Worker CPU time per event during its busy time, in µs (all its threads)."""
    c = run["cpu"]
    if c.get("worker") is None or not run["events"]:
        return None
    return c["worker"] * run["busy_seconds"] / run["events"] * 1e6


def ms(x: Optional[float]) -> str:
    return "—" if x is None else f"{x:.1f}"


def table_rows(results: dict) -> List[Tuple[str, str, str, str, str]]:
    rows = []
    for t in results["throughput"]:
        parts = t["partitions"]
        sec = f"throughput, {parts} partition{'s' if parts > 1 else ''}"
        wk, kc, py = (median_of(t[k], "rate") for k in ("worker", "kcat", "python"))
        runs = lambda k: ", ".join(f"{r['rate'] / 1000:.0f}k" for r in t[k])  # noqa: E731
        n = len(t["worker"])
        label = f"median of {n}" if n > 1 else "1 run"
        rows.append((sec, f"worker events/s, {t['produced']:,} events ({label}: {runs('worker')})",
                     fmt_int(wk), f"≥ {THROUGHPUT_TARGET:,}", verdict(wk is not None and wk >= THROUGHPUT_TARGET)))
        rows.append((sec, f"bare kcat events/s ({label}: {runs('kcat')})", fmt_int(kc), "", ""))
        if t["python"]:
            rows.append((sec, f"bare confluent-kafka events/s ({label}: {runs('python')})", fmt_int(py), "", ""))
        ratio = wk / kc if wk and kc else None
        rows.append((sec, "worker / bare kcat", fmt_pct(ratio), f"≥ {RATIO_TARGET:.0%}",
                     verdict(ratio is not None and ratio >= RATIO_TARGET)))
        mr = median_run(t["worker"])
        if mr:
            c = mr["cpu"]
            us = per_event_us(mr)
            rows.append((sec, "CPU in the worker's busy time, worker / broker (1 core = 100%); worker µs/event",
                         f"{fmt_pct(c['worker'])} / {fmt_pct(c['broker'])}; {ms(us)}", "", ""))
            m = mr["memory"]
            flat = None
            if m["at50"] and m["end"]:
                flat = m["end"] <= m["at50"] * (1 + FLAT_TOLERANCE)
            rows.append((f"memory, {parts} partition{'s' if parts > 1 else ''}",
                         "worker RSS MiB at 10% / 50% / end / peak sampled / VmHWM",
                         f"{fmt_mib(m['at10'])} / {fmt_mib(m['at50'])} / {fmt_mib(m['end'])} / {fmt_mib(m['peak'])} / "
                         f"{fmt_mib(m['hwm'])}", f"flat (end ≤ 50% point +{FLAT_TOLERANCE:.0%})", verdict(flat)))
    lat = results.get("latency")
    if lat:
        for v in lat["variants"]:
            hop, w = v["hop"], v["worker"]
            sec = "latency, defaults (worker: its fetch.wait.max.ms=10; reader, bare hop: 500)" if not v["properties"] else f"latency, {', '.join(v['properties'])}"
            pr = w["producer"]
            rows.append((sec, f"bare hop producer → consumer ms p50 / p99 / max ({hop['matched']:,} msgs)",
                         f"{ms(hop['p50_ms'])} / {ms(hop['p99_ms'])} / {ms(hop['max_ms'])}", "", ""))
            rows.append((sec, f"worker: input events → scores matched ({pr['rate']:,.0f}/s for {pr['seconds']:.0f} s)",
                         f"{pr['sent']:,} → {w['matched']:,}", "", ""))
            rows.append((sec, "worker ms p50 / p90 / p99 / p99.9 / max (send → score received)",
                         f"{ms(w['p50_ms'])} / {ms(w['p90_ms'])} / {ms(w['p99_ms'])} / {ms(w['p99.9_ms'])} / "
                         f"{ms(w['max_ms'])}", f"p99 < {P99_TARGET_MS:.0f}",
                         verdict(w["p99_ms"] is not None and w["p99_ms"] < P99_TARGET_MS)))
            acked = (w.get("score_delay") or {}).get("delivered_from_event_timestamp")
            if acked and acked.get("count"):
                rows.append((sec, f"worker ms p50 / p90 / p99 / max (event's Kafka timestamp → score acknowledged by the "
                                  f"broker, {acked['count']:,} scores; its --summary-json)",
                             f"{ms(acked['p50_ms'])} / {ms(acked['p90_ms'])} / {ms(acked['p99_ms'])} / "
                             f"{ms(acked['max_ms'])}", f"p99 < {P99_TARGET_MS:.0f}",
                             verdict(acked["p99_ms"] < P99_TARGET_MS)))
            inside = (w.get("score_delay") or {}).get("in_worker")
            if inside and inside.get("count"):
                rows.append((sec, "of which inside the worker, ms p50 / p90 / p99 / max (batch's first message polled → "
                                  "score handed to the producer; its --summary-json)",
                             f"{ms(inside['p50_ms'])} / {ms(inside['p90_ms'])} / {ms(inside['p99_ms'])} / "
                             f"{ms(inside['max_ms'])}", "", ""))
        c = lat.get("capacity")
        if c:
            rows.append(("capacity, --refresh-interval 0s",
                         f"worker events/s draining {c['events']:,} events (score refresh per event); worker µs/event",
                         f"{fmt_int(c['rate'])}; {ms(per_event_us(c))}", "", ""))
    return rows


def render_text(rows: List[Tuple[str, ...]]) -> str:
    header = ("section", "measure", "value", "target", "result")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), line]
    for r in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    return "\n".join(out)


def render_md(rows: List[Tuple[str, ...]]) -> str:
    out = ["| section | measure | value | target | result |", "|---|---|---|---|---|"]
    for r in rows:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    return "\n".join(out)


def profile_md(title: str, run: dict) -> List[str]:
    p = run["perf"]
    return [
        f"\n### Profile: {title} under `perf record -F 499 -g` (not counted: {run['rate']:,.0f} events/s while "
        f"profiled; CPU worker {fmt_pct(run['cpu']['worker'])}, broker {fmt_pct(run['cpu']['broker'])})\n",
        "Self time by thread:\n```\n" + "\n".join(p["threads"]) + "\n```",
        "Self time by DSO:\n```\n" + "\n".join(p["dso"]) + "\n```",
        "Top symbols by self time (DSO, symbol; Swift names demangled):\n```\n" + "\n".join(p["self"]) + "\n```",
        "Top symbols including callees (≥ 4%):\n```\n" + "\n".join(p["inclusive"]) + "\n```",
        f"Full report: `{p['full']}`.",
    ]


def series_text(series: List[Tuple[float, float, float]]) -> str:
    return " ".join(f"{t:.1f}s:{p50:.0f}/{mx:.0f}" for t, p50, mx in series)


def details_md(results: dict) -> str:
    out = []
    for t in results["throughput"]:
        out.append(f"\n### Throughput runs, {t['partitions']} partition(s), topic `{t['topic']}`\n")
        out.append("| run | kcat msgs/s (wall s) | confluent-kafka msgs/s (busy s) | worker events/s (busy s) "
                   "| worker / broker CPU | worker µs/event | RSS 10% / 50% / end / peak MiB | load1 before |")
        out.append("|---|---|---|---|---|---|---|---|")
        for k, w in enumerate(t["worker"]):
            kc = t["kcat"][k]
            py = t["python"][k] if t["python"] else None
            m = w["memory"]
            out.append(
                f"| {k + 1} | {kc['rate']:,.0f} ({kc['wall_seconds']:.2f}) | "
                + (f"{py['rate']:,.0f} ({py['busy_seconds']:.2f})" if py else "—")
                + f" | {w['rate']:,.0f} ({w['busy_seconds']:.2f}) | {fmt_pct(w['cpu']['worker'])} / "
                f"{fmt_pct(w['cpu']['broker'])} | {ms(per_event_us(w))}"
                f" | {fmt_mib(m['at10'])} / {fmt_mib(m['at50'])} / {fmt_mib(m['end'])} / {fmt_mib(m['peak'])}"
                f" | {w['load1_before']:.2f} |")
        pub = t["worker"][0]["published"] if t["worker"] else {}
        out.append(f"\nWorker outputs per run: {pub.get('scores', 0):,} scores, {pub.get('adjustments', 0):,} "
                   f"adjustments, {pub.get('dead_letters', 0):,} dead letters (`--refresh-interval 10m`); clicks "
                   f"pending in the join buffer at exit: {', '.join(str(w.get('pending')) for w in t['worker'])}. "
                   f"Logs: `{os.path.dirname(t['worker'][0]['log']) if t['worker'] else ''}/`.")
        for k, w in enumerate(t["worker"]):
            curve = " ".join(f"{d}%:{kib / 1024:.0f}" for d, kib in w["memory"]["curve"])
            out.append(f"RSS MiB by share of events processed, run {k + 1}: {curve}  ")
        for w in t["worker"]:
            if "warning" in w:
                out.append(f"\n**Warning:** {w['warning']}")
        if t.get("perf_run"):
            out += profile_md(f"one more throughput run ({t['partitions']} partition(s), --refresh-interval 10m)",
                              t["perf_run"])
    lat = results.get("latency")
    if lat:
        out.append("\n### Latency runs\n")
        out.append("Load: `worker_load_producer.py`, confluent-kafka Producer with client defaults (linger.ms 5), "
                   "paced; send time taken just before produce(). Answers read by a separate confluent-kafka process "
                   "(assign, no group join), receive time taken before parsing. Both CLOCK_MONOTONIC. The bare hop is "
                   "the same producer and reader on one topic with no worker in between.\n")
        for v in lat["variants"]:
            hop, w = v["hop"], v["worker"]
            pr = w["producer"]
            props = ", ".join(v["properties"]) or "client defaults"
            out.append(f"**{props}** — worker: {pr['sent']:,} events in {pr['seconds']:.1f} s ({pr['rate']:,.0f}/s, "
                       f"max schedule slip {pr['max_slip_ms']:.1f} ms), {w['worker_events']:,} processed, "
                       f"{w['worker_published']['scores']:,} scores published, {w['matched']:,} matched, "
                       f"{w['inputs_without_answer']:,} inputs without a score, {w['unmatched_or_repeated']:,} "
                       f"unmatched or repeated; mean {ms(w['mean_ms'])} ms; worker CPU {fmt_pct(w['cpu']['worker'])}, "
                       f"broker {fmt_pct(w['cpu']['broker'])}; RSS end {fmt_mib(w['memory']['end'])} MiB; load1 "
                       f"{w['load1_before']:.2f} → {w['load1_after']:.2f}; log `{w['log']}`.  ")
            out.append(f"Median/max ms per 0.5 s of send time: {series_text(w['series'])}  ")
            out.append(f"Bare hop: p50 {ms(hop['p50_ms'])}, p90 {ms(hop['p90_ms'])}, p99 {ms(hop['p99_ms'])}, "
                       f"p99.9 {ms(hop['p99.9_ms'])}, max {ms(hop['max_ms'])} ms over {hop['matched']:,} messages "
                       f"(load1 {hop['load1_before']:.2f}).\n")
        c = lat.get("capacity")
        if c:
            out.append(f"Capacity at `--refresh-interval 0s`: {c['events']:,} events in {c['busy_seconds']:.2f} s "
                       f"= {c['rate']:,.0f} events/s, worker CPU {fmt_pct(c['cpu']['worker'])} "
                       f"({ms(per_event_us(c))} µs/event), broker {fmt_pct(c['cpu']['broker'])}; "
                       f"{c['published']['scores']:,} scores; log `{c['log']}`.")
        if lat.get("capacity_perf_run"):
            out += profile_md("one more capacity run (--refresh-interval 0s)", lat["capacity_perf_run"])
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="feedloop binary")
    ap.add_argument("--pipeline", default="pipelines/movielens-ftrl.yaml",
                    help="pipeline file the worker runs, relative to the repository (default pipelines/movielens-ftrl.yaml)")
    ap.add_argument("--quick", action="store_true", help="x1 data, one run each, 10 s latency, no profile")
    ap.add_argument("--runs", type=int, help="throughput runs per consumer (default 3; 1 with --quick)")
    ap.add_argument("--partitions", help="comma-separated partition counts (default 1,2; 1 with --quick)")
    ap.add_argument("--rate", type=float, default=5000, help="latency run: events/s (default 5000)")
    ap.add_argument("--latency-seconds", type=float, help="latency run length (default 30; 10 with --quick)")
    ap.add_argument("--worker-property", action="append", default=[], metavar="KEY=VALUE",
                    help="librdkafka property for every worker run (its --kafka-property; repeatable)")
    ap.add_argument("--reader-property", action="append", default=[], metavar="KEY=VALUE",
                    help="librdkafka property for the latency run's scores reader (repeatable)")
    ap.add_argument("--progress-seconds", type=float, default=2.0,
                    help="the workers' --progress-seconds (each progress line queries the lag from the broker)")
    ap.add_argument("--log-level", default="info", help="the workers' --log-level (debug logs checkpoints)")
    # 15 ms: Tansu 0.6 (memory engine) answers a fetch only when fetch.wait.max.ms runs out — its fetch handler reads
    # the log once, then sleeps the rest of a wait under 250 ms even when it found data — so a message waits W to
    # 2W per hop;
    # and its CPU per fetch grows with the topic; at 5 ms the bare hop's p99 went from 30 ms to 1.8-7 s within 30 s (broker at ~94% CPU), at
    # 15 ms it stayed at 38 ms, at 25 ms at 47 ms (bench/RESULTS.md, 2026-11-23 17:06-17:14).
    ap.add_argument("--fetch-wait-ms", type=int, default=15,
                    help="latency: also run with fetch.wait.max.ms=N on worker and reader (0: only the defaults variant)")
    ap.add_argument("--no-perf", dest="perf", action="store_false", default=None, help="skip the profiled runs")
    ap.add_argument("--perf", dest="perf", action="store_true", help="profile even with --quick")
    ap.add_argument("--no-python-bare", action="store_true", help="skip the confluent-kafka bare consumer")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--command", default="", help="the command line as typed (for the report)")
    ap.add_argument("--setup-seconds", type=float, default=0.0)
    args, _ = ap.parse_known_args()
    args.runs = args.runs or (1 if args.quick else 3)
    args.partitions = [int(x) for x in (args.partitions or ("1" if args.quick else "1,2")).split(",")]
    args.latency_seconds = args.latency_seconds or (10.0 if args.quick else 30.0)
    if args.perf is None:
        args.perf = not args.quick

    started = time.time()
    bench = Bench(args)
    versions = bench.versions()
    load_start = uptime()
    busiest = top_processes()
    say(f"work dir {os.path.relpath(bench.work, ROOT)}; {load_start}")
    results: dict = {"date": bench.stamp, "command": args.command, "versions": versions, "uptime_start": load_start,
                     "top_start": busiest, "throughput": []}
    if not args.skip_throughput:
        for parts in args.partitions:
            results["throughput"].append(bench.throughput(parts))
    if not args.skip_latency:
        say("latency")
        results["latency"] = bench.latency()
    results["uptime_end"] = uptime()
    results["seconds"] = time.time() - started + args.setup_seconds
    results["notes"] = bench.notes

    worker_lib = "—"
    for t in results["throughput"]:
        for w in t["worker"]:
            with open(os.path.join(ROOT, w["log"]), encoding="utf-8") as f:
                m = re.search(r"librdkafka=(\S+)", f.read())
                if m:
                    worker_lib = m.group(1)
                    break
    results["versions"]["worker"] = f"feedloop worker, librdkafka {worker_lib} (from its start-up log)"

    rows = table_rows(results)
    text = render_text(rows)
    print(text)
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    base = os.path.join(ROOT, "bench", "out", f"worker-{bench.stamp}")
    nproc = os.cpu_count()
    md = [f"## Worker targets ({bench.stamp})\n",
          f"Command: `{args.command}` — total {results['seconds']:.0f} s (incl. setup {args.setup_seconds:.0f} s).  ",
          f"Machine: {nproc} cores, shared with other work. Load at start: `{load_start}`; at end: `{results['uptime_end']}`.  ",
          "Busiest processes at start (top, 1 s): " + ("; ".join(f"`{b.strip()}`" for b in busiest) or "—") + ".  ",
          "Clients: " + "; ".join(versions.values()) + ".  ",
          "Broker: Tansu (memory storage) on localhost, same machine.  ",
          f"Pipeline: `{args.pipeline}` (topics renamed per run).\n",
          render_md(rows), "",
          "Definitions: worker events/s = `run.events / run.busy_seconds` of its `--summary-json` (first to last message "
          "of the run; group join excluded; `--refresh-interval 10m`, checkpoints every 100k events/10 s as by default); "
          "kcat = messages / wall time of `kcat -C -o beginning -e -q -f '%o\\n'` (includes its ~0.1 s connection set-up); "
          "confluent-kafka = messages / first-to-last batch time of `consume(10000)` with assign(). "
          "Runs are interleaved (kcat, confluent-kafka, worker; repeat) so load changes hit all three. "
          "Memory: VmRSS every 0.5 s, tied to the worker's `feedloop_events_total` scraped at the same moment; "
          "verdict on the second half (end ≤ RSS at 50% of the events + 10%), since the first part is warm-up "
          "(librdkafka's prefetch queue fills up to `queued.max.messages.kbytes` when the worker is slower than the "
          "broker; buffers and allocator arenas grow). "
          "Latency: events produced at a fixed rate once the worker (`--refresh-interval 0s`: every run of a user's "
          "click/purchase events refreshes the user's scores) is assigned; latency = receive time of the score − send "
          "time of each input event it covers (`source.first_offset`..`source.offset`), so the first event of a "
          "coalesced run counts with its full wait; that includes the reader's own hop through the broker. "
          "Delivered (the worker's `score_delay.delivered_from_event_timestamp`): per score message, the Kafka "
          "timestamp of the first input event it covers (CreateTime, set by the load producer at send) → the worker "
          "serving the score's delivery report (the broker acknowledged it in the scores topic; ms resolution, "
          "late by at most one loop turn). Capacity: a fresh worker draining the latency input at full speed "
          "with `--refresh-interval 0s`. Worker µs/event = worker CPU time (all threads) in its busy time / events.",
          details_md(results)]
    if bench.notes:
        md.append("\nNotes:\n" + "\n".join(f"- {n}" for n in bench.notes))
    with open(base + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    with open(base + ".json", "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, default=str)
    say(f"wrote {os.path.relpath(base, ROOT)}.md and .json ({results['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
