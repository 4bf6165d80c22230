"""The evaluation-seed ledger: a new attempt on seeds an earlier attempt used is refused; a rerun is allowed."""

import json

import pytest

from lab import ledger
from lab.ledger import Claim


def test_a_new_attempt_on_used_seeds_is_refused_and_a_rerun_is_not(tmp_path):
    path = tmp_path / "ledger.json"
    ledger.claim(Claim("simic2", "3", "Esper-Fast-v0", range(20)), path)
    ledger.claim(Claim("simic2", "3", "Esper-Fast-v0", range(20)), path)  # the same attempt again
    ledger.claim(Claim("simic2", "3", "Esper-Fast-v0", range(10, 30)), path)  # ... with more seeds
    with pytest.raises(ValueError, match=r"seeds 15-29 of Esper-Fast-v0, which simic2 attempt 3 already was"):
        ledger.claim(Claim("simic2", "4", "Esper-Fast-v0", range(15, 35)), path)
    with pytest.raises(ValueError, match="used so far on Esper-Fast-v0: 0-29"):
        ledger.claim(Claim("ceiling", "1", "Esper-Fast-v0", (29,)), path)
    ledger.claim(Claim("simic2", "4", "Esper-Fast-v0", range(30, 50)), path)  # fresh seeds
    ledger.claim(Claim("simic2", "4", "Esper-CIFAR10-v0 cifar10-subset", range(10)), path)  # another env
    claims = ledger.load(path)
    assert [(c.attempt, c.env, c.seeds[0], c.seeds[-1]) for c in claims] == [
        ("3", "Esper-Fast-v0", 0, 29), ("4", "Esper-Fast-v0", 30, 49), ("4", "Esper-CIFAR10-v0 cifar10-subset", 0, 9)]
    assert json.loads(path.read_text())["claims"][0]["seeds"] == [[0, 29]]  # ranges, readable in a diff


def test_only_evaluation_seeds_are_claimed():
    with pytest.raises(ValueError, match="not evaluation seeds"):
        Claim("x", "1", "Esper-Fast-v0", (905,))


def test_the_committed_ledger_reads_and_holds_every_attempt():
    claims = ledger.load()
    assert {(c.experiment, c.attempt) for c in claims} >= {("simic2", "1"), ("simic2", "2"), ("simic2", "3"),
                                                          ("demo", "1")}
