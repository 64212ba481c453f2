"""The configuration reference (docs/configuration.md), written from the pydantic schema so it cannot drift.

    python -m tfganaug.config.reference > docs/configuration.md

One table per section of the experiment YAML: every key, its type or allowed values with their bounds,
its default and its description. `tests/test_docs.py` checks that the committed page equals this output.
"""

import ast
import inspect
import textwrap
import typing
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel

from tfganaug.config.groups import GROUP_TYPES, Group
from tfganaug.config.schema import ExperimentConfig

_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("min_length", "length >="),
           ("max_length", "length <="), ("pattern", "matches"))
_NAMES = {int: "int", float: "float", str: "text", bool: "true / false", Path: "path", type(None): "null"}


def _bounds(metadata):
    """Constraints such as Gt(gt=0) as '> 0', from a field's or an Annotated type's metadata."""
    found = []
    for item in metadata:
        for attribute, sign in _BOUNDS:
            value = getattr(item, attribute, None)
            if value is not None:
                found.append(f"{sign} `{value}`" if attribute == "pattern" else f"{sign} {value}")
        found += _bounds(getattr(item, "metadata", []))  # a FieldInfo inside Annotated
    return found


def _type(annotation, sections):
    """A readable type: 'int (> 0)', '`a` | `b`', 'list of ...'; nested models are named and queued in `sections`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        bounds = _bounds(args[1:])
        return _type(args[0], sections) + (f" ({', '.join(bounds)})" if bounds else "")
    if origin is Literal:
        return " | ".join(f"`{'null' if a is None else a}`" for a in args)
    if origin is Union and all(isinstance(a, type) and issubclass(a, BaseModel) for a in args):  # the groups
        sections.extend(args)
        return "mapping by `type`: " + ", ".join(
            f"[{typing.get_args(a.model_fields['type'].annotation)[0]}](#{a.__name__.lower()})" for a in args)
    if origin is Union:
        return " or ".join(_type(a, sections) for a in args)
    if origin is list:
        return f"list of {_type(args[0], sections)}"
    if origin is tuple:
        return "[" + ", ".join(_type(a, sections) for a in args) + "]"
    if origin is dict:
        return f"{{{_type(args[0], sections)}: {_type(args[1], sections)}}}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        sections.append(annotation)
        return f"mapping ([{annotation.__name__}](#{annotation.__name__.lower()}))"
    if annotation is Path or getattr(annotation, "__name__", "") == "FilePath":
        return "path" if annotation is Path else "path of an existing file"
    return _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field):
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(its defaults)"
    text = {None: "null", True: "true", False: "false"}.get(value, value) if isinstance(value, (bool, type(None))) \
        else value
    if value == "":
        text = '""'
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(map(str, value)) + "]"
    elif isinstance(value, dict):
        text = "{}" if not value else str(value)
    return f"`{text}`"


def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def rules(model):
    """The messages of the checks a model's validators make, read from their source: the rules between keys."""
    found = []
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(model)))):
        if isinstance(node, ast.FunctionDef) and any("validator" in ast.unparse(d) for d in node.decorator_list):
            for raised in ast.walk(node):
                if isinstance(raised, ast.Raise) and isinstance(raised.exc, ast.Call) and raised.exc.args:
                    message = raised.exc.args[0]
                    if isinstance(message, ast.JoinedStr):
                        text = "".join(v.value if isinstance(v, ast.Constant)
                                       else "<" + ast.unparse(v.value).replace("self.", "") + ">"
                                       for v in message.values)
                    else:
                        text = ast.literal_eval(message) if isinstance(message, ast.Constant) else ast.unparse(message)
                    found.append(text)
    return found


def section(model, sections, path):
    """The Markdown of one model: its heading, docstring and a table of its keys."""
    doc = inspect.getdoc(model) if model.__doc__ else ""
    lines = [f"## {model.__name__}", "", f"Where: `{path}`." + (f" {_cell(doc)}" if doc else ""), "",
             "| key | type or values | default | what |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        annotation = field.annotation
        bounds = _bounds(field.metadata)
        kind = _type(annotation, sections) + (f" ({', '.join(bounds)})" if bounds else "")
        lines.append(f"| `{field.alias or name}` | {_cell(kind)} | {_cell(_default(field))} | "
                     f"{_cell(field.description or '')} |")
    checks = rules(model)
    if checks:
        lines += ["", "Checked when the YAML is read (the error says):", ""]
        lines += [f"- {_cell(text)}" for text in checks]
    return "\n".join(lines) + "\n"


def _where():
    """The key path each nested model is found under (for the 'Where:' lines)."""
    return {"ExperimentConfig": "the top level", "DataConfig": "data", "ClassifierConfig": "classifier",
            "OutputConfig": "output", "StatisticsConfig": "statistics", "RuntimeConfig": "runtime",
            "SweepConfig": "sweep",
            "CycleGANConfig": "cyclegans[]", "GANTraining": "groups[].gan (type: gan)",
            "Synthesis": "groups[].synthesize (type: gan)", "FilterConfig": "groups[].filter (type: gan)",
            "EMAConfig": "groups[].gan.ema", "SelectConfig": "groups[].gan.select",
            "AugmentConfig": "groups[].augment (type: classical, gan, translation)",
            "RandAugmentConfig": "groups[].augment.rand_augment",
            "RandomErasingConfig": "groups[].augment.random_erasing", "Translation": "groups[].translations[]",
            "AugMixConfig": "groups[].augment.augmix", "MixUpConfig": "groups[].augment.mixup",
            "CutMixConfig": "groups[].augment.cutmix", "ClassWeightLoss": "groups[].loss",
            "LogitAdjustmentLoss": "groups[].loss", "BalancedSoftmaxLoss": "groups[].loss", "LDAMDRWLoss": "groups[].loss"}


def reference():
    """The whole configuration reference page as Markdown."""
    groups = typing.get_args(typing.get_args(Group)[0])
    where = _where()
    where.update({g.__name__: f"groups[] with type: {typing.get_args(g.model_fields['type'].annotation)[0]}"
                  for g in groups})
    queue, done, parts = [ExperimentConfig], set(), []
    while queue:
        model = queue.pop(0)
        if model.__name__ in done:
            continue
        done.add(model.__name__)
        found = []
        parts.append(section(model, found, where.get(model.__name__, "?")))
        queue.extend(found)
    head = ("# Configuration reference\n\n"
            "Every key of the experiment YAML, generated from the pydantic schema (`tfganaug/config/schema.py`,\n"
            "`tfganaug/config/groups.py`, `tfganaug/config/controls.py`) by `python -m tfganaug.config.reference > docs/configuration.md`;\n"
            "`tests/test_docs.py` fails when this page and the schema differ. Unknown keys are errors. Rules\n"
            "between keys (e.g. `data.path` is required for `source: folder`) are checked when the YAML is read,\n"
            "and their messages name the keys. A group in `groups:` may be written as its type alone\n"
            f"(`- baseline`); the group types are {', '.join(f'`{t}`' for t in GROUP_TYPES)}. Classes are named\n"
            "by name (case-insensitive) or index; quote names that look like numbers (`\"011\"`). What the keys\n"
            "do is explained in [experiments.md](experiments.md) and [gans.md](gans.md).\n\n")
    return head + "\n".join(parts)


if __name__ == "__main__":
    print(reference(), end="")
