"""What data sources exist and whether each is usable offline on this machine (`tfganaug datasets`)."""

from tfganaug.data import animal_mnist, fashion_mnist
from tfganaug.data.tfds_source import is_prepared, tfds_builder
from tfganaug.errors import DataError

# TFDS data sets the studies use; any other TFDS image data set works the same way.
STUDY_TFDS = ("cassava", "celeb_a", "cifar10", "svhn_cropped")


def _tfds_prepared(name):
    try:
        return is_prepared(tfds_builder(name))
    except DataError:  # an unknown or broken builder counts as not available
        return False


def describe_sources():
    """A table of the data sources, their availability here, and how to get a missing one."""
    rows = []
    folder = animal_mnist.data_dir()
    rows.append(("animal_mnist", "yes" if folder else "no",
                 f"package files in {folder}" if folder else animal_mnist.INSTALL_HINT))
    found = fashion_mnist.find_dir()
    rows.append(("fashion_mnist", "yes" if found else "no",
                 f"idx files in {found}" if found else fashion_mnist.INSTALL_HINT))
    for name in STUDY_TFDS:
        ready = _tfds_prepared(name)
        rows.append((f"tfds:{name}", "yes" if ready else "no",
                     "prepared in the TFDS data folder" if ready
                     else f"needs network once: `tfds build {name}`, or copy a prepared data folder and set data.data_dir"))
    rows.append(("folder", "yes", "your images: data.path with one sub-folder per class, data.image_size"))
    rows.append(("npz", "yes", "your arrays: data.path to an .npz with x_train/y_train[/x_test/y_test]"))
    width = max(len(r[0]) for r in rows)
    lines = [f"{'source':{width}s}  offline  how"] + [f"{n:{width}s}  {a:7s}  {h}" for n, a, h in rows]
    return "\n".join(lines)
