"""Mode collapse, seen and said: which classes a GAN draws as near-identical images (plain Python,
read from the GAN metrics; see `tfganaug.evaluation.gan_metrics.gan_quality`'s `spread`)."""

# A class whose generated images spread less than this fraction of its real images' spread in
# feature space is flagged as collapsed (a GAN that ignores its noise scores about 0).
COLLAPSE_SPREAD = 0.3


def collapsed_classes(entry):
    """{class: spread} of the classes a GAN's metrics entry flags as collapsed."""
    return {c: m["spread"] for c, m in entry.get("per_class", {}).items()
            if m.get("spread") is not None and m["spread"] < COLLAPSE_SPREAD}


def collapse_warnings(metrics):
    """One sentence per GAN and collapsed class of a `gan_metrics.json` mapping."""
    return [f"Warning: GAN {name} makes near-identical '{c}' images (their spread is {spread:.2f} of the real "
            f"images'): its images add duplicates, not variety."
            for name, entry in metrics.items() for c, spread in collapsed_classes(entry).items()]
