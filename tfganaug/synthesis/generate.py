"""Images from a trained GAN: the synthetic sets of GAN groups (`synthesize`), and `tfganaug generate`'s
PNG folders (one per class) plus one `.npz`."""

import os
from pathlib import Path

import numpy as np
from PIL import Image

from tfganaug.data.pixels import to_uint8
from tfganaug.errors import UserError
from tfganaug.files import atomic_dir, inside, path_component
from tfganaug.synthesis.labeling import confident

NPZ_FILE = "generated.npz"


def synthesize(model, counts, seed, min_confidence=None, max_rounds=10, truncation=None):
    """Generate `counts[k]` uint8 images of each class k (unconditional: sum(counts), class -1).

    With `min_confidence` (ACGAN), keep only images whose auxiliary head agrees
    with their class at that confidence, generating more rounds as needed.
    `truncation`: noise from a normal truncated at that many standard deviations.
    """
    counts = np.asarray(counts, dtype=int)
    if not model.conditional:
        images = model.generate(n=int(counts.sum()), seed=seed, truncation=truncation)
        return to_uint8(images), np.full(int(counts.sum()), -1)
    images, labels = [], []
    missing = counts.copy()
    for round_ in range(max_rounds if min_confidence is not None else 1):
        asked = np.repeat(np.arange(len(counts)), missing)
        if not len(asked):
            break
        fake = model.generate(labels=asked, seed=seed * 1000 + round_, truncation=truncation)
        keep = np.ones(len(asked), bool) if min_confidence is None else confident(model.class_probabilities(fake), asked, min_confidence)
        for k in range(len(counts)):
            chosen = np.flatnonzero(keep & (asked == k))[: missing[k]]
            images.append(fake[chosen])
            labels.append(asked[chosen])
            missing[k] -= len(chosen)
    return to_uint8(np.concatenate(images)), np.concatenate(labels)


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
