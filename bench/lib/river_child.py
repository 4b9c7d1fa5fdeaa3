"""Run one River model progressively (predict_proba_one, then learn_one) and time the loop.

    python river_child.py MODEL EVENTS.jsonl PREDICTIONS.txt RESULT.json

MODEL is `lr` (LogisticRegression, SGD 0.05) or `fm` (FMClassifier, 8 factors, seed 1, other defaults). Reading the events and
building the one-hot dicts happen before the clock starts; the timed loop is River's own work.
Writes one probability per line to PREDICTIONS.txt and {"seconds": ..., "river_version": ...} to RESULT.json.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from movielens import load_examples, river_features  # noqa: E402


def make_model(name: str):
    from river import facto, linear_model, optim

    if name == "lr":
        return linear_model.LogisticRegression(optimizer=optim.SGD(0.05))
    if name == "fm":
        return facto.FMClassifier(n_factors=8, seed=1)  # seed 1 reproduces the DESIGN.md anchor
    raise SystemExit(f"river_child: unknown model {name!r}")


def main() -> None:
    name, events_path, preds_path, result_path = sys.argv[1:5]
    import river

    examples, _ = load_examples(events_path)
    data = [(river_features(ex), bool(ex.label)) for ex in examples]
    model = make_model(name)
    probs = [0.0] * len(data)

    t0 = time.perf_counter()
    for k, (x, y) in enumerate(data):
        probs[k] = model.predict_proba_one(x).get(True, 0.0)
        model.learn_one(x, y)
    seconds = time.perf_counter() - t0

    with open(preds_path, "w", encoding="utf-8") as f:
        f.write("".join(f"{p!r}\n" for p in probs))
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump({"seconds": seconds, "river_version": river.__version__}, f)


if __name__ == "__main__":
    main()
