"""EsperConfig: presets, overrides, and every field refused clearly before any data is loaded."""

import math
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import esper_env
from esper_env.config import FIELD_NAMES, PRESETS, ConfigError, EsperConfig, field_docs, make_config, markdown_table

ENV_DOC = Path(__file__).resolve().parents[1] / "docs" / "environment.md"


def test_every_field_has_a_one_line_doc():
    docs = field_docs()
    assert set(docs) == set(FIELD_NAMES)
    assert all(docs[f] and "\n" not in docs[f] for f in FIELD_NAMES)


def test_registered_ids_are_presets_and_overrides_apply():
    for env_id, preset in esper_env.PRESET_OF.items():
        assert gym.spec(env_id).kwargs == {"config": preset}
    env = gym.make("Esper-Tiny-v0", max_epochs=3, train_size=64, val_size=32, test_size=32)
    assert env.unwrapped.config == PRESETS["tiny"].replace(max_epochs=3, train_size=64, val_size=32, test_size=32)
    assert env.unwrapped.max_epochs == 3


def test_dict_round_trip_and_differences():
    c = PRESETS["synthetic"].replace(slots=[0, 2], lr=0.1)
    assert c.slots == (0, 2)  # lists become tuples
    assert EsperConfig.from_dict(c.to_dict()) == c
    assert c.differences(PRESETS["synthetic"]) == ["slots: (0, 2) vs (0, 1, 2)", "lr: 0.1 vs 0.05"]


BAD = [
    ("max_epochs", 2.5, "integer"), ("max_epochs", "5", "integer"), ("max_epochs", 0, ">= 1"),
    ("max_epochs", True, "integer"), ("train_size", 0, ">= 1"), ("val_size", -3, ">= 1"),
    ("test_size", 0, ">= 1"), ("batch_size", 0, ">= 1"), ("lr", float("nan"), "finite"),
    ("lr", -0.1, "finite"), ("lr", 0.0, "would not train"), ("seed_lr", math.inf, "finite"),
    ("momentum", 1.0, r"\[0, 1\)"), ("weight_decay", -1e-4, "finite"), ("rent_coef", float("nan"), "finite"),
    ("illegal_penalty", -1, "finite"), ("synthetic_seed", -1, ">= 0"), ("width", 0, "finite"),
    ("host", "huge", "default"), ("dataset", "imagenet", "cifar10"), ("blueprints", ("conv", "norm"), "names"),
    ("blueprints", (), "non-empty"), ("slots", (0, 0), "distinct"), ("slots", (5,), "slot positions in 0..2"),
    ("blend_epochs", 0, ">= 1"), ("embargo_epochs", -1, ">= 0"), ("blend_schedule", "step", "linear"),
    ("lr_schedule", "exp", "cosine"), ("precision", "fp8", "bf16"), ("device", "tpu", "cuda:N"),
    ("plateau_window", 9, "1..4"), ("download", "yes", "True or False"),
    ("train_size", 10**12, "GiB"),
]


@pytest.mark.parametrize("field, value, allowed", BAD, ids=[f"{f}={v!r}" for f, v, _ in BAD])
def test_bad_values_are_refused_naming_field_value_and_what_is_allowed(field, value, allowed, tmp_path):
    with pytest.raises(ConfigError, match=allowed) as err:
        # A data root with no data at all: the config must fail first, before any loading is tried.
        gym.make("Esper-CIFAR10-v0", data_root=str(tmp_path / "nowhere"), **{field: value})
    assert str(err.value).startswith(f"{field}=") or field in str(err.value)
    assert repr(value)[:12] in str(err.value) or "images" in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        make_config("tiny", device="cuda")


def test_unknown_setting_names_the_closest_field():
    with pytest.raises(ConfigError, match="did you mean 'max_epochs'"):
        gym.make("Esper-Tiny-v0", max_epoch=3)
    with pytest.raises(TypeError):  # also a TypeError, like any unexpected keyword argument
        make_config("tiny", render_mode="human")
    with pytest.raises(ConfigError, match="unknown preset"):
        make_config("huge")


def test_synthetic_needs_explicit_sizes():
    with pytest.raises(ConfigError, match="explicit train_size and test_size"):
        make_config(dataset="synthetic")


def test_the_docs_list_the_fields_generated_from_the_dataclass():
    text = ENV_DOC.read_text()
    assert markdown_table() in text, "docs/environment.md's config table is stale: paste `python -m esper_env.config`"


def test_the_subset_setting_is_what_the_committed_subset_results_ran():
    """SETTINGS["cifar10-subset"] is the one home of the real-subset evaluation: the committed results were made
    with exactly it (data_root aside, which says where the data lies)."""
    import json
    from pathlib import Path

    from esper_env.config import SETTINGS
    from lab.settings import subset_overrides

    made = make_config("cifar10", **SETTINGS["cifar10-subset"]).to_dict()
    runs = Path(__file__).resolve().parents[1] / "benchmarks/results/baselines/cifar-subset/runs.jsonl"
    recorded = json.loads(runs.read_text().splitlines()[0])["config"]
    recorded.pop("data_root"), made.pop("data_root")
    from lab.compare.plan import ADDED_LATER  # fields added since, at the value every earlier run had
    made = {k: v for k, v in made.items() if not (k in ADDED_LATER and k not in recorded and v == ADDED_LATER[k])}
    assert recorded == made
    assert subset_overrides()["data_root"] == "../shared/data/cifar10-subset"


def test_cli_preset_applies_a_named_setting_before_set(tmp_path):
    import argparse

    from lab.options import add_env, env_overrides

    p = argparse.ArgumentParser()
    add_env(p, "Esper-CIFAR10-v0")
    args = p.parse_args(["--preset", "cifar10-subset", "--set", "max_epochs=3"])
    assert env_overrides(args) == dict(dataset="cifar10", train_size=4170, val_size=1000, test_size=1017,
                                       host="small", max_epochs=3)
