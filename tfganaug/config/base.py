"""The base of every config section and the small types the sections share."""

from typing import Annotated, ClassVar, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _file_name(value):
    """A name that becomes part of a file or folder name inside the run folder, never a path."""
    if not value or value.startswith(".") or any(c in value for c in "/\\\0"):
        raise ValueError("must not be empty, start with '.' or hold '/', '\\' or NUL: it names files and "
                         "folders inside the run folder")
    return value


FileName = Annotated[str, AfterValidator(_file_name)]  # experiment, group and CycleGAN names
ClassKey = Union[int, str]  # a class by name ("shirt", "011") or by index
PositiveInt = Annotated[int, Field(gt=0)]
Count = Union[Annotated[int, Field(ge=0)], Literal["same"]]


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Keys added after run folders existed: left out of the settings hashes (run keys, GAN folder
    # names) while at their default, so that a config that does not use them finds its finished
    # runs and trained GANs where they were.
    late_keys: ClassVar[frozenset] = frozenset()

    def key_dump(self):
        """`model_dump(mode="json")` for hashing: `late_keys` at their default left out, at every level."""
        dump = self.model_dump(mode="json")
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if name in self.late_keys and value == field.get_default(call_default_factory=True):
                del dump[name]
            elif isinstance(value, Strict):
                dump[name] = value.key_dump()
        return dump
