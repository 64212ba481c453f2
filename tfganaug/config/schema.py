"""The experiment YAML's sections, validated with pydantic: data, classifier, output, runtime, sweep.

Unknown keys, wrong types and unknown names are errors; `tfganaug.config.loading`
turns them into messages that name the file, the key path and what is allowed.
Nothing here builds objects (that is `tfganaug.experiment.builders`' job).
"""

from pathlib import Path
from typing import Annotated, Literal, Optional, Union

from pydantic import ConfigDict, Field, FilePath, ValidationError, field_validator, model_validator

from tfganaug.config.base import ClassKey, Count, FileName, PositiveInt, Strict
from tfganaug.config.groups import CycleGANConfig, Group

SOURCES = ("animal_mnist", "fashion_mnist", "folder", "npz", "tfds:<name>")


class DataConfig(Strict):
    """Where the images come from and how many of each class to use."""

    late_keys = frozenset({"resplit_per_seed", "imbalance_ratio"})

    source: str = Field("animal_mnist", description="animal_mnist | fashion_mnist | folder | npz | tfds:<name>")
    path: Optional[Path] = Field(None, description="folder or .npz file (folder and npz sources)")
    data_dir: Optional[Path] = Field(None, description="TFDS data folder (tfds sources)")
    download: bool = Field(False, description="fetch the data set from the network when it is not on this machine "
                           "(tfds, fashion_mnist); off by default: no run waits on a network it lacks")
    image_key: str = "image"
    label_key: str = "label"
    attributes: Optional[list[str]] = Field(None, description="boolean attributes that make 2^n classes (celeb_a)")
    attribute_negatives: dict[str, str] = Field(default_factory=dict)
    train_split: str = "train"
    test_split: str = "test"
    image_size: Optional[tuple[PositiveInt, PositiveInt]] = None
    channels: Literal[1, 3] = 3
    test_fraction: float = Field(0.2, gt=0, lt=1, description="test share for sources with one split")
    samples_per_class: Union[PositiveInt, dict[ClassKey, PositiveInt], None] = None
    rare: dict[ClassKey, Annotated[float, Field(gt=0, le=1)]] = Field(default_factory=dict)
    imbalance_ratio: Optional[float] = Field(
        None, ge=1, description="long-tailed training classes (Cao et al. 2019): class i of K keeps samples_per_class "
                                "* ratio^(-i/(K-1)) images (rounded), in the data set's class order; the test split "
                                "stays as the data set gives it")
    val_per_class: Count = 0
    extra_per_class: Count = 0
    test_per_class: Optional[PositiveInt] = None
    seed: int = 0
    resplit_per_seed: bool = Field(
        False, description="draw a new split (train, val, test) for every run seed, so the split's luck is in the "
                           "intervals; default: one split (data.seed) for every seed")

    def key_dump(self):
        """As `Strict.key_dump`, with `download` hashed as true whatever it is: it says where the files may
        come from, never which images; true was its default when run keys and GAN folders were first made."""
        return {**super().key_dump(), "download": True}

    def for_seed(self, run_seed):
        """The data settings of one run seed: these, or with `resplit_per_seed` a split seed of its own."""
        return self.model_copy(update={"seed": (self.seed + run_seed) % 2**32}) if self.resplit_per_seed else self

    @field_validator("source")
    @classmethod
    def _known_source(cls, value):
        if value in SOURCES[:4] or (value.startswith("tfds:") and len(value) > 5):
            return value
        raise ValueError(f"unknown data source {value!r}; allowed: {', '.join(SOURCES)}")

    @model_validator(mode="after")
    def _long_tail_fits(self):
        if self.imbalance_ratio is not None and self.rare:
            raise ValueError("give data.imbalance_ratio (a whole long-tailed profile) or data.rare (chosen classes "
                             "made rare), not both")
        if self.imbalance_ratio is not None and not isinstance(self.samples_per_class, int):
            raise ValueError("data.imbalance_ratio needs data.samples_per_class as one number: the largest (first) "
                             "class's count, e.g. 500")
        return self

    @model_validator(mode="after")
    def _source_needs(self):
        if self.source in ("folder", "npz") and self.path is None:
            raise ValueError(f"data.path is required for source '{self.source}'")
        if self.source == "folder" and self.image_size is None:
            raise ValueError("data.image_size is required for source 'folder', e.g. [64, 64]")
        # Refused, not applied: resizing or recolouring a fixed data set here would make it another data
        # set than the one its name promises (and than every earlier run of it); a key that was silently
        # ignored made the user believe their images were 64x64 RGB when they stayed 28x28 grey.
        if self.image_size is not None and self.source in ("animal_mnist", "fashion_mnist", "npz"):
            raise ValueError(f"data.image_size is not applied to source '{self.source}' (its images keep their own "
                             "size); remove it, or resize the images into an npz file or an image folder")
        if "channels" in self.model_fields_set and self.source != "folder":
            raise ValueError(f"data.channels is not applied to source '{self.source}' (its images keep their own "
                             "channels); remove it (it is read for source 'folder' only)")
        return self


class ClassifierConfig(Strict):
    """The classifier every group trains, and how it is trained."""

    model: Literal["mlp", "small_cnn", "mobilenet_v2", "vgg16"] = "small_cnn"
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 64
    learning_rate: float = Field(1e-3, gt=0)
    patience: Optional[PositiveInt] = Field(
        None, description="stop after this many epochs without a better val accuracy (the dry run warns below "
                          "100 steps for the smallest group: batch norm's warm-up)")
    hidden_units: Optional[list[PositiveInt]] = None
    filters: Optional[list[PositiveInt]] = None
    dense_units: Optional[Annotated[int, Field(ge=0)]] = None
    dropout: Optional[Annotated[float, Field(ge=0, lt=1)]] = None
    weights: Optional[FilePath] = Field(None, description="local no-top ImageNet weights file")
    input_size: Optional[Annotated[int, Field(ge=32)]] = None
    alpha: Optional[float] = None
    trainable_backbone: Optional[bool] = None

    _OPTIONS = {
        "mlp": {"hidden_units", "dropout"},
        "small_cnn": {"filters", "dense_units", "dropout"},
        "mobilenet_v2": {"weights", "input_size", "alpha", "dropout", "trainable_backbone"},
        "vgg16": {"weights", "input_size", "dense_units", "dropout", "trainable_backbone"},
    }

    @model_validator(mode="after")
    def _options_fit_model(self):
        allowed = self._OPTIONS[self.model]
        wrong = [k for k in self.builder_options() if k not in allowed]
        if wrong:
            raise ValueError(f"option(s) {wrong} do not apply to model '{self.model}'; its options are {sorted(allowed)}")
        return self

    def builder_options(self):
        """The model-specific options that were set, as keyword arguments for the builder."""
        every = set().union(*self._OPTIONS.values())
        return {k: v for k, v in self.model_dump().items() if k in every and v is not None}


class OutputConfig(Strict):
    root: Path = Field(Path("runs"), description="run folders go to <root>/<name>")
    export_gans: bool = Field(False, description="export every trained generator at the end of the run")
    gan_metrics: bool = Field(True, description="compute the GAN metrics at the end of a run with GAN groups")
    export_root: Path = Field(Path("exported_models"), description="where export_gans writes <name>/<version>/")
    metric: Literal["auto", "accuracy", "balanced_accuracy", "macro_f1", "rare_recall"] = Field(
        "auto", description="the headline metric of the table, its intervals and tests and the verdict; auto: "
                            "balanced_accuracy when the training or test classes are unbalanced (the largest has "
                            "1.5x the images of the smallest or more: accuracy would favour the large classes), "
                            "else accuracy; results.json's statistics.metric records the choice and why; "
                            "rare_recall: the mean recall of the data.rare classes (else of the classes with the "
                            "fewest training images; refused on balanced data)")


class StatisticsConfig(Strict):
    """How the verdict reads a comparison's 95% interval (docs/statistics.md)."""

    equivalence_margin: float = Field(
        1.0, gt=0, le=100, description="points of the headline metric: a verdict says 'tie' only when the whole "
                                       "interval lies within +-this, else 'inconclusive' (with the seeds that would "
                                       "narrow it to +-this) unless the interval excludes 0")


class RuntimeConfig(Strict):
    """Where and how fast models train (devices, XLA, precision); not what is trained."""

    distribute: Literal["auto", "one_device", "mirrored", "multi_worker", "tpu"] = Field(
        "auto", description="auto: TPU if tpu_address is set, all GPUs if several, else one device")
    tpu_address: Optional[str] = Field(None, description="grpc://host:8470, a TPU name, or 'local' on a TPU VM")
    jit_compile: Union[bool, Literal["auto"]] = Field(
        "auto", description="XLA for every training step; auto: Keras's choice (on for GPUs, off on CPU)")
    mixed_precision: Literal["auto", "off", "mixed_float16", "mixed_bfloat16"] = Field(
        "auto", description="mixed_float16 on GPUs (with loss scaling); mixed_bfloat16 on TPUs and on CPUs with AMX or "
                            "AVX512-BF16 (/proc/cpuinfo flags amx_bf16, avx512_bf16), slower on other CPUs; auto: "
                            "mixed_bfloat16 on a CPU-only machine with such a CPU, else float32; off: float32")
    backup_seconds: float = Field(
        30, ge=0, description="GAN and CycleGAN training back up at the end of the first epoch that ends this long "
                              "after the last backup, so a kill loses at most this much training plus the epoch in "
                              "progress (0: every epoch; multi_worker always backs up every epoch)")

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _yaml_off(cls, value):
        # YAML 1.1 (PyYAML) reads a bare `off` as false.
        return "off" if value is False else value


def _set_path(raw, path, value):
    """Set the dotted key path `path` (list items by index) of a config dump to `value`."""
    *parents, last = path.split(".")
    node = raw
    for part in parents + [last]:
        key = int(part) if isinstance(node, list) and part.isdigit() else part
        known = key < len(node) if isinstance(node, list) and isinstance(key, int) else isinstance(node, dict) and key in node
        if not known:
            raise ValueError(f"sweep: '{path}' is not a key path of this config ('{part}' is not there)")
        if part == last:
            node[key] = value
        else:
            node = node[key]


class SweepConfig(Strict):
    """Repeat the experiment for each value of one setting; results are also tabulated and plotted
    against it. `samples_per_class` (short for `data.samples_per_class`) or any other key path
    given as one more key, e.g. `groups.5.synthesize.ratio: [0.5, 1, 3]`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    samples_per_class: Optional[list[PositiveInt]] = Field(None, description="replaces data.samples_per_class per point")

    @field_validator("samples_per_class")
    @classmethod
    def _increasing(cls, value):
        if value is not None and sorted(set(value)) != value:
            raise ValueError(f"sweep values must be distinct and increasing, got {value}")
        return value

    @model_validator(mode="after")
    def _one_setting(self):
        swept = {k: v for k, v in self.model_dump().items() if v is not None}
        if len(swept) != 1:
            raise ValueError(f"sweep one setting (samples_per_class or a key path such as groups.1.synthesize.ratio), "
                             f"got {sorted(swept) or 'none'}")
        values = next(iter(swept.values()))
        if not isinstance(values, list) or len(values) < 2 or len({str(v) for v in values}) < len(values):
            raise ValueError(f"a sweep needs at least two distinct values, got {values}")
        return self

    @property
    def key(self):
        """The swept setting as written (`samples_per_class` or a key path)."""
        return next(k for k, v in self.model_dump().items() if v is not None)

    @property
    def path(self):
        """Its key path in the experiment config."""
        return "data.samples_per_class" if self.key == "samples_per_class" else self.key

    @property
    def values(self):
        return self.model_dump()[self.key]


class ExperimentConfig(Strict):
    """One experiment: data, classifier, groups to compare and seeds."""

    name: FileName = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seeds: list[Annotated[int, Field(ge=0, lt=2**32)]] = Field(default_factory=lambda: [0], min_length=1)
    data: DataConfig = Field(default_factory=DataConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    groups: list[Group] = Field(min_length=1)
    output: OutputConfig = Field(default_factory=OutputConfig)
    statistics: StatisticsConfig = Field(default_factory=StatisticsConfig)
    sweep: Optional[SweepConfig] = None

    def resolved_dump(self):
        """The config with its defaults filled in, as a raw mapping that validates again to the same config
        (`data.channels` only for a folder source, a GAN group's `temperature` only with labeling teacher:
        set otherwise, they are refused)."""
        raw = self.model_dump(mode="json", by_alias=True)
        if self.data.source != "folder":
            raw["data"].pop("channels")
        for group, dumped in zip(self.groups, raw["groups"]):
            if group.type == "gan" and group.labeling != "teacher":
                dumped.pop("temperature", None)
        return raw

    def sweep_point(self, value):
        """This experiment at one value of its sweep, without the sweep."""
        if self.sweep.key == "samples_per_class":  # as before general sweeps: run keys of earlier sweeps stay valid
            return self.model_copy(update={"sweep": None, "data": self.data.model_copy(update={"samples_per_class": value})})
        raw = self.resolved_dump()
        raw["sweep"] = None
        _set_path(raw, self.sweep.path, value)
        return type(self).model_validate(raw)

    @model_validator(mode="after")
    def _sweep_points_fit(self):
        if self.sweep is None or self.sweep.key == "samples_per_class":
            return self
        for value in self.sweep.values:
            try:
                self.sweep_point(value)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
                raise ValueError(f"sweep {self.sweep.key} = {value!r} does not fit: {problems}") from None
        return self
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    cyclegans: list[CycleGANConfig] = Field(default_factory=list, description="translation models for translation groups")

    @field_validator("groups", mode="before")
    @classmethod
    def _type_shorthand(cls, value):
        # `- baseline` is short for `- {type: baseline}`.
        if isinstance(value, list):
            return [{"type": g} if isinstance(g, str) else g for g in value]
        return value

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, value):
        if len(set(value)) != len(value):
            raise ValueError(f"seeds must be distinct, got {value}")
        return value

    @model_validator(mode="after")
    def _unique_group_names(self):
        labels = [g.label for g in self.groups]
        doubles = sorted({n for n in labels if labels.count(n) > 1})
        if doubles:
            raise ValueError(f"group names must be unique; give these a distinct `name`: {doubles}")
        models = [c.name for c in self.cyclegans]
        if len(set(models)) != len(models):
            raise ValueError(f"cyclegans need distinct names, got {models}")
        for g in self.groups:
            unknown = sorted({t.model for t in getattr(g, "translations", []) if t.model not in models})
            if unknown:
                raise ValueError(f"group '{g.label}' translates with {unknown}, not defined under cyclegans "
                                 f"(defined: {models or 'none'})")
        selecting = [g.label for g in self.groups if g.type == "gan" and g.gan.select is not None]
        if selecting and self.data.val_per_class == 0:
            raise ValueError(f"gan.select (groups {selecting}) measures the GAN on the validation split: set "
                             "data.val_per_class (an int or 'same')")
        if any(g.type == "more_real" for g in self.groups) and self.data.extra_per_class == 0:
            raise ValueError("group 'more_real' needs extra real images: set data.extra_per_class (an int or 'same')")
        for i, g in enumerate(self.groups):
            if g.loss is not None and g.loss.type == "ldam_drw" and (g.loss.drw_epoch or 0) >= self.classifier.epochs:
                raise ValueError(f"groups.{i}.loss.drw_epoch: {g.loss.drw_epoch} is not below classifier.epochs "
                                 f"({self.classifier.epochs}): the deferred weights would never apply; lower it, or "
                                 "leave it out (80% of the epochs)")
        return self
