"""Every command refuses bad input with one line (no traceback) and exit code 2, before doing any work."""

import pytest

from lab.cli import main as cli_main

TINY = ["--env", "Esper-Tiny-v0", "--set", "train_size=64", "--set", "val_size=32", "--set", "test_size=32"]


@pytest.fixture
def paths(tmp_path):
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("not a folder")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"\x00garbage")
    return dict(dir=tmp_path, file=a_file, corrupt=corrupt)


CASES = [
    # (argv builder, words the one line must contain)
    (lambda p: ["run", "--env", "Esper-Nope-v0"], "unknown"),
    (lambda p: ["run", *TINY, "--set", "max_epochs=1.5"], "max_epochs"),
    (lambda p: ["run", *TINY, "--set", "lr=nan"], "lr"),
    (lambda p: ["run", *TINY, "--set", "nosuch=1"], "unknown setting"),
    (lambda p: ["run", "--env", "Esper-CIFAR10-v0", "--data-root", str(p["file"])], "a_file.txt"),
    (lambda p: ["run", *TINY, "--json", str(p["dir"])], "is a folder"),
    (lambda p: ["run", *TINY, "--plot", str(p["dir"] / "x.xyz")], "cannot write"),
    (lambda p: ["run", *TINY, "--json", str(p["file"] / "r.json")], "not a folder"),
    (lambda p: ["run", *TINY, "--agent", "genius"], "unknown controller"),
    (lambda p: ["run", *TINY, "--resume"], "--checkpoint"),
    (lambda p: ["run", *TINY, "--seed", "-1"], "seed must be an integer >= 0"),
    (lambda p: ["run", *TINY, "--data-root", str(p["file"])], "data_root"),
    (lambda p: ["compare", *TINY, "--seeds", "-1", "--out", str(p["dir"] / "c")], "seeds"),
    (lambda p: ["bc", "--data", str(p["dir"] / "none.npz"), "--out", str(p["dir"] / "p.zip")], "esper collect"),
    (lambda p: ["compare", *TINY, "--out", str(p["file"])], "is a file"),
    (lambda p: ["compare", *TINY, "--agents", "policy:" + str(p["corrupt"]), "--out", str(p["dir"] / "c")],
     "corrupt.npz"),
    (lambda p: ["collect", *TINY, "--out", str(p["dir"])], "is a folder"),
    (lambda p: ["collect", *TINY, "--explore", "1.5", "--out", str(p["dir"] / "d.npz")], "explore"),
    (lambda p: ["collect", *TINY, "--episodes", "0", "--out", str(p["dir"] / "d.npz")], "--episodes"),
    (lambda p: ["collect", *TINY, "--seeds", "5", "5", "--out", str(p["dir"] / "d.npz")], "distinct"),
    (lambda p: ["bc", "--data", str(p["corrupt"]), "--out", str(p["dir"] / "p.zip")], "corrupt.npz"),
    (lambda p: ["bc", "--data", str(p["corrupt"]), "--out", str(p["dir"] / "p.txt")], ".zip"),
    (lambda p: ["ppo", "--init", str(p["dir"] / "none.zip"), *TINY, "--out", str(p["dir"] / "r")], "none.zip"),
    (lambda p: ["ppo", "--init", str(p["corrupt"]), *TINY, "--out", str(p["file"])], "is a file"),
    (lambda p: ["ppo", "--init", str(p["corrupt"]), *TINY, "--timesteps", "0", "--out", str(p["dir"] / "r")],
     "timesteps"),
    (lambda p: ["ppo", *TINY, "--resume", "--out", str(p["dir"] / "r")], "no checkpoint"),
    (lambda p: ["improve", *TINY, "--race-gap", "0.02", "--out", str(p["dir"] / "i.npz")], "--race > 0"),
    (lambda p: ["iterate", *TINY, "--race", "2", "--race-gap", "-1", "--out", str(p["dir"] / "pi")], "race_gap"),
]


@pytest.mark.parametrize("argv, words", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_bad_input_is_one_clear_line(argv, words, paths, capsys):
    before = sorted(p.name for p in paths["dir"].rglob("*"))
    assert cli_main(argv(paths)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("esper: error:") and "\n" not in err and words in err, err
    assert sorted(p.name for p in paths["dir"].rglob("*")) == before  # nothing was written


@pytest.mark.parametrize("argv", [["run", "--seed", "abc"], ["compare", "--workers", "two"],
                                  ["collect", "--episodes", "1e3"], ["bc", "--epochs", "many"]])
def test_argument_types_are_checked_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(argv)
    assert e.value.code == 2 and "error:" in capsys.readouterr().err
