"""GAN training options: the generator's moving average, several discriminator steps, LeCam,
a budget in images shown, and truncated noise."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfganaug.config import GANTraining
from tfganaug.distribute import StepRandom
from tfganaug.errors import ConfigError
from tfganaug.experiment.builders import build_gan, gan_schedule
from tfganaug.gans import losses
from tfganaug.gans.noise import draw_noise
from tfganaug.serving.export import ExportedGenerator, export_generator

SHAPE, K = (8, 8, 1), 3


def _gan(**options):
    settings = {"model": "cgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], **options}
    return build_gan(GANTraining(**settings), SHAPE, K, seed=0)


def _data(n=16, batch=4):
    rng = np.random.default_rng(0)
    return tf.data.Dataset.from_tensor_slices((rng.uniform(-1, 1, (n,) + SHAPE).astype("float32"),
                                               (np.arange(n) % K).astype("int32"))).batch(batch)


def test_the_moving_average_is_the_hand_computed_average_after_two_steps():
    model = _gan(ema={"decay": 0.5})
    generator = lambda: [w.numpy().copy() for w in model.generator.trainable_weights]  # noqa: E731
    w0 = generator()
    np.testing.assert_array_equal(w0[0], model.ema_generator.trainable_weights[0])  # starts as a copy
    seen = []
    for batch in _data(8).take(2):
        model.train_step(batch)
        seen.append(generator())
    w1, w2 = seen
    for i, average in enumerate(model.ema_generator.trainable_weights):
        # step 1: 0.5 w0 + 0.5 w1; step 2: 0.5 (that) + 0.5 w2
        np.testing.assert_allclose(average, 0.25 * w0[i] + 0.25 * w1[i] + 0.5 * w2[i], rtol=1e-5, atol=1e-7)
    assert not np.allclose(model.ema_generator.trainable_weights[0], w2[0])  # not just the last weights


def test_before_its_start_the_average_is_a_copy_and_it_makes_the_images():
    model = _gan(ema={"decay": 0.9, "start": 5})
    model.fit(_data(8), epochs=1, verbose=0)  # 2 generator steps < 5
    for average, weight in zip(model.ema_generator.weights, model.generator.weights):
        np.testing.assert_array_equal(average, weight)
    model.ema_generator.set_weights([w * 0 for w in model.ema_generator.get_weights()])
    assert np.all(model.generate(labels=[0, 1], seed=0) == 0)  # generate uses the average


def test_standing_statistics_are_the_mean_of_the_average_generators_own_activations():
    import keras

    model = _gan(ema={"decay": 0.5}, hidden_units=[8, 6])
    model.fit(_data(8), epochs=1, verbose=0)
    ema = model.ema_generator
    norms = [layer for layer in ema._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) >= 2
    for layer in norms:  # the live generator's, for other weights
        layer.moving_mean.assign(layer.moving_mean + 100.0)
        layer.moving_variance.assign(layer.moving_variance + 100.0)
    model.refresh_ema_statistics(seed=2, batches=3, batch_size=6)
    refreshed = [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in norms]
    assert all(layer.momentum == 0.9 for layer in norms)  # put back
    # By hand: every norm's mean and (biased) variance are the means over the three batches (same noise
    # and classes) of its input's, the layers before it normalising with their batch's statistics.
    labels = (np.arange(6) % K).astype("int32")
    for layer, (mean, variance) in zip(norms, refreshed):
        into = keras.Model(ema.inputs, layer.input)
        batches = [np.asarray(into([draw_noise(6, 4, seed=2000 + i), labels], training=True)).reshape(
            -1, mean.shape[0]) for i in range(3)]
        np.testing.assert_allclose(mean, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(variance, np.mean([b.var(0) for b in batches], axis=0), rtol=1e-3, atol=1e-5)


def test_a_training_run_ends_with_the_average_generators_standing_statistics(tmp_path):
    import keras

    from tfganaug.training.gan_fit import train_gan

    model = _gan(ema={"decay": 0.5})
    train_gan(model, _data(8), epochs=2, folder=tmp_path / "gan", spec={}, seed=0, class_names=["a", "b", "c"],
              sample_every=0, verbose=0)
    norms = lambda net: [layer.moving_mean.numpy() for layer in net._flatten_layers()  # noqa: E731
                         if isinstance(layer, keras.layers.BatchNormalization)]
    after_training = norms(model.ema_generator)
    assert not np.allclose(after_training[0], norms(model.generator)[0])  # not the live generator's copy
    model.refresh_ema_statistics(seed=2)  # what the last (second) epoch's end computed
    np.testing.assert_allclose(norms(model.ema_generator)[0], after_training[0], rtol=1e-6)


def test_an_exported_generator_is_the_moving_average(tmp_path):
    model = _gan(ema={"decay": 0.5})
    model.fit(_data(), epochs=1, verbose=0)
    spec = {"gan": {"model": "cgan"}, "image_shape": list(SHAPE), "class_names": ["a", "b", "c"]}
    exported = ExportedGenerator(export_generator(model, spec, tmp_path, "ema"))
    labels, noise = [0, 2], draw_noise(2, 4, seed=3)
    served = exported.generate(labels=labels, seed=3)
    np.testing.assert_allclose(served, model.ema_generator([noise, np.array(labels, "int32")]), atol=1e-6)
    # ... and not the live generator: a difference far above the 1e-6 the average is matched to.
    assert np.abs(served - np.asarray(model.generator([noise, np.array(labels, "int32")]))).max() > 1e-4


def test_d_steps_makes_that_many_discriminator_updates_per_generator_update():
    model = _gan(d_steps=3)
    model.fit(_data(n=24, batch=12), epochs=1, verbose=0)  # 2 batches of 3 steps x 4 images
    assert int(model.d_optimizer.iterations) == 6 and int(model.g_optimizer.iterations) == 2


def test_each_discriminator_step_takes_its_own_share_of_the_batch_and_the_generator_the_last_labels():
    model = _gan(d_steps=3)
    model.compile(model.g_optimizer, model.d_optimizer, run_eagerly=True)
    seen = {"d": [], "g": []}
    d_step, g_step = model.discriminator_step, model.generator_step
    model.discriminator_step = lambda real, labels, random: seen["d"].append((real.numpy(), labels.numpy())) \
        or d_step(real, labels, random)
    model.generator_step = lambda labels, random: seen["g"].append(labels.numpy()) or g_step(labels, random)
    images, labels = next(iter(_data(n=12, batch=12)))
    model.fit(_data(n=12, batch=12), epochs=1, verbose=0)
    assert len(seen["d"]) == 3
    for i, (real, part_labels) in enumerate(seen["d"]):
        np.testing.assert_array_equal(real, images.numpy()[4 * i:4 * (i + 1)])
        np.testing.assert_array_equal(part_labels, labels.numpy()[4 * i:4 * (i + 1)])
    np.testing.assert_array_equal(seen["g"][0], labels.numpy()[8:])


def test_the_schedule_counts_images_shown_for_kimg_and_shrinks_the_batch_for_tiny_data():
    assert gan_schedule(GANTraining(batch_size=64, epochs=7), 1000) == (64, 7)
    # 1000 images, batches of 64: 15 full batches = 960 images shown per epoch; 10 kimg -> 11 epochs
    assert gan_schedule(GANTraining(batch_size=64, kimg=10), 1000) == (64, math.ceil(10_000 / 960))
    assert gan_schedule(GANTraining(batch_size=64, d_steps=2), 50) == (25, 20)
    with pytest.raises(ConfigError, match="gan.d_steps"):
        gan_schedule(GANTraining(d_steps=5), 4)


def test_d_steps_on_several_replicas_needs_a_batch_they_can_split():
    from tfganaug.config import validate
    from tfganaug.experiment.builders import check_replica_batches

    def config(batch_size, d_steps):
        gan = {"model": "cgan", "batch_size": batch_size, "d_steps": d_steps}
        return validate({"name": "x", "groups": ["baseline", {"type": "gan", "gan": gan}]})

    with pytest.raises(ConfigError, match=r"groups.1.gan \(group 'cgan-pseudo_label'\): gan.d_steps: 2 with gan.batch_size: 5 on 2 "
                                          r"replicas .*set groups.1.gan.batch_size: 4 or 6, or gan.d_steps: 1"):
        check_replica_batches(config(5, 2), 2)
    for batch_size, d_steps, replicas in ((6, 2, 2), (5, 1, 2), (5, 2, 1), (9, 3, 3)):
        check_replica_batches(config(batch_size, d_steps), replicas)  # splits evenly, or nothing to split
    # A batch made smaller for tiny data stays a multiple of the replicas: 50 // 2 = 25 -> 24.
    assert gan_schedule(GANTraining(batch_size=64, d_steps=2), 50, replicas=2)[0] == 24
    assert gan_schedule(GANTraining(batch_size=64, d_steps=1), 25, replicas=2)[0] == 25


def test_lecam_regularizer_by_hand():
    real, fake = tf.constant([1.0, -0.5, 2.0, 0.0]), tf.constant([-1.0, 0.5, 0.0, 0.3])
    # relu(real - 0.2)^2 = 0.64, 0, 3.24, 0 ; relu(0.4 - fake)^2 = 1.96, 0, 0.16, 0.01
    assert float(losses.lecam_regularizer(real, fake, 0.4, 0.2)) == pytest.approx(3.88 / 4 + 2.13 / 4)


def _lecam_step(model):
    """One discriminator step on fixed images; returns (its loss, D's real logits, D's fake logits before it)."""
    real = tf.constant(np.random.default_rng(0).uniform(-1, 1, (4,) + SHAPE).astype("float32"))
    labels = tf.constant([0, 1, 2, 0])
    noise = StepRandom(0, 0).normal([4, model.latent_dim])  # the step's first draw: its fake images' noise
    fake = model.generator([noise, labels], training=True)
    real_logits = model.discriminator([real, labels], training=True)
    fake_logits = model.discriminator([fake, labels], training=True)
    loss = model.discriminator_step(real, labels, StepRandom(0, 0))
    return float(loss), np.ravel(real_logits), np.ravel(fake_logits)


def test_lecam_adds_its_term_to_the_discriminator_loss_anchored_to_the_debiased_first_means():
    loss, real, fake = _lecam_step(_gan(lecam=0.3))
    bce = np.mean(np.logaddexp(0, -real)) + np.mean(np.logaddexp(0, fake))  # the cgan's default loss
    # After one update the zero-debiased averages are exactly the batch's means (not 0.01 x them).
    term = np.mean(np.maximum(real - fake.mean(), 0) ** 2) + np.mean(np.maximum(real.mean() - fake, 0) ** 2)
    assert term > 1e-3
    assert loss == pytest.approx(bce + 0.3 * term, rel=1e-5)


def test_lecam_moving_averages_follow_the_logits_and_are_refused_without_a_real_fake_logit():
    model = _gan(lecam=0.3)
    _, real, fake = _lecam_step(model)
    assert float(model.lecam_real) == pytest.approx(0.01 * real.mean(), rel=1e-5)  # stored biased: 0.99 x 0 + 0.01 x mean
    assert float(model.lecam_fake) == pytest.approx(0.01 * fake.mean(), rel=1e-5)
    with pytest.raises(ValueError, match="lecam"):
        GANTraining(model="dagan", lecam=0.3)


def test_truncated_noise_stays_inside_and_is_seeded():
    noise = draw_noise(500, 8, seed=1, truncation=0.5)
    assert np.abs(noise).max() <= 0.5 and noise.std() > 0.2
    np.testing.assert_array_equal(noise, draw_noise(500, 8, seed=1, truncation=0.5))
    np.testing.assert_array_equal(draw_noise(5, 3, seed=2), np.random.default_rng(2).standard_normal((5, 3)).astype("float32"))


def test_new_gan_keys_left_at_their_defaults_keep_existing_run_keys():
    from tfganaug.config import validate
    from tfganaug.experiment import run_key

    raw = {"name": "x", "groups": [{"type": "gan", "gan": {"model": "acgan"}}]}
    config = validate(raw)
    group = config.groups[0]
    dump = group.model_dump(mode="json")
    for key in GANTraining.late_keys:  # ema, d_steps, lecam, kimg, ada_target, select, features
        del dump["gan"][key]
    for key in type(group.synthesize).late_keys:  # truncation, fresh
        del dump["synthesize"][key]
    for key in type(group).late_keys:  # synthetic_weight, finetune_epochs, filter
        del dump[key]
    assert group.key_dump() == dump  # what run keys and GAN folder names hashed before these keys existed
    data = config.data.model_dump(mode="json")
    del data["resplit_per_seed"], data["imbalance_ratio"]
    data["download"] = True  # hashed at its value before it defaulted to false
    assert config.data.key_dump() == data
    changed = validate({**raw, "groups": [{"type": "gan", "gan": {"model": "acgan", "d_steps": 2}}]})
    assert run_key(changed, changed.groups[0], 0) != run_key(config, group, 0)


@pytest.mark.parametrize("bias,moves", [(5.0, "up"), (-5.0, "down")])
def test_ada_p_moves_every_four_discriminator_steps_by_their_images(bias, moves):
    model = _gan(diffaugment=["translation"], ada_target=0.6)
    logits = model.discriminator.get_layer("logits")
    kernel, _ = logits.get_weights()
    logits.set_weights([kernel * 0, np.array([bias], np.float32)])  # every image scored `bias`
    model.d_optimizer.learning_rate.assign(0.0)  # keep the scores
    model.ada_p.assign(0.5)
    real = tf.zeros((4,) + SHAPE)
    for step in range(model.ADA_INTERVAL):
        assert float(model.ada_p) == 0.5  # the signs of the first three batches are pooled, not acted on
        model.discriminator_step(real, tf.constant([0, 1, 2, 0]), StepRandom(0, step))
    moved = 4 * 4 / (model.ADA_KIMG * 1000)  # four batches of 4 real images
    assert float(model.ada_p) == pytest.approx(0.5 + moved if moves == "up" else 0.5 - moved)
    np.testing.assert_array_equal(model.ada_stats.numpy(), [0.0, 0.0])


def test_ada_pools_the_signs_of_its_interval_not_the_last_batchs():
    model = _gan(diffaugment=["translation"], ada_target=0.6)
    logits = model.discriminator.get_layer("logits")
    kernel, _ = logits.get_weights()
    model.d_optimizer.learning_rate.assign(0.0)
    model.ada_p.assign(0.5)
    real = tf.zeros((4,) + SHAPE)
    for step, bias in enumerate([5.0, 5.0, 5.0, -5.0]):  # pooled E[sign] = 0.5, below the target 0.6
        logits.set_weights([kernel * 0, np.array([bias], np.float32)])
        model.discriminator_step(real, tf.constant([0, 1, 2, 0]), StepRandom(0, step))
    assert float(model.ada_p) == pytest.approx(0.5 - 16 / (model.ADA_KIMG * 1000))


def test_ada_p_is_logged_per_epoch_and_applies_transforms_per_image():
    model = _gan(diffaugment=["cutout"], ada_target=0.6)
    history = model.fit(_data(8), epochs=2, verbose=0).history
    assert len(history["ada_p"]) == 2
    images = tf.ones((200,) + SHAPE)
    for p, cut in ((0.0, 0), (1.0, 200)):
        model.ada_p.assign(p)
        seen = model.augment(images, StepRandom(0, 0)).numpy()
        assert int((seen == 0).any(axis=(1, 2, 3)).sum()) == cut
    model.ada_p.assign(0.5)
    seen = model.augment(images, StepRandom(0, 0)).numpy()
    assert 70 < int((seen == 0).any(axis=(1, 2, 3)).sum()) < 130


def test_select_keeps_the_best_checkpoint_not_the_last_and_logs_the_curve(tmp_path):
    from tfganaug.training.gan_fit import train_gan
    from tfganaug.training.gan_folder import read_quality

    model = _gan()
    scores, snapshots = iter([0.2, 0.9, 0.5]), []

    def measure(gan):  # a stand-in for the validation quality: epoch 2 is the best
        snapshots.append([w.numpy().copy() for w in gan.generator.weights])
        return {"gan_train": next(scores), "gan_test": 0.99, "kid": 0.1, "n_real": 10}

    spec = {"gan": {"model": "cgan"}, "image_shape": list(SHAPE), "class_names": ["a", "b", "c"], "seed": 0}
    train_gan(model, _data(), epochs=3, folder=tmp_path, spec=spec, seed=0, class_names=["a", "b", "c"],
              verbose=0, select={"measure": measure, "metric": "gan_train", "every": 1})
    for best, now in zip(snapshots[1], model.generator.weights):
        np.testing.assert_array_equal(best, now)  # the model (and gan.weights.h5) is epoch 2's
    assert not np.allclose(snapshots[2][0], snapshots[1][0])
    rows = read_quality(tmp_path)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and [float(r["gan_train"]) for r in rows] == [0.2, 0.9, 0.5]


def test_a_nan_score_is_never_the_best(tmp_path):
    from tfganaug.training.gan_fit import train_gan
    from tfganaug.training.selection import weights_epoch

    model = _gan()
    scores, snapshots = iter([float("nan"), 0.4, 0.3]), []

    def measure(gan):  # the first evaluation is NaN (a diverged or empty measure)
        snapshots.append([w.numpy().copy() for w in gan.generator.weights])
        return {"gan_train": next(scores)}

    spec = {"gan": {"model": "cgan"}, "image_shape": list(SHAPE), "class_names": ["a", "b", "c"], "seed": 0}
    train_gan(model, _data(), epochs=3, folder=tmp_path, spec=spec, seed=0, class_names=["a", "b", "c"],
              verbose=0, select={"measure": measure, "metric": "gan_train", "every": 1})
    assert weights_epoch(tmp_path / "best.weights.h5") == 2
    for best, now in zip(snapshots[1], model.generator.weights):
        np.testing.assert_array_equal(best, now)
    assert not (tmp_path / "best.previous.weights.h5").exists()


@pytest.mark.parametrize("previous", [True, False])
def test_a_resumed_run_never_keeps_the_best_weights_of_an_epoch_whose_row_was_dropped(tmp_path, previous):
    from tfganaug.training.gan_folder import drop_rows_after, write_quality
    from tfganaug.training.selection import BestCheckpoint, weights_epoch

    model = _gan()
    epoch_weights = {}
    for epoch in (1, 2):  # what BestCheckpoint wrote at epochs 1 and 2, both better than before
        model.generator.trainable_weights[0].assign(model.generator.trainable_weights[0] + 1.0)
        epoch_weights[epoch] = model.generator.get_weights()
        checkpoint = BestCheckpoint(tmp_path, lambda gan, e=epoch: {"gan_train": 0.4 * e}, "gan_train", 1, 5)
        checkpoint.set_model(model)
        checkpoint.on_epoch_end(epoch - 1)
    assert weights_epoch(tmp_path / "best.weights.h5") == 2
    if not previous:  # a folder whose previous best is gone
        (tmp_path / "best.previous.weights.h5").unlink()
    drop_rows_after(tmp_path, 1)  # the backup was of epoch 1: a kill came before epoch 2's
    resumed = BestCheckpoint(tmp_path, lambda gan: {}, "gan_train", 1, 5)
    if previous:
        assert weights_epoch(tmp_path / "best.weights.h5") == 1 and resumed.best == pytest.approx(0.4)
        model.load_weights(tmp_path / "best.weights.h5")
        for kept, now in zip(epoch_weights[1], model.generator.get_weights()):
            np.testing.assert_array_equal(kept, now)
    else:
        assert not (tmp_path / "best.weights.h5").exists() and resumed.best is None  # the next evaluation writes one


def test_select_is_validated_against_the_data_and_the_model():
    from tfganaug.config import validate

    group = {"type": "gan", "gan": {"model": "acgan", "select": {"every": 2, "metric": "recall"}}}
    with pytest.raises(ConfigError, match="data.val_per_class"):
        validate({"name": "x", "groups": [group]})
    assert validate({"name": "x", "data": {"val_per_class": 5}, "groups": [group]}).groups[0].gan.select.every == 2
    with pytest.raises(ValueError, match="gan_train needs a conditional GAN"):
        GANTraining(model="gan", select={"metric": "gan_train"})
    with pytest.raises(ValueError):
        GANTraining(select={"metric": "gan_test"})  # it rewards collapse: never a selection measure


def test_a_gan_without_the_new_options_has_only_its_networks_weights():
    # So that GAN folders written before these options existed (gan.weights.h5) still load.
    model = _gan()
    networks = {id(w) for w in model.generator.weights + model.discriminator.weights}
    assert all(id(w) in networks for w in model.weights)
    with_options = _gan(lecam=0.1, diffaugment=["cutout"], ada_target=0.6)
    assert {"ada_p", "lecam_real", "lecam_fake"} <= {w.name for w in with_options.weights}
