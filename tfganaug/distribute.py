"""Where a run trains: a `tf.distribute` strategy chosen by the config, and what custom
training steps need to stay correct under it.

Keras distributes the datasets given to `fit` when the model was built under the
strategy's scope, so the batch size in the YAML is the *global* batch. Keras's
optimizers then *sum* the gradients of the replicas; a custom `train_step` must
therefore divide its (per-replica mean) loss by the number of replicas, which
`scale_for_replicas` does, exactly as Keras's own `train_step` does.

Random draws inside a training step (noise, DiffAugment, the WGAN-GP mixing
weight) come from `StepRandom`: stateless draws for the *global* batch keyed by
(seed, step), of which each replica keeps its own rows. So an example gets the
same noise whether the batch runs on one device or on several, and a run resumed
from a checkpoint (which restores the step) draws what it would have drawn.
"""

import contextlib
import json
import os

import keras
import numpy as np
import tensorflow as tf

from tfganaug.cpus import available_cores
from tfganaug.errors import UserError

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")

# /proc/cpuinfo flags of CPUs whose oneDNN kernels run bfloat16 matmuls and convolutions natively
# (Intel Sapphire Rapids and later, AMD Zen 4): 2-3x float32's speed on them.
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
# Whether `runtime.mixed_precision: auto` trains in mixed_bfloat16 on such CPUs: on for both data sets of
# bench/gan_quality.py, where the residual CGAN in bfloat16 took 1.65-1.92x float32's generator steps in
# the same 30 minutes for about as good images (docs/studies/gan_quality/README.md).
AUTO_BFLOAT16 = True


def cpu_has_bfloat16(cpuinfo="/proc/cpuinfo"):
    """Whether the CPU reports native bfloat16 arithmetic (`BFLOAT16_CPU_FLAGS`); False where unreadable."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            flags = {flag for line in f if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return any(flag in flags for flag in BFLOAT16_CPU_FLAGS)


def precision_policy(setting):
    """The Keras dtype policy of `runtime.mixed_precision`: "off" is float32; "auto" is mixed_bfloat16 on
    a CPU-only machine whose CPU has bfloat16 arithmetic (`AUTO_BFLOAT16`), float32 otherwise."""
    if setting == "auto":
        cpu_only = not tf.config.list_physical_devices("GPU") and not tf.config.list_physical_devices("TPU")
        return "mixed_bfloat16" if AUTO_BFLOAT16 and cpu_only and cpu_has_bfloat16() else "float32"
    return "float32" if setting == "off" else setting


def intra_op_threads():
    """The size of this process's TensorFlow intra-op thread pool: as set by `tf.config.threading`, else by
    TF_NUM_INTRAOP_THREADS, else the cores this process may use (`tfganaug.cpus.available_cores`: in a
    container, its CPU limit, not every core of the node that TensorFlow's own default would take)."""
    configured = tf.config.threading.get_intra_op_parallelism_threads()
    from_env = os.environ.get("TF_NUM_INTRAOP_THREADS", "")
    if configured:
        return configured
    return int(from_env) if from_env.isdigit() and int(from_env) > 0 else available_cores()


def pin_intra_op_threads(threads, log=print):
    """Run this process's TensorFlow ops on `threads` intra-op threads; True when they do.

    A matmul, convolution or reduction splits its float sums by the size of this pool, so the same model
    trained with another thread count gives other numbers in the last bits, and over a full training run
    other accuracies (up to about a point on the quickstart: docs/benchmarks/scale_out.json). Every process of
    a planned run therefore takes the plan's count, whatever cores it was given (equal numbers also need the
    same CPU model: oneDNN picks other kernels on others). Once TensorFlow has started
    in this process the count can no longer change: then a warning, and False."""
    if intra_op_threads() == threads:
        return True
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        log(f"warning: TensorFlow already runs here with {intra_op_threads()} intra-op threads, the plan says "
            f"{threads}: results may differ from a serial run in the last digits")
        return False
    return True


def make_strategy(kind="auto", tpu_address=None):
    """The `tf.distribute.Strategy` for `runtime.distribute`.

    auto: a TPU when `tpu_address` is set, all local GPUs (MirroredStrategy) when
    there are several, else TensorFlow's default strategy (one device, no wrapping).
    one_device: OneDeviceStrategy on the first GPU, else the CPU. mirrored: all local GPUs, or all logical
    CPU devices when there is no GPU (how the tests get two replicas on one CPU).
    multi_worker: MultiWorkerMirroredStrategy, cluster from the `TF_CONFIG` variable.
    tpu: TPUStrategy on `tpu_address` ("local" for a TPU VM).
    """
    if kind not in STRATEGIES:
        raise UserError(f"runtime.distribute is {kind!r}; choose one of {', '.join(STRATEGIES)}")
    if kind == "multi_worker":
        # First: collective ops must be configured before anything starts the TF runtime.
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "auto":
        if not tpu_address and len(tf.config.list_physical_devices("GPU")) <= 1:
            return tf.distribute.get_strategy()
        kind = "tpu" if tpu_address else "mirrored"
    if kind == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if kind == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if not tpu_address:
        raise UserError("runtime.distribute is 'tpu' but runtime.tpu_address is not set: give the TPU's "
                        "address (grpc://host:8470), its name, or 'local' on a TPU VM")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="" if tpu_address == "local" else tpu_address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as error:
        raise UserError(f"cannot reach the TPU at runtime.tpu_address={tpu_address!r}: {error}") from None
    return tf.distribute.TPUStrategy(resolver)


@contextlib.contextmanager
def runtime_scope(runtime):
    """Within: the strategy of `runtime` (a `RuntimeConfig`) is in scope and its precision
    policy is Keras's global one; the previous policy comes back on exit. Yields the strategy.

    Create it once per process: a multi-worker strategy cannot be created twice.
    """
    strategy = make_strategy(runtime.distribute, runtime.tpu_address)
    with precision_scope(runtime.mixed_precision), strategy.scope():
        yield strategy


@contextlib.contextmanager
def precision_scope(setting):
    """Within: `precision_policy(setting)` is Keras's global dtype policy; the previous one comes back on exit."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision_policy(setting))
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def describe_strategy(strategy):
    """How a run log names `strategy`: in the words of `runtime.distribute`, with replicas and workers
    (TensorFlow's class names say `CollectiveAllReduceStrategy` for a multi-worker run)."""
    replicas = strategy.num_replicas_in_sync
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return f"multi_worker: {replicas} replicas on {max(1, _cluster_size(strategy))} workers"
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return f"tpu: {replicas} cores"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return f"mirrored: {replicas} replicas"
    return "one device"


def worker_folder(run_dir, strategy=None):
    """`run_dir` for the chief (or a single process); `run_dir/worker-<i>` for the other workers
    of a multi-worker run, which train the same models but must not write the same files."""
    task_type, task_id, cluster = _task(strategy or tf.distribute.get_strategy())
    chief = task_type in (None, "chief") or (task_type == "worker" and task_id == 0 and "chief" not in cluster)
    return run_dir if chief else run_dir / f"{task_type}-{task_id}"


def with_loss_scaling(optimizer):
    """`optimizer` wrapped in a LossScaleOptimizer under the mixed_float16 policy (else unchanged):
    float16 gradients underflow without it. Custom train steps call `optimizer.scale_loss`."""
    if keras.mixed_precision.global_policy().name == "mixed_float16" and not isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _task(strategy):
    """(task type, task index, cluster as a dict) of a multi-worker strategy; (None, None, {}) otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return None, None, {}
    return resolver.task_type, resolver.task_id, resolver.cluster_spec().as_dict()


def _cluster_size(strategy):
    """How many tasks the strategy's cluster has (0 without a cluster)."""
    return sum(map(len, _task(strategy)[2].values()))


def _multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and _cluster_size(strategy) > 1


def step_logs(results):
    """A custom `train_step`'s returned losses, in the form Keras can reduce across workers.

    Keras 3.15 averages a multi-worker step's outputs along axis 0, which scalars
    lack (another face of keras-team/keras#20585): there they become shape [1].
    """
    if _multi_worker(tf.distribute.get_strategy()):
        return {name: tf.reshape(value, [1]) for name, value in results.items()}
    return results


def first_local_batch(batch, strategy):
    """This worker's first replica's part of a batch `strategy` distributed (a plain batch unchanged).

    What `tfganaug.training.classifier.StrategyFit` gives Keras's symbolic build instead of the batch
    averaged over replicas, which fails under MultiWorkerMirroredStrategy
    (keras-team/keras#20585): the build only needs its shapes and dtypes.
    """
    return tf.nest.map_structure(lambda value: strategy.experimental_local_results(value)[0], batch)


def call_in_batches(network, inputs, batch_size=256):
    """`network(inputs, training=False)` as one numpy array, computed `batch_size` rows at a time.

    What tfganaug uses instead of `Model.predict`: under MultiWorkerMirroredStrategy
    `predict` splits the rows over the workers, so each worker would see the outputs
    of a part of them. Called directly, a network reads this worker's copy of its
    mirrored weights: every worker computes every row, the same under any strategy.

    Args:
        network: a built Keras model.
        inputs: an array, or a list of arrays with the same number of rows, passed to
            `network` batch by batch in that structure.
        batch_size: rows per call.
    """
    several = isinstance(inputs, (list, tuple))
    arrays = list(inputs) if several else [inputs]
    outputs = []
    for start in range(0, len(arrays[0]), batch_size):
        chunk = [array[start:start + batch_size] for array in arrays]
        outputs.append(np.asarray(network(chunk if several else chunk[0], training=False)))
    return np.concatenate(outputs) if outputs else np.zeros((0,) + tuple(network.output_shape[1:]), np.float32)


def skip_symbolic_build():
    """What the GAN models do instead of Keras's `_maybe_symbolic_build` (a private hook of `fit`).

    Under a strategy Keras reads one batch ahead to build the model, and under
    MultiWorkerMirroredStrategy fails to average that batch (keras-team/keras#20585,
    open in Keras 3.15). The GANs need no build: their networks are built on
    construction and both optimizers in `compile`. Skipping it also keeps the
    shuffled order of a GAN's data the same with and without a strategy.
    """


def _check_tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError("runtime.distribute is 'multi_worker' but the TF_CONFIG environment variable is not set: "
                        'set it on every worker, e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                        '"task": {"type": "worker", "index": 0}}')
    try:
        spec = json.loads(raw)
        spec["cluster"]["worker"], spec["task"]["index"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"TF_CONFIG is not a valid cluster spec ({raw!r}): it needs cluster.worker (a list of "
                        "host:port) and task.index") from None


def num_replicas():
    """Replicas in sync in the current strategy (1 outside any strategy)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def global_mean(value):
    """The mean of a per-replica value over the replicas in sync (the value itself on one device):
    a mean over the local batch becomes the mean over the global batch."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.MEAN, value)


def scale_for_replicas(loss):
    """The per-replica share of a loss averaged over this replica's examples.

    Gradients are summed over replicas, so each replica's mean is divided by
    their number: the sum is then the gradient of the global batch's mean.
    """
    replicas = num_replicas()
    return loss / replicas if replicas > 1 else loss


class StepRandom:
    """Stateless random draws for one training step, the same per example on any number of replicas.

    Each draw is made for the global batch (`rows * replicas`) from a seed folded
    from (seed, step, draw number), and this replica keeps its own block of rows:
    `tf.distribute` gives replica r rows [r*b, (r+1)*b) of each global batch.
    The first dimension of every shape is the local batch.
    """

    def __init__(self, seed, step):
        self.seed = tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)])
        self.count = 0
        context = tf.distribute.get_replica_context()
        self.replicas = context.num_replicas_in_sync if context else 1
        self.replica = context.replica_id_in_sync_group if context else 0

    def _draw(self, shape, make):
        self.count += 1  # a new stream per draw; counted while tracing, so the same every step
        seed = tf.random.experimental.stateless_fold_in(self.seed, self.count)
        rows = shape[0]
        if self.replicas == 1:
            return make([rows] + list(shape[1:]), seed)
        values = make([rows * self.replicas] + list(shape[1:]), seed)
        return values[self.replica * rows:(self.replica + 1) * rows]

    def normal(self, shape, dtype=tf.float32):
        return self._draw(shape, lambda s, seed: tf.random.stateless_normal(s, seed, dtype=dtype))

    def uniform(self, shape, low=0.0, high=1.0, dtype=tf.float32):
        return self._draw(shape, lambda s, seed: tf.random.stateless_uniform(s, seed, low, high, dtype=dtype))

    def randint(self, shape, low, high):
        """Integers in [low, high)."""
        return self._draw(shape, lambda s, seed: tf.random.stateless_uniform(s, seed, low, high, dtype=tf.int32))
