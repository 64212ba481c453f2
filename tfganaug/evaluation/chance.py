"""GAN metrics that mean nothing, said so: those read by a real-trained classifier that learned nothing.

FID, KID, precision and recall in that classifier's features, and GAN-train and GAN-test read against
its accuracy, need a classifier that tells the classes apart. One at chance maps every image to about
the same features: a run on 3 classes of 40 images printed FID 0.00 and "GAN-train 1.00x a real-trained
classifier's 33.3%", numbers that look perfect and mean nothing.
"""

import math

# A classifier is near chance when its test accuracy is within this share of the way from chance
# (1/K) to 100%, or not above chance by a one-sided 95% binomial margin on its test images.
CHANCE_MARGIN = 0.1
_Z = 1.645


def near_chance(accuracy, num_classes, test_images):
    """Whether a classifier of `accuracy` on `test_images` images of `num_classes` classes learned nothing
    that its accuracy could show: below 1/K + max(CHANCE_MARGIN (1 - 1/K), 1.645 sqrt(p (1 - p) / n))."""
    chance = 1 / num_classes
    noise = _Z * math.sqrt(chance * (1 - chance) / max(test_images, 1))
    return accuracy < chance + max(CHANCE_MARGIN * (1 - chance), noise)


def chance_warnings(metrics):
    """One sentence per GAN of a `gan_metrics.json` mapping whose entry is flagged `near_chance`."""
    return [f"Warning: the GAN metrics of {name} mean nothing: "
            + ("its GAN-train and GAN-test are" if entry["features"].startswith("inception") else
               "FID, KID, precision and recall (read in its features) and GAN-train and GAN-test are")
            + f" read against a classifier trained on the real images that is at chance "
            f"({100 * entry['real_accuracy']:.1f}% on {entry['num_classes']} classes); train it longer or on more "
            "images (classifier.epochs, data.samples_per_class) before judging the GAN by them."
            for name, entry in metrics.items() if entry.get("near_chance")]
