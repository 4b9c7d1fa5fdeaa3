"""Progressive-validation metrics computed the same way for every peer."""

from __future__ import annotations

import math
from typing import Sequence

#: Probabilities are clipped to [EPS, 1 - EPS] before the log.
EPS = 1e-15


def logloss(labels: Sequence[int], probs: Sequence[float]) -> float:
    """Mean binary cross-entropy (natural log)."""
    total = 0.0
    for y, p in zip(labels, probs):
        p = min(max(p, EPS), 1.0 - EPS)
        total -= math.log(p) if y else math.log(1.0 - p)
    return total / len(labels)


def auc(labels: Sequence[int], probs: Sequence[float]) -> float:
    """Exact ROC AUC (Mann-Whitney U): sort by score, tied scores share their average rank (ties count half)."""
    order = sorted(range(len(probs)), key=probs.__getitem__)
    rank_sum_pos = 0.0
    n_pos = 0
    i = 0
    n = len(order)
    while i < n:
        j = i
        while j + 1 < n and probs[order[j + 1]] == probs[order[i]]:
            j += 1
        avg_rank = (i + j) / 2.0 + 1.0  # 1-based average rank of the tie group
        for k in range(i, j + 1):
            if labels[order[k]]:
                rank_sum_pos += avg_rank
                n_pos += 1
        i = j + 1
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return (rank_sum_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def accuracy(labels: Sequence[int], probs: Sequence[float]) -> float:
    """Share of examples whose prediction (p >= 0.5 means 1) equals the label."""
    return sum(1 for y, p in zip(labels, probs) if (p >= 0.5) == bool(y)) / len(labels)
