"""Typed records: every committed result reads back into them and writes out byte-identical JSON; cache keys do
not depend on where the data lies; records carry no machine's absolute paths."""

import json
from pathlib import Path

import pytest

from esper_env.config import PRESETS
from esper_env.episode import EpisodeState
from esper_env.fileio import portable
from esper_env.leyline import EpisodeOutcome
from lab.compare import RunSpec
from lab.records import RunRecord

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT / "benchmarks/results").rglob("runs.jsonl"))


@pytest.mark.parametrize("path", RESULTS, ids=[str(p.relative_to(ROOT)) for p in RESULTS])
def test_committed_runs_round_trip_through_the_typed_record(path):
    for line in path.read_text().splitlines():
        d = json.loads(line)
        r = RunRecord.from_dict(d)
        assert isinstance(r.outcome, EpisodeOutcome) and r.test_accuracy == d["outcome"]["test_accuracy"]
        assert json.dumps(r.to_dict()) == json.dumps(d)


def test_committed_results_hold_no_absolute_paths():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "benchmarks/results").rglob("*")
                 if p.suffix in (".json", ".jsonl", ".md", ".txt") and '"/' in p.read_text()]
    assert offenders == []


def test_the_cache_key_ignores_where_the_data_lies_but_not_what_it_is():
    config = PRESETS["fast"].to_dict()
    key = RunSpec("Esper-Fast-v0", config, "heuristic", 0).key
    assert RunSpec("Esper-Fast-v0", {**config, "data_root": "/somewhere/else"}, "heuristic", 0).key == key
    assert RunSpec("Esper-Fast-v0", {**config, "synthetic_seed": 1}, "heuristic", 0).key != key
    assert RunSpec("Esper-Fast-v0", {**config, "threads": 2}, "heuristic", 0).key == key


def test_portable_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert portable(tmp_path / "repo" / "runs" / "x.zip") == "runs/x.zip"
    assert portable(tmp_path / "shared" / "data") == "../shared/data"
    assert portable("relative/as/given") == "relative/as/given" and portable(None) is None


def test_episode_state_round_trips_as_plain_data():
    import gymnasium as gym

    env = gym.make("Esper-Tiny-v0", train_size=64, val_size=32, test_size=32, max_epochs=3)
    env.reset(seed=1)
    for a in (1, 0, 0):
        env.step(a)
    state = env.unwrapped.state
    data = json.loads(json.dumps(state.to_dict()))  # plain data only
    again = EpisodeState.from_dict(data)
    assert again == state and again.counts.germinated == 1 and len(again.history) >= 2


def test_read_runs_groups_by_row_and_names_a_bad_line(tmp_path):
    from lab.records import by_row, read_runs

    src = ROOT / "benchmarks/results/simic4/attempt4/evaluate/fast/runs.jsonl"
    lines = src.read_text().splitlines()
    rows = by_row(read_runs(src))
    assert sum(map(len, rows.values())) == len(lines) and len(rows) > 1
    assert all(r.row == name for name, rs in rows.items() for r in rs)
    bad = tmp_path / "runs.jsonl"
    bad.write_text("\n".join([lines[0], "", '{"agent": "x"}']) + "\n")
    with pytest.raises(ValueError, match=r"runs.jsonl:3 is not a run record"):
        read_runs(bad)
