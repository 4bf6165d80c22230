"""The saved-policy file format: an SB3 zip plus an Esper entry, loaded as data (no unpickling).

:func:`save_policy` writes ``model.save(path)`` and adds :data:`SCHEMA_ENTRY`, a JSON :class:`PolicyEntry`:
the observation schema the policy was trained on, the env config, the package version and the policy's
architecture. :func:`load_policy` rebuilds the network from that entry and reads the weights with
``torch.load(weights_only=True)``, so a crafted file cannot run code.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import esper_env
from esper_env.fileio import atomic_path
from esper_env.leyline import ObservationSchema


@dataclass(frozen=True)
class PolicySpec:
    """What rebuilds a policy network: algorithm, policy class, layer sizes, activation."""

    algo: str
    policy: str
    net_arch: list | dict
    activation_fn: str
    share_features_extractor: bool = True


@dataclass(frozen=True)
class PolicyEntry:
    """The Esper entry of a saved policy (the JSON in :data:`SCHEMA_ENTRY`)."""

    schema: ObservationSchema
    config: dict | None = None
    """The :class:`~esper_env.config.EsperConfig` it was trained on, as a dict (None if not recorded)."""
    version: str | None = None
    policy: PolicySpec | None = None
    """None for files saved without Esper's architecture record (those need trust to load)."""

    def to_json(self) -> dict:
        return {"schema": self.schema.to_dict(), "config": self.config, "version": self.version,
                "policy": asdict(self.policy) if self.policy else None}

    @classmethod
    def from_json(cls, data: dict) -> PolicyEntry:
        spec = data.get("policy")
        if isinstance(spec, dict):
            try:
                spec = PolicySpec(**spec)
            except TypeError as e:
                raise ValueError(f"malformed policy architecture record ({e})") from None
        elif spec is not None:
            raise ValueError(f"malformed policy architecture record {spec!r}")
        return cls(ObservationSchema.from_dict(data["schema"]), data.get("config"), data.get("version"), spec)


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


def policy_spec(model) -> PolicySpec:
    """What rebuilds ``model``'s policy network."""
    p = model.policy
    return PolicySpec(algo=type(model).__name__, policy=type(p).__name__, net_arch=p.net_arch,
                      activation_fn=p.activation_fn.__name__, share_features_extractor=p.share_features_extractor)


def save_policy(model, path: str | Path, schema: ObservationSchema, config: dict | None = None,
                extra: dict[str, dict] | None = None) -> Path:
    """``model.save(path)`` plus the schema, env config and policy architecture inside the same zip, atomically;
    ``extra`` adds more JSON entries by name (a residual policy's plan)."""
    path = Path(path)
    if path.suffix != ".zip":
        path = path.with_suffix(".zip")
    with atomic_path(path, suffix=".zip") as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as z:
            entry = PolicyEntry(schema, config, esper_env.__version__, policy_spec(model))
            z.writestr(SCHEMA_ENTRY, json.dumps(entry.to_json()))
            for name, data in (extra or {}).items():
                z.writestr(name, json.dumps(data))
    return path


def read_policy_entry(path: str | Path) -> PolicyEntry:
    """The Esper entry of a saved policy; a clear error if the file has none or is not a zip."""
    try:
        with zipfile.ZipFile(path) as z:
            if SCHEMA_ENTRY not in z.namelist():
                raise SchemaMismatchError(
                    f"{path} records no Esper observation schema, so it cannot be checked against this env; "
                    "save policies with agents.save_policy(model, path, env.unwrapped.schema)")
            return PolicyEntry.from_json(json.loads(z.read(SCHEMA_ENTRY)))
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a readable saved policy ({type(e).__name__}: {e})") from None


def read_policy_schema(path: str | Path) -> ObservationSchema:
    """The schema recorded in a saved policy."""
    return read_policy_entry(path).schema


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


def build_policy(entry: PolicyEntry):
    """A fresh MaskableActorCriticPolicy with the recorded architecture for the recorded schema's spaces."""
    import torch
    from gymnasium import spaces
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

    spec = entry.policy
    if spec is None or spec.algo != "MaskablePPO":
        raise UntrustedPolicyError(f"the file records no MaskablePPO architecture; {TRUST_HINT}")
    if spec.activation_fn not in SAFE_ACTIVATIONS:
        raise ValueError(f"unsupported activation {spec.activation_fn!r} "
                         f"(allowed: {', '.join(SAFE_ACTIVATIONS)})")
    schema = entry.schema
    obs_space = spaces.Box(-1.0, 1.0, (len(schema.fields),), np.float32)
    net_arch = spec.net_arch
    if not (isinstance(net_arch, list) and all(isinstance(n, int) for n in net_arch)) and not (
            isinstance(net_arch, dict) and all(isinstance(v, list) and all(isinstance(n, int) for n in v)
                                               for v in net_arch.values())):
        raise ValueError(f"malformed net_arch {net_arch!r} in the policy file")
    return MaskableActorCriticPolicy(obs_space, spaces.Discrete(len(schema.actions)), lambda _: 0.0,
                                     net_arch=net_arch, activation_fn=getattr(torch.nn, spec.activation_fn),
                                     share_features_extractor=bool(spec.share_features_extractor))


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


def check_schema(recorded: ObservationSchema, current: ObservationSchema, what: str, prefix: bool = False) -> None:
    """Raise :class:`SchemaMismatchError` saying what differs, if anything does; with ``prefix`` (a policy that
    plays), a recorded schema whose entries ``current`` only appends to is accepted: the policy reads the first
    entries (:meth:`ObservationSchema.reads_prefix_of`)."""
    if prefix and recorded.reads_prefix_of(current):
        return
    diff = recorded.differences(current)
    if diff:
        hint = (" It was made for the old per-env layout (version 3), which this version cannot read: convert it "
                "with `esper convert FILE` of commit 72e2fcb or earlier (the converter was retired once every "
                "committed file had been converted), or make it again." if recorded.obs_version == 3 else
                " Make it again with this version of Esper.")
        raise SchemaMismatchError(f"{what} was made for other observations or actions than this env's: "
                                  + "; ".join(diff) + "." + hint)
