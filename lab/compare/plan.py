"""What a comparison runs: its config, the runs of each row (:class:`RunSpec`) and their cache keys."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from agents.parallel import check_executor
from agents.registry import KINDS, ControllerSpec, split_name
from esper_env import DRAWN_IDS, is_drawn
from esper_env.config import EsperConfig
from esper_env.fileio import check_output_dir

from ..records import RunRecord

SCRATCH = "scratch:"
TWIN = "twin:"
BUILTIN_GROWING = ("fixed", "heuristic", "random", "reactive")
DEFAULT_ROWS = ("no-growth", "fixed", "heuristic", "random")
DEFAULT_SEEDS = (0, 1, 2)
"""Evaluation seeds. Learned policies train on seeds from 1000 up (agents/seeds.py), so these never overlap."""

NO_EFFECT = ("threads",)
"""Config fields that do not change a run's result, left out of the cache key."""
LOCATION = ("data_root",)
"""Config fields that say where data lies, not what it is: they enter the cache key as None, so a cache (and a
committed result) stays valid when the same data sits at another path on another machine."""

ADDED_LATER = {"image_size": 32, "event": "none", "event_epoch": 0, "fault_p": 0.0, "first_classes": 10, "replay": 1.0,
               "shift_kind": "none"}
"""Config fields added after results were first recorded, with the value every earlier run had: they enter the
cache key only when a run sets another value, so earlier records keep their keys."""

ALPHA_ONE = 1.0 - 1e-6
"""A blend that ended within float round-off of alpha 1 (the per-batch ramp sums fractions) counts as done."""


split_row = split_name
"""``NAME=CONTROLLER`` -> (NAME, CONTROLLER) (:func:`agents.registry.split_name`)."""

FILE_CONTROLLERS = tuple(KINDS)
"""Controllers read from a file; the file's content (its hash), not its path, enters the cache key."""


def is_growing(agent: str) -> bool:
    return agent in BUILTIN_GROWING or agent.startswith(FILE_CONTROLLERS)


@dataclass(frozen=True)
class RunSpec:
    """One episode to run: a controller on one seed, optionally from a fossilized starting architecture."""

    env_id: str
    config: dict
    """The full :class:`EsperConfig` as a dict."""
    agent: str
    seed: int
    fossilized: tuple[tuple[int, str], ...] = ()
    row: str = ""
    """The table row this run belongs to."""
    precision: str | None = None
    """The precision it trains in (the config's, resolved on the machine that plans it: :func:`run_precision`);
    part of the cache key, so a run made in another precision is never taken from the cache. None only for
    records made before precision was recorded (their keys stay as they were)."""

    @property
    def key(self) -> str:
        """Cache key: what determines the result (a policy by its file's hash, the precision), not the row's
        name."""
        agent = ControllerSpec.parse(self.agent, named=False).content_key()
        config = {k: None if k in LOCATION else v for k, v in self.config.items()
                  if k not in NO_EFFECT and not (k in ADDED_LATER and v == ADDED_LATER[k])}
        parts = [self.env_id, config, agent, self.seed, [list(f) for f in self.fossilized]]
        blob = json.dumps(parts + ([self.precision] if self.precision is not None else []), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def named_rows(table: Path) -> dict[str, str]:
    """Row name -> controller, from the "Rows: name = `controller`; ..." line of a comparison's table.md."""
    if not table.is_file():
        return {}
    line = next((ln for ln in table.read_text().splitlines() if ln.startswith("Rows: ")), "")
    return dict(re.findall(r"([A-Za-z0-9_.-]+) = `([^`]+)`", line))


def spec_of(record: dict, rows: dict[str, str] | None = None) -> RunSpec:
    """The run a record describes. Records made before they named their controller give the policy's file stem
    as ``agent``; the controller is then read from the table's row names (``rows``) or is the row itself."""
    row = record["row"]
    agent = record.get("controller") or (rows or {}).get(row) or (row if row.startswith("policy:") else record["agent"])
    return RunSpec(record["env_id"], record["config"], agent, record["seed"],
                   tuple((int(k), str(b)) for k, b in record.get("fossilized") or ()), row=record["row"],
                   precision=record.get("precision"))


def run_precision(config: dict) -> str:
    """The precision a run of ``config`` (a config dict) trains in on this machine ("auto" resolved)."""
    return EsperConfig.from_dict(config).resolved_precision()


def final_architecture(result: RunRecord) -> tuple[tuple[int, str], ...]:
    """Seeds at alpha 1 at the end of a run: fossilized, or fully blended but not yet fossilized."""
    o = result.outcome
    seeds = list(o.architecture) + [(s.slot, s.blueprint) for s in o.live_seeds if s.alpha >= ALPHA_ONE]
    return tuple(sorted((int(k), str(b)) for k, b in seeds))


@dataclass
class CompareConfig:
    """What to compare. Every run uses the same env config; rows differ only in the controller."""

    env_id: str = "Esper-Synthetic-v0"
    """Registered env id."""
    overrides: dict = field(default_factory=dict)
    """EsperConfig fields replaced for every run (e.g. train_size, max_epochs, data_root)."""
    rows: tuple[str, ...] = DEFAULT_ROWS
    """Controllers: built-in names, policy:PATH.zip or schedule:PATH.json, each optionally NAME=CONTROLLER."""
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    """Evaluation seeds (paired across rows)."""
    scratch: bool = True
    """Add a scratch:<row> for each growing controller (its final architecture trained from the start)."""
    twins: tuple[str, ...] = ()
    """Rows to add a static twin for: twin:<row> plays the plan the row played most often, as a schedule
    (written to <out>/twins/<row>.json); a controller claims control only where it beats its twin."""
    flops_matched: tuple[str, ...] = ()
    """Rows to match in training FLOPs, per seed: no-growth@flops:<row> (the bare host for the epochs those FLOPs
    buy, its learning-rate schedule stretched to them) and wide@flops:<row> (a wider host, same epochs)."""
    out: Path = Path("runs/compare")
    """Output folder: runs/ (one JSON per run, the cache), runs.jsonl, table.md, curves.png, flops.png."""
    workers: int = 1
    """Worker processes (one torch thread each); results do not depend on the number."""
    executor: str = "process"
    """"process" (local worker processes) or "ray" (a Ray cluster: $RAY_ADDRESS, or a local one)."""
    command: str = ""
    """The command line that ran it, recorded in table.md."""

    def env_config(self, seed: int = 0) -> EsperConfig:
        """The config of the runs on ``seed`` (the same for every seed, except on ``Esper-Mixed-v0``, which draws
        a task per seed: ``--set tasks=NAME --set split=heldout`` choose the distribution)."""
        import esper_env

        return esper_env.config_for(self.env_id, seed, **self.overrides)

    def tasks(self):
        """The task distribution of a comparison on an id that draws its task per seed (None on a fixed id)."""
        if not is_drawn(self.env_id):
            return None
        from esper_env.tasks import task_distribution

        return task_distribution(self.overrides.get("tasks", DRAWN_IDS[self.env_id]), self.overrides.get("data_root"))

    def check(self) -> None:
        """Refuse, before any run starts, what cannot be compared (one clear error each)."""
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        check_executor(self.executor)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be distinct integers >= 0, at least one; got {list(self.seeds)}")
        check_output_dir(self.out, "--out")
        names = [split_row(row)[0] for row in self.rows]
        if len(set(names)) != len(names):
            raise ValueError(f"row names must be distinct, got {names}; name rows with NAME=CONTROLLER")
        config = self.env_config()
        for what, asked in (("flops_matched", self.flops_matched), ("twins", self.twins)):
            unknown = [r for r in asked if r not in names]
            if unknown:
                raise ValueError(f"{what} names rows that are not in the comparison: {unknown}; rows: {names}")
        for name in names:
            if name.startswith((SCRATCH, TWIN)):
                raise ValueError(f"row name {name!r}: names starting with {SCRATCH!r} or {TWIN!r} are kept for the "
                                 "scratch and twin rows")
        for row in self.rows:
            ControllerSpec.parse(row).check(config.schema())


def plan(cfg: CompareConfig) -> list[RunSpec]:
    """The first-phase runs (every row on every seed)."""
    configs = {seed: cfg.env_config(seed).to_dict() for seed in cfg.seeds}
    return [RunSpec(cfg.env_id, configs[seed], agent, seed, row=name, precision=run_precision(configs[seed]))
            for name, agent in map(split_row, cfg.rows) for seed in cfg.seeds]


def twin_specs(cfg: CompareConfig, first: dict[str, RunRecord]) -> list[RunSpec]:
    """For each row in ``cfg.twins``: its modal plan written as a schedule (``<out>/twins/<row>.json``; on
    ``Esper-Mixed-v0`` one per task family, a task schedule), played on every seed as the row ``twin:<row>``."""
    from ..twin import twin_of

    specs = []
    by_row: dict[str, list[RunSpec]] = {}
    for spec in plan(cfg):
        by_row.setdefault(spec.row, []).append(spec)
    for row in cfg.twins:
        records = [first[s.key] for s in by_row[row] if s.key in first]
        if not records:
            continue
        try:
            schedule, _ = twin_of(records, cfg.tasks())
        except ValueError:  # its most common plan (of some task family) culls: no static twin (the table says so)
            continue
        path = schedule.save(Path(cfg.out) / "twins" / f"{row}.json")
        specs += [dataclasses.replace(s, agent=f"schedule:{path}", row=TWIN + row) for s in by_row[row]]
    return specs


def scratch_specs(cfg: CompareConfig, first: dict[str, RunRecord]) -> list[RunSpec]:
    """The second phase: each growing row's final architecture, from the start, same seed and epochs."""
    specs = []
    for spec in plan(cfg):
        if is_growing(spec.agent) and spec.key in first:
            arch = final_architecture(first[spec.key])
            specs.append(dataclasses.replace(spec, agent="no-growth", fossilized=arch, row=SCRATCH + spec.row))
    return specs


NO_GROWTH_AT, WIDE_AT = "no-growth@flops:", "wide@flops:"
WIDTHS = tuple(round(1 + 0.05 * i, 2) for i in range(61))
"""Width multipliers a wide@flops row may pick from (1.0 to 4.0 in steps of 0.05)."""


def _measured_scale(bare: RunRecord | None, per_epoch: float) -> float:
    """What the bare host's run on this seed measured per epoch, as a multiple of the analytic epoch cost, where
    they differ by more than 1%: an episode variant changed what an epoch trains on (new classes that arrive, a
    task with fewer classes); 1.0 otherwise (and without a no-growth run to measure)."""
    if bare is None or not bare.outcome.epochs:
        return 1.0
    measured = bare.outcome.train_flops / (per_epoch * bare.outcome.epochs)
    return measured if abs(measured - 1) > 0.01 else 1.0


def flops_matched_specs(cfg: CompareConfig, first: dict[str, RunRecord]) -> list[RunSpec]:
    """The third phase: for each row in ``cfg.flops_matched`` and each seed, the bare host for the number of epochs
    whose training FLOPs come closest to the row's run (within half an epoch), and a wider host for the row's
    epochs whose width spends them closest. Epochs are counted at what the comparison's no-growth run on the same
    seed measured, where an episode variant made that differ from the analytic cost (:func:`_measured_scale`)."""
    from esper_env.reporting import bare_host_epoch_flops

    costs: dict[EsperConfig, tuple[float, dict[float, float]]] = {}
    bare = {s.seed: first[s.key] for s in plan(cfg) if s.agent == "no-growth" and not s.fossilized and s.key in first}
    specs = []
    for spec in plan(cfg):
        if spec.row not in cfg.flops_matched or spec.key not in first:
            continue
        base = EsperConfig.from_dict(spec.config)
        if base not in costs:
            costs[base] = (bare_host_epoch_flops(base),
                           {w: bare_host_epoch_flops(base.replace(width=base.width * w)) for w in WIDTHS})
        per_epoch, wide_epoch = costs[base]
        scale = _measured_scale(bare.get(spec.seed), per_epoch)
        per_epoch, wide_epoch = per_epoch * scale, {w: f * scale for w, f in wide_epoch.items()}
        spent = first[spec.key].outcome.train_flops
        epochs = max(1, round(spent / per_epoch))
        longer = base.replace(max_epochs=epochs).to_dict()
        specs.append(dataclasses.replace(spec, config=longer, agent="no-growth", row=NO_GROWTH_AT + spec.row))
        w = min(WIDTHS, key=lambda w: abs(wide_epoch[w] * base.max_epochs - spent))
        wider = base.replace(width=base.width * w).to_dict()
        specs.append(dataclasses.replace(spec, config=wider, agent="no-growth", row=WIDE_AT + spec.row))
    return specs
