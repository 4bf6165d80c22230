"""The one interface every controller implements, and the episode runner.

Controllers see only what a learned policy would: the observation vector, and ``info`` with the
structured Leyline report and the action mask. They never reach into the environment's model.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

import esper_env
from esper_env.fileio import atomic_path
from esper_env.leyline import ActionCodec, Command, EpisodeOutcome, LifecycleEvent, ObservationSchema, TrainingReport


@runtime_checkable
class Agent(Protocol):
    """A controller: ``reset(seed)`` at each episode start, then ``act(observation, info)`` per step."""

    name: str

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> int: ...


class RuleAgent:
    """Base for hand-written controllers: ``decide`` returns a command and a reason for the log."""

    name = "rule"

    def __init__(self) -> None:
        self.last_reason = ""

    def reset(self, seed: int | None = None) -> None:
        self.last_reason = ""

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> int:
        report: TrainingReport = info["report"]
        codec = ActionCodec.for_report(report)
        command, reason = self.decide(report)
        action = codec.encode(command)
        if not info["action_mask"][action]:  # a rule asked for something illegal: say so, do nothing
            command, reason, action = Command.wait(), f"{command} is not legal now ({reason})", 0
        self.last_reason = reason
        return action

    def decide(self, report: TrainingReport) -> tuple[Command, str]:
        raise NotImplementedError


@dataclass(frozen=True)
class StepRecord:
    """One step of an episode: the command given after ``report_before`` and what came of it."""

    epoch: int
    """Epoch at which the command was given (it shapes epoch ``epoch + 1``)."""
    action: int
    command: str
    reason: str
    reward: float
    report: TrainingReport
    """The report after the epoch the command shaped."""
    illegal: bool = False


@dataclass
class EpisodeRecord:
    """A typed record of one episode."""

    agent: str
    seed: int | None
    initial_report: TrainingReport
    steps: list[StepRecord] = field(default_factory=list)
    outcome: EpisodeOutcome | None = None
    """``info["final"]`` of the last step (None while the episode runs)."""

    @property
    def episode_return(self) -> float:
        return float(sum(s.reward for s in self.steps))

    @property
    def history(self) -> tuple[LifecycleEvent, ...]:
        return self.outcome.history if self.outcome is not None else ()


def run_episode(env, agent: Agent, seed: int | None = None, *, options: dict | None = None,
                on_step: Callable[[StepRecord], None] | None = None,
                after_step: Callable[[EpisodeRecord], None] | None = None) -> EpisodeRecord:
    """Play one episode of ``env`` with ``agent``; ``on_step`` is called after every step (for logs),
    ``after_step`` after it (to save a checkpoint)."""
    obs, info = env.reset(seed=seed, options=options)
    agent.reset(seed)
    record = EpisodeRecord(getattr(agent, "name", type(agent).__name__), seed, info["report"])
    return play(env, agent, obs, info, record, on_step=on_step, after_step=after_step)


def play(env, agent: Agent, obs: np.ndarray, info: dict[str, Any], record: EpisodeRecord, *,
         on_step: Callable[[StepRecord], None] | None = None,
         after_step: Callable[[EpisodeRecord], None] | None = None) -> EpisodeRecord:
    """Continue ``record``'s episode from ``(obs, info)`` to its end (used by :func:`run_episode` and to
    resume a restored snapshot); ``after_step`` may save a checkpoint after each step."""
    codec = ActionCodec.for_report(info["report"])
    done = False
    while not done:
        epoch = info["report"].epoch
        action = int(agent.act(obs, info))
        reason = getattr(agent, "last_reason", "")
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        step = StepRecord(epoch, action, str(codec.decode(action)), reason, float(reward), info["report"],
                          bool(info.get("illegal_command", False)))
        record.steps.append(step)
        if done:
            record.outcome = info.get("final")
        if on_step is not None:
            on_step(step)
        if after_step is not None:
            after_step(record)
    return record


SCHEMA_ENTRY = "esper_schema.json"
"""The entry :func:`save_policy` adds to an SB3 zip: observation schema, env config, package version, and the
policy's architecture (what :func:`load_policy` needs to rebuild it without unpickling anything)."""

SAFE_ACTIVATIONS = ("Tanh", "ReLU", "ELU", "LeakyReLU", "GELU", "SiLU")
"""Activation functions a policy file may name (looked up in ``torch.nn`` only from this list)."""

TRUST_HINT = ("loading it needs SB3's unpickling, which can run code from the file; pass --trust-policy-file "
              "(trust=True) only for a file you made or trust")


class SchemaMismatchError(ValueError):
    """A saved policy or dataset was made for other observations or actions than this env's."""


class UntrustedPolicyError(ValueError):
    """A policy file that can only be loaded by unpickling (which could run code), without trust given."""


def policy_spec(model) -> dict:
    """What rebuilds ``model``'s policy network: algorithm, layer sizes, activation (plain JSON data)."""
    p = model.policy
    return dict(algo=type(model).__name__, policy=type(p).__name__, net_arch=p.net_arch,
                activation_fn=p.activation_fn.__name__, share_features_extractor=p.share_features_extractor)


def save_policy(model, path: str | Path, schema: ObservationSchema, config: dict | None = None) -> Path:
    """``model.save(path)`` plus the schema, env config and policy architecture inside the same zip, atomically."""
    path = Path(path)
    if path.suffix != ".zip":
        path = path.with_suffix(".zip")
    with atomic_path(path, suffix=".zip") as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as z:
            z.writestr(SCHEMA_ENTRY, json.dumps({"schema": schema.to_dict(), "config": config,
                                                  "version": esper_env.__version__, "policy": policy_spec(model)}))
    return path


def read_policy_entry(path: str | Path) -> dict:
    """The Esper entry of a saved policy (plain JSON); a clear error if the file has none or is not a zip."""
    try:
        with zipfile.ZipFile(path) as z:
            if SCHEMA_ENTRY not in z.namelist():
                raise SchemaMismatchError(
                    f"{path} records no Esper observation schema, so it cannot be checked against this env; "
                    "save policies with agents.save_policy(model, path, env.unwrapped.schema)")
            entry = json.loads(z.read(SCHEMA_ENTRY))
            ObservationSchema.from_dict(entry["schema"])
            return entry
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a readable saved policy ({type(e).__name__}: {e})") from None


def read_policy_schema(path: str | Path) -> ObservationSchema:
    """The schema recorded in a saved policy."""
    return ObservationSchema.from_dict(read_policy_entry(path)["schema"])


def read_tensors(path: str | Path, entry: str) -> dict:
    """A state dict stored in a policy zip, read with ``torch.load(weights_only=True)``: tensors and plain
    containers only; anything else in the file is refused, never executed."""
    import io

    import torch

    try:
        with zipfile.ZipFile(path) as z:
            blob = z.read(entry)
        return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except KeyError:
        raise ValueError(f"{path} has no {entry} (not a saved SB3 policy)") from None
    except pickle.UnpicklingError as e:  # weights_only refused an object: nothing from the file ran
        raise ValueError(f"{path}: {entry} holds more than tensors; it was not loaded ({e})") from None
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as e:
        raise ValueError(f"{path}: {entry} is not readable tensor data ({type(e).__name__}: {e})") from None


def build_policy(entry: dict):
    """A fresh MaskableActorCriticPolicy with the recorded architecture for the recorded schema's spaces."""
    import torch
    from gymnasium import spaces
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

    spec = entry.get("policy")
    if not spec or spec.get("algo") != "MaskablePPO":
        raise UntrustedPolicyError(f"the file records no MaskablePPO architecture; {TRUST_HINT}")
    if spec.get("activation_fn") not in SAFE_ACTIVATIONS:
        raise ValueError(f"unsupported activation {spec.get('activation_fn')!r} "
                         f"(allowed: {', '.join(SAFE_ACTIVATIONS)})")
    schema = ObservationSchema.from_dict(entry["schema"])
    obs_space = spaces.Box(-1.0, 1.0, (len(schema.fields),), np.float32)
    net_arch = spec["net_arch"]
    if not (isinstance(net_arch, list) and all(isinstance(n, int) for n in net_arch)) and not (
            isinstance(net_arch, dict) and all(isinstance(v, list) and all(isinstance(n, int) for n in v)
                                               for v in net_arch.values())):
        raise ValueError(f"malformed net_arch {net_arch!r} in the policy file")
    return MaskableActorCriticPolicy(obs_space, spaces.Discrete(len(schema.actions)), lambda _: 0.0,
                                     net_arch=net_arch, activation_fn=getattr(torch.nn, spec["activation_fn"]),
                                     share_features_extractor=bool(spec.get("share_features_extractor", True)))


def load_policy(path: str | Path):
    """The policy network of a saved MaskablePPO, rebuilt from the file's JSON entry and its tensors only
    (no unpickling: a crafted file cannot run code). Returns ``(policy, entry)``."""
    entry = read_policy_entry(path)
    policy = build_policy(entry)
    try:
        policy.load_state_dict(read_tensors(path, "policy.pth"))
    except RuntimeError as e:
        raise ValueError(f"{path}: the weights do not fit the recorded architecture ({e})") from None
    policy.set_training_mode(False)
    return policy, entry


def check_schema(recorded: ObservationSchema, current: ObservationSchema, what: str) -> None:
    """Raise :class:`SchemaMismatchError` saying what differs, if anything does."""
    diff = recorded.differences(current)
    if diff:
        raise SchemaMismatchError(f"{what} was made for other observations or actions than this env's: "
                                  + "; ".join(diff) + ". Use it with the env it was trained on, or retrain.")


class PolicyAgent:
    """A trained SB3 / sb3-contrib model behind the :class:`Agent` protocol.

    MaskablePPO models are given the action mask; other algorithms ignore it (the env turns an illegal
    choice into a no-op with a penalty). A policy loaded from a file is checked against the schema of the
    env it plays: at :meth:`load` when one is given, else at the first :meth:`act`.
    """

    def __init__(self, model, name: str = "policy", deterministic: bool = True,
                 schema: ObservationSchema | None = None):
        self.model = model
        self.name = name
        self.deterministic = deterministic
        self.schema = schema
        self.last_reason = ""
        self._checked = schema is None

    @classmethod
    def load(cls, path: str | Path, algo: str = "MaskablePPO", expected: ObservationSchema | None = None,
             trust: bool = False, **kw) -> PolicyAgent:
        """A saved policy. MaskablePPO files written by :func:`save_policy` load as data (JSON + tensors, no
        unpickling); anything else needs ``trust=True``, because SB3's loader unpickles parts of the file."""
        path = Path(path)
        if not path.is_file() and path.with_suffix(".zip").is_file():
            path = path.with_suffix(".zip")
        if not path.is_file():
            raise FileNotFoundError(f"no saved policy at {path}; train one first (agents.save_policy)")
        entry = read_policy_entry(path)
        schema = ObservationSchema.from_dict(entry["schema"])
        if expected is not None:
            check_schema(schema, expected, f"policy {path}")
        name = kw.pop("name", path.stem)
        if algo == "MaskablePPO" and (entry.get("policy") or {}).get("algo") == "MaskablePPO":
            return cls(load_policy(path)[0], name=name, schema=schema, **kw)
        if not trust:
            raise UntrustedPolicyError(f"{path}: {TRUST_HINT}")
        if algo == "MaskablePPO":
            from sb3_contrib import MaskablePPO as Algo
        else:
            import stable_baselines3
            try:
                Algo = getattr(stable_baselines3, algo)
            except AttributeError:
                raise ValueError(f"unknown SB3 algorithm {algo!r}") from None
        return cls(Algo.load(str(path), device="cpu"), name=name, schema=schema, **kw)

    def reset(self, seed: int | None = None) -> None:
        self.last_reason = ""

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> int:
        if not self._checked:
            check_schema(self.schema, ObservationSchema.for_report(info["report"]), f"policy {self.name!r}")
            self._checked = True
        kwargs = {}
        if type(self.model).__name__ in ("MaskablePPO", "MaskableActorCriticPolicy"):
            kwargs["action_masks"] = info["action_mask"]
        action, _ = self.model.predict(observation, deterministic=self.deterministic, **kwargs)
        self.last_reason = "policy"
        return int(action)
