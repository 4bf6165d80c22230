"""Policy, dataset and checkpoint files are data: a crafted file never runs code on the user's machine."""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

from agents import PolicyAgent, UntrustedPolicyError, load_policy, save_policy
from lab.cli import main as cli_main

TINY = dict(train_size=64, val_size=32, test_size=32, max_epochs=2)


class Marker:
    """Unpickling this creates a file (what an attacker's payload would do instead)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def good_policy(tmp_path_factory):
    import gymnasium as gym
    from sb3_contrib import MaskablePPO

    env = gym.make("Esper-Tiny-v0", **TINY)
    model = MaskablePPO("MlpPolicy", env, n_steps=8, batch_size=8, seed=0, device="cpu",
                        policy_kwargs=dict(net_arch=[16]))
    return save_policy(model, tmp_path_factory.mktemp("pol") / "good.zip", env.unwrapped.schema), model


def _rewrite(src, dst, replace: dict):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, replace.get(name, zin.read(name)))
        for name, data in replace.items():
            if name not in zin.namelist():
                zout.writestr(name, data)


def test_a_saved_policy_loads_as_data_and_acts_like_the_model(good_policy):
    path, model = good_policy
    policy, entry = load_policy(path)
    assert entry.policy.algo == "MaskablePPO" and entry.policy.net_arch == [16]
    obs = np.random.default_rng(0).uniform(-1, 1, (8, len(entry.schema.fields))).astype(np.float32)
    mask = np.ones((8, len(entry.schema.actions)), bool)
    a, _ = policy.predict(obs, deterministic=True, action_masks=mask)
    b, _ = model.predict(obs, deterministic=True, action_masks=mask)
    assert np.array_equal(a, b)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notes the protocol, then refuses
def test_crafted_weights_do_not_run(good_policy, tmp_path):
    marker = tmp_path / "pwned"
    crafted = tmp_path / "crafted.zip"
    _rewrite(good_policy[0], crafted, {"policy.pth": pickle.dumps(Marker(marker))})
    with pytest.raises(ValueError, match="crafted.zip"):
        PolicyAgent.load(crafted)
    assert cli_main(["run", "--agent", f"policy:{crafted}", "--env", "Esper-Tiny-v0", "--quiet"]) == 2
    assert not marker.exists()


def test_a_file_that_needs_unpickling_is_refused_without_trust(good_policy, tmp_path, capsys):
    marker = tmp_path / "pwned"
    crafted = tmp_path / "sb3.zip"
    with zipfile.ZipFile(good_policy[0]) as z:
        entry = json.loads(z.read("esper_schema.json"))
    del entry["policy"]  # e.g. an SB3 zip saved without Esper's architecture record
    _rewrite(good_policy[0], crafted, {"esper_schema.json": json.dumps(entry),
                                       "data": pickle.dumps(Marker(marker))})
    with pytest.raises(UntrustedPolicyError, match="trust"):
        PolicyAgent.load(crafted)
    assert cli_main(["run", "--agent", f"policy:{crafted}", "--env", "Esper-Tiny-v0", "--quiet"]) == 2
    assert "--trust-policy-file" in capsys.readouterr().err
    assert not marker.exists()


def test_bad_architecture_records_are_refused(good_policy, tmp_path):
    with zipfile.ZipFile(good_policy[0]) as z:
        entry = json.loads(z.read("esper_schema.json"))
    for bad in ({"activation_fn": "os.system"}, {"net_arch": "__import__('os')"}, {"net_arch": [999]}):
        f = tmp_path / "bad.zip"
        _rewrite(good_policy[0], f, {"esper_schema.json": json.dumps({**entry, "policy": {**entry["policy"], **bad}})})
        with pytest.raises(ValueError):
            load_policy(f)


def test_empty_and_corrupt_policy_files(tmp_path, capsys):
    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(os.urandom(256))
    for f in (empty, corrupt, tmp_path / "missing.zip"):
        assert cli_main(["run", "--agent", f"policy:{f}", "--env", "Esper-Tiny-v0", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f.name in err and "Traceback" not in err


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notes the protocol, then refuses
def test_crafted_dataset_and_checkpoint_files_do_not_run(tmp_path, capsys):
    from agents.simic import DatasetError, load

    marker = tmp_path / "pwned"
    demos = tmp_path / "demos.npz"
    np.savez(demos, meta=np.array([Marker(marker)], dtype=object), obs=np.zeros((1, 2), np.float32))
    with pytest.raises(DatasetError, match="demos.npz"):
        load(demos)
    assert cli_main(["bc", "--data", str(demos), "--out", str(tmp_path / "p.zip")]) == 2
    ckpt = tmp_path / "episode.ckpt"
    ckpt.write_bytes(pickle.dumps({"snapshot": Marker(marker)}))
    assert cli_main(["run", "--env", "Esper-Tiny-v0", "--checkpoint", str(ckpt), "--resume", "--quiet",
                     "--set", "train_size=64", "--set", "val_size=32", "--set", "test_size=32"]) == 2
    err = capsys.readouterr().err
    assert "episode.ckpt" in err and "Traceback" not in err
    assert not marker.exists()
