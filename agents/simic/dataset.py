"""The demonstration file: one compressed ``.npz`` of plain arrays plus a JSON header (no pickles).

Arrays, one row per step (``N`` steps over ``E`` episodes):

* ``obs`` float32 [N, D] -- the observation the command was chosen from;
* ``mask`` bool [N, A] -- the action mask there;
* ``action`` int16 [N] -- the command that was executed;
* ``teacher`` int16 [N] -- the teacher's command at that state (equal to ``action`` except where an
  exploration step executed another legal command);
* ``reward`` float32 [N]; ``episode`` int32 [N] (row of the episode arrays); ``step`` int16 [N];
* ``episode_seed`` int64 [E], ``episode_return`` float32 [E], ``episode_test_accuracy`` float32 [E].

``meta`` is a JSON string: env id, env config, observation schema (version, fields, codec), teacher,
exploration settings, package version, machine and date. Loading uses ``allow_pickle=False``: a dataset is
data, never code.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from esper_env.fileio import atomic_path
from esper_env.leyline import ObservationSchema

from ..policy_file import check_schema

STEP_ARRAYS = ("obs", "mask", "action", "teacher", "reward", "episode", "step")
EPISODE_ARRAYS = ("episode_seed", "episode_return", "episode_test_accuracy")


class DatasetError(ValueError):
    """A demonstration file that cannot be read, or that does not fit the env it is used with."""


@dataclass
class Episode:
    """One collected episode (the unit a collection saves and resumes by)."""

    seed: int
    obs: np.ndarray
    mask: np.ndarray
    action: np.ndarray
    teacher: np.ndarray
    reward: np.ndarray
    test_accuracy: float


class EpisodeRows:
    """An episode's rows as it is played: :meth:`add` a state's row before its step, :meth:`reward` after it."""

    def __init__(self) -> None:
        self.rows: dict[str, list] = {k: [] for k in ("obs", "mask", "action", "teacher", "reward")}

    def add(self, obs, mask, teacher: int, action: int) -> None:
        for k, v in (("obs", np.asarray(obs, np.float32)), ("mask", mask), ("teacher", teacher), ("action", action)):
            self.rows[k].append(v)

    def reward(self, r: float) -> None:
        self.rows["reward"].append(float(r))

    def episode(self, seed: int, test_accuracy: float) -> Episode:
        r = self.rows
        return Episode(seed, np.stack(r["obs"]), np.stack(r["mask"]), np.array(r["action"]), np.array(r["teacher"]),
                       np.array(r["reward"], np.float32), test_accuracy)


@dataclass
class Demonstrations:
    """Every collected episode, ordered by seed, and the header that says what they are."""

    meta: dict
    episodes: dict[int, Episode] = field(default_factory=dict)
    """seed -> episode."""
    failed: list[int] = field(default_factory=list)
    """Seeds whose worker process died in this collection (not saved: a rerun tries them again)."""

    @property
    def schema(self) -> ObservationSchema:
        return ObservationSchema.from_dict(self.meta["schema"])

    @property
    def env_kwargs(self) -> dict:
        """What ``gym.make(meta["env_id"], **kwargs)`` takes to build the env it was collected on."""
        return {"config": self.meta["config"]} if self.meta.get("config") is not None else dict(self.meta["mixed"])

    def arrays(self) -> dict[str, np.ndarray]:
        """The file's arrays (episodes in seed order)."""
        eps = [self.episodes[s] for s in sorted(self.episodes)]
        d, a = len(self.schema.fields), len(self.schema.actions)
        cat = lambda name, dtype, shape=(): (np.concatenate([getattr(e, name) for e in eps]).astype(dtype)  # noqa: E731
                                            if eps else np.zeros((0, *shape), dtype))
        return dict(
            obs=cat("obs", np.float32, (d,)), mask=cat("mask", bool, (a,)), action=cat("action", np.int16),
            teacher=cat("teacher", np.int16), reward=cat("reward", np.float32),
            episode=np.concatenate([np.full(len(e.action), i, np.int32) for i, e in enumerate(eps)]) if eps
            else np.zeros(0, np.int32),
            step=np.concatenate([np.arange(len(e.action), dtype=np.int16) for e in eps]) if eps
            else np.zeros(0, np.int16),
            episode_seed=np.array([e.seed for e in eps], np.int64),
            episode_return=np.array([e.reward.sum() for e in eps], np.float32),
            episode_test_accuracy=np.array([e.test_accuracy for e in eps], np.float32))

    def save(self, path: str | Path) -> Path:
        """Write atomically (a temporary file renamed over ``path``)."""
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, meta=np.array(json.dumps(self.meta)), **self.arrays())
        return path

    def check_env(self, schema: ObservationSchema, what: str = "") -> None:
        """Refuse (:class:`~agents.policy_file.SchemaMismatchError`) an env whose observations or actions differ."""
        check_schema(self.schema, schema, what or "this dataset")


def recording(env_id: str, overrides: dict, **fields) -> tuple[dict, ObservationSchema, dict]:
    """(gym.make keyword arguments, observation schema, the settings a file records) for episodes of ``env_id``
    with ``overrides``; ``fields`` (teacher, exploration, labelling...) join the recorded settings."""
    import esper_env

    kwargs = esper_env.env_kwargs(env_id, **overrides)
    made = dict(env_id=env_id, config=kwargs.get("config"), **fields)
    if "config" not in kwargs:  # Esper-Mixed-v0: a task per seed, from the distribution these select
        made["mixed"] = kwargs
    return kwargs, esper_env.config_for(env_id, **overrides).schema(), made


def open_or_start(path: str | Path, made: dict, schema: ObservationSchema, **fresh: object) -> Demonstrations:
    """The file at ``path`` to continue (refused if it was made with other settings than ``made`` or for other
    spaces), or a new one whose header is ``made``, the schema, ``fresh`` and the machine and date."""
    from agents.provenance import run_metadata

    path = Path(path)
    if not path.exists():
        return Demonstrations(dict(made, schema=schema.to_dict(), **fresh, **run_metadata()))
    demos = load(path)
    old = {k: demos.meta.get(k) for k in made}
    if old != made:
        diff = [k for k in made if old[k] != made[k]]
        raise DatasetError(f"{path} was made with other settings ({', '.join(diff)} differ); give another --out, "
                           "or delete it to start again")
    demos.check_env(schema, f"dataset {path}")
    return demos


def load(path: str | Path) -> Demonstrations:
    """Read a demonstration file; :class:`DatasetError` names the path and the problem."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"no demonstration file at {path}; make one with `esper collect --out {path}`")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(str(data.pop("meta")))
        missing = [k for k in (*STEP_ARRAYS, *EPISODE_ARRAYS) if k not in data]
        if missing or "schema" not in meta:
            raise DatasetError(f"{path} is not an Esper demonstration file (missing {missing or 'schema'})")
        ObservationSchema.from_dict(meta["schema"])
    except DatasetError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{path} is not a readable demonstration file ({type(e).__name__}: {e}); "
                           "collect it again") from None
    demos = Demonstrations(meta)
    n = len(data["episode_seed"])
    for i in range(n):
        rows = data["episode"] == i
        demos.episodes[int(data["episode_seed"][i])] = Episode(
            int(data["episode_seed"][i]), data["obs"][rows], data["mask"][rows], data["action"][rows].astype(np.int64),
            data["teacher"][rows].astype(np.int64), data["reward"][rows], float(data["episode_test_accuracy"][i]))
    return demos
