"""One settings source: each command's options come from its config dataclass (default, type, help)."""

import dataclasses

import pytest

from agents.simic import BCConfig, CollectConfig, PPOConfig
from esper_env.config import EsperConfig, field_docs
from esper_env.kasmina import MODEL_DEFAULTS, MorphogeneticModel, host_widths
from lab.cli import build_parser
from lab.compare import CompareConfig
from lab.run import RunConfig

COMMANDS = {"run": RunConfig, "compare": CompareConfig, "collect": CollectConfig, "bc": BCConfig, "ppo": PPOConfig}


def subparser(name):
    parser = build_parser()
    action = next(a for a in parser._actions if hasattr(a, "choices") and a.choices and name in a.choices)
    return action.choices[name]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_options_take_default_and_help_from_the_dataclass(command):
    cls, docs = COMMANDS[command], field_docs(COMMANDS[command])
    fields = {f.name: f for f in dataclasses.fields(cls)}
    derived = ("env_id", "overrides", "seeds" if command == "collect" else "")  # collect: --seeds or --episodes
    generated = [a for a in subparser(command)._actions if a.dest in fields and a.dest not in derived]
    assert len(generated) >= 3
    for action in generated:
        f = fields[action.dest]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert action.default == (list(default) if isinstance(default, tuple) else default), action.dest
        assert docs[action.dest].replace("%", "%%") in action.help


def test_parsed_options_build_the_config():
    from lab.options import config_from

    args = build_parser().parse_args(["compare", "--agents", "fixed", "--seeds", "3", "4", "--no-scratch",
                                      "--workers", "2"])
    cfg = config_from(args, CompareConfig, overrides={})
    assert cfg.rows == ("fixed",) and cfg.seeds == (3, 4) and cfg.scratch is False and cfg.workers == 2
    assert cfg.env_id == CompareConfig.env_id


def test_model_defaults_are_written_once():
    c, m = EsperConfig(), MorphogeneticModel(host_widths("tiny"))
    for name in ("blend_epochs", "blend_schedule", "embargo_epochs", "lr", "seed_lr", "slots", "blueprints"):
        assert getattr(c, name) == getattr(MODEL_DEFAULTS, name) == getattr(m.settings, name)
    assert BCConfig().ppo == PPOConfig().sb3_kwargs()
    with pytest.raises(TypeError, match="unknown model setting"):
        MorphogeneticModel(host_widths("tiny"), blend_epoch=2)
