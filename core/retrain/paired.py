"""A gate that cannot be fooled by noise: candidate and active set on the same evaluation sheets, compared by a
paired bootstrap.

Both sets score the same sheets, so what matters is the *difference* on each resample of those sheets: a
candidate that beats the active set on 11 sheets by one lucky call is not better, and one that loses by more than
the resampling spread is worse. Measures (each only where both sets can be scored):
- **image AP**: defective (any class) vs clean sheets, ranked by the top class probability;
- **recall** at each set's own class thresholds: defective sheets called defective, and per class (critical
  classes named first in the reason);
- **Dice** of the merged masks on the defective sheets an inspector outlined.
Agreement with the inspectors is reported but never promotes on its own: a set that calls everything clean agrees
with a line that is mostly clean.

Pure functions on arrays; the resampling is seeded, so the same sheets give the same verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score

RESAMPLES = 1000
LEVEL = 0.95  # two-sided confidence of each interval
MIN_SHEETS = 20  # fewer evaluation sheets than this: the gate says it cannot tell
MIN_DEFECTIVE = 5  # ... or fewer defective ones than this


@dataclass(frozen=True)
class SetScores:
    """One set's output on the evaluation sheets, row i = sheet i for both sets."""

    probs: np.ndarray  # (N, K) class probabilities
    calls: np.ndarray  # (N, K) bool: the set's calls at its own thresholds
    dice: np.ndarray  # (N,) Dice of the merged masks; NaN where the sheet has no outline to compare with


@dataclass(frozen=True)
class Difference:
    measure: str  # "image_ap", "recall", "recall:<class>", "dice"
    candidate: float
    active: float
    low: float  # the interval of candidate - active
    high: float
    sheets: int  # sheets the measure was computed on

    @property
    def verdict(self) -> str:
        """'better' / 'worse' beyond noise, else 'same'."""
        return "better" if self.low > 0 else "worse" if self.high < 0 else "same"


def image_ap(truth: np.ndarray, probs: np.ndarray) -> float:
    defective = truth.any(1)
    if defective.all() or not defective.any():
        return float("nan")
    return float(average_precision_score(defective, probs.max(1)))


def recall(truth: np.ndarray, calls: np.ndarray, k: int | None = None) -> float:
    """Defective sheets called defective (k None), or sheets showing class k called k."""
    shown = truth.any(1) if k is None else truth[:, k]
    hit = calls.any(1) if k is None else calls[:, k]
    return float(hit[shown].mean()) if shown.any() else float("nan")


def mean_dice(dice: np.ndarray) -> float:
    known = dice[~np.isnan(dice)]
    return float(known.mean()) if len(known) else float("nan")


def measures(truth: np.ndarray, scores: SetScores, names: tuple[str, ...]) -> dict[str, float]:
    out = {"image_ap": image_ap(truth, scores.probs), "recall": recall(truth, scores.calls),
           "dice": mean_dice(scores.dice)}
    out.update({f"recall:{name}": recall(truth, scores.calls, k) for k, name in enumerate(names)})
    return out


def paired_differences(truth: np.ndarray, candidate: SetScores, active: SetScores, names: tuple[str, ...],
                       resamples: int = RESAMPLES, seed: int = 0) -> list[Difference]:
    """Each measure's candidate and active value on the sheets, with the bootstrap interval of their difference
    (sheets resampled together for both sets). Measures undefined on the sheets are left out."""
    point_c, point_a = measures(truth, candidate, names), measures(truth, active, names)
    rng = np.random.default_rng(seed)
    n = len(truth)
    samples: dict[str, list[float]] = {key: [] for key in point_c}
    for _ in range(resamples):
        pick = rng.integers(0, n, n)
        sub = truth[pick]
        c = measures(sub, SetScores(candidate.probs[pick], candidate.calls[pick], candidate.dice[pick]), names)
        a = measures(sub, SetScores(active.probs[pick], active.calls[pick], active.dice[pick]), names)
        for key in samples:
            samples[key].append(c[key] - a[key])
    tail = (1 - LEVEL) / 2 * 100
    out = []
    for key in point_c:
        if np.isnan(point_c[key]) or np.isnan(point_a[key]):
            continue
        diffs = np.array(samples[key])
        diffs = diffs[~np.isnan(diffs)]
        if not len(diffs):
            continue
        low, high = np.percentile(diffs, [tail, 100 - tail])
        used = int((~np.isnan(candidate.dice)).sum()) if key == "dice" else n
        out.append(Difference(key, point_c[key], point_a[key], float(low), float(high), used))
    return out


def paired_recommendation(truth: np.ndarray, differences: list[Difference],
                          critical: tuple[str, ...] = ()) -> tuple[str, str]:
    """('promote' | 'keep' | 'cannot-tell', one sentence). Promote only when the candidate is better beyond noise on
    at least one measure and worse beyond noise on none; too few sheets to tell says so, and the admin decides."""
    sheets, defective = len(truth), int(truth.any(1).sum())
    order = sorted(differences, key=lambda d: (not any(d.measure == f"recall:{c}" for c in critical),
                                               d.measure.startswith("recall:")))
    worse = [d for d in order if d.verdict == "worse"]
    better = [d for d in order if d.verdict == "better"]
    if worse:
        return "keep", f"the candidate is worse beyond noise on {describe(worse[0])} ({sheets} evaluation sheets)"
    if sheets < MIN_SHEETS or defective < MIN_DEFECTIVE:
        return "cannot-tell", (f"only {sheets} evaluation sheets ({defective} defective): too few to tell the sets "
                               "apart; review more sheets, or decide from the figures yourself")
    if better:
        return "promote", f"the candidate is better beyond noise on {describe(better[0])} and worse on none"
    return "cannot-tell", (f"the candidate and the active set differ by less than the noise on {sheets} evaluation "
                           "sheets on every measure; decide from the figures, or review more sheets")


def describe(difference: Difference) -> str:
    label = {"image_ap": "image AP", "recall": "recall of defective sheets", "dice": "Dice"}.get(
        difference.measure, difference.measure.replace("recall:", "recall of "))
    return (f"{label} ({difference.candidate:.3f} vs {difference.active:.3f}; difference "
            f"{difference.candidate - difference.active:+.3f}, {LEVEL:.0%} interval "
            f"[{difference.low:+.3f}, {difference.high:+.3f}])")
