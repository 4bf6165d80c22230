"""Evaluation as data: where an evaluation plays, on which seeds, which rows, and the checks it reports.

Every number a claim rests on comes from an :class:`Evaluation`: it names its experiment and attempt, one of the
project's evaluation :data:`SETTINGS` (env id, overrides and the ledger's name for them), its seeds and rows.
:meth:`Evaluation.run` always does the same things in the same order:

1. refuses a working tree whose tracked files differ from their commit (the records would name code that does not
   exist), unless ``allow_dirty`` -- then ``evaluation.json`` records a hash of the diff;
2. claims its seeds in the ledger (:mod:`lab.ledger`): a new attempt on seeds an earlier attempt used is refused
   before anything plays; the same attempt again is a rerun;
3. runs the comparison (:func:`lab.compare.run_comparison`: cached, paired by seed);
4. writes ``evaluation.json`` (what was claimed, by which commit) beside the comparison, and ``goal.md`` when
   given :class:`GoalCheck` s.

"FLOPs × bare host" has one definition here, :func:`flops_ratio`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agents.provenance import git_commit
from esper_env.fileio import atomic_path

from . import ledger
from .compare import CompareConfig, run_comparison
from .compare.stats import flops_ratio, fmt_ci  # noqa: F401  (flops_ratio: re-exported, the one definition)
from .records import raw_runs
from .settings import SUBSET_ROOT, subset_overrides


@dataclass(frozen=True)
class Setting:
    """Where an evaluation plays: an env id and its overrides, and how the ledger names them."""

    env_id: str
    """Registered env id."""
    overrides: dict
    """EsperConfig fields replaced (the split, the data, sizes)."""
    ledger_env: str
    """The ledger's name for this setting: evaluation seeds are claimed per setting."""
    doc: str = ""
    """What the setting is, in a line."""


OFFLINE = dict(train_size=4000, val_size=1000, test_size=2000, max_epochs=15)
"""Esper-Synthetic-v0 at the size its committed comparison used."""

SETTINGS: dict[str, Setting] = {
    "fast": Setting("Esper-Fast-v0", {}, "Esper-Fast-v0", "the RL-scale offline env"),
    "subset": Setting("Esper-CIFAR10-v0", subset_overrides(), "Esper-CIFAR10-v0 cifar10-subset",
                      "real CIFAR-10: the 5,170-image subset, small host, 20 epochs (SETTINGS['cifar10-subset'])"),
    "mixed-heldout": Setting("Esper-Mixed-v0", dict(tasks="cheap", data_root=SUBSET_ROOT, split="heldout"),
                             "Esper-Mixed-v0 cheap heldout",
                             "the held-out part of the cheap task distribution (tasks no training draw produces)"),
    "synthetic": Setting("Esper-Synthetic-v0", OFFLINE, "Esper-Synthetic-v0",
                         "the offline procedural env at 4k/1k/2k images, 15 epochs"),
    "faulty": Setting("Esper-Faulty-v0", {}, "Esper-Faulty-v0",
                      "seeds that can fail, the failure probability drawn per seed (0.25, 0.5, 0.75)"),
    "faulty-heldout": Setting("Esper-Faulty-v0", {"split": "heldout"}, "Esper-Faulty-v0 heldout",
                              "seeds that can fail, held-out failure probabilities (0.4, 0.6)"),
    "stream": Setting("Esper-Stream-v0", {}, "Esper-Stream-v0",
                      "new classes arrive at a hidden epoch drawn per seed (4, 6, 8, 10)"),
    "stream-heldout": Setting("Esper-Stream-v0", {"split": "heldout"}, "Esper-Stream-v0 heldout",
                              "new classes arrive at held-out epochs (5, 7, 9)"),
    "shift": Setting("Esper-Shift-v0", {}, "Esper-Shift-v0",
                     "the images change at a hidden epoch (4, 6, 8, 10) by a hidden shift (negative, rotation, noise)"),
    "capacity": Setting("Esper-Capacity-v0", {}, "Esper-Capacity-v0",
                        "a hidden number of classes (2, 4, 10): how much capacity pays is hidden"),
    "faulty-real": Setting("Esper-Mixed-v0", dict(tasks="faulty-real", data_root=SUBSET_ROOT),
                           "Esper-Mixed-v0 faulty-real",
                           "seeds that can fail on the real CIFAR-10 subset (small host, 20 epochs), the failure "
                           "probability drawn per seed (0.25, 0.5, 0.75)"),
    "faulty-fast": Setting("Esper-Mixed-v0", dict(tasks="faulty-fast"), "Esper-Mixed-v0 faulty-fast",
                           "Fast's task, stationary or with seeds that can fail (half and half; Simic v4's training "
                           "distribution)"),
}
"""The project's evaluation settings, by name: every script that evaluates names one of these."""


def setting(name: str | Setting) -> Setting:
    """A setting by its name in :data:`SETTINGS` (or the setting itself, for a one-off study's own)."""
    if isinstance(name, Setting):
        return name
    try:
        return SETTINGS[name]
    except KeyError:
        raise ValueError(f"unknown evaluation setting {name!r}; choose one of {', '.join(SETTINGS)}") from None


def training_overrides(name: str | Setting) -> dict:
    """A setting's overrides for work on training and validation seeds: its training split (``split`` dropped)."""
    return {k: v for k, v in setting(name).overrides.items() if k != "split"}


@dataclass(frozen=True)
class GoalCheck:
    """One line of a goal table: a named check, whether it is met, and the numbers that say so."""

    name: str
    met: bool
    said: str


def goal_lines(checks: Sequence[GoalCheck], title: str = "Goal", verdict_of: str = "Goal") -> list[str]:
    """A markdown goal table and its verdict ("met" only when every check is); ``verdict_of`` names what the verdict
    is about (an issue's whole goal, or only the checks listed)."""
    lines = [f"## {title}: a check is met when the lower end of its 95% interval clears the bar", "",
             "| check | met | paired 95% interval (points) |", "|---|---|---|"]
    lines += [f"| {c.name} | {'yes' if c.met else 'no'} | {c.said} |" for c in checks]
    verdict = "met" if checks and all(c.met for c in checks) else "not met"
    return lines + ["", f"**{verdict_of} {verdict}** ({sum(c.met for c in checks)} of {len(checks)} checks).", ""]


def said(x: tuple[float, float, float]) -> str:
    """A paired difference as goal tables write it."""
    return fmt_ci(*x, signed=True)


def diff_hash() -> str:
    """SHA-256 of ``git diff HEAD`` (tracked files), the record of what a dirty tree held."""
    out = subprocess.run(["git", "diff", "HEAD"], capture_output=True, timeout=30,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    return hashlib.sha256(out).hexdigest()


def check_clean(allow_dirty: bool, what: str = "an evaluation") -> str | None:
    """Refuse a dirty tree unless ``allow_dirty``; return the diff's hash when dirty and allowed."""
    if not git_commit().endswith("+dirty"):
        return None
    if not allow_dirty:
        raise ValueError(f"the working tree has uncommitted changes to tracked files (commit {git_commit()}): "
                         f"commit them before {what}, so every record names the code that made it, or pass "
                         "--allow-dirty (the diff's hash is recorded)")
    return diff_hash()


@dataclass
class Evaluation:
    """One attempt's evaluation in one setting: claimed in the ledger, then played."""

    experiment: str
    """The experiment (``simic3``, ``ceiling``, ``demo``...)."""
    attempt: str
    """Which attempt of it: a new attempt needs fresh seeds."""
    where: str | Setting
    """The setting's name in :data:`SETTINGS` (or a one-off study's own :class:`Setting`)."""
    seeds: tuple[int, ...]
    """Evaluation seeds (below 900)."""
    rows: tuple[str, ...]
    """Controllers, as ``esper compare --agents`` takes them."""
    out: Path
    """The comparison's folder."""
    command: str = ""
    """The command that runs it, for the table."""
    overrides: dict = field(default_factory=dict)
    """Fields replaced on top of the setting's (rarely: say why)."""
    scratch: bool = False
    twins: tuple[str, ...] = ()
    flops_matched: tuple[str, ...] = ()
    workers: int = 2
    executor: str = "process"
    allow_dirty: bool = False
    """Play on a tree with uncommitted changes (its diff's hash is recorded in evaluation.json)."""

    def config(self) -> CompareConfig:
        s = setting(self.where)
        return CompareConfig(s.env_id, dict(s.overrides, **self.overrides), rows=tuple(self.rows),
                             seeds=tuple(self.seeds), scratch=self.scratch, twins=tuple(self.twins),
                             flops_matched=tuple(self.flops_matched), out=Path(self.out), workers=self.workers,
                             executor=self.executor, command=self.command)

    def claim(self, ledger_path: str | Path = ledger.LEDGER) -> str | None:
        """Check the tree and claim the seeds (nothing plays); the diff hash when dirty and allowed."""
        cfg = self.config()
        cfg.check()
        dirty = check_clean(self.allow_dirty, f"evaluating {self.experiment} attempt {self.attempt}")
        ledger.claim(ledger.Claim(self.experiment, self.attempt, setting(self.where).ledger_env, self.seeds),
                     ledger_path)
        return dirty

    def run(self, progress: bool = True, ledger_path: str | Path = ledger.LEDGER):
        """Claim, play, record; returns the :class:`~lab.compare.Comparison`."""
        dirty = self.claim(ledger_path)
        before = _recorded_keys(Path(self.out) / "runs.jsonl")
        comp = run_comparison(self.config(), progress=progress)
        claim = dict(experiment=self.experiment, attempt=self.attempt,
                     where=self.where if isinstance(self.where, str) else None,
                     ledger_env=setting(self.where).ledger_env, seeds=list(self.seeds), rows=list(self.rows))
        path = Path(self.out) / "evaluation.json"
        played = {r.key for rs in comp.rows.values() for r in rs} - before
        if not played and path.is_file() and _same_claim(path, claim):
            return comp  # a replay from the record: it keeps the commit and date of the code that played it
        record = dict(claim, commit=git_commit(), diff_sha256=dirty,
                      date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        with atomic_path(path, suffix=".json") as tmp:
            Path(tmp).write_text(json.dumps(record, indent=1) + "\n")
        return comp


def _recorded_keys(runs_jsonl: Path) -> set[str]:
    """The cache keys an evaluation's runs.jsonl already records (empty when it has none)."""
    return {d["key"] for d in raw_runs(runs_jsonl) if isinstance(d.get("key"), str)}


def _same_claim(path: Path, claim: dict) -> bool:
    """Whether an evaluation.json records the same claim (experiment, attempt, setting, seeds, rows)."""
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(old, dict) and all(old.get(k) == v for k, v in claim.items())


def write_goal(path: str | Path, header: Sequence[str], checks: Sequence[GoalCheck], title: str = "Goal",
               verdict_of: str = "Goal") -> str:
    """``goal.md``: the header lines, then the goal table; written atomically; returns the text."""
    text = "\n".join([*header, *goal_lines(checks, title, verdict_of)])
    with atomic_path(path, suffix=".md") as tmp:
        Path(tmp).write_text(text)
    return text
