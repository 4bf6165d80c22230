"""Files made for the old per-env layout (observation version 3) convert to the common layout exactly."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.convert import ConversionError, action_name, convert_file, field_name, index_maps
from agents.policy_file import load_policy, read_policy_entry
from esper_env import leyline as ly

ROOT = Path(__file__).resolve().parents[1]
POSITIONS = (1, 2)  # Esper-Fast-v0's slots: old slot 0 sat after block 1, old slot 1 after block 2


def old_schema() -> ly.ObservationSchema:
    """A version-3 schema of an env with two slots (after blocks 1, 2) and two blueprints."""
    fields = ["progress", "val_acc", "bp_norm_since_cull", "bp_lowrank_since_cull",
              *[f"slot{k}_{e}" for k in range(2) for e in ("stage_dormant", "stage_training", "bp_norm", "alpha")]]
    actions = ["WAIT", *[f"GERMINATE(slot={k}, {b})" for k in range(2) for b in ("norm", "lowrank")],
               *[f"ADVANCE(slot={k})" for k in range(2)], *[f"CULL(slot={k})" for k in range(2)]]
    return ly.ObservationSchema(3, tuple(fields), tuple(actions))


def test_names_move_to_positions():
    assert field_name("slot0_alpha", POSITIONS) == "slot1_alpha" and field_name("val_acc", POSITIONS) == "val_acc"
    assert action_name("GERMINATE(slot=1, norm)", POSITIONS) == "GERMINATE(slot=2, norm)"
    f_map, a_map = index_maps(old_schema(), POSITIONS)
    new = ly.ObservationSchema.build()
    assert [new.fields[i] for i in f_map][4:6] == ["slot1_stage_dormant", "slot1_stage_training"]
    assert [new.actions[i] for i in a_map][-1] == "CULL(slot=2)"
    with pytest.raises(ConversionError, match="version"):
        index_maps(ly.ObservationSchema.build(), POSITIONS)


def test_a_converted_policy_gives_the_same_logits_on_the_converted_observations(tmp_path):
    from gymnasium import spaces
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

    from agents.policy_file import SCHEMA_ENTRY, PolicyEntry, PolicySpec

    schema = old_schema()
    torch.manual_seed(0)
    old = MaskableActorCriticPolicy(spaces.Box(-1, 1, (len(schema.fields),), np.float32),
                                    spaces.Discrete(len(schema.actions)), lambda _: 0.0, net_arch=[16],
                                    activation_fn=torch.nn.Tanh)
    path = tmp_path / "old.zip"
    buf = __import__("io").BytesIO()
    torch.save(old.state_dict(), buf)
    spec = PolicySpec("MaskablePPO", "MaskableActorCriticPolicy", [16], "Tanh")
    entry = PolicyEntry(schema, {"slots": list(POSITIONS)}, "0.1.0", spec)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("policy.pth", buf.getvalue())
        z.writestr(SCHEMA_ENTRY, json.dumps(entry.to_json()))
    assert convert_file(path) and not convert_file(path)  # a second run leaves it alone
    new, new_entry = load_policy(path)
    assert new_entry.schema == ly.ObservationSchema.build()
    f_map, a_map = index_maps(schema, POSITIONS)
    rng = np.random.default_rng(0)
    obs_old = rng.uniform(-1, 1, (32, len(schema.fields))).astype(np.float32)
    obs_new = rng.uniform(-1, 1, (32, len(new_entry.schema.fields))).astype(np.float32)  # new entries: anything
    obs_new[:, f_map] = obs_old
    mask_old = rng.random((32, len(schema.actions))) < 0.6
    mask_old[:, 0] = True
    mask_new = np.zeros((32, 22), bool)
    mask_new[:, a_map] = mask_old
    with torch.no_grad():
        lo = old.get_distribution(torch.as_tensor(obs_old), action_masks=mask_old).distribution.logits
        ln = new.get_distribution(torch.as_tensor(obs_new), action_masks=mask_new).distribution.logits
    legal = torch.as_tensor(mask_old)
    assert torch.allclose(lo[legal], ln[:, a_map][legal], atol=1e-5)
    # an action it never had is far below every action it knew when legal
    with torch.no_grad():
        everything = new.get_distribution(torch.as_tensor(obs_new), action_masks=np.ones((32, 22), bool))
    probs = everything.distribution.probs
    unknown = np.setdiff1d(np.arange(22), a_map)
    assert float(probs[:, unknown].sum(1).max()) < 1e-3


def test_records_move_to_positions(tmp_path):
    rec = {"agent": "x", "seed": 0, "config": {"slots": [1, 2]}, "row": "heuristic",
           "outcome": {"architecture": [[0, "norm"]], "live_seeds": [{"slot": 1}], "history": [{"slot": 0}]},
           "fossilized": [[1, "norm"]], "actions": ["WAIT", "GERMINATE(slot=0, norm)", "CULL(slot=1)"]}
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    assert convert_file(path)
    d = json.loads(path.read_text())
    assert d["outcome"]["architecture"] == [[1, "norm"]] and d["outcome"]["live_seeds"] == [{"slot": 2}]
    assert d["outcome"]["history"] == [{"slot": 1}] and d["fossilized"] == [[2, "norm"]]
    assert d["actions"] == ["WAIT", "GERMINATE(slot=1, norm)", "CULL(slot=2)"] and d["layout"] == ly.OBS_VERSION
    assert not convert_file(path)  # never converted twice


def test_committed_policies_and_demonstrations_are_in_the_common_layout():
    from agents.simic.dataset import load
    zips = sorted((ROOT / "benchmarks" / "results").rglob("*.zip"))
    assert zips
    for p in zips:
        assert read_policy_entry(p).schema == ly.ObservationSchema.build(), p
        load_policy(p)
    for p in sorted((ROOT / "benchmarks" / "results").rglob("*.npz")):
        assert load(p).schema == ly.ObservationSchema.build(), p
