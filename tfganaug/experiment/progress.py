"""How far a `train` command is: the time left, printed after every finished classifier run.

The estimate comes from the command's own wall clock: a run still to come is expected to take as
long as the finished runs of its group took, or the mean of all finished runs for a group not seen
yet; plus, for a run that trains a GAN or CycleGAN first, the dry-run estimate of that model
(`expect_models`). The clock never saw a model still to train: after the cheap controls, "about 59 s
left" would otherwise ignore the GAN that takes 10 minutes next. A finished run counts its wall time
less its models' estimate, so a model slower than its estimate makes the later runs of its group
slower by as much. Runs loaded from an earlier command (already done) take no time and teach nothing.
"""

import contextlib
import contextvars
import time

from tfganaug.training.callbacks import duration

_current = contextvars.ContextVar("tfganaug_progress", default=None)


def run_labels(config):
    """The group label of every classifier run of `config` (every point of its sweep), in run order."""
    points = [config.sweep_point(value) for value in config.sweep.values] if config.sweep else [config]
    return [group.label for point in points for group in point.groups for _ in point.seeds]


class Progress:
    """The runs of a command still to come, and how long the finished ones took.

    Args:
        labels: the group label of every run, in run order (`run_labels`).
        clock: seconds of a monotonic clock (for tests).
    """

    def __init__(self, labels, clock=time.monotonic):
        self.remaining, self.clock = list(labels), clock
        self.models = [0.0] * len(self.remaining)  # per remaining run: estimated seconds of the models it trains first
        self.seconds = {}  # group label -> wall seconds of each of its trained runs, less its models' estimate
        self.mark = clock()

    def expect_models(self, seconds):
        """The estimated seconds of the models each of the next `len(seconds)` runs trains before its
        classifier (`tfganaug.experiment.estimate.run_model_seconds`; 0 for a run that trains none)."""
        self.models[:len(seconds)] = [float(s) for s in seconds][:len(self.models)]

    def finished(self, label, trained=True):
        """Count one run of group `label` as finished; return the seconds left (None: nothing measured yet)."""
        now = self.clock()
        models = 0.0
        if label in self.remaining:
            index = self.remaining.index(label)
            del self.remaining[index]
            models = self.models.pop(index)
        if trained:
            self.seconds.setdefault(label, []).append(now - self.mark - models)
        self.mark = now
        every = [s for runs in self.seconds.values() for s in runs]
        if not every:
            return None
        mean = lambda runs: sum(runs) / len(runs)  # noqa: E731
        return sum(max(0.0, mean(self.seconds.get(other, every)) + first)
                   for other, first in zip(self.remaining, self.models))

    def describe(self, label, trained=True):
        """`finished`, as the tail of the run's line: ", about 4 min left" (empty when unknown or done)."""
        left = self.finished(label, trained)
        return f", about {duration(left)} left" if left else ""


@contextlib.contextmanager
def tracking(config):
    """Within the block, the runs of every point of `config` share one `Progress` (`tracker`)."""
    token = _current.set(Progress(run_labels(config)))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def tracker(config):
    """The command's `Progress` when one is `tracking`, else a new one for the runs of `config` alone."""
    return _current.get() or Progress(run_labels(config))
