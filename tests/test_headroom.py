"""Headroom: the per-family static oracle, the single best static plan, and the per-seed best (hand-built)."""

import pytest

from lab.headroom import headroom

FAMILY = {s: "A" if s < 4 else "B" for s in range(8)}.get


def table(**by_candidate):
    return {name: dict(enumerate(values)) for name, values in by_candidate.items()}


def test_the_oracle_picks_each_familys_best_plan_and_the_value_of_knowing_the_task():
    # x is best on family A, y on family B; z is a compromise a little below x overall
    h = headroom(table(x=[50] * 4 + [40] * 4, y=[40] * 4 + [48] * 4, z=[44.9] * 8), FAMILY)
    assert h.single == "x" and h.oracle == {"A": "x", "B": "y"} and h.families == {"A": 4, "B": 4}
    assert h.single_mean == pytest.approx(45) and h.oracle_mean == pytest.approx(49)
    assert h.value_of_task[0] == pytest.approx(4) and h.per_seed_best[0] == pytest.approx(4)


def test_no_headroom_where_one_plan_is_best_everywhere():
    h = headroom(table(x=[50, 51, 52, 53, 40, 41, 42, 43], y=[45, 46, 47, 48, 35, 36, 37, 38]), FAMILY)
    assert h.oracle == {"A": "x", "B": "x"} and h.value_of_task == (0.0, 0.0, 0.0) and h.per_seed_best[0] == 0


def test_picks_are_cross_fitted_so_noise_is_not_counted_as_headroom():
    """x and y alternate seed by seed within each family: picked on the seeds they are scored on, the oracle would
    gain; picked on the other half, it loses what it guessed."""
    h = headroom(table(x=[50, 40, 50, 40, 50, 40, 50, 40], y=[40, 50, 40, 50, 40, 50, 40, 50]), FAMILY)
    assert h.value_of_task[0] <= 0 and h.per_seed_best[0] == pytest.approx(5)


def test_a_table_with_missing_seeds_is_refused():
    with pytest.raises(ValueError, match="same seeds"):
        headroom({"x": {0: 1, 1: 1, 2: 1, 3: 1}, "y": {0: 1, 1: 1, 2: 1}}, FAMILY)


def test_the_reveal_headroom_is_what_reacting_adds_over_the_best_static_plan_cross_fitted():
    from lab.headroom import reveal_headroom

    seeds = range(1000, 1008)
    failed = {1001, 1004}  # one seed in each fold (the folds alternate over the sorted seeds)
    static = {"early": {s: 10.0 if s in failed else 30.0 for s in seeds},  # a failure ruins the plan
              "none": {s: 25.0 for s in seeds}}
    reveal = {"early": static["early"], "cull": {s: 28.0 if s in failed else 30.0 for s in seeds}}
    h = reveal_headroom(static, reveal)
    assert h.static == "early" and h.static_mean == 25.0  # (30 * 6 + 10 * 2) / 8: each fold picks early
    assert h.reveal_mean == 29.5 and h.clairvoyant_mean == 29.5
    assert h.gain[0] == 4.5 and h.gain[1] < 4.5 < h.gain[2] and h.seeds == 8


def test_reveal_headroom_counts_no_gain_where_reacting_does_not_help():
    from lab.headroom import reveal_headroom

    seeds = range(1000, 1008)
    noise = {s: (s * 7919) % 5 - 2.0 for s in seeds}  # the same plan, different seeds: no signal
    static = {"plan": {s: 30 + noise[s] for s in seeds}}
    reveal = {"react": {s: 30 + noise[(s + 1) if s + 1 in noise else 1000] for s in seeds}, "plan": static["plan"]}
    h = reveal_headroom(static, reveal)
    assert h.gain[1] < 0 < h.gain[2] or h.gain[0] == 0  # nothing to find, and the interval says so


def test_what_the_report_showed_of_failed_seeds_and_what_a_cull_branch_says_there():
    from lab.headroom import cull_branches, seed_reports

    small = dict(train_size=256, val_size=128, test_size=128, max_epochs=8)
    every = seed_reports(1000, fault_p=1.0, **small)
    assert every and all(r["failed"] for r in every)  # every germination fails
    assert all(r["stage"] in ("GERMINATED", "TRAINING") for r in every)
    none = seed_reports(1000, fault_p=0.0, **small)
    assert none and not any(r["failed"] for r in none)
    branched = cull_branches(1000, fault_p=0.0, **small)
    assert branched and not any(r["failed"] for r in branched)
    assert all(-1.0 <= r["advantage"] <= 1.0 for r in branched)
    assert len({r["advantage"] for r in branched}) > 1 or len(branched) == 1  # a real branch per state
