"""The experiment YAML, validated with pydantic.

Unknown keys, wrong types and unknown names are errors that name the file, the
key path and what is allowed (`ConfigError`); nothing here builds objects (that
is `experiment.py`'s job).
"""

import difflib
import typing
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, FilePath, ValidationError, field_validator, model_validator

from tfganaug.errors import ConfigError

SOURCES = ("animal_mnist", "fashion_mnist", "folder", "npz", "tfds:<name>")
ClassKey = Union[int, str]  # a class by name ("shirt", "011") or by index
PositiveInt = Annotated[int, Field(gt=0)]
Count = Union[Annotated[int, Field(ge=0)], Literal["same"]]


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(Strict):
    """Where the images come from and how many of each class to use."""

    source: str = Field("animal_mnist", description="animal_mnist | fashion_mnist | folder | npz | tfds:<name>")
    path: Optional[Path] = Field(None, description="folder or .npz file (folder and npz sources)")
    data_dir: Optional[Path] = Field(None, description="TFDS data folder (tfds sources)")
    download: bool = Field(True, description="allow downloads where the network exists (tfds, fashion_mnist)")
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
    val_per_class: Count = 0
    extra_per_class: Count = 0
    test_per_class: Optional[PositiveInt] = None
    seed: int = 0

    @field_validator("source")
    @classmethod
    def _known_source(cls, value):
        if value in SOURCES[:4] or (value.startswith("tfds:") and len(value) > 5):
            return value
        raise ValueError(f"unknown data source {value!r}; allowed: {', '.join(SOURCES)}")

    @model_validator(mode="after")
    def _source_needs(self):
        if self.source in ("folder", "npz") and self.path is None:
            raise ValueError(f"data.path is required for source '{self.source}'")
        if self.source == "folder" and self.image_size is None:
            raise ValueError("data.image_size is required for source 'folder', e.g. [64, 64]")
        return self


class ClassifierConfig(Strict):
    """The classifier every group trains, and how it is trained."""

    model: Literal["mlp", "small_cnn", "mobilenet_v2", "vgg16"] = "small_cnn"
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 64
    learning_rate: float = Field(1e-3, gt=0)
    patience: Optional[PositiveInt] = Field(None, description="stop after this many epochs without a better val accuracy")
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


class RandAugmentConfig(Strict):
    num_ops: PositiveInt = 2
    factor: float = Field(0.5, ge=0, le=1)


class RandomErasingConfig(Strict):
    factor: float = Field(0.5, ge=0, le=1)
    scale: tuple[float, float] = (0.02, 0.33)


class AugmentConfig(Strict):
    """Classical augmentation (Keras 3 layers); see `tfganaug.classical`."""

    flip: Optional[Literal["horizontal", "vertical", "horizontal_and_vertical"]] = "horizontal"
    crop_padding: Annotated[int, Field(ge=0)] = 0
    translate: float = Field(0.1, ge=0, lt=1)
    rotation: float = Field(0.0, ge=0, lt=1)
    zoom: float = Field(0.0, ge=0, lt=1)
    rand_augment: Optional[RandAugmentConfig] = None
    random_erasing: Optional[RandomErasingConfig] = None


class GroupBase(Strict):
    name: Optional[str] = Field(None, description="shown in the results; defaults to the type")

    @property
    def label(self):
        return self.name or self.type


class BaselineGroup(GroupBase):
    """The training set as it is (trainA)."""

    type: Literal["baseline"]


class DuplicateGroup(GroupBase):
    """Every training image `copies` times: controls for the quantity of data alone (trainAA)."""

    type: Literal["duplicate"]
    copies: Annotated[int, Field(ge=2)] = 2


class MoreRealGroup(GroupBase):
    """The training set plus the extra real images (trainAB); needs data.extra_per_class."""

    type: Literal["more_real"]


class ClassicalGroup(GroupBase):
    """Classical augmentation applied on the fly."""

    type: Literal["classical"]
    augment: AugmentConfig = Field(default_factory=AugmentConfig)


class ClassWeightGroup(GroupBase):
    """Loss weights inversely proportional to class frequency."""

    type: Literal["class_weight"]


class OversampleGroup(GroupBase):
    """Rare classes randomly oversampled to the majority count."""

    type: Literal["oversample"]


class GANTraining(Strict):
    """How a GAN is built and trained (shared by groups with identical settings: trained once per seed)."""

    model: Literal["gan", "cgan", "acgan", "sgan", "dagan"] = "acgan"
    network: Literal["mlp", "dcgan"] = "mlp"
    latent_dim: PositiveInt = 100
    hidden_units: Optional[list[PositiveInt]] = Field(None, description="mlp generator (the discriminator mirrors it)")
    base_filters: Optional[PositiveInt] = Field(None, description="dcgan generator width")
    d_filters: Optional[tuple[PositiveInt, PositiveInt]] = Field(None, description="dcgan discriminator widths")
    loss: Literal["bce", "least_squares", "hinge", "wgan_gp"] = "bce"
    diffaugment: list[Literal["color", "translation", "cutout"]] = Field(default_factory=list)
    instance_noise: Optional[float] = Field(
        None, ge=0, description="std of Gaussian noise on D's inputs; default 0.05 for dcgan (DAGAN study), 0 for mlp")
    epochs: PositiveInt = 20
    batch_size: PositiveInt = 64
    g_learning_rate: float = Field(2e-4, gt=0)
    d_learning_rate: float = Field(2e-4, gt=0)
    beta_1: float = Field(0.5, ge=0, lt=1)
    beta_2: float = Field(0.999, ge=0, lt=1)
    sample_every: int = Field(5, ge=0, description="epochs between fixed-noise sample grids (0: last epoch only)")

    @model_validator(mode="after")
    def _fits(self):
        if self.model in ("sgan", "dagan") and self.loss != "bce":
            raise ValueError(f"model '{self.model}' has a class-based adversarial loss; only loss 'bce' applies")
        if self.network == "mlp" and (self.base_filters or self.d_filters):
            raise ValueError("base_filters / d_filters apply to network 'dcgan', not 'mlp'")
        if self.network == "dcgan" and self.hidden_units:
            raise ValueError("hidden_units applies to network 'mlp', not 'dcgan'")
        return self


class Synthesis(Strict):
    """How many synthetic images: `ratio` of the training set spread over classes, or `fill` to the largest class."""

    ratio: Optional[float] = Field(None, gt=0)
    fill: bool = False

    @model_validator(mode="after")
    def _one_of(self):
        if (self.ratio is None) == (not self.fill):
            raise ValueError("give exactly one of synthesize.ratio (e.g. 0.5) or synthesize.fill: true")
        return self


class GANGroup(GroupBase):
    """A GAN's images added to the training set, labelled by `labeling`; `augment` adds classical augmentation."""

    type: Literal["gan"]
    gan: GANTraining = Field(default_factory=GANTraining)
    labeling: Literal["pseudo_label", "all_in_one", "lsro"] = "pseudo_label"
    synthesize: Synthesis = Field(default_factory=lambda: Synthesis(ratio=0.5))
    min_confidence: Optional[float] = Field(None, ge=0, le=1, description="acgan: keep samples its class head agrees with")
    augment: Optional[AugmentConfig] = Field(None, description="also apply classical augmentation (e.g. DAGAN_aug)")

    @property
    def label(self):
        return self.name or f"{self.gan.model}-{self.labeling}" + ("+classical" if self.augment else "")

    @model_validator(mode="after")
    def _fits(self):
        if self.gan.model == "gan" and self.labeling == "pseudo_label":
            raise ValueError("an unconditional 'gan' makes images without a class: use labeling all_in_one or lsro")
        if self.min_confidence is not None and self.gan.model != "acgan":
            raise ValueError("min_confidence needs the auxiliary classifier of model 'acgan'")
        return self


class CycleGANConfig(Strict):
    """A CycleGAN between two domains, each a set of classes (e.g. the CelebA study's 000 <-> 100)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    domain_a: list[ClassKey] = Field(min_length=1)
    domain_b: list[ClassKey] = Field(min_length=1)
    generator: Literal["resnet", "unet"] = "resnet"
    filters: PositiveInt = 32
    downsamplings: PositiveInt = 2
    residual_blocks: Annotated[int, Field(ge=0)] = 6
    unet_depth: PositiveInt = 4
    d_filters: PositiveInt = 64
    d_layers: PositiveInt = 3
    cycle_weight: float = Field(10.0, ge=0)
    identity_weight: float = Field(0.5, ge=0, description="fraction of cycle_weight")
    pool_size: Annotated[int, Field(ge=0)] = 50
    epochs: PositiveInt = 20
    decay_epochs: Annotated[int, Field(ge=0)] = Field(10, description="the last epochs, learning rate decaying to 0")
    batch_size: PositiveInt = 1
    learning_rate: float = Field(2e-4, gt=0)
    beta_1: float = Field(0.5, ge=0, lt=1)
    sample_every: int = Field(5, ge=0, description="epochs between input | translated | cycled grids")

    @model_validator(mode="after")
    def _fits(self):
        if self.decay_epochs > self.epochs:
            raise ValueError(f"decay_epochs ({self.decay_epochs}) cannot exceed epochs ({self.epochs})")
        overlap = {str(c) for c in self.domain_a} & {str(c) for c in self.domain_b}
        if overlap:
            raise ValueError(f"domain_a and domain_b share classes {sorted(overlap)}; a class belongs to one domain")
        return self


class Translation(Strict):
    """Translate `count` training images of class `from` into class `to` with CycleGAN `model`.

    `count: fill` shares what class `to` lacks to reach the largest class evenly among
    every `fill` entry with that target (the CelebA study's rm804 group).
    """

    model: str
    from_: ClassKey = Field(alias="from")
    to: ClassKey
    count: Union[PositiveInt, Literal["fill"]]


class TranslationGroup(GroupBase):
    """CycleGAN-translated images added to the training set, labelled with their target class."""

    type: Literal["translation"]
    translations: list[Translation] = Field(min_length=1)
    augment: Optional[AugmentConfig] = Field(None, description="also apply classical augmentation")

    @property
    def label(self):
        return self.name or "translation" + ("+classical" if self.augment else "")


Group = Annotated[
    Union[BaselineGroup, DuplicateGroup, MoreRealGroup, ClassicalGroup, ClassWeightGroup, OversampleGroup, GANGroup,
          TranslationGroup],
    Field(discriminator="type"),
]
GROUP_TYPES = ("baseline", "duplicate", "more_real", "classical", "class_weight", "oversample", "gan", "translation")


class OutputConfig(Strict):
    root: Path = Field(Path("runs"), description="run folders go to <root>/<name>")
    export_gans: bool = Field(False, description="export every trained generator at the end of the run")
    gan_metrics: bool = Field(True, description="compute the GAN metrics at the end of a run with GAN groups")
    export_root: Path = Field(Path("exported_models"), description="where export_gans writes <name>/<version>/")


class RuntimeConfig(Strict):
    """Where and how fast models train (devices, XLA, precision); not what is trained."""

    distribute: Literal["auto", "one_device", "mirrored", "multi_worker", "tpu"] = Field(
        "auto", description="auto: TPU if tpu_address is set, all GPUs if several, else one device")
    tpu_address: Optional[str] = Field(None, description="grpc://host:8470, a TPU name, or 'local' on a TPU VM")
    jit_compile: Union[bool, Literal["auto"]] = Field(
        "auto", description="XLA for every training step; auto: Keras's choice (on for GPUs, off on CPU)")
    mixed_precision: Literal["off", "mixed_float16", "mixed_bfloat16"] = Field(
        "off", description="mixed_float16 on GPUs (with loss scaling), mixed_bfloat16 on TPUs; slower on CPU")

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _yaml_off(cls, value):
        # YAML 1.1 (PyYAML) reads a bare `off` as false.
        return "off" if value is False else value


class SweepConfig(Strict):
    """Repeat the experiment for each value; results are also tabulated and plotted against it."""

    samples_per_class: list[PositiveInt] = Field(min_length=2, description="replaces data.samples_per_class per point")

    @field_validator("samples_per_class")
    @classmethod
    def _increasing(cls, value):
        if sorted(set(value)) != value:
            raise ValueError(f"sweep values must be distinct and increasing, got {value}")
        return value


class ExperimentConfig(Strict):
    """One experiment: data, classifier, groups to compare and seeds."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    data: DataConfig = Field(default_factory=DataConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    groups: list[Group] = Field(min_length=1)
    output: OutputConfig = Field(default_factory=OutputConfig)
    sweep: Optional[SweepConfig] = None
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
        if any(g.type == "more_real" for g in self.groups) and self.data.extra_per_class == 0:
            raise ValueError("group 'more_real' needs extra real images: set data.extra_per_class (an int or 'same')")
        return self


# ---------------------------------------------------------------- loading


def read_yaml(path):
    """Read a YAML mapping with the safe loader; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys (name, data, classifier, groups, ...)")
    return raw


def apply_override(raw, assignment):
    """Apply one `key.path=value` override (value parsed as YAML) to the raw mapping, in place."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key.path=value, e.g. classifier.epochs=2")
    key_path, text = assignment.split("=", 1)
    value = yaml.safe_load(text) if text.strip() else None
    parts = key_path.strip().split(".")
    node = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {key_path}: '{here}' needs a list index below {len(node)}")
            part = int(part)
            if isinstance(node[part], str) and not last:  # a `- baseline` shorthand entry
                node[part] = {"type": node[part]}
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {key_path}: '{'.'.join(parts[:i])}' is not a mapping")
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and not isinstance(node.get(part), (dict, list)):
                node[part] = {}
            node = node[part]
    return raw


def _unwrap(annotation):
    """Strip Annotated and Optional from an annotation."""
    while True:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is Annotated:
            annotation = args[0]
        elif origin is Union and type(None) in args and len(args) == 2:
            annotation = next(a for a in args if a is not type(None))
        else:
            return annotation


def _allowed_keys(loc):
    """Keys allowed in the mapping holding the unknown key at pydantic error location `loc`.

    Walks the models along `loc`: a field name leads to its annotation, a list
    index to the element type, a tag of the groups' discriminated union to that group's model.
    """
    current = ExperimentConfig
    for segment in loc[:-1]:
        current = _unwrap(current)
        origin, args = typing.get_origin(current), typing.get_args(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and segment in current.model_fields:
            current = current.model_fields[segment].annotation
        elif origin in (list, dict):
            current = args[-1]
        elif origin is Union:
            current = next((a for a in args if segment in typing.get_args(a.model_fields["type"].annotation)), None)
        else:
            return []
    current = _unwrap(current)
    return sorted(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _raw_path(loc, raw):
    """The part of a pydantic error location that indexes the raw YAML (drops union branch names)."""
    path, node = [], raw
    for segment in loc:
        if isinstance(node, dict) and segment in node:
            path.append(segment)
            node = node[segment]
        elif isinstance(node, list) and isinstance(segment, int) and segment < len(node):
            path.append(segment)
            node = node[segment]
        elif isinstance(node, dict) and isinstance(segment, str) and segment not in node and not path[-1:] == [segment]:
            if segment.isidentifier() and segment == loc[-1]:
                path.append(segment)  # a missing required key
                node = None
    return path


def _format_errors(exc, raw, source):
    messages = {}
    for error in exc.errors():
        path = _raw_path(error["loc"], raw)
        key = ".".join(str(p) for p in path)  # empty: a check across sections, whose message names the keys
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(error["loc"])
            hint = difflib.get_close_matches(str(path[-1]), allowed, n=1)
            text = f"unknown key; allowed keys here: {', '.join(allowed)}" + (f" (did you mean '{hint[0]}'?)" if hint else "")
        else:
            text = error["msg"].removeprefix("Value error, ")
            if error["type"] not in ("missing",) and "input" in error and not isinstance(error["input"], (dict, list)):
                text += f" (got {error['input']!r})"
        messages.setdefault(key, [])
        if text not in messages[key]:
            messages[key].append(text)
    # A union reports one error per branch; the deepest location is the one the user means.
    keys = [k for k in messages if not any(o != k and o.startswith(k + ".") for o in messages)]
    lines = [f"{key}: {' | '.join(messages[key])}" if key else " | ".join(messages[key]) for key in keys]
    return f"{source}: invalid config:\n  " + "\n  ".join(lines)


def validate(raw, source="<config>"):
    """Validate a raw mapping into an `ExperimentConfig`; errors become a `ConfigError`."""
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, raw, source)) from None


def load_config(path, overrides=()):
    """Read, override (`key.path=value` strings) and validate an experiment YAML file."""
    raw = read_yaml(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    return validate(raw, source=str(path))


def to_yaml(config):
    """The resolved config (defaults filled in) as YAML text."""
    return yaml.safe_dump(config.model_dump(mode="json", by_alias=True), sort_keys=False)
