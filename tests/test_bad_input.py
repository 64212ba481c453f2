"""Bad input, tried as a hostile user would: one test per case, each through the `tfganaug` command.

Every refused case must exit with status 2, print one `error: ...` message that
names what is wrong, show no traceback and leave the folders it was given exactly
as they were (nothing half-written). The table of docs/errors.md lists these
cases by id (`test_the_docs_list_every_case`).
"""

import json
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.conftest import tiny_config, write_npz
from tfganaug.cli import main

ERRORS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def _yaml(folder, raw, name="exp.yaml"):
    path = folder / name
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw))
    return str(path)


def _npz_config(folder, **arrays):
    np.savez(folder / "data.npz", **arrays)
    return _yaml(folder, tiny_config(folder / "data.npz"))


def _png(path, size=(8, 8), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color=128).save(path)


def _image_folder(root, classes=("a", "b"), per_class=10, size=(8, 8), mode="L"):
    root.mkdir(parents=True, exist_ok=True)
    for name in classes:
        for i in range(per_class):
            _png(root / name / f"{i}.png", size, mode)
    return root


def _folder_config(folder, root):
    raw = tiny_config(root, data={"source": "folder", "path": str(root), "image_size": [8, 8], "channels": 1,
                                  "samples_per_class": 3, "val_per_class": 1})
    return _yaml(folder, raw)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished tiny run with one baseline group (and so no GAN), with its config file."""
    root = tmp_path_factory.mktemp("finished")
    config = _yaml(root, tiny_config(write_npz(root / "tiny.npz")))
    assert main(["train", config, "--out", str(root / "run")]) == 0
    return root / "run", config


@dataclass
class Case:
    """One bad input: `argv(tmp, run)` builds it inside `tmp` and returns the command's arguments."""

    argv: object
    expect: list  # fragments the error message must contain
    untouched: list = field(default_factory=list)  # extra folders that must stay as they were


def _truncated(path):
    path.write_text(path.read_text()[:30])
    return path


CASES = {
    # --- the experiment YAML and --set
    "yaml-empty": Case(lambda t, r: ["train", _yaml(t, "")], ["exp.yaml", "top level must be a mapping"]),
    "yaml-not-a-mapping": Case(lambda t, r: ["train", _yaml(t, "- name\n- groups\n")],
                               ["exp.yaml", "top level must be a mapping"]),
    "yaml-syntax-error": Case(lambda t, r: ["train", _yaml(t, "name: x\ngroups: [baseline\n")],
                              ["exp.yaml: line 3, column 1 is not valid YAML"]),
    "yaml-python-tag": Case(lambda t, r: ["train", _yaml(t, f"name: !!python/object/apply:os.mkdir ['{t}/made']\n")],
                            ["exp.yaml: line 1, column 7 is not valid YAML", "python/object/apply"]),
    "yaml-duplicate-key": Case(lambda t, r: ["train", _yaml(t, "name: a\ngroups: [baseline]\nname: b\n")],
                               ["exp.yaml: line 3, column 1 is not valid YAML: key 'name' given twice"]),
    "yaml-not-text": Case(lambda t, r: ["train", str((t / "exp.yaml", (t / "exp.yaml").write_bytes(b"\xff\xfe\x00"))[0])],
                          ["exp.yaml: not a text file (UTF-8)"]),
    "negative-seed": Case(lambda t, r: ["train", r[1], "--set", "seeds=[-1]"],
                          ["seeds.0: Input should be greater than or equal to 0"]),
    "network-too-deep-for-the-images": Case(
        lambda t, r: ["train", r[1], "--dry-run", "--no-estimate", "--set", "classifier.filters=[4,4,4,4]"],
        ["classifier: the classifier cannot be built for (8, 8, 1) images", "zero or negative"]),
    "rare-recall-on-balanced-data": Case(
        lambda t, r: ["train", r[1], "--out", str(t / "new"), "--set", "output.metric=rare_recall"],
        ["output.metric: rare_recall needs a rare class", "every class of the training split has 6 images",
         "data.rare"]),
    "rare-recall-dry-run": Case(
        lambda t, r: ["train", r[1], "--dry-run", "--no-estimate", "--set", "output.metric=rare_recall"],
        ["output.metric: rare_recall needs a rare class", "data.rare"]),
    "out-is-a-file": Case(lambda t, r: ["train", r[1], "--out", str((t / "f", (t / "f").write_text("x"))[0])],
                          ["f: a file stands where a folder is needed"]),
    "generate-negative-seed": Case(lambda t, r: ["generate", str(r[0]), "--seed", "-5", "--out", "x"],
                                   ["argument --seed: must be an integer of at least 0, got '-5'"]),
    "yaml-missing-file": Case(lambda t, r: ["train", str(t / "nothing.yaml")], ["nothing.yaml: no such config file"]),
    "set-without-equals": Case(lambda t, r: ["train", r[1], "--set", "classifier.epochs"],
                               ["--set 'classifier.epochs': expected key.path=value"]),
    "set-bad-value": Case(lambda t, r: ["train", r[1], "--set", "classifier.epochs=[1"],
                          ["--set classifier.epochs=[1: the value is not valid YAML"]),
    "set-unknown-key": Case(lambda t, r: ["train", r[1], "--set", "classifier.epochz=1"],
                            ["classifier.epochz: unknown key", "did you mean 'epochs'"]),
    "set-index-out-of-range": Case(lambda t, r: ["train", r[1], "--set", "groups.5.name=x"],
                                   ["--set groups.5.name: 'groups.5' needs a list index below 1"]),
    "set-into-a-value": Case(lambda t, r: ["train", r[1], "--set", "name.first=x"],
                             ["--set name.first: 'name' is a value ('tiny'), not a mapping"]),
    # --- image folders
    "folder-missing": Case(lambda t, r: ["train", _folder_config(t, t / "nowhere")],
                           ["image folder", "nowhere does not exist (data.path)"]),
    "folder-empty": Case(lambda t, r: ["train", _folder_config(t, _image_folder(t / "images", classes=()))],
                         ["images has no class sub-folders", "<class>/<image>.png"]),
    "folder-one-class": Case(lambda t, r: ["train", _folder_config(t, _image_folder(t / "images", classes=("a",)))],
                             ["images has one class sub-folder ('a')", "at least two"]),
    "folder-images-without-class-folders": Case(
        lambda t, r: ["train", _folder_config(t, (_png(t / "images" / "1.png"), t / "images")[1])],
        ["image folder", "images has images but no class sub-folders"]),
    "folder-nested-class-folders": Case(
        lambda t, r: ["train", _folder_config(t, (_image_folder(t / "images"), _png(t / "images" / "a" / "x" / "1.png"))[0])],
        ["class folder", "images/a has sub-folders (x), which Keras would merge"]),
    "folder-empty-class": Case(
        lambda t, r: ["train", _folder_config(t, (_image_folder(t / "images"), (t / "images" / "c").mkdir())[0])],
        ["class folder", "images/c has no images", ".png"]),
    "folder-corrupt-image": Case(
        lambda t, r: ["train", _folder_config(t, (_image_folder(t / "images"),
                                                  (t / "images" / "b" / "5.png").write_bytes(b"not a png"))[0])],
        ["cannot decode image", "images/b/5.png", "corrupt or not an image"]),
    # --- npz files
    "npz-not-an-npz": Case(lambda t, r: ["train", _yaml(t, tiny_config((t / "data.npz", (t / "data.npz")
                                                                         .write_text("hello"))[0]))],
                           ["cannot read npz file", "data.npz (data.path)"]),
    "npz-missing-keys": Case(lambda t, r: ["train", _npz_config(t, x_train=np.zeros((4, 8, 8), np.uint8))],
                             ["data.npz must hold 'x_train' and 'y_train'", "found ['x_train']"]),
    "npz-empty": Case(lambda t, r: ["train", _npz_config(t, x_train=np.zeros((0, 8, 8), np.uint8),
                                                     y_train=np.zeros(0, np.int64))], ["'x_train' holds no images"]),
    "npz-test-shape-differs": Case(
        lambda t, r: ["train", _npz_config(t, x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.array([0, 1, 0, 1]),
                                           x_test=np.zeros((2, 9, 9), np.uint8), y_test=np.array([0, 1]))],
        ["'x_test' images are (9, 9, 1) but 'x_train' images are (8, 8, 1)"]),
    "npz-mismatched-lengths": Case(
        lambda t, r: ["train", _npz_config(t, x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.zeros(3, np.int64))],
        ["'y_train' must be 4 non-negative integers", "shape (3,)"]),
    "npz-label-out-of-range": Case(
        lambda t, r: ["train", _npz_config(t, x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.array([0, 1, 2, 7]),
                                           class_names=np.array(["a", "b", "c"]))],
        ["3 class_names but labels go up to 7"]),
    "npz-duplicate-class-names": Case(
        lambda t, r: ["train", _npz_config(t, x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.array([0, 1, 0, 1]),
                                           class_names=np.array(["a", "a"]))], ["class_names holds a name twice: ['a']"]),
    "npz-negative-label": Case(
        lambda t, r: ["train", _npz_config(t, x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.array([0, 1, -1, 1]))],
        ["'y_train' must be 4 non-negative integers"]),
    "npz-floats-out-of-range": Case(
        lambda t, r: ["train", _npz_config(t, x_train=np.full((4, 8, 8), 2.5), y_train=np.array([0, 1, 0, 1]))],
        ["'x_train' must be uint8 (0-255) or float in [0, 1]", "float64 from 2.5 to 2.5"]),
    # --- TensorFlow Datasets
    "tfds-misspelt-name": Case(
        lambda t, r: ["train", _yaml(t, tiny_config(None, data={"source": "tfds:mnistt", "samples_per_class": 6,
                                                                "val_per_class": 2}))],
        ["data source 'tfds:mnistt': TensorFlow Datasets has no data set 'mnistt'; did you mean tfds:mnist"]),
    # --- too few images for the splits
    "samples-per-class-too-large": Case(lambda t, r: ["train", r[1], "--set", "data.samples_per_class=500"],
                                        ["class 'c0' needs 500 train + 2 val", "has 12"]),
    "val-per-class-too-large": Case(lambda t, r: ["train", r[1], "--set", "data.val_per_class=20"],
                                    ["class 'c0' needs 6 train + 20 val", "has 12"]),
    # --- commands on a run folder: missing, empty, or a run without GANs
    **{f"{command}-missing-folder": Case(lambda t, r, c=command, e=extra: [c, str(t / "nowhere"), *e],
                                         ["nowhere is not a folder", "tfganaug train"])
       for command, extra in [("generate", ["--out", "x", "--per-class", "1"]), ("export", []),
                              ("evaluate-gan", []), ("report", []), ("inspect-features", ["--out", "x"])]},
    **{f"{command}-empty-folder": Case(lambda t, r, c=command, e=extra: [c, str((t / "empty", (t / "empty").mkdir())[0]),
                                                                          *e], [message])
       for command, extra, message in [
           ("generate", ["--out", "x", "--per-class", "1"], "empty: no trained GAN here"),
           ("export", [], "empty: no trained GAN here"), ("evaluate-gan", [], "empty: no trained GAN here"),
           ("report", [], "empty: no results.json or sweep.md here"),
           ("inspect-features", ["--out", "x"], "empty: no trained GAN here")]},
    **{f"{command}-run-without-gans": Case(lambda t, r, c=command, e=extra: [c, str(r[0]), *e],
                                           ["run: no trained GAN here", "`type: gan` group"], untouched=["run"])
       for command, extra in [("generate", ["--out", "x", "--per-class", "1"]), ("export", []),
                              ("evaluate-gan", []), ("inspect-features", ["--out", "x"])]},
    "report-unreadable-results": Case(
        lambda t, r: ["report", str(_truncated(shutil.copytree(r[0], t / "copy") / "results.json"))[:-len("/results.json")]],
        ["copy/results.json is unreadable", "run the same `tfganaug train` command again"]),
    # --- names and output folders
    "experiment-name-dot-dot": Case(lambda t, r: ["train", r[1], "--set", "name=.."],
                                    ["name: must not be empty, start with '.' or hold '/'"]),
    "group-name-with-slash": Case(lambda t, r: ["train", r[1], "--set", "groups.0.name=../x"],
                                  ["groups.0.name: must not be empty, start with '.' or hold '/'"]),
    "rerun-with-another-config": Case(lambda t, r: ["train", r[1], "--out", str(r[0]), "--set", "classifier.epochs=2"],
                                      ["run holds finished runs of another config (classifier.epochs (1 -> 2))",
                                       "--overwrite"], untouched=["run"]),
    "export-name-with-slash": Case(lambda t, r: ["export", str(r[0]), "--name", "a/b"], ["--name 'a/b'"]),
    "export-name-dot-dot": Case(lambda t, r: ["export", str(r[0]), "--name", ".."], ["--name '..'"]),
}


def _snapshot(*folders):
    """Every file under `folders` with its size and modification time, and every folder; lock files
    aside: they stay once made (deleting one under a holder would let a second process hold it) and
    name their last holder."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else "folder"
            for f in folders for p in sorted(Path(f).rglob("*")) if p.suffix != ".lock"}


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input_is_refused_with_a_clear_message(case_id, tmp_path, finished_run, capsys, monkeypatch):
    case = CASES[case_id]
    monkeypatch.chdir(tmp_path)  # relative outputs (exported_models/, --out x) would land here
    argv = case.argv(tmp_path, finished_run)
    watched = [tmp_path, finished_run[0]]
    before = _snapshot(*watched)
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own checks (a negative --seed) exit with its usage line
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    assert err.startswith("error: ") or err.startswith("usage: tfganaug"), err
    for fragment in case.expect:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert _snapshot(*watched) == before  # nothing written, nothing half-written
    assert not (tmp_path / "made").exists()  # the python tag ran nothing


def _listed(table, case_id):
    """Whether the docs/errors.md table has a row for `case_id`, by name or as `<command>-<what>` naming its command."""
    if f"| `{case_id}`" in table or f", `{case_id}` |" in table:
        return True
    for what, commands in re.findall(r"^\| `<command>-([a-z-]+)` \(([^)]*)\)", table, re.M):
        command = case_id.removesuffix(f"-{what}")
        if command != case_id and (f"`{command}`" in commands or "same five" in commands):
            return True
    return False


def test_the_docs_list_every_case():
    table = ERRORS_PAGE.read_text()
    missing = [case_id for case_id in [*CASES, *OTHER_CASES] if not _listed(table, case_id)]
    assert not missing, f"add these to the table of docs/errors.md: {missing}"
    rows = re.findall(r"^\| `([a-z0-9-]+)`(?:, `([a-z0-9-]+)`)? \|", table, re.M)
    stale = [c for row in rows for c in row if c and c not in CASES and c not in OTHER_CASES]
    assert not stale, f"the table of docs/errors.md names cases no test has: {stale}"


# The cases with a test of their own below: inputs that are accepted (with what happens), and a read-only folder.
OTHER_CASES = ["folder-train-without-test", "folder-non-image-file", "folder-mixed-sizes-and-channels", "corrupt-finished-run",
               "read-only-output-folder"]


def test_folder_train_without_test_holds_out_a_test_split_and_says_so(tmp_path, capsys):
    root = tmp_path / "images"
    _image_folder(root / "train")
    assert main(["train", _folder_config(tmp_path, root), "--dry-run", "--no-estimate"]) == 0
    printed = capsys.readouterr().out
    assert "classes ['a', 'b']" in printed and re.search(r"test +4 images  \(a=2, b=2\)", printed)
    assert f"test: no {root}/test/ folder, so data.test_fraction of each class of train/ is held out" in printed


def test_folder_non_image_file_is_skipped(tmp_path):
    from tfganaug.data.folder import load_folder

    root = _image_folder(tmp_path / "images", per_class=5)
    (root / "a" / "notes.txt").write_text("not an image")
    data = load_folder(root, image_size=[8, 8], channels=1, test_fraction=0.0)
    assert data.pool.counts().tolist() == [5, 5]


def test_folder_mixed_sizes_and_channels_are_resized_and_converted(tmp_path):
    from tfganaug.data.folder import load_folder

    root = _image_folder(tmp_path / "images", per_class=5)
    _png(root / "a" / "wide.png", size=(20, 10), mode="RGB")
    _png(root / "b" / "big.png", size=(64, 64), mode="RGBA")
    data = load_folder(root, image_size=[8, 8], channels=1, test_fraction=0.0)
    assert data.pool.images.shape == (12, 8, 8, 1) and data.pool.counts().tolist() == [6, 6]


def test_corrupt_finished_run_is_run_again(tmp_path, finished_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run[0], run)
    record = run / "runs" / "baseline__seed0.json"
    good = json.loads(record.read_text())
    record.write_text(record.read_text()[:40])  # truncated, as by a full disk
    assert main(["train", finished_run[1], "--out", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "runs/baseline__seed0.json is unreadable; running it again (moved aside as baseline__seed0.json.corrupt" in printed and "already done" not in printed
    assert json.loads(record.read_text())["key"] == good["key"]


def test_read_only_output_folder(finished_run, capsys):
    """A run folder that cannot be written: a clear error before anything trains. Root may write anywhere,
    so as root the command runs with the effective user `nobody` (its modules imported first by a dry run)."""
    shared = Path(tempfile.mkdtemp())  # pytest's tmp_path is private to root
    try:
        shutil.copy(Path(finished_run[1]).parent / "tiny.npz", shared / "tiny.npz")
        raw = yaml.safe_load(Path(finished_run[1]).read_text())
        raw["data"]["path"] = str(shared / "tiny.npz")
        config = _yaml(shared, raw)
        assert main(["train", config, "--dry-run"]) == 0
        (shared / "out").mkdir()
        shared.chmod(0o755)
        (shared / "out").chmod(0o555)  # read-only
        capsys.readouterr()
        as_root = os.geteuid() == 0
        if as_root:
            os.seteuid(65534)
        try:
            status = main(["train", config, "--out", str(shared / "out" / "run")])
        finally:
            if as_root:
                os.seteuid(0)
        err = capsys.readouterr().err
        assert status == 2 and err.startswith("error: cannot write") and "Traceback" not in err
        assert "out/run: Permission denied; choose a folder you can write" in err
        assert list((shared / "out").iterdir()) == []
    finally:
        (shared / "out").chmod(0o755)
        shutil.rmtree(shared)


def test_a_second_writer_is_refused_with_the_process_holding_the_folder(finished_run, capsys):
    from tfganaug.files import LOCK_FILE, folder_lock

    with folder_lock(finished_run[0]):
        assert main(["train", finished_run[1], "--out", str(finished_run[0])]) == 2
    assert f"run is in use by process {socket.gethostname()}:{os.getpid()} (another tfganaug command" in \
        capsys.readouterr().err
    assert (finished_run[0] / LOCK_FILE).exists()  # kept: deleting it under a holder would allow two holders
    with folder_lock(finished_run[0]):  # but free again
        pass


def test_class_names_from_the_data_never_lead_outside_the_output_folder(tmp_path):
    from tfganaug.synthesis.generate import write_generated

    images = np.zeros((3, 4, 4, 1), np.uint8)
    out = write_generated(images, np.array([0, 1, 2]), ["../../escaped", "T-shirt/top", ".hidden"], tmp_path / "a" / "out")
    assert sorted(p.name for p in out.iterdir()) == ["T-shirt_top", "_.._.._escaped", "_.hidden", "generated.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_outputs_get_the_permissions_of_the_umask(tmp_path):
    from tfganaug.files import atomic_dir, write_text

    for umask, file_mode, folder_mode in [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)]:
        previous = os.umask(umask)
        try:
            write_text(tmp_path / f"f{umask}.txt", "x")
            with atomic_dir(tmp_path / f"d{umask}") as folder:
                (folder / "x").write_text("x")
        finally:
            os.umask(previous)
        assert (tmp_path / f"f{umask}.txt").stat().st_mode & 0o777 == file_mode
        assert (tmp_path / f"d{umask}").stat().st_mode & 0o777 == folder_mode


def test_the_umask_is_read_without_setting_it(tmp_path, monkeypatch):
    """Setting it (even to put it back) opens a window in which another thread makes world-writable files."""
    from tfganaug.files import write_text

    previous = os.umask(0o027)
    try:
        def refused(mask):
            raise AssertionError("os.umask called")
        monkeypatch.setattr(os, "umask", refused)
        write_text(tmp_path / "f.txt", "x")
    finally:
        monkeypatch.undo()
        os.umask(previous)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o640


def test_files_and_folders_are_flushed_to_the_disk_before_they_are_renamed_into_place(tmp_path, monkeypatch):
    from tfganaug import files

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(a))), real_replace(a, b)))
    files.write_text(tmp_path / "f.txt", "x")
    replaced = [e[1] for e in events if e[0] == "replace"]
    assert events[:2] == [("fsync", replaced[0]), ("replace", replaced[0])]
    assert events[2] == ("fsync", str(tmp_path))  # the new name itself
    events.clear()
    with files.atomic_dir(tmp_path / "d") as folder:
        (folder / "a.txt").write_text("a")
    synced = [e[1] for e in events if e[0] == "fsync"]
    assert synced[:2] == [str(folder / "a.txt"), str(folder)] and events[2] == ("replace", str(folder))
    assert synced[2] == str(tmp_path)


def test_held_signals_leaves_alone_a_handler_set_from_c(monkeypatch):
    """`signal.getsignal` gives None for a handler not installed from Python, and None cannot be installed."""
    import signal

    from tfganaug.training import callbacks

    installed, real_signal = [], signal.signal
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def fake_signal(signum, handler):
        if handler is None:
            raise TypeError("signal handler must be signal.SIG_IGN, signal.SIG_DFL, or a callable object")
        installed.append(signum)
        previous = real_signal(signum, handler)
        return None if signum == signal.SIGTERM else previous  # what CPython returns for a C handler

    monkeypatch.setattr(callbacks.signal, "getsignal",
                        lambda signum: None if signum == signal.SIGTERM else signal.default_int_handler)
    monkeypatch.setattr(callbacks.signal, "signal", fake_signal)
    try:
        with callbacks.held_signals():
            pass
    finally:
        for s, handler in before.items():
            real_signal(s, handler)
    assert signal.SIGTERM not in installed and installed.count(signal.SIGINT) == 2  # held, then put back


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    """A finished tiny run with one ACGAN group and its GAN metrics, with its config file."""
    root = tmp_path_factory.mktemp("gan_run")
    gan = {"model": "acgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 1, "batch_size": 8}
    config = _yaml(root, tiny_config(write_npz(root / "tiny.npz"), groups=[{"type": "gan", "gan": gan}]))
    assert main(["train", config, "--out", str(root / "run")]) == 0
    return root / "run", config


def test_corrupt_gan_weights_are_set_aside_and_the_gan_trained_again(tmp_path, gan_run, capsys):
    run = shutil.copytree(gan_run[0], tmp_path / "run")
    (weights,) = run.glob("gans/acgan-*/gan.weights.h5")
    weights.write_bytes(weights.read_bytes()[:100])
    capsys.readouterr()
    assert main(["generate", str(run), "--per-class", "1", "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert "gan.weights.h5 cannot be loaded" in err and "run the same `tfganaug train` command again" in err
    assert main(["train", gan_run[1], "--out", str(run)]) == 0
    assert "gan.weights.h5 is unreadable; training GAN acgan again (moved aside as gan.weights.h5.corrupt" in \
        capsys.readouterr().out
    assert weights.with_name("gan.weights.h5.corrupt").exists()
    assert main(["generate", str(run), "--per-class", "1", "--out", str(tmp_path / "g")]) == 0


def test_corrupt_feature_caches_are_computed_again(tmp_path, gan_run, capsys):
    run = shutil.copytree(gan_run[0], tmp_path / "run")
    caches = sorted((run / "features").iterdir())
    assert {p.suffix for p in caches} == {".h5", ".npz"}
    for path in caches:
        path.write_bytes(path.read_bytes()[:50])
    capsys.readouterr()
    assert main(["evaluate-gan", str(run)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("is unreadable; computing it again") + printed.count("is unreadable; training it again") \
        == len(caches)
    assert all(path.stat().st_size > 50 for path in caches)  # rebuilt


def test_more_generated_images_than_memory_holds_are_refused(tmp_path, gan_run, capsys):
    assert main(["generate", str(gan_run[0]), "--per-class", "100000000000", "--out", str(tmp_path / "g")]) == 2
    assert "300000000000 images need about" in capsys.readouterr().err and not (tmp_path / "g").exists()


def test_a_full_disk_is_one_line_naming_the_file(finished_run, tmp_path, capsys, monkeypatch):
    import errno

    from tfganaug.experiment import runner

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runner, "write_text", full)
    assert main(["train", finished_run[1], "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write") and "config.resolved.yaml: No space left on device" in err
    assert "Traceback" not in err


def test_an_exported_generator_against_data_of_another_shape(tmp_path, gan_run, capsys):
    assert main(["export", str(gan_run[0]), "--name", "g", "--out", str(tmp_path / "exported")]) == 0
    config = _yaml(tmp_path, tiny_config(write_npz(tmp_path / "big.npz", shape=(12, 12, 1))))
    assert main(["evaluate-gan", str(tmp_path / "exported" / "g" / "1"), "--data", config]) == 2
    assert "makes (8, 8, 1) images but the data of" in capsys.readouterr().err


def test_paths_built_from_names_stay_inside_their_folder(tmp_path):
    from tfganaug.errors import UserError
    from tfganaug.files import inside

    assert inside(tmp_path, "runs", "a__seed0.json") == tmp_path / "runs" / "a__seed0.json"
    (tmp_path / "link").symlink_to(tmp_path.parent)
    for parts in ([".."], ["a", "..", ".."], ["/etc"], ["."], ["link", "x"]):
        with pytest.raises(UserError, match="would lead outside"):
            inside(tmp_path, *parts)


@pytest.mark.parametrize("content, what", [("[]", "it holds a list"), ('{"runs": []}', "it holds no experiment")])
def test_report_of_results_of_the_wrong_shape_is_a_clear_error(tmp_path, finished_run, capsys, content, what):
    run = shutil.copytree(finished_run[0], tmp_path / "copy")
    (run / "results.json").write_text(content)
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "copy/results.json is unreadable" in err and what in err
    assert "run the same `tfganaug train` command again" in err


def test_a_truncated_gan_json_is_named_and_a_rerun_of_train_rebuilds_it(tmp_path, gan_run, capsys):
    run = shutil.copytree(gan_run[0], tmp_path / "run")
    (spec,) = run.glob("gans/acgan-*/gan.json")
    _truncated(spec)
    capsys.readouterr()
    assert main(["generate", str(run), "--per-class", "1", "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "gan.json cannot be loaded" in err
    assert "run the same `tfganaug train` command again: it sets the file aside" in err
    assert main(["train", gan_run[1], "--out", str(run)]) == 0
    assert "gan.json is unreadable; training GAN acgan again" in capsys.readouterr().out
    assert spec.with_name("gan.json.corrupt").exists() and json.loads(spec.read_text())["gan"]["model"] == "acgan"
    assert main(["generate", str(run), "--per-class", "1", "--out", str(tmp_path / "g")]) == 0


@pytest.mark.parametrize("source", ["animal_mnist", "npz"])
@pytest.mark.parametrize("key, value", [("image_size", [16, 16]), ("channels", 3), ("channels", 1)])
def test_image_size_and_channels_are_refused_where_the_source_cannot_honour_them(tmp_path, source, key, value):
    from tfganaug.config import validate
    from tfganaug.errors import ConfigError

    raw = tiny_config(write_npz(tmp_path / "tiny.npz"))
    raw["data"].update(source=source, **{key: value})
    with pytest.raises(ConfigError, match=f"data.{key} is not applied to source '{source}'"):
        validate(raw, "exp.yaml")


def test_the_resolved_config_of_every_source_validates_again(tmp_path):
    from tfganaug.config import to_yaml, validate

    npz = write_npz(tmp_path / "tiny.npz")
    for data in ({"source": "npz", "path": str(npz)}, {"source": "folder", "path": str(tmp_path), "image_size": [8, 8],
                                                       "channels": 1}):
        config = validate(tiny_config(npz, data=data), "exp.yaml")
        again = validate(yaml.safe_load(to_yaml(config)), "config.resolved.yaml")
        assert again.key_dump() == config.key_dump()


@pytest.mark.parametrize("labeling", ["pseudo_label", "teacher"])
def test_the_resolved_config_of_a_gan_group_validates_again(tmp_path, labeling):
    # `tfganaug report`, `worker` and `merge` read config.resolved.yaml back: a default written there
    # that the schema refuses when set (temperature without labeling teacher) made every GAN run unreadable.
    from tfganaug.config import to_yaml, validate

    group = {"type": "gan", "gan": {"model": "acgan"}, "labeling": labeling}
    config = validate(tiny_config(write_npz(tmp_path / "tiny.npz"), groups=["baseline", group]), "exp.yaml")
    again = validate(yaml.safe_load(to_yaml(config)), "config.resolved.yaml")
    assert again.key_dump() == config.key_dump()
