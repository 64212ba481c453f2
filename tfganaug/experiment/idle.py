"""Groups that do nothing on the data at hand, found before anything trains: a control that trains as
another control of the run does (a re-balancing loss, oversampling or class weights on balanced classes)
and a GAN or translation group that adds no image (it fills classes to the largest, and they are
balanced). Each is said in the log and in the results' notes; a control's copy is left out of the
best-control choice (among copies of one training, the largest mean is luck) and a group without images
is compared with the baseline only (it is not a GAN result, nor in the best-control Holm family)."""

from dataclasses import dataclass

from tfganaug.experiment.planning import planned_size
from tfganaug.reporting.results import CONTROL_TYPES, SYNTHETIC_TYPES
from tfganaug.synthesis.controls import IDLE_LOSSES, IDLE_ON_BALANCED, idle_control_note


@dataclass
class IdleGroups:
    """What `idle_groups` found: notes [sentences], same_as {control: the control it trains as},
    no_images [GAN and translation groups that add no image]."""

    notes: list
    same_as: dict
    no_images: list


def _loss_type(group):
    return group.loss.type if group.loss is not None else None


def _training_without_loss(group):
    """The group's settings as run keys hash them, without its name and loss."""
    return {k: v for k, v in group.key_dump().items() if k not in ("name", "loss")}


def _twin(group, groups):
    """The control among `groups` that `group` (an idle control) trains as, or None."""
    if group.type in IDLE_ON_BALANCED:
        candidates = [g for g in groups if g.type == "baseline" and g.loss is None]
    else:
        mine = _training_without_loss(group)
        candidates = [g for g in groups if g is not group and g.loss is None and _training_without_loss(g) == mine]
    return candidates[0].label if candidates else None


def idle_groups(groups, splits):
    """The `IdleGroups` of `groups` (a config's) on `splits` (its training split's class counts)."""
    train = splits.train
    counts = train.counts()
    balanced = counts.min() == counts.max()
    notes, same_as, no_images, plain = [], {}, [], []
    controls = [g for g in groups if g.type in CONTROL_TYPES]
    for group in groups:
        if group.type in SYNTHETIC_TYPES and planned_size(group, splits) == len(train):
            no_images.append(group.label)
            why = (f"every class of the training split has {int(counts[0])} images and it fills classes to the "
                   "largest" if balanced else "it asks for no image on these training counts")
            notes.append(f"Warning: {group.type} group {group.label} adds no image here ({why}): it trains on the "
                         "real images alone, and it is compared with the baseline only.")
            continue
        if balanced and group.type not in IDLE_ON_BALANCED and _loss_type(group) in IDLE_LOSSES:
            plain.append(group)  # said once for all, below
        elif note := idle_control_note(group.label, group.type, counts):
            notes.append(note)
        idle = group.type in IDLE_ON_BALANCED or _loss_type(group) in IDLE_LOSSES
        if balanced and group.type in CONTROL_TYPES and idle and (twin := _twin(group, controls)):
            same_as[group.label] = twin
    if plain:
        names = ", ".join(f"{g.label} ({g.loss.type})" for g in plain)
        notes.append(f"Note: every class of the training split has {int(counts[0])} images, so the re-balancing loss "
                     f"of {names} is plain cross-entropy here (a uniform prior; every class weighs 1).")
    return IdleGroups(notes, same_as, no_images)
