"""SIGINT / SIGTERM sent to the real CLI in a subprocess: one line, exit 130, finished work on disk, and the
same command continues where it stopped.

The signal lands at a known point: the command sends it to itself where ``ESPER_INJECT_INTERRUPT`` names
(``agents.parallel.maybe_interrupt``: after the N-th saved run, episode, epoch or PPO checkpoint), as a user's
Ctrl-C at exactly that moment would -- never in a race between the test's polling and the work."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SETS = ["--set", "train_size=64", "--set", "val_size=32", "--set", "test_size=32", "--set", "host=tiny"]


def _default_sigint() -> None:
    """In the child, before Python starts: SIGINT back to its default. A suite started in the background of a
    non-interactive shell inherits SIGINT *ignored*, and Python then installs no KeyboardInterrupt handler; a
    user's Ctrl-C in a terminal always finds the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lab.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)


def interrupted_at(point: str, *args: str, sig: int = signal.SIGTERM) -> str:
    """Run the command, which interrupts itself with ``sig`` at ``point``; its stderr (exit 130, one line)."""
    env = dict(os.environ, ESPER_INJECT_INTERRUPT=f"{point}@{signal.Signals(sig).name}")
    res = subprocess.run([sys.executable, "-m", "lab.cli", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env=env, preexec_fn=_default_sigint)
    assert res.returncode == 130, res.stderr
    assert "interrupted" in res.stderr and "Traceback" not in res.stderr, res.stderr
    return res.stderr


def wait_for(condition, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the command to make progress")
        time.sleep(0.1)


def interrupt(proc: subprocess.Popen, sig: int) -> str:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    return err


def finished_runs(runs: Path) -> dict[str, int]:
    """Finished run files and their mtimes; a file being written is ``.<name>.<random>.tmp.json`` and not counted."""
    return {p.name: p.stat().st_mtime_ns for p in runs.glob("[!.]*.json")} if runs.is_dir() else {}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.slow
def test_compare_keeps_finished_runs_and_resumes(tmp_path, sig):
    out = tmp_path / "cmp"
    args = ["compare", "--env", "Esper-Tiny-v0", "--agents", "no-growth", "random", "--seeds", "0", "1", "2",
            "--no-scratch", "--out", str(out), "--quiet", *SETS, "--set", "max_epochs=4"]
    interrupted_at("compare:2", *args, sig=sig)
    done = finished_runs(out / "runs")
    assert len(done) == 2 and all(json.loads((out / "runs" / n).read_text())["outcome"] for n in done)
    assert not list((out / "runs").glob(".*tmp*"))  # no half-written file left behind
    res = run(*args)
    assert res.returncode == 0, res.stderr
    after = finished_runs(out / "runs")
    assert len(after) == 6 and all(after[n] == t for n, t in done.items())  # finished runs were not redone


@pytest.mark.slow
def test_collect_keeps_finished_episodes_and_resumes(tmp_path):
    out = tmp_path / "d.npz"
    args = ["collect", "--env", "Esper-Tiny-v0", "--episodes", "4", "--out", str(out), "--quiet", *SETS,
            "--set", "max_epochs=4"]
    interrupted_at("collect:2", *args)
    from agents.simic import load
    first = load(out)
    assert len(first.episodes) == 2
    assert run(*args).returncode == 0
    full = load(out)
    assert len(full.episodes) == 4
    for seed, ep in first.episodes.items():
        assert np.array_equal(ep.obs, full.episodes[seed].obs)


@pytest.mark.slow
def test_ppo_saves_a_checkpoint_on_interrupt_and_resumes(tmp_path):
    import gymnasium as gym
    from sb3_contrib import MaskablePPO

    from agents import save_policy
    env = gym.make("Esper-Tiny-v0", train_size=64, val_size=32, test_size=32, host="tiny", max_epochs=4)
    init = save_policy(MaskablePPO("MlpPolicy", env, seed=0, device="cpu"), tmp_path / "init.zip",
                       env.unwrapped.schema)
    out = tmp_path / "ppo"
    def args(timesteps: int) -> list[str]:
        return ["ppo", "--init", str(init), "--env", "Esper-Tiny-v0", "--timesteps", str(timesteps), "--n-envs",
                "2", "--out", str(out), "--quiet", *SETS, "--set", "max_epochs=4", "--ppo", "n_steps=4",
                "--ppo", "batch_size=8"]
    err = interrupted_at("ppo:8", *args(400), sig=signal.SIGINT)  # after the first update's checkpoint
    assert "--resume" in err
    state = json.loads((out / "checkpoint.json").read_text())
    assert state["timesteps"] == 8
    res = run(*args(state["timesteps"] + 16), "--resume")
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "checkpoint.json").read_text())["timesteps"] >= state["timesteps"] + 16


@pytest.mark.slow
@pytest.mark.parametrize("again", [["--resume"], []])
def test_run_with_a_checkpoint_continues_after_sigterm(tmp_path, again):
    """README: rerunning the same command continues the episode (``--resume`` only insists that there is one)."""
    ckpt = tmp_path / "episode.ckpt"
    common = ["run", "--env", "Esper-Tiny-v0", "--agent", "heuristic", *SETS, "--set", "max_epochs=8"]
    args = [*common, "--checkpoint", str(ckpt), "--json", str(tmp_path / "r.json")]
    interrupted_at("run:3", *args)
    from esper_env import load_snapshot
    assert load_snapshot(ckpt)[0].episode["epoch"] == 3
    res = run(*args, *again)
    assert res.returncode == 0, res.stderr
    assert "continuing the episode saved in" in res.stdout and "after epoch 3" in res.stdout
    epochs = [int(ln.split()[1]) for ln in res.stdout.splitlines() if ln.startswith("epoch")]
    assert epochs == [4, 5, 6, 7, 8]  # the rerun trained only what was missing
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["outcome"]["epochs"] == 8
    whole = run(*common, "--json", str(tmp_path / "w.json"))
    assert whole.returncode == 0, whole.stderr
    assert json.loads((tmp_path / "w.json").read_text())["outcome"] == result["outcome"]  # as if never stopped


def test_interrupt_during_start_up_is_one_line(tmp_path):
    proc = start("run", "--env", "Esper-Tiny-v0", "--quiet", *SETS)
    maps = Path(f"/proc/{proc.pid}/maps")
    if maps.exists():  # Linux: interrupt once torch is being loaded (the interpreter's own start-up is over)
        wait_for(lambda: "torch" in maps.read_text(), timeout=60)
    else:
        time.sleep(0.3)  # importing torch and gymnasium
    interrupt(proc, signal.SIGINT)
