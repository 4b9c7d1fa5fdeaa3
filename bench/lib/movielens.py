"""MovieLens event stream -> labelled examples, shared by every peer so they all see the identical stream.

An example is one click. Its label is 1 when a purchase of the same (user, item) follows it (before that
pair's next click), else 0. Features, grouped in namespaces named like Vowpal Wabbit's:

    u user id   i item id   g gender   a age decade   o occupation   G genres (one feature per genre)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, List, Tuple

# MARK: - Examples

#: Namespace letters in a fixed order (VW namespaces; River feature prefixes).
NAMESPACES: Tuple[str, ...] = ("u", "i", "g", "a", "o", "G")


@dataclass(frozen=True)
class Example:
    """One labelled click: namespace -> feature tokens, and the 0/1 label."""

    features: Tuple[Tuple[str, Tuple[str, ...]], ...]
    label: int


def _tokens(event: dict) -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
    ctx = event.get("context") or {}
    age = ctx.get("age")
    decade = str(int(age) // 10 * 10) if isinstance(age, (int, float)) else "unknown"
    genres = tuple(str(g) for g in ctx.get("genres") or ()) or ("none",)
    return (
        ("u", (event["user_id"],)),
        ("i", (event["item_id"],)),
        ("g", (str(ctx.get("gender", "unknown")),)),
        ("a", (decade,)),
        ("o", (str(ctx.get("occupation", "unknown")),)),
        ("G", genres),
    )


def load_examples(path: str) -> Tuple[List[Example], int]:
    """Read an events.jsonl file; return (examples in click order, number of events read)."""
    features: List[Tuple] = []
    labels: List[int] = []
    pending = {}  # (user, item) -> index of its latest unlabelled click
    events = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            events += 1
            key = (e["user_id"], e["item_id"])
            if e["type"] == "click":
                pending[key] = len(labels)
                features.append(_tokens(e))
                labels.append(0)
            elif e["type"] == "purchase":
                idx = pending.pop(key, None)
                if idx is not None:
                    labels[idx] = 1
    return [Example(f, y) for f, y in zip(features, labels)], events


# MARK: - Encodings


def _vw_token(t: str) -> str:
    # VW text format: whitespace separates features, '|' starts a namespace, ':' introduces a value.
    return t.replace(" ", "_").replace("|", "_").replace(":", "_")


def vw_line(ex: Example) -> str:
    """VW text line: `1 |u 196 |i 242 |g M |a 40 |o writer |G Comedy` (label -1/1 for logistic loss)."""
    parts = ["1" if ex.label else "-1"]
    for ns, toks in ex.features:
        parts.append(f"|{ns} " + " ".join(_vw_token(t) for t in toks))
    return " ".join(parts) + "\n"


def river_features(ex: Example) -> dict:
    """One-hot dict for River: {'u=196': 1.0, 'i=242': 1.0, 'G=Comedy': 1.0, ...}."""
    return {f"{ns}={t}": 1.0 for ns, toks in ex.features for t in toks}


def write_vw_file(examples: Iterable[Example], path: str, copies: int = 1) -> int:
    """Write the examples as VW text `copies` times (the repeated stream differs only in ts and ids,
    which are not features, so its VW text is this text repeated). Returns lines written."""
    text = "".join(vw_line(ex) for ex in examples)
    n = text.count("\n")
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(copies):
            f.write(text)
    return n * copies
