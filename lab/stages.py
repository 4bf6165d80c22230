"""The one resumable stage runner of the benchmark scripts.

A long experiment is a list of named stages (labels, clone, validate, evaluate...). Each stage reads and adds to
one dict, kept in ``stages.json`` beside its results with every stage's wall time; the file is written
atomically after each stage, so an interrupted script reruns from the first stage it did not finish, and a stage
whose work is already on disk (cached runs, saved labels) skips it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from esper_env.fileio import atomic_path

Stage = Callable[[dict], None]
"""A stage: it reads the results of earlier stages from the dict and writes its own into it."""


def read_stages(path: str | Path) -> dict:
    """What earlier stages recorded (empty when nothing ran yet)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not a readable stages file ({e}); move it away to start over") from None


def run_stages(path: str | Path, stages: dict[str, Stage], only: Iterable[str] | None = None, *,
               time_key: str = "seconds:{stage}", label: str = "") -> dict:
    """Run ``stages`` (in their order; ``only`` picks some) and record each one's wall time under ``time_key``;
    ``stages.json`` at ``path`` is rewritten after every stage. Returns the recorded dict."""
    path = Path(path)
    chosen = list(stages) if only is None else [s for s in stages if s in set(only)]
    unknown = sorted(set(only or ()) - set(stages))
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(stages)}")
    record = read_stages(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        start = time.perf_counter()
        stages[name](record)
        record[time_key.format(stage=name)] = round(time.perf_counter() - start)
        with atomic_path(path, suffix=".json") as tmp:
            Path(tmp).write_text(json.dumps(record, indent=1))
        print(f"{label + ' ' if label else ''}stage {name}: {record[time_key.format(stage=name)]} s", flush=True)
    return record
