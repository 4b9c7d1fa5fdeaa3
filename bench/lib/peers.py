"""Feedloop against its peers (Vowpal Wabbit, River) on the identical MovieLens-100K stream.

Called by `bench/peers` (which ensures the venv, the data and the release build first). Every learner
sees the same clicks in the same order; the label of a click is 1 when a purchase of the same
(user, item) follows it; features: user, item, gender, age decade, occupation, genres.
Quality is progressive validation (predict, then learn) over the single pass; throughput is each
learner's own run time (see the notes written under the table).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import platform
import shutil
import subprocess
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from metrics import accuracy, auc, logloss  # noqa: E402
from movielens import load_examples, write_vw_file  # noqa: E402
from proc import run_measured  # noqa: E402

LIB = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(LIB))

# MARK: - Learners

#: (row name, VW arguments). All use logistic loss with a logistic link, so -p writes probabilities.
VW_CONFIGS = [
    ("VW --ftrl -b 20", ["--ftrl", "-b", "20"]),
    ("VW default (adaptive, normalized)", []),
    ("VW -q ui", ["-q", "ui"]),
]
#: Appended to VW_CONFIGS by main(): the crosses of the FTRL pipeline (`pipeline_crosses`) on VW's default learner —
#: the same feature set as Feedloop's FTRL pipeline, so a quality gap there is the learner, not the features.
VW_CROSSED_NAME = "VW default + Feedloop's crosses"
VW_COMMON = ["--loss_function", "logistic", "--link", "logistic"]
#: VW --ftrl with the FTRL pipeline's crosses: a speed reference on equal features (paired rounds only).
VW_FTRL_CROSSED_NAME = "VW --ftrl -b 20 + Feedloop's crosses"
VW_REPEAT_CONFIG = 0  # index in VW_CONFIGS run again on the repeated stream

RIVER_MODELS = [
    ("River LogisticRegression (SGD 0.05)", "lr"),
    ("River FMClassifier (k=8)", "fm"),
]


@dataclass
class Row:
    """One learner's measured figures (None where not measured)."""

    learner: str
    kind: str  # "feedloop" or "peer"
    how: str
    examples: int
    logloss: Optional[float] = None
    auc: Optional[float] = None
    accuracy: Optional[float] = None
    seconds: Optional[float] = None
    examples_per_s: Optional[float] = None
    events_per_s: Optional[float] = None
    rep_examples: Optional[int] = None
    rep_seconds: Optional[float] = None
    rep_examples_per_s: Optional[float] = None
    rep_events_per_s: Optional[float] = None
    peak_rss_bytes: Optional[int] = None
    rep_peak_rss_bytes: Optional[int] = None
    process_wall_seconds: Optional[float] = None


def log(msg: str) -> None:
    print(f"[peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fail(msg: str) -> None:
    log(f"error: {msg}")
    sys.exit(1)


def read_probs(path: str, n: int) -> List[float]:
    with open(path, encoding="utf-8") as f:
        probs = [float(line.split()[0]) for line in f if line.strip()]
    if len(probs) != n:
        fail(f"{path}: {len(probs)} predictions, expected {n}")
    return probs


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def pinned(cmd: List[str], cpus: Optional[str]) -> List[str]:
    """cmd restricted to the CPUs `cpus` (taskset -c), or as is."""
    return ["taskset", "-c", cpus, *cmd] if cpus else cmd


def run_vw(name: str, args: List[str], vw_file: str, n: int, work: str, tag: str, predict: bool,
           cpus: Optional[str] = None):
    """Run VW natively over vw_file. Returns (seconds of parse+learn, Measured, probabilities or None)."""
    preds = os.path.join(work, f"{tag}.pred")
    result = os.path.join(work, f"{tag}.result.json")
    cmd = [sys.executable, os.path.join(LIB, "vw_child.py"), result, "-d", vw_file, *args, *VW_COMMON]
    if predict:
        cmd += ["-p", preds]
    else:
        cmd += ["--quiet"]
    log(f"{name}: vw {' '.join(cmd[3:])}" + (f" (taskset -c {cpus})" if cpus else ""))
    m = run_measured(pinned(cmd, cpus), os.path.join(work, f"{tag}.out"), os.path.join(work, f"{tag}.err"))
    if m.returncode != 0:
        fail(f"{name} exited {m.returncode}:\n{tail(os.path.join(work, f'{tag}.err'))}")
    with open(result, encoding="utf-8") as f:
        res = json.load(f)
    probs = read_probs(preds, n) if predict else None
    return res, m, probs


def run_river(name: str, model: str, events: str, n: int, work: str):
    tag = f"river-{model}"
    preds = os.path.join(work, f"{tag}.pred")
    result = os.path.join(work, f"{tag}.result.json")
    cmd = [sys.executable, os.path.join(LIB, "river_child.py"), model, events, preds, result]
    log(f"{name}: predict_proba_one + learn_one over {n} examples")
    m = run_measured(cmd, os.path.join(work, f"{tag}.out"), os.path.join(work, f"{tag}.err"))
    if m.returncode != 0:
        fail(f"{name} exited {m.returncode}:\n{tail(os.path.join(work, f'{tag}.err'))}")
    with open(result, encoding="utf-8") as f:
        res = json.load(f)
    return res, m, read_probs(preds, n)


def feedloop_seconds(rep: Dict) -> float:
    """The replay's elapsed time (reading, decoding, featurizing and learning on its threads): the figure to set
    beside VW's, which is also the wall time of its parse and learn threads. Reports before `elapsed_seconds`
    existed give their one-core cost (`seconds`)."""
    return float(rep.get("elapsed_seconds") or rep["seconds"])


def run_feedloop(binary: str, pipeline: str, events: str, work: str, tag: str, ranking: bool = False,
                 cpus: Optional[str] = None):
    """Run `feedloop replay`; returns (report dict, Measured).

    Timed runs pass --no-ranking: the ranking evaluation (hit@10 against 100 sampled negatives per purchase) is
    work the peers do not do. It does not change the model or its predictions, so logloss/AUC are identical;
    one run with ranking supplies hit@10/NDCG@10."""
    report = os.path.join(work, f"{tag}.report.json")
    cmd = [binary, "replay", "--pipeline", pipeline, "--input", events, "--report-json", report, "--no-progress"]
    if not ranking:
        cmd.append("--no-ranking")
    log(f"feedloop: {' '.join(os.path.relpath(c, ROOT) if os.path.isabs(c) else c for c in cmd)}"
        + (f" (taskset -c {cpus})" if cpus else ""))
    m = run_measured(pinned(cmd, cpus), os.path.join(work, f"{tag}.out"), os.path.join(work, f"{tag}.err"), cwd=ROOT)
    if m.returncode != 0:
        fail(f"feedloop replay ({pipeline}) exited {m.returncode}:\n{tail(os.path.join(work, f'{tag}.err'))}")
    with open(report, encoding="utf-8") as f:
        rep = json.load(f)
    for key in ("events", "examples", "logloss", "auc", "seconds"):
        if key not in rep:
            fail(f"{report}: missing '{key}'")
    return rep, m


def alternating_rounds(first, second, pairs: int) -> List[tuple]:
    """Runs `first` and `second` back to back `pairs` times, alternating which goes first (so drift of the machine
    falls on both); returns each round's (first's result, second's result)."""
    rounds = []
    for k in range(pairs):
        if k % 2 == 0:
            a = first(); b = second()
        else:
            b = second(); a = first()
        rounds.append((a, b))
    return rounds


def crosses_block(lines: List[str]) -> List[int]:
    """The indices of a pipeline file's `crosses:` line and of the list lines under it (none without crosses)."""
    block, inside = [], False
    for i, line in enumerate(lines):
        if line.startswith("  crosses:"):
            inside = True
        elif not (inside and line.startswith("    ")):
            inside = False
        if inside:
            block.append(i)
    return block


def pipeline_crosses(pipeline: str) -> List[str]:
    """The `crosses:` of a pipeline file as VW arguments (`-q uG` for `- [u, G]`): the VW file's namespaces are the
    pipeline's namespace names, and VW's -q takes their first letters."""
    with open(pipeline, encoding="utf-8") as f:
        lines = f.read().splitlines()
    args = []
    for i in crosses_block(lines)[1:]:
        m = re.match(r"\s*-\s*\[\s*(\w+)\s*,\s*(\w+)\s*\]", lines[i])
        if not m:
            fail(f"{pipeline}: a cross that is not a pair of namespaces: {lines[i].strip()}")
        args += ["-q", m.group(1)[0] + m.group(2)[0]]
    return args


def without_crosses(pipeline: str, work: str) -> str:
    """A copy of `pipeline` in `work` without its `crosses:` list (named `<name>-nocross`)."""
    with open(pipeline, encoding="utf-8") as f:
        lines = f.read().splitlines()
    block = set(crosses_block(lines))
    out = [line for i, line in enumerate(lines) if i not in block]
    name = os.path.splitext(os.path.basename(pipeline))[0] + "-nocross"
    text = "\n".join(out) + "\n"
    text = re.sub(r"^name: .*$", f"name: {name}", text, count=1, flags=re.M)
    path = os.path.join(work, name + ".yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def compare_rounds(opts, pipelines: List[str], events: str, work: str) -> Dict:
    """`replay --compare` of the pipelines plus an FTRL variant (alpha 0.15) on all cores against the same pipelines
    replayed one after another with `--threads 1`, in paired rounds on the x10 stream. The rate of each side is the
    examples of all its pipelines over its whole wall time (processes included); both must report the same logloss
    and AUC per pipeline (the results are bit-identical by construction)."""
    ftrl = next((p for p in pipelines if "ftrl" in os.path.basename(p)), pipelines[0])
    variant = os.path.join(work, "movielens-ftrl-alpha015.yaml")
    with open(ftrl, encoding="utf-8") as f:
        text = f.read()
    text = text.replace("alpha: 0.3 ", "alpha: 0.15").replace("name: movielens-ftrl", "name: movielens-ftrl-alpha015", 1)
    with open(variant, "w", encoding="utf-8") as f:
        f.write(text)
    four = [*pipelines, variant]
    base = [opts.feedloop_bin, "replay", "--input", events, "--no-progress", "--no-ranking"]

    def parallel():
        out = os.path.join(work, "compare.json")
        log(f"feedloop replay --compare {' '.join(os.path.basename(p) for p in four)} (all cores)")
        m = run_measured([*base, "--compare", *four, "--report-json", out],
                         os.path.join(work, "compare.out"), os.path.join(work, "compare.err"), cwd=ROOT)
        if m.returncode != 0:
            fail(f"feedloop replay --compare exited {m.returncode}:\n{tail(os.path.join(work, 'compare.err'))}")
        with open(out, encoding="utf-8") as f:
            reports = json.load(f)["pipelines"]
        return m.wall_seconds, {r["pipeline"]: (r["examples"], r["logloss"], r["auc"]) for r in reports}

    def serial():
        wall, results = 0.0, {}
        for p in four:
            out = os.path.join(work, "serial.json")
            m = run_measured([*base, "--pipeline", p, "--threads", "1", "--report-json", out],
                             os.path.join(work, "serial.out"), os.path.join(work, "serial.err"), cwd=ROOT)
            if m.returncode != 0:
                fail(f"feedloop replay {p} exited {m.returncode}:\n{tail(os.path.join(work, 'serial.err'))}")
            with open(out, encoding="utf-8") as f:
                r = json.load(f)
            wall += m.wall_seconds
            results[r["pipeline"]] = (r["examples"], r["logloss"], r["auc"])
        return wall, results

    ours, theirs, ratios = [], [], []
    for (pw, pr), (sw, sr) in alternating_rounds(parallel, serial, opts.pairs):
        if pr != sr:
            fail(f"--compare and the single-threaded replays disagree: {pr} against {sr}")
        examples = sum(e for e, _, _ in pr.values())
        ours.append(examples / pw); theirs.append(examples / sw); ratios.append(sw / pw)
    return {"title": f"`replay --compare` of {len(four)} pipelines (all cores) vs the same replayed one after another "
                     f"with `--threads 1`, x{opts.repeat} stream", "feedloop": "--compare", "peer": "one after another",
            "target": 1.8, "feedloop_rates": ours, "peer_rates": theirs, "ratios": ratios}


# MARK: - Formatting


def fmt_num(x: Optional[float], digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def fmt_rate(x: Optional[float]) -> str:
    if x is None:
        return "—"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.0f}k"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def fmt_mib(x: Optional[int]) -> str:
    return "—" if x is None else f"{x / 2**20:.0f} MiB"


def markdown_table(header: List[str], rows: List[List[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def ratio_section(rows: List[Row], repeat: int) -> List[str]:
    fl = [r for r in rows if r.kind == "feedloop" and r.logloss is not None]
    peers = [r for r in rows if r.kind == "peer"]
    if not fl or not peers:
        return ["Feedloop was not run (`--skip-feedloop`): no ratios."]
    best = min(fl, key=lambda r: r.logloss)
    lines = [f"Feedloop's best pipeline by logloss: **{best.learner}**. Ratio > 1 means Feedloop is better.", ""]
    table = []

    def best_peer(attr: str, higher: bool) -> Optional[Row]:
        cands = [p for p in peers if getattr(p, attr) is not None]
        if not cands:
            return None
        return max(cands, key=lambda p: getattr(p, attr)) if higher else min(cands, key=lambda p: getattr(p, attr))

    verdict = {}
    for label, attr, higher, src in (
        ("logloss (peer / Feedloop)", "logloss", False, best),
        ("AUC (Feedloop / peer)", "auc", True, best),
        ("examples/s, single pass (Feedloop / peer)", "examples_per_s", True, best),
        (f"examples/s, x{repeat} stream (Feedloop / peer)", "rep_examples_per_s", True, None),
        ("peak RSS, single pass (peer / Feedloop)", "peak_rss_bytes", False, best),
    ):
        if src is None:  # the repetition runs only the FTRL pipeline: compare whichever Feedloop row has it
            cands = [r for r in fl if r.rep_examples_per_s is not None]
            src = max(cands, key=lambda r: r.rep_examples_per_s) if cands else None
        peer = best_peer(attr, higher)
        if src is None or peer is None or getattr(src, attr) is None:
            continue
        f, p = getattr(src, attr), getattr(peer, attr)
        ratio = (p / f) if not higher else (f / p)
        verdict[attr] = ratio
        digits = 0 if "examples" in attr or "rss" in attr else 4
        if "rss" in attr:
            fv, pv = fmt_mib(f), fmt_mib(p)
        elif digits == 0:
            fv, pv = fmt_rate(f), fmt_rate(p)
        else:
            fv, pv = fmt_num(f), fmt_num(p)
        table.append([label, f"{fv} ({src.learner})", f"{pv} ({peer.learner})", f"{ratio:.3f}"])
    lines.append(markdown_table(["column", "Feedloop", "best peer", "ratio"], table))
    better_quality = all(best.logloss < p.logloss and best.auc > p.auc for p in peers if p.logloss is not None)
    speed = verdict.get("rep_examples_per_s", verdict.get("examples_per_s"))
    lines += [
        "",
        f"Bar from DESIGN.md — better logloss and AUC than every peer row: **{'yes' if better_quality else 'no'}**; "
        f"at least 2x the best peer's throughput: **{'yes' if speed is not None and speed >= 2 else 'no'}**"
        + (f" ({speed:.2f}x)" if speed is not None else ""),
    ]
    return lines


def paired_section(paired: List[Dict]) -> List[str]:
    """The speed targets from back-to-back rounds: per round Feedloop's examples/s over the peer's, and each side's
    best round."""
    if not paired:
        return []
    lines = ["### Speed targets from paired rounds", "",
             "Each round runs Feedloop and the peer back to back (alternating which goes first); the ratio is "
             "Feedloop's examples/s over the peer's in that round. A target is met only when both the median of "
             "those ratios and the ratio of each side's best round reach it: VW's own time on this machine is "
             "bimodal (its parse and learn threads; the same x10 file took 0.8–0.9 s in some runs and 2.1–2.7 s in "
             "others), and a round that lands in VW's slow mode inflates that round's ratio.", ""]
    table = []
    for p in paired:
        r = sorted(p["ratios"])
        median = statistics.median(r)
        best = max(p["feedloop_rates"]) / max(p["peer_rates"])
        table.append([
            p["title"], str(len(r)),
            f"{fmt_rate(statistics.median(p['feedloop_rates']))} / {fmt_rate(statistics.median(p['peer_rates']))}",
            f"{median:.2f}x ({r[0]:.2f}–{r[-1]:.2f})",
            f"{fmt_rate(max(p['feedloop_rates']))} / {fmt_rate(max(p['peer_rates']))} = {best:.2f}x",
            f"≥ {p['target']:g}x" if p["target"] else "— (for reference)",
            ("met" if min(median, best) >= p["target"] else "**not met**") if p["target"] else "—",
        ])
    lines.append(markdown_table(
        ["comparison", "rounds", "median examples/s, Feedloop / peer", "ratio: median (min–max)",
         "best round each, Feedloop / peer", "target", "result"],
        table))
    lines.append("")
    return lines


def render(rows: List[Row], meta: Dict, repeat: int, quick: bool) -> str:
    header = ["learner", "how it ran", "logloss", "AUC", "accuracy", "examples/s", "events/s",
              f"examples/s x{repeat}", f"events/s x{repeat}", "peak RSS"]
    body = []
    for r in rows:
        body.append([
            r.learner, r.how, fmt_num(r.logloss), fmt_num(r.auc), fmt_num(r.accuracy),
            fmt_rate(r.examples_per_s), fmt_rate(r.events_per_s),
            fmt_rate(r.rep_examples_per_s), fmt_rate(r.rep_events_per_s), fmt_mib(r.peak_rss_bytes),
        ])
    n, ev = meta["examples"], meta["events"]
    lines = [
        f"## Peers — {meta['date']}",
        "",
        f"`{meta['command']}` — commit {meta['commit']}, {meta['cpu']} ({meta['cores']} cores), "
        f"Python {meta['python']}, vowpalwabbit {meta.get('vw_version', '?')}, river {meta.get('river_version', '?')}; "
        f"whole bench {meta['bench_seconds']:.0f} s; 1-min load average before the runs {meta['load_before']:.2f}.",
        "",
        f"Stream: `{meta['events_path']}`, {ev:,} events ({n:,} clicks = labelled examples, "
        f"{meta['positives']:,} followed by a purchase). Progressive validation: predict, then learn, in time order.",
        "",
        markdown_table(header, body),
        "",
        "### Feedloop relative to the best peer",
        "",
        *ratio_section(rows, repeat),
        "",
        *paired_section(meta.get("paired", [])),
        "### How each column was measured",
        "",
        f"- logloss/AUC/accuracy: over the {n:,} single-pass predictions; peers' AUC is exact (sort, ties count half), "
        "probabilities clipped to [1e-15, 1-1e-15]; Feedloop's figures come from its own report.",
        f"- examples/s = labelled examples / the learner's own seconds, "
        + (f"the best of {meta['runs']} runs (River FM: 1 run)" if meta["runs"] > 1 else "1 run each")
        + ". VW: the vowpalwabbit wheel ships no `vw` "
        "executable, so VW runs in file mode through `vowpalwabbit.Workspace(-d FILE)`, which hands the file to VW's "
        "C++ parser and learning driver (native text parse + learn); the clock covers Workspace start-up to "
        "finish(), not Python's start-up or the conversion to VW text. Quality comes from a separate run with "
        "`-p` (progressive predictions, made before each example is learned); timed runs use `--quiet` and no `-p`, "
        "because writing 100k predictions costs VW 0.3-0.5 s here, more than its parse + learn. "
        "River: the predict_proba_one/learn_one loop only (events decoded and one-hot dicts built beforehand). "
        "Feedloop: the replay's elapsed time from its report (`elapsed_seconds`: from opening the file to the last "
        "window closed, reading, JSON-decoding and featurizing every event on a thread of its own while the model "
        "learns on another; process start-up and loading the pipeline file excluded).",
        "- events/s (Feedloop only) counts clicks and purchases it decoded; the peers read one line per example.",
        f"- x{repeat}: the stream repeated {repeat} times (`data/ml-100k/events-x{repeat}.jsonl`; for VW the same "
        f"text {repeat} times, since timestamps and event ids are not features), for a steadier throughput figure "
        "(VW --ftrl -b 20 and the first FTRL pipeline only)" + (" (skipped: --quick)." if quick else "."),
        "- peak RSS: the child process's maximum resident set (wait4 rusage); for VW it includes the Python "
        "interpreter hosting pylibvw, for River the examples held in memory.",
    ]
    lines += [f"- {note}" for note in meta.get("notes", [])]
    return "\n".join(lines) + "\n"


# MARK: - Main


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench/peers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip River FM and the repeated-stream throughput runs")
    ap.add_argument("--skip-feedloop", action="store_true", help="run only the peers")
    ap.add_argument("--no-build", action="store_true", help="(handled by bench/peers) do not rebuild feedloop")
    ap.add_argument("--pipelines", default="pipelines/movielens-ftrl.yaml,pipelines/movielens-fm.yaml,pipelines/movielens-mf.yaml",
                    help="comma-separated Feedloop pipeline files (first one with 'ftrl' in its name, else the "
                         "first, also runs the repeated stream)")
    ap.add_argument("--feedloop-bin", default=os.path.join(ROOT, ".build", "release", "feedloop"))
    ap.add_argument("--events", default=os.path.join(ROOT, "data", "ml-100k", "events.jsonl"))
    ap.add_argument("--repeat", type=int, default=10, help="copies in the throughput stream (default 10)")
    ap.add_argument("--runs", type=int, default=3,
                    help="timed runs per learner, best (shortest) kept; River FM runs once (default 3)")
    ap.add_argument("--pairs", type=int, default=5,
                    help="paired speed rounds per target (Feedloop and VW alternately; median ratio); 0 skips")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    opts = ap.parse_args()

    t_start = time.perf_counter()
    runs = max(1, opts.runs)
    load_before = os.getloadavg()[0]
    stamp = time.strftime("%Y-%m-%d_%H%M%S")
    work = os.path.join(opts.out, "work")
    os.makedirs(work, exist_ok=True)
    rep_events = os.path.join(os.path.dirname(opts.events), f"events-x{opts.repeat}.jsonl")
    pipelines = [p for p in opts.pipelines.split(",") if p]
    notes: List[str] = []
    def pipeline_named(fragment: str) -> Optional[str]:
        return next((p for p in pipelines if fragment in os.path.basename(p)), None)
    # VW given the FTRL pipeline's crosses: in the quality table on VW's default learner, and in the paired rounds
    # (for reference) on VW --ftrl.
    ftrl_pipeline = pipeline_named("ftrl")
    crosses = pipeline_crosses(ftrl_pipeline) if ftrl_pipeline else []
    vw_configs = VW_CONFIGS + ([(VW_CROSSED_NAME, crosses)] if crosses else [])
    vw_ftrl_crossed = (VW_FTRL_CROSSED_NAME, [*VW_CONFIGS[0][1], *crosses])

    # MARK: Data
    log(f"reading {os.path.relpath(opts.events, ROOT)}")
    examples, n_events = load_examples(opts.events)
    n = len(examples)
    labels = [ex.label for ex in examples]
    vw_file = os.path.join(work, "ml-100k.vw")
    write_vw_file(examples, vw_file)
    rows: List[Row] = []
    meta: Dict = {}

    # MARK: Feedloop
    if not opts.skip_feedloop:
        if not os.access(opts.feedloop_bin, os.X_OK):
            fail(f"{opts.feedloop_bin} not found (run without --no-build, or pass --skip-feedloop)")
        rep_pipeline = ftrl_pipeline or (pipelines[0] if pipelines else None)
        for p in pipelines:
            name = os.path.splitext(os.path.basename(p))[0]
            rep, m = min((run_feedloop(opts.feedloop_bin, p, opts.events, work, f"feedloop-{name}")
                          for _ in range(runs)), key=lambda rm: feedloop_seconds(rm[0]))
            ranked, _ = run_feedloop(opts.feedloop_bin, p, opts.events, work, f"feedloop-{name}-ranking", ranking=True)
            if (ranked["logloss"], ranked["auc"]) != (rep["logloss"], rep["auc"]):
                notes.append(f"Feedloop {name}: ranking evaluation changed logloss/AUC (it must not).")
            if ranked.get("hit_rate_at_10") is not None:
                notes.append(f"Feedloop {name}: hit@10 {ranked['hit_rate_at_10']:.4f}, NDCG@10 {ranked['ndcg_at_10']:.4f} "
                             f"(bought item vs 100 sampled catalog items, before learning; not timed)")
            ex = int(rep["examples"])
            if ex != n:
                notes.append(f"Feedloop {name} labelled {ex:,} examples, the peers {n:,}.")
            secs = feedloop_seconds(rep)
            row = Row(
                learner=f"Feedloop {name}", kind="feedloop", how="feedloop replay (JSONL decode + learn)",
                examples=ex, logloss=float(rep["logloss"]), auc=float(rep["auc"]),
                accuracy=float(rep["accuracy"]) if rep.get("accuracy") is not None else None,
                seconds=secs, examples_per_s=ex / secs if secs > 0 else None,
                events_per_s=int(rep["events"]) / secs if secs > 0 else None,
                peak_rss_bytes=int(rep.get("peak_rss_bytes") or m.peak_rss_bytes),
                process_wall_seconds=m.wall_seconds,
            )
            if p == rep_pipeline and not opts.quick:
                rep2, m2 = min((run_feedloop(opts.feedloop_bin, p, rep_events, work, f"feedloop-{name}-x{opts.repeat}")
                                for _ in range(runs)), key=lambda rm: feedloop_seconds(rm[0]))
                s2 = feedloop_seconds(rep2)
                row.rep_examples, row.rep_seconds = int(rep2["examples"]), s2
                row.rep_examples_per_s = int(rep2["examples"]) / s2
                row.rep_events_per_s = int(rep2["events"]) / s2
                row.rep_peak_rss_bytes = int(rep2.get("peak_rss_bytes") or m2.peak_rss_bytes)
            rows.append(row)

    # MARK: Vowpal Wabbit
    for idx, (name, args) in enumerate(vw_configs):
        tag = "vw-" + "".join(ch if ch.isalnum() else "-" for ch in " ".join(args)).strip("-") if args else "vw-default"
        # Quality from one run that writes its progressive predictions (-p); speed from runs that do not,
        # since VW's per-line prediction output costs more than parsing and learning here (see notes).
        res, _, probs = run_vw(name, args, vw_file, n, work, tag + "-predict", predict=True)
        meta["vw_version"] = res["vw_version"]
        res, m, _ = min((run_vw(name, args, vw_file, n, work, tag, predict=False) for _ in range(runs)),
                        key=lambda r: r[0]["seconds"])
        row = Row(learner=name, kind="peer", how="VW native file mode via pylibvw (`-d FILE`)", examples=n,
                  logloss=logloss(labels, probs), auc=auc(labels, probs), accuracy=accuracy(labels, probs),
                  seconds=res["seconds"], examples_per_s=n / res["seconds"], peak_rss_bytes=m.peak_rss_bytes,
                  process_wall_seconds=m.wall_seconds)
        if idx == VW_REPEAT_CONFIG and not opts.quick:
            big = os.path.join(work, f"ml-100k-x{opts.repeat}.vw")
            nb = write_vw_file(examples, big, copies=opts.repeat)
            res2, m2, _ = min((run_vw(f"{name} x{opts.repeat}", args, big, nb, work, f"{tag}-x{opts.repeat}",
                                      predict=False) for _ in range(runs)), key=lambda r: r[0]["seconds"])
            row.rep_examples, row.rep_seconds = nb, res2["seconds"]
            row.rep_examples_per_s = nb / res2["seconds"]
            row.rep_peak_rss_bytes = m2.peak_rss_bytes
            os.unlink(big)
        rows.append(row)

    # MARK: River
    for name, model in RIVER_MODELS:
        if opts.quick and model == "fm":
            continue
        res, m, probs = min((run_river(name, model, opts.events, n, work) for _ in range(runs if model != "fm" else 1)),
                            key=lambda r: r[0]["seconds"])
        meta["river_version"] = res["river_version"]
        rows.append(Row(learner=name, kind="peer", how="River, Python loop", examples=n,
                        logloss=logloss(labels, probs), auc=auc(labels, probs), accuracy=accuracy(labels, probs),
                        seconds=res["seconds"], examples_per_s=n / res["seconds"], peak_rss_bytes=m.peak_rss_bytes,
                        process_wall_seconds=m.wall_seconds))

    # MARK: Paired speed ratios
    # The best-of-N figures above come from runs minutes apart; on a shared machine the speed of either side can
    # change in between (VW -q ui measured 438k and 1.09M examples/s on two days). Here each round runs Feedloop and
    # VW back to back (alternating which goes first) and keeps their ratio; the verdict needs both the median ratio
    # and the best-vs-best ratio (paired_section).
    paired: List[Dict] = []
    if opts.pairs > 0 and not opts.skip_feedloop:
        targets = []
        ftrl, fm = ftrl_pipeline, pipeline_named("-fm")
        if ftrl and not opts.quick:
            # Both free to use two threads: Feedloop's replay reads, decodes and featurizes on a thread of its own,
            # VW parses on one while it learns on another.
            targets.append(("FTRL pipeline vs VW --ftrl, x%d stream" % opts.repeat, ftrl, rep_events, VW_CONFIGS[0], True,
                            1.25, None))
            # For reference, no target: the same pipeline without its crosses, i.e. on the features VW --ftrl learns
            # from (VW's row has no crosses).
            targets.append(("FTRL pipeline without its crosses (VW --ftrl's features) vs VW --ftrl, x%d stream" % opts.repeat,
                            without_crosses(ftrl, work), rep_events, VW_CONFIGS[0], True, None, None))
            # For reference, no target: the other way to equal features — VW --ftrl given the pipeline's crosses.
            targets.append(("FTRL pipeline vs VW --ftrl with the pipeline's crosses, x%d stream" % opts.repeat,
                            ftrl, rep_events, vw_ftrl_crossed, True, None, None))
        if fm:
            targets.append(("FM pipeline vs VW -q ui, single pass", fm, opts.events, VW_CONFIGS[2], False, 1.1, None))
        if ftrl and not opts.quick and shutil.which("taskset"):
            # For reference, no target: both on one core. VW's two threads take turns on it; Feedloop's replay runs
            # on one thread there (`--threads` follows the affinity mask).
            targets.append(("FTRL pipeline vs VW --ftrl, x%d stream, both on one core (taskset -c 1)" % opts.repeat,
                            ftrl, rep_events, VW_CONFIGS[0], True, None, "1"))
        for title, pipeline, events, (vw_name, vw_args), repeated, target, cpus in targets:
            vw_input, vw_n = vw_file, n
            if repeated:
                vw_input = os.path.join(work, f"ml-100k-x{opts.repeat}.vw")
                vw_n = write_vw_file(examples, vw_input, copies=opts.repeat)
            name = os.path.splitext(os.path.basename(pipeline))[0]
            def feedloop_rate() -> float:
                r, _ = run_feedloop(opts.feedloop_bin, pipeline, events, work, f"pair-{name}", cpus=cpus)
                return int(r["examples"]) / feedloop_seconds(r)
            def vw_rate() -> float:
                r, _, _ = run_vw(vw_name, vw_args, vw_input, vw_n, work, f"pair-vw-{name}", predict=False, cpus=cpus)
                return vw_n / r["seconds"]
            rounds = alternating_rounds(feedloop_rate, vw_rate, opts.pairs)
            if repeated:
                os.unlink(vw_input)
            paired.append({"title": title, "feedloop": f"Feedloop {name}", "peer": vw_name, "target": target,
                           "feedloop_rates": [a for a, _ in rounds], "peer_rates": [b for _, b in rounds],
                           "ratios": [a / b for a, b in rounds]})
        if len(pipelines) >= 2 and not opts.quick:
            paired.append(compare_rounds(opts, pipelines, rep_events, work))
    meta["paired"] = paired

    # MARK: Report
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        commit += " (+ uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    meta.update(
        date=time.strftime("%Y-%m-%d %H:%M"), commit=commit, cpu=cpu, cores=os.cpu_count(),
        python=platform.python_version(), examples=n, events=n_events, positives=sum(labels),
        events_path=os.path.relpath(opts.events, ROOT), notes=notes, runs=runs, load_before=load_before,
        command=" ".join(["bench/peers", *sys.argv[1:]]),
        bench_seconds=time.perf_counter() - t_start + float(os.environ.get("PEERS_SETUP_SECONDS", "0")),
    )
    md = render(rows, meta, opts.repeat, opts.quick)
    md_path = os.path.join(opts.out, f"peers-{stamp}.md")
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(md)
    with open(os.path.join(opts.out, f"peers-{stamp}.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "rows": [asdict(r) for r in rows]}, f, indent=1)
    print(md)
    log(f"wrote {os.path.relpath(md_path, ROOT)} (and .json); whole bench {meta['bench_seconds']:.1f} s")


if __name__ == "__main__":
    main()
