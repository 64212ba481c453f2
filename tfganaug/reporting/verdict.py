"""The verdict: one sentence a user can act on, at the top of results.md and report.html.

It puts the best GAN (or translation) group against the best non-GAN control on the headline metric,
with the paired bootstrap difference, its interval and Holm-adjusted p-value, then the quality of the
GAN behind it, and the same comparison on the rare classes' recall when the data has rare classes.
"""

from tfganaug.evaluation.collapse import ALL_IMAGES
from tfganaug.evaluation.statistics import MIN_SEEDS

SYNTHETIC = {"gan": "GAN augmentation", "translation": "GAN translation"}
_NAMES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro-F1",
          "rare_recall": "recall"}


def _difference(test, metric, control, rare_names=()):
    what = f"{_NAMES[metric]} of {', '.join(rare_names)}" if metric == "rare_recall" else _NAMES[metric]
    seeds = f"{test['n']} seed{'s' if test['n'] != 1 else ''}"
    scope = "" if test["n"] >= MIN_SEEDS else (
        f"; with {seeds} the interval covers the test images only, not the variation between training runs: "
        f"{MIN_SEEDS} or more seeds (e.g. seeds: {list(range(MIN_SEEDS))}) would test the difference")
    return (f"{100 * test['diff']:+.2f} points of {what} against {control} (95% CI {100 * test['low']:.2f} to "
            f"{100 * test['high']:.2f}, p {test['p_holm']:.3f}, {seeds}{scope})")


def _outcome(test):
    if test["n"] < MIN_SEEDS:
        return "was not tested (too few seeds) against"
    if test["significant"]:
        return "beat" if test["diff"] > 0 else "did worse than"
    return "did not beat"


def _quality(quality):
    if not quality:
        return "no GAN metrics for it"
    if quality.get("near_chance"):
        return ("its GAN's metrics mean nothing: the classifier trained on the real images, which they are "
                "read in, is at chance")
    collapsed = quality.get("collapsed") or []
    parts = []
    if quality.get("gan_train") is not None:
        real = quality.get("real_accuracy")  # absent in gan_metrics.json of earlier versions
        parts.append(f"GAN-train {100 * quality['gan_train']:.1f}%"
                     + (f" ({quality['gan_train'] / real:.2f}x a real-trained classifier's {100 * real:.1f}%)"
                        if real else ""))
    if quality.get("recall") is not None:
        parts.append(f"recall {quality['recall']:.2f}")
    if collapsed == [ALL_IMAGES]:  # an unconditional GAN's
        parts.append("near-identical images")
    else:
        parts.append(f"near-identical images in {', '.join(collapsed)}" if collapsed else "no class collapsed")
    return "its GAN: " + ", ".join(parts)


def verdict(rows, statistics, gan_quality):
    """'Verdict: ...' from the summary rows and statistics of `tfganaug.reporting.results.summarize`.

    Args:
        gan_quality: {group: {"gan_train", "real_accuracy", "recall", "collapsed"}} of the GAN groups that
            have metrics (`real_accuracy`: the real-trained classifier's, which GAN-train is read against).
    """
    if not rows:
        return "Verdict: no finished runs."
    metric, control = statistics["metric"], statistics["best_control"]
    synthetic = [r for r in rows if r["type"] in SYNTHETIC and (control is None or r["vs_control"].get(metric, {})
                                                                .get("diff") is not None)]
    if not synthetic:
        best = max(rows, key=lambda r: r[metric][0])
        return (f"Verdict: no GAN or translation group ran; the best group is {best['group']} "
                f"({100 * best[metric][0]:.2f}% {_NAMES[metric]}).")
    best = max(synthetic, key=lambda r: r[metric][0])
    if control is None:
        return (f"Verdict: no control group ran (add `baseline`, and `classical` or `oversample`, to groups), so "
                f"nothing here says whether {SYNTHETIC[best['type']]} helps; its best group, {best['group']}, "
                f"reached {100 * best[metric][0]:.2f}% {_NAMES[metric]}.")
    test = best["vs_control"][metric]
    kind = SYNTHETIC[best["type"]]
    against = f"the baseline ({control})" if control == statistics["baseline"] else control
    line = (f"Verdict: {kind} {_outcome(test)} {against} here: its best group, {best['group']}, "
            f"{_difference(test, metric, control)}")
    if best["type"] == "gan":
        line += f"; {_quality(gan_quality.get(best['group']))}"
    line += "."
    rare = best["vs_control"].get("rare_recall") if metric != "rare_recall" else None
    if rare and rare.get("diff") is not None:
        line += (f" On the rare class{'es' if len(statistics['rare_classes']) > 1 else ''}: "
                 f"{_difference(rare, 'rare_recall', control, statistics['rare_classes'])}"
                 f"{'' if rare['significant'] or rare['n'] < MIN_SEEDS else ', not a significant difference'}.")
    return line
