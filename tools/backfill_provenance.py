"""One-off (2026-12-06, issue 34): backfill what the repository's history can tell about committed results.

1. Run records dated 2026-12-03 or later that carry no ``commit``, ``precision`` or ``isa`` (made before the code
   recorded them that day): ``commit`` becomes the commit that first added the record to its ``runs.jsonl``
   (derived: the code that made it may be older, or was uncommitted), ``precision`` and ``isa`` stay empty, and
   ``provenance`` says so. Only those lines change; every other line is kept byte for byte. Each affected
   ``table.md`` gets a paragraph saying how many of its records this touched.
2. Ledger claims for evaluations that ran without one (written as they happened, with a ``backfilled`` note).
3. ``evaluation.json`` in every committed comparison folder that played evaluation seeds before
   :class:`lab.evaluation.Evaluation` wrote one: which experiment, attempt and ledger setting its seeds belong to.

Idempotent: a second run changes nothing. Run from the repository root: ``python tools/backfill_provenance.py``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lab import ledger
from lab.ledger import Claim

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
DAY = "2026-12-06"
SINCE = "2026-12-03"
RECORD_NOTE = (f"backfilled {DAY}: commit derived (the commit that added this record to the repository; the code "
               "that made it may be older or uncommitted); precision and isa unrecorded")
TABLE_NOTE = ("\n\nProvenance (backfilled {day}, tools/backfill_provenance.py): {n} of these {total} records were "
              "made before runs recorded their precision, kernels and commit; they now name the commit that added "
              "them (derived, not recorded), and their precision is unrecorded (the run's config says \"auto\": bf16 "
              "on a CPU with bfloat16 units, fp32 elsewhere).\n")

FAST, SUBSET, MIXED = "Esper-Fast-v0", "Esper-CIFAR10-v0 cifar10-subset", "Esper-Mixed-v0 cheap heldout"
BEFORE_LEDGER = f"backfilled {DAY}: evaluated 2026-11-26, before the ledger existed, on seeds simic attempt 1 reused"
UNCLAIMED = f"backfilled {DAY}: evaluated 2026-12-02 without a claim"
CLAIMS = [
    Claim("simic", "first", FAST, tuple(range(20)), BEFORE_LEDGER),
    Claim("simic", "second", FAST, tuple(range(20)), BEFORE_LEDGER),
    Claim("cheap-sweep", "1", "Esper-CIFAR10-v0 small16", tuple(range(10)), UNCLAIMED),
    Claim("cheap-sweep", "1", "Esper-CIFAR10-v0 tiny16", tuple(range(10)), UNCLAIMED),
    Claim("cheap-sweep", "1", "Esper-CIFAR10-v0 tiny16-24ep", tuple(range(5)), UNCLAIMED),
    Claim("cheap-sweep", "1", "Esper-Synthetic-v0 synthetic-small16", tuple(range(5)), UNCLAIMED),
]
"""Evaluations that ran without a claim."""

FOLDERS = {
    "baselines/fast": ("baselines", "1", FAST), "baselines/cifar-subset": ("baselines", "1", SUBSET),
    "baselines/mixed": ("baselines", "1", MIXED),
    **{f"ceiling/{t}/evaluate": ("ceiling", "1", env) for t, env in (("fast", FAST), ("subset", SUBSET),
                                                                     ("mixed", MIXED))},
    **{f"cheap-family/{c}{s}": ("cheap-sweep", "1", f"Esper-CIFAR10-v0 {c}") for c in ("small16", "tiny16")
       for s in ("", "-wide4", "-confirm", "-confirm-wide4")},
    "cheap-family/tiny16-24ep": ("cheap-sweep", "1", "Esper-CIFAR10-v0 tiny16-24ep"),
    "cheap-family/tiny16-24ep-wide4": ("cheap-sweep", "1", "Esper-CIFAR10-v0 tiny16-24ep"),
    "cheap-family/synthetic-small16": ("cheap-sweep", "1", "Esper-Synthetic-v0 synthetic-small16"),
    "cheap-family/synthetic-small16-wide4": ("cheap-sweep", "1", "Esper-Synthetic-v0 synthetic-small16"),
    "cifar-subset": ("compare-presets", "1", SUBSET), "synthetic": ("compare-presets", "1", "Esper-Synthetic-v0"),
    "demo": ("demo", "1", FAST),
    "fast": ("fast-preset", "1", FAST), "fast/wide-host": ("fast-preset", "1", FAST),
    "performance/avx512-bf16/fast": ("fast-preset", "1", FAST),
    "performance/avx512-bf16/fast/wide-host": ("fast-preset", "1", FAST),
    "simic/compare": ("simic", "1", FAST),
    **{f"simic/{a}-attempt/{p}": ("simic", a, FAST) for a in ("first", "second") for p in ("compare", "confirm")},
    **{f"simic2/attempt{n}/{p}": ("simic2", str(n), env) for n in (1, 2, 3)
       for p, env in (("fast", FAST), ("mixed", MIXED), ("cifar-subset", SUBSET))},
    **{f"simic3/pi-fast-residual/evaluate/{p}": ("simic3", "1", env)
       for p, env in (("fast", FAST), ("mixed", MIXED), ("subset", SUBSET))},
}
"""Every committed comparison folder that played evaluation seeds, and the claim its seeds belong to."""


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def first_commits(path: Path) -> dict[str, str]:
    """Record key -> the first commit whose version of ``path`` holds it."""
    found: dict[str, str] = {}
    for commit in git("log", "--format=%H", "--reverse", "--", str(path)).split():
        try:
            text = git("show", f"{commit}:{path}")
        except subprocess.CalledProcessError:
            continue
        for line in text.splitlines():
            key = json.loads(line).get("key")
            if key and key not in found:
                found[key] = commit
    return found


def backfill_records(path: Path) -> int:
    lines = path.read_text().splitlines()
    todo = [i for i, line in enumerate(lines) if (d := json.loads(line))["date"][:10] >= SINCE
            and not all(d.get(k) for k in ("commit", "precision", "isa")) and not d.get("provenance")]
    if not todo:
        return 0
    added = first_commits(path)
    for i in todo:
        d = json.loads(lines[i])
        d["commit"] = d.get("commit") or added[d["key"]]
        d["provenance"] = RECORD_NOTE
        lines[i] = json.dumps(d)
    path.write_text("".join(f"{line}\n" for line in lines))
    table = path.parent / "table.md"
    if table.is_file() and "Provenance (backfilled" not in table.read_text():
        table.write_text(table.read_text().rstrip("\n") + TABLE_NOTE.format(day=DAY, n=len(todo), total=len(lines)))
    return len(todo)


def backfill_ledger() -> int:
    claims = ledger.load()
    have = {(c.experiment, c.attempt, c.env) for c in claims}
    new = [c for c in CLAIMS if (c.experiment, c.attempt, c.env) not in have]
    if new:
        ledger.write(claims + new)
    return len(new)


def backfill_evaluations() -> int:
    written = 0
    for folder, (experiment, attempt, env) in FOLDERS.items():
        path = ROOT / RESULTS / folder / "evaluation.json"
        if path.is_file():
            continue
        seeds = sorted({json.loads(line)["seed"] for line in (path.parent / "runs.jsonl").read_text().splitlines()
                        if json.loads(line)["seed"] < 900})
        record = dict(experiment=experiment, attempt=attempt, where=None, ledger_env=env, seeds=seeds,
                      backfilled=f"{DAY}: written after the evaluation (tools/backfill_provenance.py)")
        path.write_text(json.dumps(record, indent=1) + "\n")
        written += 1
    return written


def main() -> None:
    import os

    os.chdir(ROOT)
    n = sum(backfill_records(p) for p in sorted(RESULTS.rglob("runs.jsonl")))
    print(f"records backfilled: {n}; ledger claims added: {backfill_ledger()}; "
          f"evaluation.json written: {backfill_evaluations()}")


if __name__ == "__main__":
    main()
