"""Statistics across seeds: mean, sample std, t confidence interval, and a paired test against the baseline.

Runs of different groups with the same seed share the data split (and the
seed's initialisation), so groups are compared seed by seed with a paired
t-test: a difference inside the seed-to-seed noise is not called a gain.
"""

import math

import numpy as np
from scipy import stats

ALPHA = 0.05  # significance level of the paired test; the intervals are 1 - ALPHA = 95%


def mean_ci(values, confidence=1 - ALPHA):
    """(mean, sample std, CI low, CI high) of values over seeds; the CI is Student's t.

    With one value the std is 0 and the interval is undefined (NaN, NaN).
    """
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, 0.0, math.nan, math.nan
    std = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * std / math.sqrt(len(values))
    return mean, std, mean - half, mean + half


def paired_test(values, baseline):
    """Paired t-test of `values` against `baseline` (the same seeds, in the same order).

    Returns:
        {"diff": mean difference, "p": two-sided p-value, "significant": p < ALPHA, "n": pairs};
        p is NaN (and nothing is significant) with fewer than two pairs or no spread at all.
    """
    values, baseline = np.asarray(values, np.float64), np.asarray(baseline, np.float64)
    if values.shape != baseline.shape:
        raise ValueError(f"paired test needs the same seeds on both sides, got {len(values)} and {len(baseline)}")
    diff = float((values - baseline).mean()) if len(values) else math.nan
    differences = values - baseline
    if len(values) < 2 or np.allclose(differences, differences[0], rtol=0, atol=1e-12):
        # No spread: the t statistic is undefined (identical runs, or a single seed).
        return {"diff": diff, "p": math.nan, "significant": False, "n": int(len(values))}
    p = float(stats.ttest_rel(values, baseline).pvalue)
    return {"diff": diff, "p": p, "significant": bool(p < ALPHA), "n": int(len(values))}
