"""`tfganaug` command line: parses argv and calls the runner (`train`: the Python API, `tfganaug.api`).
User errors print a message, not a traceback. TensorFlow's start-up lines are hidden unless `-v`.
"""

import argparse
import errno
import os
import re
import signal
import sys
import threading
from pathlib import Path

from tfganaug.sharing.commands import (add_task_commands, add_train_options, non_negative, positive, train_shard,
                                train_with_executor)
from tfganaug.console import quiet_tensorflow
from tfganaug.errors import UserError


def _train(args):
    from tfganaug.api import Experiment

    if args.shard and args.executor:
        raise UserError("--shard runs one shard in this process; --executor runs every task: give one of them")
    experiment = Experiment.from_yaml(args.config, args.set)
    if args.dry_run:
        experiment.dry_run(estimate=not args.no_estimate, verbose=args.verbose, out=args.out)
    elif args.shard or args.executor:  # some or all of the planned tasks; `tfganaug report` gathers
        run_dir = Path(args.out) if args.out else experiment.config.output.root / experiment.config.name
        with experiment.naming_errors():
            if args.shard:
                return train_shard(experiment.config, run_dir, args.shard, args.overwrite, args.threads)
            return train_with_executor(experiment.config, run_dir, args)
    else:
        # Keras prints one line per epoch with -v; else each finished run's line is all.
        experiment.run(out=args.out, overwrite=args.overwrite, verbose=2 if args.verbose else 0)
    return 0


def _run_folder(path):
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a folder; give the run folder of `tfganaug train` (e.g. runs/quickstart)")
    return run_dir


def _generate(args):
    from tfganaug.experiment import build_from_spec
    from tfganaug.synthesis.generate import generated_images, write_generated
    from tfganaug.training.gan_folder import choose_gan, load_trained_gan

    model, spec = load_trained_gan(choose_gan(_run_folder(args.run_dir), args.gan), build_from_spec)
    images, labels = generated_images(model, num_classes=spec["num_classes"], per_class=args.per_class,
                                      count=args.count, seed=args.seed)
    out = write_generated(images, labels, spec["class_names"], args.out)
    print(f"wrote {len(images)} images of {spec['gan']['model']} to {out}/ (PNG folders and generated.npz)")
    return 0


def _evaluate_gan(args):
    import json

    from tfganaug.config import load_config
    from tfganaug.evaluation.gan_evaluation import evaluate_gans, evaluate_generators
    from tfganaug.experiment import RunData, build_from_spec, classifier_recipe, make_splits
    from tfganaug.files import folder_lock, write_text
    from tfganaug.layout import CONFIG_FILE, FEATURES_DIR, METRICS_FILE
    from tfganaug.serving.export import ExportedGenerator
    from tfganaug.sharing.tasks import planned_locks
    from tfganaug.training.gan_folder import choose_gan, trained_gans

    target = _run_folder(args.target)
    options = {"inception_weights": args.inception_weights, "per_class": args.per_class}
    if (target / "saved_model.pb").exists():  # an exported generator
        if not args.data:
            raise UserError(f"{target} is an exported generator: give the experiment YAML of its data with --data")
        config = load_config(args.data, args.set)
        generator = ExportedGenerator(target)
        splits = make_splits(config.data)
        if tuple(generator.info["image_shape"]) != splits.train.image_shape:
            raise UserError(f"{target} makes {tuple(generator.info['image_shape'])} images but the data of {args.data} "
                            f"is {splits.train.image_shape}; give the experiment YAML of the data it was trained on")
        out = Path(args.out or f"{target.parent.name}-v{target.name}.{METRICS_FILE}")
        results = evaluate_generators([(f"{target.parent.name}/{target.name}", generator, generator.info)],
                                      splits=splits, recipe=classifier_recipe(config),
                                      cache_dir=out.parent / FEATURES_DIR, **options)
        write_text(out, json.dumps(results, indent=1))
        print(f"GAN metrics written to {out}")
        return 0
    chosen = choose_gan(target, args.gan) if args.gan else None
    if chosen is None and not trained_gans(target):
        choose_gan(target)  # raises the clear "no trained GAN here" error
    config_path = Path(args.data) if args.data else target / CONFIG_FILE
    if not config_path.exists():
        raise UserError(f"{config_path} not found; give the run's experiment YAML with --data")
    config = load_config(config_path, args.set)
    with planned_locks(target), folder_lock(target):  # it writes gan_metrics.json and features/ into the run
        evaluate_gans(target, data_for=RunData(config).for_seed, build=build_from_spec,
                      only=chosen.name if chosen else None, **options)
    print(f"GAN metrics written to {target / METRICS_FILE}")
    return 0


def _export(args):
    from tfganaug.experiment import build_from_spec
    from tfganaug.serving.export import export_generator, export_name
    from tfganaug.training.gan_folder import choose_gan, load_trained_gan

    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", args.name):
        raise UserError(f"--name {args.name!r}: use letters, digits, '_', '.' or '-', starting with a letter or "
                        "digit (it becomes a folder and TF Serving's model name)")
    run_dir = _run_folder(args.run_dir)
    folder = choose_gan(run_dir, args.gan, kind="all")
    model, spec = load_trained_gan(folder, build_from_spec)
    name = args.name or export_name(run_dir.name, spec)
    path = export_generator(model, spec, args.out, name)
    print(f"exported {folder.name} to {path}/ (a SavedModel; signatures in its assets.extra/generator.json)")
    return 0


def _inspect_features(args):
    import numpy as np

    from tfganaug.config import load_config
    from tfganaug.data.pixels import to_signed
    from tfganaug.experiment import build_from_spec, make_splits
    from tfganaug.layout import CONFIG_FILE
    from tfganaug.reporting.feature_maps import write_feature_maps
    from tfganaug.training.gan_folder import choose_gan, load_trained_gan, model_kind

    run_dir = _run_folder(args.run_dir)
    model, spec = load_trained_gan(choose_gan(run_dir, args.gan, kind="all"), build_from_spec)
    if model_kind(spec) == "cyclegan":
        train = make_splits(load_config(run_dir / CONFIG_FILE).data.for_seed(spec["seed"])).train
        images = train.images[np.isin(train.labels, spec["domain_a"])][: args.images]
        generator, inputs = model.generator_ab, to_signed(images)
    else:
        noise = np.random.default_rng(0).standard_normal((args.images, model.latent_dim)).astype(np.float32)
        labels = np.arange(args.images) % spec["num_classes"]
        generator, inputs = model.sampling_generator, model.generator_inputs(noise, labels)
    try:
        paths = write_feature_maps(generator, inputs, Path(args.out), args.layers.split(","))
    except ValueError as exc:
        raise UserError(f"--layers: {exc}") from None
    print(f"wrote {len(paths)} feature-map grids to {args.out}/")
    return 0


def _report(args):
    from tfganaug.files import folder_lock
    from tfganaug.reporting.report import write_report
    from tfganaug.sharing.tasks import Plan

    run_dir = _run_folder(args.run_dir)
    if Plan.load(run_dir) is not None:  # a planned run: gather its tasks
        from tfganaug.experiment.work import report

        report(run_dir, partial=args.partial)
        return 0
    with folder_lock(run_dir):  # a run still writing its results would be reported half-way
        md, page = write_report(run_dir)
    print(f"wrote {md} and {page}")
    return 0


def _datasets(args):
    from tfganaug.data.catalog import describe_sources

    print(describe_sources())
    return 0


def build_parser():
    """The argparse parser of the `tfganaug` command."""
    parser = argparse.ArgumentParser(prog="tfganaug", description="Does adding GAN-made images help my classifier?")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="run an experiment described by a YAML file")
    train.add_argument("config", help="experiment YAML, e.g. experiments/quickstart.yaml")
    train.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                       help="override a config value (YAML syntax), e.g. --set classifier.epochs=2; repeatable")
    train.add_argument("--dry-run", action="store_true",
                       help="validate, print the plan and the time it will take here (a few timed steps), train nothing")
    train.add_argument("--no-estimate", action="store_true", help="with --dry-run: skip the time estimate")
    train.add_argument("--out", help="run folder (default: <output.root>/<name>)")
    train.add_argument("--overwrite", action="store_true",
                       help="run into a folder holding finished runs of another config (unchanged runs are kept)")
    add_train_options(train)
    train.set_defaults(func=_train)

    add_task_commands(commands)

    generate = commands.add_parser("generate", help="write images of a run's trained GAN as PNG folders + .npz")
    generate.add_argument("run_dir", help="the run folder of `tfganaug train`")
    generate.add_argument("--per-class", type=positive, help="images of each class (conditional GANs)")
    generate.add_argument("--count", type=positive, help="images in all (unconditional GANs)")
    generate.add_argument("--out", required=True, help="new folder to write (must not exist)")
    generate.add_argument("--gan", help="which GAN when the run trained several: its folder name under gans/ or model")
    generate.add_argument("--seed", type=non_negative, default=0, help="noise seed (same seed, same images)")
    generate.set_defaults(func=_generate)

    evaluate = commands.add_parser("evaluate-gan", help="FID, KID, precision/recall, GAN-train/test of a run's GANs")
    evaluate.add_argument("target", metavar="RUN_DIR|EXPORTED_MODEL",
                          help="a run folder of `tfganaug train`, or an exported version folder (exported_models/<name>/<v>)")
    evaluate.add_argument("--data", help="experiment YAML giving data and classifier (default for a run: its config)")
    evaluate.add_argument("--out", help="metrics file for an exported model (default: <name>-v<version>.gan_metrics.json)")
    evaluate.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a config value")
    evaluate.add_argument("--gan", help="only this GAN (folder name under gans/ or model); default: all")
    evaluate.add_argument("--inception-weights", help="local InceptionV3 no-top weights file for the features")
    evaluate.add_argument("--per-class", type=positive, help="generated images per class (default: test count)")
    evaluate.set_defaults(func=_evaluate_gan)

    export = commands.add_parser("export", help="write a run's trained generator as a versioned SavedModel")
    export.add_argument("run_dir", help="the run folder of `tfganaug train`")
    export.add_argument("--gan", help="which GAN when the run trained several: its folder name under gans/ or model")
    export.add_argument("--name", help="model name (default: <run folder name>-<model>)")
    export.add_argument("--out", default="exported_models", help="models folder (default: exported_models)")
    export.set_defaults(func=_export)

    inspect = commands.add_parser("inspect-features", help="PNG grids of a trained generator's feature maps")
    inspect.add_argument("run_dir", help="the run folder of `tfganaug train`")
    inspect.add_argument("--gan", help="which model when the run trained several: its folder name under gans/")
    inspect.add_argument("--layers", default="middle,last", help="middle, last and/or conv layer names (comma-separated)")
    inspect.add_argument("--images", type=positive, default=4, help="input images (rows of each grid)")
    inspect.add_argument("--out", required=True, help="folder for the PNGs")
    inspect.set_defaults(func=_inspect_features)

    report = commands.add_parser("report", help="write report.md and a self-contained report.html of a run; of a "
                                                "planned run, gather its tasks first (results, GAN metrics, plots)")
    report.add_argument("run_dir", help="the run (or sweep) folder of `tfganaug train` or `tfganaug plan`")
    report.add_argument("--partial", action="store_true", help="a planned run: gather the finished tasks only")
    report.set_defaults(func=_report)

    datasets = commands.add_parser("datasets", help="list data sources and whether they are available offline here")
    datasets.set_defaults(func=_datasets)

    verbosity = dict(action="store_true", help="show TensorFlow's start-up lines and Keras's line per epoch")
    parser.add_argument("-v", "--verbose", **verbosity)
    for command in commands.choices.values():  # also after the command; SUPPRESS keeps a -v given before it
        command.add_argument("-v", "--verbose", default=argparse.SUPPRESS, **verbosity)
    return parser


def _stop(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    """Entry point of the `tfganaug` console script. SIGTERM stops a command as Ctrl-C does."""
    args = build_parser().parse_args(argv)
    # TensorFlow's C++ logging, read when it is imported: errors only with -v (warnings are many and
    # harmless), else none; its start-up lines ignore the setting (see `tfganaug.console`).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if args.verbose else "3")
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if in_main_thread else None
    try:
        # Inside the try: importing TensorFlow takes seconds, and Ctrl-C then must end as any other does.
        if not args.verbose and getattr(args, "needs_tensorflow", True):  # `status` reads files only
            quiet_tensorflow()
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system refused: no permission, read-only, full disk
        if exc.filename is None:
            raise
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            print(f"error: cannot write {exc.filename}: {exc.strerror}; choose a folder you can write "
                  "(--out, output.root) or free some space, then run the same command again", file=sys.stderr)
        elif exc.errno in (errno.EEXIST, errno.ENOTDIR):
            print(f"error: {exc.filename}: a file stands where a folder is needed; choose a folder for --out "
                  "(or output.root)", file=sys.stderr)
        else:
            print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished runs are kept in the run folder and skipped on rerun, and a GAN resumes "
              "from its last finished epoch", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
