"""The experiment YAML: its schema (pydantic models) and how it is read (`load_config`)."""

from tfganaug.config.groups import (
                                    GROUP_TYPES,
                                    AugmentConfig,
                                    CycleGANConfig,
                                    GANGroup,
                                    GANTraining,
                                    Synthesis,
                                    Translation,
                                    TranslationGroup,
)
from tfganaug.config.loading import apply_override, load_config, read_yaml, to_yaml, validate
from tfganaug.config.schema import (
                                    SOURCES,
                                    ClassifierConfig,
                                    DataConfig,
                                    ExperimentConfig,
                                    OutputConfig,
                                    RuntimeConfig,
                                    SweepConfig,
)

__all__ = ["GROUP_TYPES", "SOURCES", "AugmentConfig", "ClassifierConfig", "CycleGANConfig", "DataConfig",
           "ExperimentConfig", "GANGroup", "GANTraining", "OutputConfig", "RuntimeConfig", "Synthesis", "SweepConfig",
           "Translation", "TranslationGroup", "apply_override", "load_config", "read_yaml", "to_yaml", "validate"]
