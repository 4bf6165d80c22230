"""Result records: one typed record per episode with everything needed to reproduce it.

:class:`RunRecord` crosses module boundaries (the comparison's cache, tables, figures, ``esper run --json``,
benchmark scripts); :meth:`RunRecord.to_dict` is its JSON form (the layout of every committed
``runs.jsonl``) and :meth:`RunRecord.from_dict` reads it back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from agents.base import EpisodeRecord
from agents.provenance import cpu_model, git_commit, isa_level, run_metadata  # noqa: F401  (re-exported)
from esper_env.config import EsperConfig
from esper_env.leyline import OBS_VERSION, EpisodeOutcome


@dataclass(frozen=True)
class RunRecord:
    """One finished episode: who played it, on what, what came of it, and where and when it ran."""

    agent: str
    """The controller's name (``RunSpec.agent`` in a comparison: ``heuristic``, ``policy:PATH.zip``...)."""
    seed: int | None
    config: dict
    """The env's :class:`~esper_env.config.EsperConfig` as a dict."""
    version: str
    date: str
    machine: str
    cpus: int
    """Torch CPU threads the episode ran with."""
    python: str
    torch: str
    episode_return: float
    outcome: EpisodeOutcome
    val_accuracy: tuple[float, ...]
    """Validation accuracy at reset and after every epoch."""
    env_id: str | None = None
    controller: str | None = None
    """What played it, as ``esper compare`` names controllers (``heuristic``, ``policy:PATH.zip``); ``agent`` is
    the controller's own name (a policy's file stem)."""
    row: str | None = None
    """The comparison row it belongs to (comparisons only, as are the fields below)."""
    key: str | None = None
    """The comparison's cache key (``RunSpec.key``)."""
    fossilized: tuple[tuple[int, str], ...] | None = None
    """The starting architecture (scratch rows)."""
    wall_s: float | None = None
    actions: tuple[str, ...] | None = None
    """The commands given, one per epoch."""
    layout: int | None = None
    """The observation layout its slot numbers follow (4: positions, the common layout); None in records made
    before it was recorded, whose slots count the env's enabled slots from 0 (the retired ``esper convert``
    converted them)."""
    precision: str | None = None
    """The precision it trained in ("fp32" or "bf16": the config's "auto" resolved on its machine); None in records
    made before it was recorded (2026-12-03 and earlier), whose precision is unknown."""
    isa: str | None = None
    """The CPU instruction-set level its kernels used (:func:`isa_level`); None in older records."""
    commit: str | None = None
    """The git commit of the code that ran it ("unknown" outside a checkout; ``+dirty`` when tracked files differed
    from it); None in older records."""
    provenance: str | None = None
    """None when commit, precision and isa were recorded by the run itself; else how they were obtained later, e.g.
    ``backfilled 2026-12-06: commit derived (...); precision and isa unrecorded`` (tools/backfill_provenance.py)."""

    @property
    def commit_derived(self) -> bool:
        """Its commit was derived from the repository's history, not recorded by the run."""
        return bool(self.provenance) and "commit derived" in self.provenance

    @property
    def test_accuracy(self) -> float:
        return self.outcome.test_accuracy

    def to_dict(self) -> dict:
        """Plain JSON data; optional fields that are not set are left out."""
        d = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "outcome":
                d[f.name] = v.to_dict()
            elif v is not None or f.default is not None:
                d[f.name] = [list(x) if isinstance(x, tuple) else x for x in v] if isinstance(v, tuple) else v
        return d

    @classmethod
    def from_dict(cls, data: dict) -> RunRecord:
        d = dict(data)
        d["outcome"] = EpisodeOutcome.from_dict(d["outcome"])
        d["val_accuracy"] = tuple(d["val_accuracy"])
        if d.get("fossilized") is not None:
            d["fossilized"] = tuple((int(k), str(b)) for k, b in d["fossilized"])
        if d.get("actions") is not None:
            d["actions"] = tuple(d["actions"])
        return cls(**d)


def episode_result(record: EpisodeRecord, config: EsperConfig, precision: str, **extra) -> RunRecord:
    """The episode's outcome, return and per-epoch validation accuracy, with its config, the precision it resolved
    to and where it ran."""
    if record.outcome is None:
        raise ValueError("the episode has not ended: no outcome to record")
    return RunRecord(agent=record.agent, seed=record.seed, config=config.to_dict(), **run_metadata(),
                     layout=OBS_VERSION, precision=precision,
                     episode_return=record.episode_return, outcome=record.outcome,
                     val_accuracy=tuple([record.initial_report.val_accuracy] + [s.report.val_accuracy
                                                                                for s in record.steps]),
                     **{k: tuple(v) if isinstance(v, list) else v for k, v in extra.items()})


def raw_runs(path: str | Path) -> list[dict]:
    """The JSON objects of a ``runs.jsonl`` as plain dicts, lines that are not one skipped (none if no file): for
    readers that only need a field or two (cache keys) and must not stop at a damaged line."""
    import json

    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(d, dict):
            out.append(d)
    return out


def read_runs(path: str | Path) -> list[RunRecord]:
    """The records of a ``runs.jsonl`` (blank lines skipped); a clear error naming the line that is not a record."""
    import json

    records = []
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(RunRecord.from_dict(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"{path}:{i} is not a run record ({type(e).__name__}: {e}); runs.jsonl files are "
                             "written by esper compare") from None
    return records


def by_row(records: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """Records grouped by their comparison row, in the order they come."""
    rows: dict[str, list[RunRecord]] = {}
    for r in records:
        rows.setdefault(r.row, []).append(r)
    return rows
