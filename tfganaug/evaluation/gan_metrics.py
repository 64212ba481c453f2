"""GAN quality metrics on feature activations (TF-GAN style): FID, KID, precision and recall.

Each `*_from_activations` function takes two float arrays [N, D] of features of
real and generated images; the wrappers take images and a `feature_fn`
(images -> [N, D]), so any extractor plugs in (see `tfganaug.evaluation.features`).
Everything is numpy/scipy in float64: the matrices are small (D <= 2048) and the
results must not depend on the device.
"""

import numpy as np
from scipy import linalg


def _as_2d(name, x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"{name} must be activations [N >= 2, D], got shape {x.shape}")
    return x


def _psd_sqrt(matrix):
    values, vectors = linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance_from_moments(mu1, sigma1, mu2, sigma2):
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), the Fréchet distance of two Gaussians."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    # tr (S1 S2)^(1/2) = tr (R S2 R)^(1/2) with R = S1^(1/2): both roots are of symmetric PSD
    # matrices, taken by eigendecomposition with round-off negatives clipped. More stable than
    # sqrtm(S1 @ S2), which goes complex for the near-singular covariances of small samples.
    root1 = _psd_sqrt(np.atleast_2d(sigma1))
    middle = root1 @ np.atleast_2d(sigma2) @ root1
    trace_root = np.sqrt(np.clip(linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_root)


def frechet_distance_from_activations(real, fake):
    """FID between two sets of activations [N, D] (sample covariances, ddof=1)."""
    real, fake = _as_2d("real", real), _as_2d("fake", fake)
    return frechet_distance_from_moments(real.mean(0), np.atleast_2d(np.cov(real, rowvar=False)),
                                         fake.mean(0), np.atleast_2d(np.cov(fake, rowvar=False)))


def _polynomial_kernel(x, y):
    base = x @ y.T
    base /= x.shape[1]
    base += 1.0
    return base * base * base  # `** 3` goes through pow(), several times slower here (KID was 10 s per GAN)


def mmd2_unbiased(real, fake):
    """Unbiased squared MMD with the cubic polynomial kernel (KID's kernel), diagonal terms left out."""
    m, n = len(real), len(fake)
    k_rr, k_ff, k_rf = _polynomial_kernel(real, real), _polynomial_kernel(fake, fake), _polynomial_kernel(real, fake)
    return float((k_rr.sum() - np.trace(k_rr)) / (m * (m - 1)) + (k_ff.sum() - np.trace(k_ff)) / (n * (n - 1))
                 - 2 * k_rf.mean())


def kernel_distance_from_activations(real, fake, num_subsets=100, subset_size=1000, seed=0):
    """KID: mean and std of the unbiased MMD^2 over random subsets (without replacement within one).

    Returns:
        (mean, std) over `num_subsets` subsets of min(subset_size, len(real), len(fake)) each.
    """
    real, fake = _as_2d("real", real), _as_2d("fake", fake)
    size = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(real[rng.choice(len(real), size, replace=False)],
                            fake[rng.choice(len(fake), size, replace=False)]) for _ in range(num_subsets)]
    return float(np.mean(values)), float(np.std(values))


def _distances(queries, points, chunk=1024):
    """Euclidean distances [len(queries), len(points)] in row chunks (memory: chunk x len(points))."""
    squared = np.sum(points ** 2, axis=1)
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk]
        yield np.sqrt(np.clip(np.sum(q ** 2, axis=1)[:, None] + squared[None, :] - 2 * q @ points.T, 0, None))


def _kth_neighbour_radii(points, k):
    # Column 0 of each sorted row is the point itself (distance 0).
    return np.concatenate([np.partition(d, k, axis=1)[:, k] for d in _distances(points, points)])


def _covered(queries, centres, radii):
    return np.concatenate([(d <= radii[None, :]).any(axis=1) for d in _distances(queries, centres)])


def precision_recall_from_activations(real, fake, k=3):
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-nearest-neighbour manifolds.

    Precision: share of fake samples inside the real manifold (the union of balls
    around each real sample reaching its k-th nearest real neighbour). Recall:
    share of real samples inside the fake manifold.
    """
    real, fake = _as_2d("real", real), _as_2d("fake", fake)
    if k >= min(len(real), len(fake)):
        raise ValueError(f"k={k} needs more than {k} real and fake samples, got {len(real)} and {len(fake)}")
    precision = _covered(fake, real, _kth_neighbour_radii(real, k)).mean()
    recall = _covered(real, fake, _kth_neighbour_radii(fake, k)).mean()
    return float(precision), float(recall)


def mean_pairwise_distance(x, max_samples=500, seed=0):
    """Mean Euclidean distance between two different rows of `x` [N, D] (a random subset of
    `max_samples` rows when there are more): how spread out a set of images is in feature space."""
    x = _as_2d("x", x)
    if len(x) > max_samples:
        x = x[np.random.default_rng(seed).choice(len(x), max_samples, replace=False)]
    total = sum(float(d.sum()) for d in _distances(x, x))  # the diagonal adds 0
    return total / (len(x) * (len(x) - 1))


def activations(images, feature_fn, batch_size=256):
    """`feature_fn` applied batch by batch, as one float64 array [N, D]."""
    return np.concatenate([np.asarray(feature_fn(images[i:i + batch_size]), np.float64).reshape(
        len(images[i:i + batch_size]), -1) for i in range(0, len(images), batch_size)])


def frechet_distance(real_images, fake_images, feature_fn, batch_size=256):
    """FID of two image sets under `feature_fn` (images -> activations)."""
    return frechet_distance_from_activations(activations(real_images, feature_fn, batch_size),
                                             activations(fake_images, feature_fn, batch_size))


def gan_quality(real, fake, *, real_labels=None, fake_labels=None, class_names=None, k=3, kid_subsets=100,
                kid_subset_size=1000, seed=0):
    """FID, KID (mean, std), precision, recall and spread overall and, with labels, per class.

    `spread` is the generated images' mean pairwise feature distance over the real ones':
    near 0 when a GAN makes near-identical images (collapse), near 1 when they vary as much.

    Args:
        real, fake: activations [N, D].
        real_labels, fake_labels: int classes of each row (conditional GANs), or None.
        class_names: names for the per-class entries.

    Returns:
        {"overall": metrics, "per_class": {name: metrics}}; each metrics dict also
        records the numbers of real and fake samples it used.
    """
    def metrics(r, f):
        kid_mean, kid_std = kernel_distance_from_activations(r, f, kid_subsets, kid_subset_size, seed)
        precision, recall = precision_recall_from_activations(r, f, min(k, len(r) - 1, len(f) - 1))
        return {"fid": frechet_distance_from_activations(r, f), "kid": kid_mean, "kid_std": kid_std,
                "precision": precision, "recall": recall,
                "spread": mean_pairwise_distance(f, seed=seed) / max(mean_pairwise_distance(r, seed=seed), 1e-12),
                "n_real": len(r), "n_fake": len(f)}

    result = {"overall": metrics(np.asarray(real), np.asarray(fake)), "per_class": {}}
    if real_labels is not None and fake_labels is not None:
        real_labels, fake_labels = np.asarray(real_labels), np.asarray(fake_labels)
        for c, name in enumerate(class_names or range(int(real_labels.max()) + 1)):
            r, f = np.asarray(real)[real_labels == c], np.asarray(fake)[fake_labels == c]
            if len(r) > 2 and len(f) > 2:
                result["per_class"][str(name)] = metrics(r, f)
    return result
