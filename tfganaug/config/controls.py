"""The strong controls' settings: label-mixing augmentation (MixUp, CutMix), AugMix, and the loss
re-balancing every group can take (`loss:`). What each does and its source: docs/experiments.md."""

from typing import Annotated, Literal, Optional, Union

from pydantic import Field, model_validator

from tfganaug.config.base import PositiveInt, Strict


class MixUpConfig(Strict):
    """MixUp (Zhang et al. ICLR 2018) through `keras.layers.MixUp`: each image mixed with another of its batch,
    x = lambda * a + (1 - lambda) * b, and so are their target rows, lambda ~ Beta(alpha, alpha) per image."""

    alpha: float = Field(0.2, gt=0, description="Beta(alpha, alpha) of the mixing weight; 0.2 as the paper's "
                                                "ImageNet setting and Keras's default (little mixing)")


class CutMixConfig(Strict):
    """CutMix (Yun et al. ICCV 2019) through `keras.layers.CutMix`: a box of another image of the batch pasted in,
    the target rows mixed by the box's share of the image."""

    alpha: float = Field(1.0, gt=0, le=1, description="Beta(alpha, alpha) of the kept share; 1.0 (uniform) as in "
                                                       "the paper (Keras's layer takes alpha up to 1)")


class AugMixConfig(Strict):
    """AugMix (Hendrycks et al. ICLR 2020) through `keras.layers.AugMix`, with the paper's default operations
    (shear, translate, rotate, posterize, solarize, autocontrast, equalize; not its `all_ops`). Milder than
    the paper's defaults for 28x28 images: a translation of strength 0.3 moves a 28x28 image by up to 8
    pixels, a third of the object; 0.2 moves it by up to 5, at most two operations in a chain."""

    num_chains: PositiveInt = Field(3, description="augmentation chains mixed (the paper's width 3)")
    chain_depth: PositiveInt = Field(2, description="at most this many operations per chain (the paper: 1-3)")
    factor: float = Field(0.2, gt=0, le=1, description="strength of each operation, 0-1 (the paper's severity 3 "
                                                       "of 10 is 0.3)")
    alpha: float = Field(1.0, gt=0, description="Dirichlet / Beta parameter of the chains' and the original's weights")


class RandAugmentConfig(Strict):
    num_ops: PositiveInt = 2
    factor: float = Field(0.5, ge=0, le=1)


class RandomErasingConfig(Strict):
    factor: float = Field(0.5, ge=0, le=1)
    scale: tuple[float, float] = (0.02, 0.33)


class AugmentConfig(Strict):
    """Classical augmentation (Keras 3 layers); see `tfganaug.synthesis.classical`. `mixup` and `cutmix` mix
    images and target rows within a batch, after the other layers."""

    late_keys = frozenset({"mixup", "cutmix", "augmix"})

    flip: Optional[Literal["horizontal", "vertical", "horizontal_and_vertical"]] = "horizontal"
    crop_padding: Annotated[int, Field(ge=0)] = 0
    translate: float = Field(0.1, ge=0, lt=1)
    rotation: float = Field(0.0, ge=0, lt=1)
    zoom: float = Field(0.0, ge=0, lt=1)
    rand_augment: Optional[RandAugmentConfig] = None
    random_erasing: Optional[RandomErasingConfig] = None
    augmix: Optional[AugMixConfig] = Field(None, description="AugMix on each image (before mixup / cutmix)")
    mixup: Optional[MixUpConfig] = Field(None, description="MixUp: images and target rows mixed in pairs")
    cutmix: Optional[CutMixConfig] = Field(None, description="CutMix: a box pasted, target rows mixed by its area")

    @model_validator(mode="after")
    def _fits(self):
        if not any(getattr(self, key) for key in type(self).model_fields):
            raise ValueError("augment needs at least one of flip, crop_padding, translate, rotation, zoom, "
                             "rand_augment, random_erasing, augmix, mixup, cutmix")
        if self.mixup is not None and self.cutmix is not None:
            raise ValueError("give augment.mixup or augment.cutmix, not both: each replaces a batch's target rows "
                             "by mixed ones")
        return self


class ClassWeightLoss(Strict):
    """Cross-entropy weighted per class by N / (K * n_j): every class carries the same total weight."""

    type: Literal["class_weight"]


class LogitAdjustmentLoss(Strict):
    """Logit adjustment (Menon et al. ICLR 2021): cross-entropy of the logits + tau * log(prior_j) in training."""

    type: Literal["logit_adjustment"]
    tau: float = Field(1.0, gt=0, description="weight of log(prior); 1.0 is the paper's default and Fisher-consistent "
                                              "for balanced error")


class BalancedSoftmaxLoss(Strict):
    """Balanced Softmax (Ren et al. NeurIPS 2020): cross-entropy of the logits + log(n_j) in training."""

    type: Literal["balanced_softmax"]


class LDAMDRWLoss(Strict):
    """LDAM with deferred re-weighting (Cao et al. NeurIPS 2019, kaidic/LDAM-DRW): the true class's logit lowered
    by a margin C / n_j^(1/4), logits scaled by `scale`; from `drw_epoch` class-balanced weights by effective
    number (1 - beta) / (1 - beta^n_j), normalised to sum to the class count."""

    type: Literal["ldam_drw"]
    max_margin: float = Field(0.5, gt=0, description="the rarest class's margin (C is set so); 0.5 as the paper")
    # 1, not the reference code's 30: there s multiplies the cosines of a normalised last layer (in [-1, 1]);
    # tfganaug's classifiers end in an ordinary Dense layer, whose logits times 30 would make a 30x sharper softmax.
    scale: float = Field(1.0, gt=0, description="s, the logits' scale; 1 for an ordinary last layer (the reference "
                                                "code's 30 scales a normalised layer's cosines)")
    beta: float = Field(0.9999, gt=0, lt=1, description="effective-number beta of the deferred weights; 0.9999 as "
                                                        "the paper")
    drw_epoch: Optional[Annotated[int, Field(ge=0)]] = Field(
        None, description="first epoch (counted from 0) with the deferred weights; default 80% of classifier.epochs "
                          "(the paper's 160 of 200)")


Loss = Annotated[Union[ClassWeightLoss, LogitAdjustmentLoss, BalancedSoftmaxLoss, LDAMDRWLoss],
                 Field(discriminator="type")]

# Target rows that are not one class: LDAM's margin needs the one true class of every image.
_SOFT_LABELINGS = ("lsro", "teacher")


def loss_conflict(group_type, loss, augment, labeling):
    """Why a group of `group_type` cannot take `loss` with its `augment` and `labeling` (a message naming
    the keys), or None when they combine."""
    if loss is None:
        return None
    if group_type == "class_weight":
        return ("group type class_weight is loss {type: class_weight} already; give another loss to a baseline "
                "(or any other) group instead")
    mixing = augment is not None and (augment.mixup is not None or augment.cutmix is not None)
    if loss.type == "ldam_drw" and mixing:
        return ("loss ldam_drw puts a margin on each image's one true class; augment.mixup / augment.cutmix give "
                "mixed target rows: use loss logit_adjustment or balanced_softmax")
    if loss.type == "ldam_drw" and labeling in _SOFT_LABELINGS:
        return (f"loss ldam_drw puts a margin on each image's one true class; labeling {labeling} gives soft "
                "target rows: use loss logit_adjustment or balanced_softmax")
    return None
