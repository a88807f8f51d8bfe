"""Typed settings of a training run and of a reconstruction, shared by every front-end.

Each setting is defined once here, with its type, default, bounds, choices and a one-line help:
the command line builds its options from them (``commands/_settings_args.py``), the widgets their
spin boxes and menus (``widgets/_settings_controls.py``), and both validate what the user gave
through :meth:`Settings.parse`, which turns pydantic's report into one :class:`InputError` line
naming the setting. Settings round-trip through JSON (:meth:`Settings.to_json` /
:meth:`Settings.parse`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .choices import DEVICE_CHOICES, PIXEL_LOSSES, PRESET_NAMES
from .errors import InputError
from .inference.tiling import validate_tiling

Preset = Literal[PRESET_NAMES]  # type: ignore[valid-type]
Device = Literal[DEVICE_CHOICES]  # type: ignore[valid-type]
PixelLoss = Literal[PIXEL_LOSSES]  # type: ignore[valid-type]


@dataclass(frozen=True)
class SettingInfo:
    """What a front-end needs to offer one setting."""

    name: str
    kind: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    optional: bool = False  # None is allowed (a default chosen elsewhere)


class Settings(BaseModel):
    """Base of the typed settings: unknown names and wrong types are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def parse(cls, data: Mapping[str, Any] | str | None = None, **values: Any):
        """Settings from a mapping, a JSON text and/or keywords; one :class:`InputError` line
        naming the first setting that cannot be used."""
        merged: dict[str, Any] = {}
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise InputError(f"settings are not valid JSON: {exc}") from exc
        if data is not None:
            if not isinstance(data, Mapping):
                raise InputError(f"settings must be a mapping of names to values, got "
                                 f"{type(data).__name__}")
            merged.update(data)
        merged.update(values)
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise InputError(_first_problem(cls, exc)) from None

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def info(cls, name: str) -> SettingInfo:
        """Type, default, bounds, choices and help of the setting ``name``."""
        field = cls.model_fields[name]
        kind, optional, choices = field.annotation, False, None
        if get_origin(kind) in (Union, UnionType):
            present = [k for k in get_args(kind) if k is not type(None)]
            optional, kind = len(present) < len(get_args(kind)), present[0]
        if get_origin(kind) is Literal:
            choices = get_args(kind)
            kind = type(choices[0])
        minimum = maximum = None
        for rule in field.metadata:  # annotated_types.Ge / Gt / Le
            for bound in ("ge", "gt"):
                if getattr(rule, bound, None) is not None:
                    minimum = getattr(rule, bound)
            if getattr(rule, "le", None) is not None:
                maximum = rule.le
        return SettingInfo(name, kind, field.default, field.description or name, minimum,
                           maximum, choices, optional)


def _first_problem(cls: type[Settings], exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error.get("loc", ()))
    message = error.get("msg", "invalid").removeprefix("Value error, ")
    if not where:  # a rule across settings (model validator)
        return message
    if error.get("type") == "extra_forbidden":
        return f"unknown setting {where!r}; known: {', '.join(cls.model_fields)}"
    return f"setting {where} = {error.get('input')!r}: {message}"


class ReconstructionSettings(Settings):
    """How the network is run over a stack (``core.inference.reconstruction.reconstruct``)."""

    tile: int = Field(256, ge=8, le=4096,
                      description="network tile size in pixels; larger planes are tiled")
    overlap: int = Field(32, ge=0, le=2047,
                         description="tile overlap in pixels, blended smoothly")
    batch: int = Field(8, ge=1, le=1024, description="tiles per network batch")
    device: Device = Field("auto", description="compute device (auto: CUDA, else MPS, else "
                                               "the CPU)")
    fusion: Literal["mean", "xz", "yz"] = Field(
        "mean", description="mean of the xz and yz passes, or one pass only (twice as fast)")
    confidence: bool = Field(False, description="also keep |xz - yz|, the passes' "
                                                "disagreement")
    threads: int | None = Field(None, ge=1, le=1024,
                                description="CPU threads for the network (default: PyTorch's)")

    @model_validator(mode="after")
    def _tiles_fit(self) -> ReconstructionSettings:
        validate_tiling(self.tile, self.overlap)
        return self

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments of ``reconstruct`` (threads are set around the call instead)."""
        return self.model_dump(exclude={"threads"})


class TrainingSettings(Settings):
    """The user-facing settings of a training run; :meth:`train_config` makes the engine's
    ``TrainConfig`` (which adds the internal ones)."""

    preset: Preset = Field("tiny", description="network size: tiny (fast, CPU), small, base "
                                               "(GPU)")
    steps: int = Field(2000, ge=1, le=10_000_000, description="total optimisation steps (a "
                                                              "resumed run continues to this)")
    batch_size: int = Field(8, ge=1, le=4096, description="training pairs per step")
    patch_size: int | None = Field(
        None, ge=16, le=4096,
        description="size of the square xy patches the pairs are cut from (default 64, 128 "
                    "for base)")
    lr: float | None = Field(None, gt=0, le=1.0,
                             description="peak learning rate after warm-up (default by preset)")
    pixel_loss: PixelLoss = Field(
        "rmse", description="pixel term of the loss, added to 0.01 x PDL: rmse (learns where "
                            "the sections fall) or the paper's l1")
    device: Device = Field("auto", description="compute device (auto: CUDA, else MPS, else "
                                               "the CPU)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="random seed")
    threads: int | None = Field(None, ge=1, le=1024,
                                description="torch CPU threads (default: PyTorch's; fewer keep "
                                            "a busy machine responsive)")
    num_workers: int | None = Field(None, ge=0, le=64,
                                    description="data-loader processes (default: 0 on a CPU, "
                                                "up to 4 with a GPU)")
    checkpoint_every: int | None = Field(None, ge=1, le=10_000_000,
                                         description="steps between checkpoints (default: "
                                                     "about 10 per run)")
    validation_every: int | None = Field(None, ge=1, le=10_000_000,
                                         description="steps between validations (default: "
                                                     "about 25 per run)")

    def train_config(self, **engine: Any):
        """The engine's ``TrainConfig`` for these settings plus internal ``engine`` ones."""
        from .training.config import TrainConfig, recommended_patch_size

        values = self.model_dump()
        values["patch_size"] = values["patch_size"] or recommended_patch_size(self.preset)
        return TrainConfig(**values, **engine)
