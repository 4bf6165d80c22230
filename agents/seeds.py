"""Which episode seeds are for what: one home for the ranges, checked by every command that trains or picks.

* **evaluation** (0-899): the seeds claims rest on; never used to train, tune or pick a model.
* **validation** (900-999): models, clones, schedules and checkpoints are picked on their *validation accuracy*.
* **training** (1000 and up): demonstrations, labelling, PPO and tuning.

Ranges inside evaluation are given to experiments so that a new attempt is judged on seeds no earlier attempt
saw: the demo plays :data:`DEMO_SEEDS`.
"""

from __future__ import annotations

from collections.abc import Iterable

EVALUATION = range(0, 900)
"""Evaluation seeds: claims rest on them; nothing trains, tunes or picks on them."""
VALIDATION = range(900, 1000)
"""Validation seeds: picking (on validation accuracy, never the test split)."""
TRAINING_START = 1000
"""The first training seed: collection, labelling, PPO and tuning use seeds from here up."""
DEMO_SEEDS = tuple(range(522, 528))
"""The seeds ``make demo`` plays (evaluation seeds no experiment of the project was evaluated on; the first demo,
until 2026-12-07, played 500-509 of Esper-Fast-v0, the second 510-515 with Simic v4's attempt 1 shipped, the third
516-521 with attempt 2's; this one ships attempt 4's pick)."""


def check_training_seeds(seeds: Iterable[int], what: str = "seeds") -> tuple[int, ...]:
    """``seeds`` as a tuple if they are distinct training seeds, else a ValueError that says which are not."""
    seeds = tuple(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"{what} must be distinct integers, at least one; got {list(seeds)}")
    bad = [s for s in seeds if s < TRAINING_START]
    if bad:
        raise ValueError(f"{what} must be training seeds >= {TRAINING_START} (evaluation seeds are "
                         f"{EVALUATION.start}-{EVALUATION.stop - 1}, validation seeds {VALIDATION.start}-"
                         f"{VALIDATION.stop - 1}); got {bad[:5]}{' ...' if len(bad) > 5 else ''}")
    return seeds


def check_validation_seeds(seeds: Iterable[int], what: str = "validation seeds") -> tuple[int, ...]:
    """``seeds`` as a tuple if they are distinct validation seeds (900-999), else a ValueError."""
    seeds = tuple(seeds)
    bad = [s for s in seeds if s not in VALIDATION]
    if not seeds or len(set(seeds)) != len(seeds) or bad:
        raise ValueError(f"{what} must be distinct seeds in {VALIDATION.start}-{VALIDATION.stop - 1} (picking never "
                         f"uses evaluation seeds); got {list(seeds)}")
    return seeds
