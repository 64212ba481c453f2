"""Reading an experiment YAML: safe loading, `--set` overrides, validation, and error messages
that name the file, the key path and what is allowed (`ConfigError`)."""

import difflib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Union

import yaml
from pydantic import BaseModel, ValidationError

from tfganaug.config.schema import ExperimentConfig
from tfganaug.errors import ConfigError


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`, whose keys may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key '{key}' given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path):
    """Read a YAML mapping with the safe loader; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (UTF-8); give the experiment YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys (name, data, classifier, groups, ...)")
    return raw


def apply_override(raw, assignment):
    """Apply one `key.path=value` override (the CLI's `--set`; value parsed as YAML) to the raw mapping, in place."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key.path=value, e.g. classifier.epochs=2")
    key_path, text = assignment.split("=", 1)
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {assignment}: the value is not valid YAML ({getattr(exc, 'problem', exc)}); "
                          "quote strings, close brackets: e.g. --set seeds=[0,1]") from None
    return set_key(raw, key_path, value)


def set_key(raw, key_path, value, shown="--set {}"):
    """Set the dotted `key_path` of the raw mapping to `value`, in place: list indices for lists, a
    section left out of the file made as needed. `shown` names the override in errors (the API
    passes "overrides[{!r}]")."""
    parts = key_path.strip().split(".")
    node = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{shown.format(key_path)}: '{here}' needs a list index below {len(node)}")
            part = int(part)
            if isinstance(node[part], str) and not last:  # a `- baseline` shorthand entry
                node[part] = {"type": node[part]}
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and node.get(part) is None:
                node[part] = {}  # a section left out of the file, or written as `key:` with nothing
            if not isinstance(node[part], (dict, list)):
                raise ConfigError(f"{shown.format(key_path)}: '{here}' is a value ({node[part]!r}), not a mapping; "
                                  f"set it with {shown.format(here)}" + ("=..." if shown.startswith("--set") else ""))
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
    """Read, override and validate an experiment YAML file.

    Args:
        path: the experiment YAML.
        overrides: `key.path=value` strings (the CLI's `--set`; values parsed as YAML), or a mapping
            {"key.path": value} of Python values (the Python API's).
    """
    raw = read_yaml(path)
    if isinstance(overrides, Mapping):
        for key_path, value in overrides.items():
            set_key(raw, str(key_path), value, shown="overrides[{!r}]")
    else:
        for assignment in overrides:
            apply_override(raw, assignment)
    return validate(raw, source=str(path))


def to_yaml(config):
    """The resolved config (defaults filled in) as YAML text."""
    return yaml.safe_dump(config.resolved_dump(), sort_keys=False)
