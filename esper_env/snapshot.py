"""EnvSnapshot: the complete state of an episode between two steps, and its file format."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import torch

from .fileio import atomic_path


@dataclass(frozen=True)
class EnvSnapshot:
    """The complete state of an episode between two steps: tensors and plain data only.

    Picklable, and :func:`save_snapshot` writes it as a file that :func:`load_snapshot` reads back with
    ``torch.load(weights_only=True)``, which runs no code from the file.
    """

    version: str
    """Package version that wrote it."""
    config: dict
    """The env's :class:`EsperConfig` as a dict; restore refuses a snapshot of another config."""
    split_seed: int
    model: dict
    """:meth:`MorphogeneticModel.export_state`."""
    loader_rng: torch.Tensor
    np_random: dict
    episode: dict
    """:meth:`esper_env.episode.EpisodeState.to_dict`: epoch, counters, histories, the last report, events, FLOPs."""
    obs_version: int = 3
    """The observation layout of the report it holds (files written before it was recorded are version 3)."""

    def check_restorable(self, config: dict, obs_version: int) -> None:
        """Refuse to continue this episode in an env of another config (a dict) or observation layout."""
        from .config import EsperConfig

        if self.obs_version != obs_version:
            raise ValueError(f"the snapshot holds observation layout {self.obs_version} and this env reads "
                             f"{obs_version}; it was taken by an older Esper: take it again with this one")
        diff = EsperConfig.from_dict(self.config).differences(EsperConfig.from_dict(config))
        if diff:
            raise ValueError("the snapshot was taken with another config (snapshot vs this env): " + "; ".join(diff))


def save_snapshot(path: str | os.PathLike, snapshot: EnvSnapshot, **extra: Any) -> None:
    """Write ``snapshot`` (plus plain ``extra`` data) to ``path`` atomically."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({"snapshot": asdict(snapshot), "extra": extra}, tmp)


def load_snapshot(path: str | os.PathLike) -> tuple[EnvSnapshot, dict]:
    """(snapshot, extra) from :func:`save_snapshot`'s file; tensors and plain data only, no code runs."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return EnvSnapshot(**data["snapshot"]), data.get("extra", {})
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure to parse means "not a snapshot file"
        raise ValueError(f"{path} is not an Esper snapshot file ({type(e).__name__}: {e})") from None
