"""The newcomer's path, as a new user walks it: the README's snippets run as written, a controller written in Python
plays in ``esper compare``, sizes the data cannot give are refused, every command with ``--preset`` takes
``--data-root``, a missing file says where it was looked for, and one seed claims no interval."""

import json
import re
from pathlib import Path

import pytest

from lab.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TINY = ["--env", "Esper-Tiny-v0", "--set", "train_size=64", "--set", "val_size=32", "--set", "test_size=32",
        "--set", "host=tiny", "--set", "max_epochs=3"]


def readme_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def controller_file(folder: Path) -> Path:
    """The README's controller, as a user would save it."""
    code = next(b for b in readme_blocks("python") if b.startswith("# my_controller.py"))
    path = folder / "my_controller.py"
    path.write_text(code)
    return path


@pytest.mark.slow
def test_the_readme_python_snippets_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = [b for b in readme_blocks("python") if not b.startswith("# my_controller.py")]
    assert len(blocks) >= 2
    for code in blocks:
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})  # noqa: S102 - our own README
    assert (tmp_path / "tamiyo.zip").is_file()  # the SB3 snippet saved its policy


@pytest.mark.slow
@pytest.mark.parametrize("form", ["my_controller.py", "my_controller"])
def test_a_python_controller_plays_in_compare(tmp_path, monkeypatch, capsys, form):
    monkeypatch.chdir(tmp_path)
    controller_file(tmp_path)
    code = main(["compare", *TINY, "--agents", f"mine=py:{form}:EarlyGrower", "no-growth", "--seeds", "0",
                 "--no-scratch", "--out", "cmp", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    runs = [json.loads(line) for line in (tmp_path / "cmp" / "runs.jsonl").read_text().splitlines()]
    mine = next(r for r in runs if r["row"] == "mine")
    assert mine["actions"][0].startswith("GERMINATE") and mine["outcome"]["seeds_germinated"] == 1
    assert "One seed gives no interval" in out and "whose interval" not in out and "95% intervals" not in out


def test_python_controller_errors_say_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    controller_file(tmp_path)
    cases = {"py:nowhere.py:EarlyGrower": "not found (relative to", "py:nowhere_module:X": "not found",
             "py:my_controller.py:Missing": "has no class 'Missing'", "py:my_controller.py": "py:FILE.py:Class"}
    for text, said in cases.items():
        code = main(["run", *TINY, "--agent", text])
        err = capsys.readouterr().err
        assert code == 2 and said in err and "Traceback" not in err, (text, err)


def test_sizes_the_data_cannot_give_are_refused_in_one_line(tmp_path):
    import gymnasium as gym

    from esper_env.data import DatasetError
    from tests.test_data import make_folder

    make_folder(tmp_path, per_batch=20, test=10)  # 100 training and 10 test images
    with pytest.raises(DatasetError, match=r"holds 100 training and 10 test images.*45,000 training \+ 5,000"):
        gym.make("Esper-CIFAR10-v0", data_root=str(tmp_path))
    env = gym.make("Esper-CIFAR10-v0", data_root=str(tmp_path), train_size=60, val_size=20, test_size=10,
                   host="tiny", max_epochs=2)
    _, info = env.reset(seed=0)
    assert info["report"].task.train_images == 60 == len(env.unwrapped.train_loader.labels)  # the truth


def test_every_command_with_a_preset_takes_a_data_root():
    parser = build_parser()
    commands = [c for c, p in parser._subparsers._group_actions[0].choices.items()
                if any("--preset" in a.option_strings for a in p._actions)]
    assert set(commands) >= {"run", "compare", "collect", "improve", "iterate", "tune", "ppo"}
    from lab.options import env_overrides
    for command in commands:
        extra = {"bc": ["--data", "d.npz"], "ppo": ["--init", "p.zip"]}.get(command, [])
        args = parser.parse_args([command, "--preset", "cifar10-subset", "--data-root", "somewhere", *extra])
        assert env_overrides(args)["data_root"] == "somewhere", command


def test_a_missing_policy_says_where_it_was_looked_for(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", *TINY, "--agent", "policy:shipped/simic.zip"]) == 2
    err = capsys.readouterr().err
    assert f"not found (relative to {tmp_path})" in err and "train one first" not in err
