"""The ledger of evaluation seeds: which attempt of which experiment was evaluated on which seeds of which env.

Claims rest on evaluation seeds that nothing was picked on; a *new* attempt that is evaluated on seeds an earlier
attempt already used would be picked, in effect, on them (the earlier result shaped it). So every experiment
script claims its evaluation seeds here before it evaluates: re-running the same attempt on the same seeds is
allowed, a new attempt on a seed an earlier attempt used is refused, naming the overlap. The ledger is a
committed JSON file (``benchmarks/results/ledger.json``), written atomically; every attempt in it stays reported.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from agents.seeds import EVALUATION
from esper_env.fileio import atomic_path

LEDGER = Path(__file__).resolve().parents[1] / "benchmarks/results/ledger.json"
"""The project's ledger, relative to the repository."""


@dataclass(frozen=True)
class Claim:
    """One attempt's evaluation on one env."""

    experiment: str
    """The experiment (``simic2``, ``ceiling``, ``demo``...)."""
    attempt: str
    """Which attempt of it (``1``, ``2``...)."""
    env: str
    """Where: an env id, with a setting or split where it matters (``Esper-CIFAR10-v0 cifar10-subset``)."""
    seeds: tuple[int, ...]
    """The evaluation seeds it used."""
    note: str = ""
    """Why a claim is unusual: ``backfilled ...`` for evaluations made without a claim and recorded later (which
    :func:`claim` would have refused where they reuse seeds; they are written as they happened)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        outside = [s for s in self.seeds if s not in EVALUATION]
        if outside:
            raise ValueError(f"{self.experiment} attempt {self.attempt}: {outside[:5]} are not evaluation seeds "
                             f"({EVALUATION.start}-{EVALUATION.stop - 1}); validation and training seeds need no claim")

    def to_json(self) -> dict:
        d = asdict(self)
        d["seeds"] = _ranges(self.seeds)
        if not self.note:
            del d["note"]
        return d

    @classmethod
    def from_json(cls, d: dict) -> Claim:
        return cls(d["experiment"], str(d["attempt"]), d["env"],
                   tuple(s for lo, hi in d["seeds"] for s in range(lo, hi + 1)), d.get("note", ""))

    def covers(self, seeds) -> bool:
        return set(seeds) <= set(self.seeds)


def _ranges(seeds: tuple[int, ...]) -> list[list[int]]:
    out: list[list[int]] = []
    for s in sorted(set(seeds)):
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def load(path: str | os.PathLike = LEDGER) -> list[Claim]:
    path = Path(path)
    if not path.is_file():
        return []
    try:
        return [Claim.from_json(d) for d in json.loads(path.read_text())["claims"]]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a readable seed ledger ({type(e).__name__}: {e})") from None


def claim(new: Claim, path: str | os.PathLike = LEDGER) -> None:
    """Record ``new`` unless an earlier attempt (another experiment, or another attempt of this one) was evaluated
    on any of its seeds of the same env that this attempt has not claimed before; the same attempt again is
    allowed (a rerun, or more seeds), so attempts recorded before the ledger existed stay re-runnable."""
    claims = load(path)
    mine = [c for c in claims if (c.experiment, c.attempt, c.env) == (new.experiment, new.attempt, new.env)]
    fresh = set(new.seeds) - {s for c in mine for s in c.seeds}  # seeds this attempt has not claimed before
    for old in claims:
        if old.env != new.env or (old.experiment, old.attempt) == (new.experiment, new.attempt):
            continue
        overlap = sorted(set(old.seeds) & fresh)
        if overlap:
            raise ValueError(f"{new.experiment} attempt {new.attempt} would be evaluated on seeds {_said(overlap)} of "
                             f"{new.env}, which {old.experiment} attempt {old.attempt} already was: choose fresh "
                             f"evaluation seeds (used so far on {new.env}: {_said(used(new.env, claims))})")
    merged = Claim(new.experiment, new.attempt, new.env, tuple(sorted({*new.seeds, *(s for c in mine
                                                                                   for s in c.seeds)})),
                   new.note or next((c.note for c in mine if c.note), ""))
    if mine == [merged]:
        return  # a rerun on claimed seeds: the ledger stays as it is (not even rewritten)
    rest = [c for c in claims if c not in mine]
    write(rest + [merged], path)


def write(claims: list[Claim], path: str | os.PathLike = LEDGER) -> None:
    """The ledger file, one claim a line (readable in a diff), written atomically."""
    lines = ",\n".join("  " + json.dumps(c.to_json()) for c in claims)
    with atomic_path(path, suffix=".json") as tmp, open(tmp, "w") as f:
        f.write('{"claims": [\n' + lines + "\n]}\n")


def used(env: str, claims: list[Claim] | None = None) -> tuple[int, ...]:
    """Every evaluation seed of ``env`` some attempt used."""
    return tuple(sorted({s for c in (load() if claims is None else claims) if c.env == env for s in c.seeds}))


def _said(seeds) -> str:
    return ", ".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in _ranges(tuple(seeds)))
