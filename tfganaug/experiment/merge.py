"""Gather runs made apart: run folders of one experiment, each holding some of its seeds (or of its sweep's
points), made on machines or in sittings that share no disk, merged into the folder one run of all of them
writes (`tfganaug merge RUN_A RUN_B ... --out RUN`).

A piece needs only its small files (no weights): `config.resolved.yaml`, `results.json` (it was gathered),
`runs/<group>__seed<k>.json` (each run's record, with the per-image test predictions the paired intervals
resample) and, with GAN groups, `gan_metrics.json`; a sweep's the same in each `<key>=<value>/` folder.
The merged folder is then gathered by the runner's own code (`runner.gather`, `gather_sweep`): results,
statistics, verdict, plots and report as one run of every seed. GAN metrics are merged, not measured
again (each GAN was measured by its own piece, on its seed's split, as one run would), and each GAN's last
sample grid is copied for the report when the piece has it; weights and exports stay in the pieces
(merging exports nothing: it has no weights).
"""

import json
import shutil
from pathlib import Path

import yaml

from tfganaug.config import to_yaml, validate
from tfganaug.config.loading import apply_override
from tfganaug.errors import UserError
from tfganaug.experiment.builders import RunData
from tfganaug.experiment.models import RunModels
from tfganaug.experiment.runner import gather, gather_sweep, run_key, run_path
from tfganaug.files import path_component, write_text
from tfganaug.layout import CONFIG_FILE, METRICS_FILE, MODELS_DIR, RESULTS_FILE, RUNS_DIR

# Sections a piece may have set otherwise: they change no result (as `runner.refuse_other_config` holds).
# `statistics` and `output.metric` say only how the results are read (and a piece made before a default
# changed holds the old one), so they may differ too: the merged run reads them from the first folder,
# or from `merge --set` (READING_KEYS, nothing else: what was trained is the pieces').
FREE = ("seeds", "runtime", "description", "statistics")
FREE_OUTPUT = ("root", "export_root", "export_gans", "metric")
READING_KEYS = ("output.metric", "statistics.")


def _read_config(run):
    path = run / CONFIG_FILE
    if not run.is_dir():
        raise UserError(f"{run} is not a folder; give run folders of `tfganaug train` (or `tfganaug report`)")
    if not path.exists():
        raise UserError(f"{path} not found: {run} is not a run folder; give folders of finished `tfganaug train` runs")
    try:
        return validate(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is unreadable ({str(exc).splitlines()[0]}); copy it again from where the run "
                        "was made") from None


def _comparable(config):
    """The config's key dump without what pieces of one experiment may differ in: seeds, runtime, where
    outputs go, and the sweep's values (its key stays)."""
    dump = config.key_dump()
    for section in FREE:
        dump.pop(section, None)
    dump["output"] = {k: v for k, v in dump["output"].items() if k not in FREE_OUTPUT}
    dump["sweep"] = config.sweep.key if config.sweep else None
    return dump


def _differences(mine, first, path=""):
    """[(key path, mine, first's)] where two dumps differ; lists of one length compared entry by entry."""
    if isinstance(mine, dict) and isinstance(first, dict):
        return [d for key in dict.fromkeys([*first, *mine])
                for d in _differences(mine.get(key), first.get(key), f"{path}.{key}" if path else str(key))]
    if isinstance(mine, list) and isinstance(first, list) and len(mine) == len(first):
        return [d for i, (a, b) in enumerate(zip(mine, first)) for d in _differences(a, b, f"{path}.{i}")]
    return [] if mine == first else [(path, mine, first)]


def _shown(value):
    return json.dumps(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else str(value)


def _said(key, mine, theirs, first_run):
    """'data.samples_per_class is 50, RUN_A has 200'; lists of other lengths (groups) by their entries."""
    if isinstance(mine, list) and isinstance(theirs, list):
        entries = lambda items: ", ".join(i.get("name") or i.get("type", "?") if isinstance(i, dict) else _shown(i)  # noqa: E731
                                          for i in items)
        return f"{key} has {len(mine)} entries ({entries(mine)}), {first_run} has {len(theirs)} ({entries(theirs)})"
    return f"{key} is {_shown(mine)}, {first_run} has {_shown(theirs)}"


def _check_same_experiment(runs, configs):
    """A `UserError` naming the first differing keys of a piece whose config is not the first's."""
    first = _comparable(configs[0])
    for run, config in zip(runs[1:], configs[1:]):
        changed = _differences(_comparable(config), first)
        if changed:
            said = "; ".join(_said(key, mine, theirs, runs[0]) for key, mine, theirs in changed[:4])
            more = f"; and {len(changed) - 4} more" if len(changed) > 4 else ""
            raise UserError(f"{run / CONFIG_FILE}: {said}{more}: these are not runs of one experiment; merge only "
                            "folders made from the same config apart from `seeds` (and the sweep's values)")


def _points(run, config):
    """[(sweep value or None, the folder of that point, its config)] of one piece."""
    if not config.sweep:
        return [(None, run, config)]
    return [(value, run / path_component(f"{config.sweep.key}={value}"), config.sweep_point(value))
            for value in config.sweep.values]


def _where(config, value):
    return f" of {config.sweep.key}={value}" if config.sweep else ""


def _cells(runs, configs):
    """{(sweep value, seed): the piece that ran it}; a `UserError` when two pieces ran one."""
    owner = {}
    for run, config in zip(runs, configs):
        for value, _, point in _points(run, config):
            for seed in point.seeds:
                if (value, seed) in owner:
                    raise UserError(f"seed {seed}{_where(config, value)} is in both {owner[value, seed]} and {run}: "
                                    "each seed (and sweep point) must come from one folder; leave one of them out, "
                                    f"or rerun one with other seeds (--set seeds=[...])")
                owner[value, seed] = run
    return owner


def _read_record(path, run):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is unreadable ({str(exc).splitlines()[0]}); copy it again from where {run} "
                        "was made") from None


def _finished_records(run, folder, point):
    """{path: record} of every (group, seed) of one piece's point; a `UserError` when one is missing or of
    another config, or the point was never gathered (no results.json: its GANs were not measured)."""
    again = (f"finish it first (run its `tfganaug train` command again with --out {run}, or `tfganaug worker` "
             f"then `tfganaug report {run}`), or copy its small files again")
    if not (folder / RESULTS_FILE).exists():
        raise UserError(f"{run} is not finished: {folder / RESULTS_FILE} not found; {again}")
    records = {}
    for group in point.groups:
        for seed in point.seeds:
            path = run_path(folder, group, seed)
            record = _read_record(path, run) if path.exists() else None
            if record is None or record.get("key") != run_key(point, group, seed):
                what = "not found" if record is None else "of another config (its run key differs)"
                raise UserError(f"{run} is not finished: {path} is {what}; {again}")
            records[path] = record
    return records


def _check_precision(records):
    """A `UserError` when runs of the pieces were trained in different precisions (results.json's runs
    record it: `runtime.mixed_precision: auto` depends on the machine); older records without it pass."""
    seen = {}
    for path, record in records.items():
        if record.get("precision"):
            seen.setdefault(record["precision"], path)
    if len(seen) > 1:
        (one, a), (other, b) = list(seen.items())[:2]
        raise UserError(f"{b} was trained in {other}, {a} in {one}: the same seed gives other numbers in another "
                        "precision; merge runs of one precision (set runtime.mixed_precision to it and rerun the "
                        "others)")


def _ordered(values):
    """Sweep values in order: numbers ascending (samples_per_class must increase), others as first seen."""
    values = list(dict.fromkeys(values))
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return sorted(values) if numbers else values


def merged_config(runs, configs, overrides=()):
    """The config of one run of every piece's seeds (in the order given) and sweep points, read as
    `overrides` (`key=value` of READING_KEYS) say; a `UserError` when the pieces are not of one experiment,
    overlap, or leave a (point, seed) of the whole uncovered, or an override would change what was trained."""
    _check_same_experiment(runs, configs)
    owner = _cells(runs, configs)
    seeds = list(dict.fromkeys(seed for _, seed in owner))
    values = _ordered(value for value, _ in owner)
    for value in values:
        missing = [seed for seed in seeds if (value, seed) not in owner]
        if missing:
            raise UserError(f"no folder has seed {missing[0]}{_where(configs[0], value)}, which one run of seeds "
                            f"{seeds} would have: merge a folder that ran it too")
    raw = configs[0].resolved_dump()
    for assignment in overrides:
        if not assignment.split("=", 1)[0].strip().startswith(READING_KEYS):
            raise UserError(f"merge --set {assignment}: merge may change only how the results are read "
                            "(output.metric, statistics.*); to change what is trained, rerun the pieces")
        apply_override(raw, assignment)
    raw["seeds"] = seeds
    if configs[0].sweep:
        raw["sweep"] = {configs[0].sweep.key: values}
    return validate(raw, f"the config merged from {runs[0] / CONFIG_FILE}")


def _gan_metrics(folders):
    """The GAN metrics of every piece's point folder, by GAN folder name (sorted, as `evaluate_gans` orders
    a run's GANs); each GAN is of one seed, hence of one piece."""
    merged = {}
    for run, folder in folders:
        path = folder / METRICS_FILE
        if path.exists():
            merged.update(_read_record(path, run))
    return {name: merged[name] for name in sorted(merged)}


def merge_runs(runs, out, log=print, overrides=()):
    """Merge the finished run folders `runs` of one experiment (each some of its seeds, or sweep points)
    into the new folder `out`: the config, results, statistics, verdict, plots and report one run of
    all of them writes, and their run records and GAN metrics. Everything is checked before `out` is made:
    a `UserError` (naming the folder, key and values) leaves nothing behind. Returns the summary rows
    (a sweep: [(value, rows)])."""
    runs, out = [Path(r) for r in runs], Path(out)
    if len(runs) < 2:
        raise UserError("give at least two run folders to merge")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} exists; give a new folder (merging writes a whole run folder)")
    if any(out.resolve() == r.resolve() for r in runs):
        raise UserError(f"--out {out} is one of the folders to merge; give a new folder")
    configs = [_read_config(run) for run in runs]
    config = merged_config(runs, configs, overrides)
    sources = {}  # {sweep value: [(piece, its point folder, its records)]}
    records = {}
    for run, piece in zip(runs, configs):
        for value, folder, point in _points(run, piece):
            found = _finished_records(run, folder, point)
            sources.setdefault(value, []).append((run, folder, found))
            records.update(found)
    _check_precision(records)
    points = _points(out, config)
    data = {value: RunData(point) for value, _, point in points}
    for value in data:
        data[value].splits()  # the data is found (or refused) before anything is written
    out.mkdir(parents=True, exist_ok=True)
    try:
        write_text(out / CONFIG_FILE, to_yaml(config))
        gathered = [(value, _gather_point(point, folder, sources[value], data[value], log))
                    for value, folder, point in points]
        if config.sweep:
            return gather_sweep(config, out, gathered, log)
        return gathered[0][1]
    except BaseException:  # an unforeseen failure (or Ctrl-C) leaves no half-merged folder behind
        shutil.rmtree(out, ignore_errors=True)
        raise


def _gather_point(point, folder, sources, data, log):
    """Copy the pieces' records and GAN metrics of one point into `folder` and gather it there."""
    write_text(folder / CONFIG_FILE, to_yaml(point))  # a sweep point's own (a plain run's: the merged one)
    for _, _, found in sources:
        for path in found:
            write_text(folder / RUNS_DIR / path.name, path.read_text(encoding="utf-8"))
    for _, piece_folder, _ in sources:  # the last sample grid of each GAN, for the report, when the piece has it
        for samples in sorted((piece_folder / MODELS_DIR).glob("*/samples")):
            grids = sorted(samples.glob("epoch_*.png"))
            if grids:
                target = folder / MODELS_DIR / samples.parent.name / "samples" / grids[-1].name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(grids[-1], target)
    metrics = _gan_metrics([(run, piece_folder) for run, piece_folder, _ in sources])
    if metrics:
        write_text(folder / METRICS_FILE, json.dumps(metrics, indent=1))
    records = [json.loads(run_path(folder, g, s).read_text(encoding="utf-8")) for g in point.groups for s in point.seeds]
    return gather(point, folder, data, records, RunModels(point, folder, data, log), log)
