"""Static schedules as data (schedule:PATH.json) and `esper tune`, on the tiny preset."""

import json
from dataclasses import replace

import gymnasium as gym
import pytest

import esper_env  # noqa: F401
from agents import make_agent, run_episode
from agents.schedule import Schedule, ScheduledSeed
from lab.cli import main as cli_main
from lab.tune import TuneConfig, tune

SMALL = dict(train_size=64, val_size=32, test_size=32, max_epochs=10, host="tiny", blend_epochs=1)


def test_a_schedule_file_round_trips_and_plays_exactly_its_commands(tmp_path):
    sched = Schedule((ScheduledSeed(0.2, 1, "conv_residual", 2), ScheduledSeed(0.5, 0, "norm", 1)))
    path = sched.save(tmp_path / "s.json")
    assert Schedule.load(path) == sched and json.loads(path.read_text())["format"] == "esper-schedule"
    env = gym.make("Esper-Tiny-v0", **SMALL)
    record = run_episode(env, make_agent(f"schedule:{path}"), seed=3)
    given = [(s.epoch, s.command) for s in record.steps if s.command != "WAIT"]
    # germinate at round(0.2 * 10) = 2; GERMINATED one epoch, TRAINING 2, ADVANCE at 5, blend 1 epoch, ADVANCE
    # at 6. The second seed is due at round(0.5 * 10) = 5, when an ADVANCE is due (one command per decision) and
    # again at 6: it is pending, and germinates at the first decision with nothing else due -- 7, not never.
    assert given[0] == (2, "GERMINATE(slot=1, conv_residual)")
    assert (5, "ADVANCE(slot=1)") in given and (6, "ADVANCE(slot=1)") in given
    assert [g for g in given if "norm" in g[1]] == [(7, "GERMINATE(slot=0, norm)")]
    assert record.outcome.architecture[0] == (1, "conv_residual") and not any(s.illegal for s in record.steps)


@pytest.mark.parametrize("bad, words", [({"format": "x"}, "not an Esper schedule"),
                                        ({"format": "esper-schedule", "version": 1, "seeds": [{"at": 1.5, "slot": 0,
                                                                                               "blueprint": "norm"}]},
                                         "fraction"),
                                        ({"format": "esper-schedule", "version": 1, "seeds": [{"when": 0}]}, "at"),
                                        ({"format": "esper-schedule", "version": 1, "seeds": [
                                            {"at": 0.1, "slot": 0, "blueprint": "conv_resdual"}]},
                                         "unknown blueprint 'conv_resdual'; the blueprints are conv_residual")])
def test_bad_schedule_files_are_one_clear_line(bad, words, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    assert cli_main(["run", "--env", "Esper-Tiny-v0", "--agent", f"schedule:{path}", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("esper: error:") and "\n" not in err and words in err


@pytest.mark.slow
def test_tune_resumes_without_redoing_a_finished_trial(tmp_path):
    cfg = TuneConfig("Esper-Tiny-v0", dict(SMALL, max_epochs=4), trials=1, seeds=(1000,), out=tmp_path / "t")
    best1, score1 = tune(cfg, progress=False)  # then "interrupted": a second call continues the same study
    runs = tmp_path / "t" / "runs"
    first = {p.name: p.stat().st_mtime_ns for p in runs.iterdir()}
    assert len(first) == 1 and (tmp_path / "t" / "best.json").is_file()
    cfg.trials = 2
    best2, score2 = tune(cfg, progress=False)  # only trial 1 is new
    trace = [json.loads(x) for x in (tmp_path / "t" / "trace.jsonl").read_text().splitlines()]
    assert [t["trial"] for t in trace] == [0, 1] and score2 == max(t["score"] for t in trace) >= score1
    assert trace[0]["score"] == score1 and all(len(t["val_accuracy"]) == 1 for t in trace)
    after = {p.name: p.stat().st_mtime_ns for p in runs.iterdir()}
    assert all(after[name] == t for name, t in first.items())  # trial 0's episode was not played again
    assert Schedule.load(tmp_path / "t" / "best.json") == best2
    assert tune(cfg, progress=False)[1] == score2  # nothing left to do: the same answer, no new trial
    assert len((tmp_path / "t" / "trace.jsonl").read_text().splitlines()) == 2


def test_tuning_refuses_evaluation_seeds(tmp_path):
    with pytest.raises(ValueError, match="training seeds"):
        TuneConfig("Esper-Tiny-v0", trials=1, seeds=(3,), out=tmp_path / "t").check()


@pytest.mark.slow
def test_a_schedule_is_a_compare_row_with_its_scratch_row(tmp_path):
    from lab.compare import CompareConfig, run_comparison

    path = Schedule((ScheduledSeed(0.25, 1, "norm", 1),)).save(tmp_path / "s.json")
    rows = ("no-growth", f"tuned=schedule:{path}")
    comp = run_comparison(CompareConfig("Esper-Tiny-v0", dict(SMALL, max_epochs=6), rows=rows, seeds=(0,),
                                        out=tmp_path / "c", workers=1), progress=False)
    assert set(comp.rows) == {"no-growth", "tuned", "scratch:tuned"}
    assert comp.rows["tuned"][0].controller == f"schedule:{path}" and "tuned = `schedule:" in comp.table


def test_a_germination_waits_for_its_slot_and_a_fossilized_slot_stays_taken():
    """Stateless pending rule on hand-made reports: due and free -> germinate; busy -> wait; a later epoch with
    the slot free -> germinate then; a fossilized slot is never free again."""
    from dataclasses import replace

    env = gym.make("Esper-Tiny-v0", **SMALL)
    _, info = env.reset(seed=0)
    report = info["report"]
    sched = Schedule((ScheduledSeed(0.3, 0, "norm", 1),))  # due at epoch 3
    slot0 = report.slots[0]
    at = lambda epoch, stage: replace(report, epoch=epoch, slots=(replace(slot0, stage=stage), *report.slots[1:]))
    assert sched.command_at(at(2, slot0.stage)) is None  # not yet due
    assert str(sched.command_at(at(3, slot0.stage))) == f"GERMINATE(slot={slot0.index}, norm)"
    assert str(sched.command_at(at(6, slot0.stage))) == f"GERMINATE(slot={slot0.index}, norm)"  # still pending
    from esper_env.leyline import SeedStage
    assert sched.command_at(at(6, SeedStage.FOSSILIZED)) is None


@pytest.mark.slow
def test_tuning_tries_the_enqueued_plans_first(tmp_path):
    known = Schedule((ScheduledSeed(0.25, 1, "norm", 9), ScheduledSeed(0.5, 0, "depthwise", 2)))
    path = known.save(tmp_path / "known.json")
    cfg = TuneConfig("Esper-Tiny-v0", dict(SMALL, max_epochs=4), trials=2, seeds=(1000,), out=tmp_path / "t",
                     enqueue=(str(path),))
    tune(cfg, progress=False)
    trace = [json.loads(x) for x in (tmp_path / "t" / "trace.jsonl").read_text().splitlines()]
    first = Schedule.from_json(trace[0]["schedule"])
    assert trace[0]["enqueued"] == str(path) and "enqueued" not in trace[1]
    assert first.seeds == (ScheduledSeed(0.25, 1, "norm", 6), ScheduledSeed(0.5, 0, "depthwise", 2))  # clipped
    with pytest.raises(ValueError, match="max-seeds"):
        TuneConfig("Esper-Tiny-v0", trials=1, max_seeds=1, enqueue=(str(path),), out=tmp_path / "u").check()


def test_a_task_schedule_plays_each_family_its_own_schedule(tmp_path):
    """The per-family oracle's controller: on each drawn task, the case of the task's own family (told apart from
    the report alone), else the default; a file of it plays through schedule:PATH like a schedule."""
    from agents.schedule import TaskSchedule, family_cases, load_any
    from esper_env.reporting import context_report
    from esper_env.tasks import task_distribution

    dist = task_distribution("cheap")
    own = {f.name: Schedule((ScheduledSeed(0.1 * (i + 1), 0, "norm", 1),)) for i, f in enumerate(dist.families)}
    plan = TaskSchedule(family_cases(dist.families, own), default=Schedule())
    seeds = range(1000, 1030)
    assert len({dist.family_of(s) for s in seeds}) == len(dist.families)  # every family is drawn
    for seed in seeds:
        name, schedule = plan.schedule_for(context_report(dist.draw(seed)).task)
        assert name == dist.family_of(seed) and schedule == own[name]
    path = plan.save(tmp_path / "per-family.json")
    assert load_any(path) == plan and isinstance(load_any(Schedule().save(tmp_path / "s.json")), Schedule)
    with pytest.raises(ValueError, match="task schedule"):  # where one schedule is needed (tune --enqueue)
        Schedule.load(path)
    with pytest.raises(ValueError, match="look the same"):  # two families the report cannot tell apart
        family_cases((dist.families[0], replace(dist.families[0], name="twin")), {"fast": Schedule(),
                                                                                   "twin": Schedule()})
    # on a task no case matches (the tiny env's 32 px synthetic images, with no "fast" case), the default plays;
    # a case naming a field the report lacks is refused
    tiny = gym.make("Esper-Tiny-v0", **SMALL)
    fallback = Schedule((ScheduledSeed(0.2, 1, "conv_residual", 2),))
    others = {k: v for k, v in own.items() if k != "fast"}
    odd = TaskSchedule(family_cases(dist.families, others), default=fallback).save(tmp_path / "odd.json")
    assert [s.command for s in run_episode(tiny, make_agent(f"schedule:{odd}"), seed=3).steps] == \
        [s.command for s in run_episode(tiny, make_agent(f"schedule:{fallback.save(tmp_path / 'f.json')}"),
                                        seed=3).steps]
    bad = json.loads(path.read_text())
    bad["cases"][0]["when"] = {"colour": 1}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="colour.*image_size"):
        load_any(tmp_path / "bad.json")


@pytest.mark.slow
def test_searches_sharing_a_cache_play_a_plan_they_both_try_once(tmp_path):
    known = Schedule((ScheduledSeed(0.25, 1, "norm", 1),)).save(tmp_path / "known.json")
    base = TuneConfig("Esper-Tiny-v0", dict(SMALL, max_epochs=4), trials=1, seeds=(1000,), enqueue=(str(known),),
                      cache=tmp_path / "cache")
    for seed in (0, 1):
        tune(replace(base, seed=seed, out=tmp_path / f"t{seed}"), progress=False)
    assert len(list((tmp_path / "cache" / "runs").iterdir())) == 1  # the enqueued plan ran once, for both
    assert not (tmp_path / "t1" / "runs").exists()


def test_extending_a_plan_adds_an_advance_rule_for_every_other_seed_and_made_the_committed_rollout_plans():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "benchmarks/results"
    for plan, committed in (("ceiling/fast/best.json", "simic3/pi-fast/ceiling-plus.json"),
                            ("tuned/fast/best.json", "simic2/attempt2/rollout.json")):
        base = Schedule.load(root / plan)
        ext = base.extended()
        assert ext.seeds[:len(base.seeds)] == base.seeds and len(ext.seeds) == 3 * 5  # every (rank, blueprint) once
        assert all(s.at == 0.99 and s.train_epochs == 1 for s in ext.seeds[len(base.seeds):])
        assert ext.to_json() == Schedule.load(root / committed).to_json()  # what simic2 / simic3 rolled out
