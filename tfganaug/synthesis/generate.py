"""Images from a trained GAN: the synthetic sets of GAN groups (`synthesize`), and `tfganaug generate`'s
PNG folders (one per class) plus one `.npz`."""

import os
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.stats import entropy

from tfganaug.data.pixels import to_uint8
from tfganaug.errors import UserError
from tfganaug.files import atomic_dir, inside, path_component

NPZ_FILE = "generated.npz"


def synthesize(model, counts, seed, *, score=None, min_confidence=None, keep_fraction=None, max_rounds=10,
               truncation=None, by="confidence"):
    """Generate `counts[k]` uint8 images of each class k (unconditional: sum(counts), class -1).

    With `score` (images in [-1, 1] -> class probabilities [N, K]: a classifier trained on real images,
    or an ACGAN's class head) a conditional GAN's images are filtered, keeping an image of class k when:
      - `min_confidence`: the scorer predicts k with at least that probability. Rounds generate what is
        still missing, divided by the acceptance rate seen so far, until every count is met or a class
        has used `max_rounds` times its count;
      - `keep_fraction`: it is among the best `keep_fraction` of count / keep_fraction images of class k,
        ranked by the scorer's probability of k (one round, every count met); or, `by` "entropy" / "loss",
        the `keep_fraction` of highest entropy of the scorer's probabilities / of highest cross-entropy
        -log p(k) against class k: the images the scorer is least sure of.
    `truncation`: noise from a normal truncated at that many standard deviations.

    Returns:
        (images, labels, report): report is None without a filter, else per class index {"asked",
        "generated", "accepted" (passed the rule), "kept"} (lists): a class kept short of asked is the
        caller's to announce.
    """
    counts = np.asarray(counts, dtype=int)
    if not model.conditional:
        images = model.generate(n=int(counts.sum()), seed=seed, truncation=truncation)
        return to_uint8(images), np.full(int(counts.sum()), -1), None
    if score is None:
        labels = np.repeat(np.arange(len(counts)), counts)
        return to_uint8(model.generate(labels=labels, seed=seed * 1000, truncation=truncation)), labels, None
    k = len(counts)
    kept = [[] for _ in range(k)]
    generated, accepted = np.zeros(k, dtype=int), np.zeros(k, dtype=int)
    budget = counts * max_rounds if keep_fraction is None else np.ceil(counts / keep_fraction).astype(int)
    def kept_counts():
        return np.array([sum(len(images) for images in parts) for parts in kept])

    for round_ in range(max_rounds if keep_fraction is None else 1):
        missing = counts - kept_counts()
        if keep_fraction is not None:
            ask = budget.copy()
        else:  # what is missing, scaled up by the acceptance rate so far (all of it in the first round)
            rate = np.where(generated > 0, kept_counts() / np.maximum(generated, 1), 1.0)
            ask = np.ceil(missing / np.maximum(rate, 1 / max_rounds)).astype(int)
            ask = np.clip(np.where(missing > 0, ask, 0), 0, budget - generated)
        if not ask.sum():
            break
        asked = np.repeat(np.arange(k), ask)
        fake = model.generate(labels=asked, seed=seed * 1000 + round_, truncation=truncation)
        probabilities = np.asarray(score(fake))
        own = probabilities[np.arange(len(asked)), asked]
        # Ranked best first; -log p(k) falls as p(k) rises, so "loss" ranks by -p(k) (no log of 0 needed).
        rank = {"confidence": own, "entropy": entropy(probabilities, axis=1), "loss": -own}[by]
        for c in range(k):
            members = np.flatnonzero(asked == c)
            if keep_fraction is not None:
                chosen = members[np.argsort(-rank[members], kind="stable")[: counts[c]]]
                accepted[c] += len(chosen)
            else:
                sure = (probabilities[members].argmax(axis=1) == c) & (own[members] >= min_confidence)
                chosen = members[sure][: missing[c]]
                accepted[c] += int(sure.sum())
            kept[c].append(fake[chosen])
        generated += ask
    parts = [part for class_parts in kept for part in class_parts]
    # Every count 0 (`fill` on balanced classes, a small ratio): no round ran; an empty set of the right shape.
    images = np.concatenate(parts) if parts else model.generate(labels=np.zeros(0, int), seed=seed * 1000)
    labels = np.concatenate([np.full(kept_counts()[c], c) for c in range(k)]).astype(int)
    report = {"asked": counts.tolist(), "generated": generated.tolist(), "accepted": accepted.tolist(),
              "kept": kept_counts().tolist()}
    return to_uint8(images), labels, report


def _check_memory(model, count, option):
    """Refuse a request whose images (float32 while generated, then uint8) would not fit in free memory."""
    needed = count * int(np.prod(model.generator.output_shape[1:])) * 5
    free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if needed > free:
        raise UserError(f"{count} images need about {needed / 2**30:.1f} GiB of memory and this machine has "
                        f"{free / 2**30:.1f} GiB free; ask for fewer with {option}")


def generated_images(model, *, num_classes, per_class=None, count=None, seed=0):
    """uint8 images and their classes (-1 for an unconditional GAN).

    Conditional GANs take `per_class` (classes in order, each `per_class` times);
    unconditional ones take `count`.
    """
    if model.conditional:
        if not per_class:
            raise UserError(f"{type(model).__name__} is conditional: give --per-class N (images of each class)")
        _check_memory(model, per_class * num_classes, "--per-class")
        labels = np.repeat(np.arange(num_classes), per_class)
        return to_uint8(model.generate(labels=labels, seed=seed)), labels
    if not count:
        raise UserError(f"{type(model).__name__} is unconditional (its images have no class): give --count N")
    _check_memory(model, count, "--count")
    return to_uint8(model.generate(n=count, seed=seed)), np.full(count, -1)


def write_generated(images, labels, class_names, out):
    """Write `out/<class name>/<index>.png` (unconditional: `out/unlabelled/`) and `out/generated.npz`.

    The `.npz` holds `images`, `labels` and `class_names` (usable as `data.source: npz`;
    unconditional: `images` only). The folder appears whole or not at all.
    """
    out = Path(out)
    if out.exists():
        raise UserError(f"{out} already exists; choose a new --out folder (generated images are never mixed into old ones)")
    with atomic_dir(out) as tmp:
        for i, (image, label) in enumerate(zip(images, labels)):
            folder = inside(tmp, path_component(class_names[label]) if label >= 0 else "unlabelled")
            folder.mkdir(exist_ok=True)
            Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(folder / f"{i:06d}.png")
        arrays = {"images": images}
        if len(labels) and labels.min() >= 0:
            arrays.update(labels=labels.astype(np.int64), class_names=np.array(class_names))
        np.savez_compressed(tmp / NPZ_FILE, **arrays)
    return out
