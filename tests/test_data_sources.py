import gzip

import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_npz
from tfganaug.data import fashion_mnist
from tfganaug.data.animal_mnist import load_animal_mnist
from tfganaug.data.folder import load_folder
from tfganaug.data.npz import load_npz
from tfganaug.data.tfds_source import load_tfds
from tfganaug.errors import DataError


def test_animal_mnist_is_read_from_the_package_with_a_fixed_split():
    data = load_animal_mnist(test_fraction=0.2, split_seed=0)
    assert len(data.pool) + len(data.test) == 9716  # 10,000 less the exact duplicates
    assert data.pool.image_shape == (28, 28, 1) and data.pool.images.dtype == np.uint8
    assert data.test.counts().tolist() == [187, 162, 198, 199, 199, 200, 200, 199, 197, 200]
    assert data.pool.class_names[:3] == ("bear", "bird", "cat")
    again = load_animal_mnist(test_fraction=0.2, split_seed=0)
    np.testing.assert_array_equal(again.test.images, data.test.images)
    pool_ids = {img.tobytes() for img in data.pool.images}
    assert not any(img.tobytes() in pool_ids for img in data.test.images)  # no test image is a training image


def test_fashion_mnist_from_the_debian_package():
    # The README's test command installs dataset-fashion-mnist.
    data = fashion_mnist.load_fashion_mnist(allow_download=False)
    assert data.pool.images.shape == (60000, 28, 28, 1) and data.test.images.shape == (10000, 28, 28, 1)
    assert data.pool.counts().tolist() == [6000] * 10 and data.pool.class_names[6] == "shirt"


def test_fashion_mnist_missing_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setattr(fashion_mnist, "KERAS_CACHE_DIR", tmp_path / "none2")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load_fashion_mnist(allow_download=False)

    def no_network():
        raise DataError("download failed; install with `apt-get install dataset-fashion-mnist`")

    monkeypatch.setattr(fashion_mnist, "_download", no_network)
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load_fashion_mnist(allow_download=True)


def test_fashion_mnist_is_never_downloaded_unless_the_config_asks(tmp_path, monkeypatch):
    from tfganaug.config import validate
    from tfganaug.experiment.builders import load_source

    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setattr(fashion_mnist, "KERAS_CACHE_DIR", tmp_path / "none2")
    asked = []

    def no_network():
        asked.append(True)
        raise DataError("no network here")

    monkeypatch.setattr(fashion_mnist, "_download", no_network)
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist.*data.download: true"):
        load_source(validate({"name": "x", "data": {"source": "fashion_mnist"}, "groups": ["baseline"]}).data)
    assert not asked  # the default reaches no network
    with pytest.raises(DataError):
        load_source(validate({"name": "x", "data": {"source": "fashion_mnist", "download": True},
                              "groups": ["baseline"]}).data)
    assert asked  # asked for: the download is tried


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_round_trip_and_truncation(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(fashion_mnist.read_idx(tmp_path / "a.gz"), array)
    with gzip.open(tmp_path / "b.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 3)
    with pytest.raises(DataError, match="b.gz is truncated"):
        fashion_mnist.read_idx(tmp_path / "b.gz")


def test_tfds_classlabel_dataset_through_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=40):
        data = load_tfds("cifar10", max_per_class=2, max_test_per_class=1)
    assert len(data.pool.class_names) == 10  # the mock metadata names them "0".."9"
    assert data.pool.images.shape[1:] == (32, 32, 3) and data.pool.images.dtype == np.uint8
    assert data.pool.counts().max() <= 2 and data.test.counts().max() <= 1


def test_a_capped_tfds_split_is_a_seeded_uniform_sample_not_the_first_images():
    import tensorflow as tf

    from tfganaug.data.tfds_source import _collect

    # 2 classes x 10 examples in file order; image value = position in the stream
    ds = tf.data.Dataset.from_tensor_slices({"image": np.arange(20, dtype=np.uint8).reshape(20, 1, 1),
                                             "label": np.arange(20) % 2})
    label = lambda ex: int(ex["label"])  # noqa: E731
    picked = [set(_collect(ds, "t", "image", label, 2, None, 3, seed)[0].ravel()) for seed in range(40)]
    assert picked[0] == set(_collect(ds, "t", "image", label, 2, None, 3, 0)[0].ravel())  # seeded
    assert all(len(p) == 6 for p in picked)  # 3 per class
    assert set().union(*picked) == set(range(20))  # every image can be drawn, the last ones too
    first = [set(np.arange(0, 6, 2)) | set(np.arange(1, 7, 2)) == p for p in picked]
    assert sum(first) < 5  # the first three of each class are no likelier than any other three
    images, labels = _collect(ds, "t", "image", label, 2, None, None)
    np.testing.assert_array_equal(images.ravel(), np.arange(20))  # uncapped: everything, in file order


def test_tfds_varying_sizes_are_resized_and_need_image_size():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        data = load_tfds("cassava", image_size=(16, 16))
        assert data.pool.images.shape[1:] == (16, 16, 3)
        assert "healthy" in data.pool.class_names
        with pytest.raises(DataError, match="set data.image_size"):
            load_tfds("cassava")


def test_celeb_a_attributes_become_eight_classes():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=60):
        data = load_tfds("celeb_a", attributes=["Male", "Eyeglasses", "Black_Hair"],
                         attribute_negatives={"Black_Hair": "Blond_Hair"}, image_size=(8, 8))
    assert data.pool.class_names == ("000", "001", "010", "011", "100", "101", "110", "111")
    assert 0 < len(data.pool) < 60  # people with neither (or both) hair colours are skipped


def test_tfds_unknown_attribute_and_missing_data_are_clear(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=4):
        with pytest.raises(DataError, match=r"no attribute\(s\) \['Hat'\]"):
            load_tfds("celeb_a", attributes=["Hat"])
    with pytest.raises(DataError, match="tfds build cassava"):
        load_tfds("cassava", data_dir=str(tmp_path), download=False)


def _write_images(folder, classes=("cat", "dog"), n=3, size=(10, 12)):
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full(size + (3,), 40 * c + i, np.uint8)).save(folder / name / f"{i}.png")


def test_folder_with_one_level_is_split_per_class(tmp_path):
    _write_images(tmp_path, n=5)
    data = load_folder(tmp_path, (8, 8), channels=1, test_fraction=0.4)
    assert data.pool.class_names == ("cat", "dog") and data.pool.images.shape[1:] == (8, 8, 1)
    assert data.pool.counts().tolist() == [3, 3] and data.test.counts().tolist() == [2, 2]


def test_folder_with_train_and_test(tmp_path):
    _write_images(tmp_path / "train", n=3)
    _write_images(tmp_path / "test", n=2)
    data = load_folder(tmp_path, (6, 6))
    assert data.pool.counts().tolist() == [3, 3] and data.test.counts().tolist() == [2, 2]
    assert data.test.images.shape[1:] == (6, 6, 3)


def test_corrupt_image_names_the_file(tmp_path):
    _write_images(tmp_path, n=2)
    (tmp_path / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"cannot decode image .*dog/broken.png"):
        load_folder(tmp_path, (8, 8))


def test_npz_layouts_and_errors(tmp_path):
    data = load_npz(write_npz(tmp_path / "a.npz", num_classes=3, per_class=5))
    assert data.pool.class_names == ("c0", "c1", "c2") and len(data.pool) == 15 and len(data.test) == 12
    np.savez(tmp_path / "b.npz", images=np.random.rand(10, 4, 4).astype("float32"), labels=np.arange(10) % 2)
    single = load_npz(tmp_path / "b.npz", test_fraction=0.2)
    assert single.pool.images.dtype == np.uint8 and single.pool.image_shape == (4, 4, 1) and len(single.test) == 2
    np.savez(tmp_path / "c.npz", images=np.zeros((3, 4)), labels=np.zeros(3, int))
    with pytest.raises(DataError, match=r"c.npz: 'images' must be \[N, H, W\]"):
        load_npz(tmp_path / "c.npz")
    np.savez(tmp_path / "d.npz", pictures=np.zeros((3, 4, 4)))
    with pytest.raises(DataError, match="must hold 'x_train' and 'y_train'"):
        load_npz(tmp_path / "d.npz")


def test_a_real_tfds_builder_downloads_and_prepares_from_a_local_archive(tmp_path, monkeypatch):
    """The path a machine with network takes (builder, etils, extraction, tfrecords, then tfganaug's loader),
    with only the download replaced by a small local archive in the layout of the real one."""
    import zipfile

    import tensorflow_datasets as tfds

    archive = tmp_path / "cassavaleafdata.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for split in ("train", "test", "validation"):
            for c, label in enumerate(("cbb", "cbsd", "cgm", "cmd", "healthy")):
                for i in range(2):
                    path = tmp_path / f"{split}-{label}-{i}.jpg"
                    Image.fromarray(np.full((20, 24, 3), 40 * c + i, np.uint8)).save(path)
                    z.write(path, f"cassavaleafdata/{split}/{label}/{label}-{i}.jpg")  # names are its keys
    # The real extraction of the local archive instead of a download of the published one.
    monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract", lambda self, url: self.extract(archive))
    data_dir = tmp_path / "tfds"
    tfds.builder("cassava", data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    data = load_tfds("cassava", data_dir=str(data_dir), download=False, image_size=(8, 8))
    assert data.pool.class_names == ("cbb", "cbsd", "cgm", "cmd", "healthy")
    assert list(data.pool.counts()) == [2] * 5 and list(data.test.counts()) == [2] * 5
    assert data.pool.images.shape == (10, 8, 8, 3)
