"""`tfganaug` command line: parses argv and calls the runner. User errors print a message, not a traceback."""

import argparse
import os
import sys
from pathlib import Path

# Quieten TensorFlow's C++ start-up logging before it is imported anywhere.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfganaug.errors import ConfigError, UserError  # noqa: E402


def _train(args):
    from tfganaug.config import load_config
    from tfganaug.experiment import describe_plan, make_splits, run_experiment

    config = load_config(args.config, args.set)
    try:
        if args.dry_run:
            print(describe_plan(config, make_splits(config.data)))
            return 0
        run_dir = Path(args.out) if args.out else config.output.root / config.name
        run_experiment(config, run_dir)
    except ConfigError as exc:  # raised once the data is known (e.g. too few images): name the file too
        raise ConfigError(f"{args.config}: {exc}") from None
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
    train.add_argument("--dry-run", action="store_true", help="validate and print the plan without training")
    train.add_argument("--out", help="run folder (default: <output.root>/<name>)")
    train.set_defaults(func=_train)

    datasets = commands.add_parser("datasets", help="list data sources and whether they are available offline here")
    datasets.set_defaults(func=_datasets)
    return parser


def main(argv=None):
    """Entry point of the `tfganaug` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished runs are kept in the run folder and skipped on rerun", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
