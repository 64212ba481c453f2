"""The verdict a user can act on, at the top of results.md and report.html: a short headline ("Tie
with class_weight: ...", "Inconclusive against oversample: ...") then short lines.

It puts the best GAN (or translation) group against the best non-GAN control on the headline metric:
the outcome against `statistics.equivalence_margin` (`tfganaug.reporting.resolution`), the paired
difference with its interval, the smallest difference the comparison could detect, and when it is
inconclusive the seeds that would resolve the margin (or that none can); then the quality of the GAN
behind it, the same comparison on the rare classes' recall, and why the metric ranks.
"""

from tfganaug.evaluation.collapse import ALL_IMAGES
from tfganaug.evaluation.statistics import MIN_SEEDS

SYNTHETIC = {"gan": "GAN augmentation", "translation": "GAN translation"}
_NAMES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro-F1",
          "rare_recall": "recall"}


def _points(margin):
    return f"±{margin:g} point{'' if margin == 1 else 's'}"


def _headline(test, kind, group, against, what, margin):
    diff = f"{100 * test['diff']:+.2f} points of {what}"
    who = f"{kind}'s best group, {group}"
    return {"not tested": f"Verdict: Not tested against {against}: {who}, {diff}, from {test['n']} "
                          f"seed{'s' if test['n'] != 1 else ''}: too few to test.",
            "better": f"Verdict: Better than {against}: {who}, {diff}.",
            "worse": f"Verdict: Worse than {against}: {who}, {diff}.",
            "tie": f"Verdict: Tie with {against}: {who}, is within {_points(margin)} of it ({diff}).",
            "inconclusive": f"Verdict: Inconclusive against {against}: {who}, {diff}, but anything from "
                            f"{100 * test['low']:+.2f} to {100 * test['high']:+.2f} fits these runs."}[test["outcome"]]


def _interval(test):
    return f"95% CI {100 * test['low']:.2f} to {100 * test['high']:.2f}"


def _resolution(test, margin):
    """The short lines on what the comparison resolved: its half-width and, when inconclusive, the seeds."""
    if test["outcome"] == "not tested":
        return [f"- With {test['n']} seed{'s' if test['n'] != 1 else ''} the interval ({_interval(test)}) covers the "
                f"test images only, not the variation between training runs: {MIN_SEEDS} or more seeds "
                f"(e.g. seeds: {list(range(MIN_SEEDS))}) would test the difference."]
    lines = [f"- Difference {100 * test['diff']:+.2f} points ({_interval(test)}, p {test['p_holm']:.3f}, {test['n']} "
             f"seeds): differences smaller than ±{100 * test['half']:.2f} points cannot be told from none here; a tie "
             f"needs the whole CI within {_points(margin)} (statistics.equivalence_margin)."]
    if test["outcome"] in ("better", "worse") and -margin <= 100 * test["low"] and 100 * test["high"] <= margin:
        lines.append(f"- The whole CI lies within {_points(margin)}: a real but small difference.")
    if test["outcome"] != "inconclusive":
        return lines
    if test["seeds_needed"] is None:
        return lines + [f"- No number of seeds can narrow it to {_points(margin)}: the test images alone make it "
                        f"±{100 * test['image_half']:.2f} points wide. More test images would (data.test_per_class), "
                        f"or a new split per seed (data.resplit_per_seed: true)."]
    return lines + [f"- About {test['seeds_needed']} seeds would narrow it to {_points(margin)}, judging by how much "
                    f"the {test['n']} seeds' differences vary (std {100 * test['spread']:.2f} points)."]


def _rare(rare, control, names, margin):
    word = {"not tested": "not tested (too few seeds)", "better": "better", "worse": "worse",
            "tie": f"a tie within {_points(margin)}", "inconclusive": "inconclusive"}[rare["outcome"]]
    return (f"- On the rare class{'es' if len(names) > 1 else ''} ({', '.join(names)}): {100 * rare['diff']:+.2f} "
            f"points of recall against {control} ({_interval(rare)}, p {rare['p_holm']:.3f}): {word}.")


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
    """'Verdict: ...', a headline and short lines, from the summary rows and statistics of
    `tfganaug.reporting.results.summarize` (its comparisons resolved, `statistics` with the margin).

    Args:
        gan_quality: {group: {"gan_train", "real_accuracy", "recall", "collapsed"}} of the GAN groups that
            have metrics (`real_accuracy`: the real-trained classifier's, which GAN-train is read against).
    """
    if not rows:
        return "Verdict: no finished runs."
    why = f"\n- Metric: {statistics['metric_reason']}." if statistics.get("metric_reason") else ""
    return _verdict(rows, statistics, gan_quality) + why


def _verdict(rows, statistics, gan_quality):
    metric, control = statistics["metric"], statistics["best_control"]
    # A GAN group that generated no image (fill on balanced classes) trains on real images alone: not a GAN result.
    silent = set(statistics.get("no_images", ()))
    synthetic = [r for r in rows if r["type"] in SYNTHETIC and r["group"] not in silent
                 and (control is None or r["vs_control"].get(metric, {}).get("diff") is not None)]
    if not synthetic:
        best = max(rows, key=lambda r: r[metric][0])
        return (f"Verdict: no GAN or translation group ran; the best group is {best['group']} "
                f"({100 * best[metric][0]:.2f}% {_NAMES[metric]}).")
    best = max(synthetic, key=lambda r: r[metric][0])
    if control is None:
        return (f"Verdict: no control group ran (add `baseline`, and `classical` or `oversample`, to groups), so "
                f"nothing here says whether {SYNTHETIC[best['type']]} helps; its best group, {best['group']}, "
                f"reached {100 * best[metric][0]:.2f}% {_NAMES[metric]}.")
    test, margin = best["vs_control"][metric], statistics.get("equivalence_margin", 1.0)
    against = f"the baseline ({control})" if control == statistics["baseline"] else control
    lines = [_headline(test, SYNTHETIC[best["type"]], best["group"], against, _NAMES[metric], margin)]
    lines += _resolution(test, margin)
    if best["type"] == "gan":
        quality = _quality(gan_quality.get(best["group"]))
        lines.append(f"- {quality[0].upper()}{quality[1:]}.")
    rare = best["vs_control"].get("rare_recall") if metric != "rare_recall" else None
    if rare and rare.get("diff") is not None:
        lines.append(_rare(rare, control, statistics["rare_classes"], margin))
    return "\n".join(lines)
