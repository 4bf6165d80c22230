"""Convert files made for the old per-env layout (observation version 3) to the common layout (version 4).

Before the common layout an env's spaces had only its enabled slots, numbered 0..S-1 (``slot k`` sat after host
block ``config.slots[k]``), and its enabled blueprints. Now every env has the three slot positions and five
blueprints, and a slot is named by its position. A file records the config it was made with, so every entry
maps by name: ``slot{k}_*`` becomes ``slot{config.slots[k]}_*`` and ``GERMINATE(slot=k, b)`` becomes
``GERMINATE(slot=config.slots[k], b)``.

* **Policies** (``.zip``): the first layers' weights move to the new positions of their inputs; the entries
  the old layout did not have (task context, enabled flags, positions it had no slot at) get weight 0; the
  actions it did not have get weight 0 and a bias :data:`NEW_ACTION_LOGIT` below the policy's lowest, so a
  converted policy acts exactly as before on the env it was trained on (its logits over the actions legal there
  are unchanged) and never picks a command it never learned. Adam's state (checkpoints) moves the same way.
* **Demonstrations** (``.npz``): observations gain the new entries as the env would now report them for the
  recorded config; masks and actions move to the new action indices.
* **Comparison records** (``.jsonl``): slot numbers in outcomes, starting architectures and commands become
  positions; the cache keys are recomputed (a converted policy file has a new hash).

``esper convert FILE...`` runs these (in place, atomically); a file already in the current layout is left alone.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from esper_env import leyline as ly
from esper_env.fileio import atomic_path

NEW_ACTION_LOGIT = 20.0
"""How far below a converted policy's lowest action bias the actions it never had start."""

OLD_VERSION = 3
"""The observation version this module converts from."""

_SLOT = re.compile(r"^slot(\d+)_")
_ACTION_SLOT = re.compile(r"slot=(\d+)")


class ConversionError(ValueError):
    """A file that cannot be converted (another version, or entries that have no place in the common layout)."""


def _positions(config: Mapping | None, what: str) -> tuple[int, ...]:
    if not config or "slots" not in config:
        raise ConversionError(f"{what} records no env config, so its slots cannot be placed in the common layout; "
                              "make it again with this version")
    return tuple(int(s) for s in config["slots"])


def field_name(old: str, positions: tuple[int, ...]) -> str:
    """The common-layout name of an old observation entry."""
    m = _SLOT.match(old)
    return f"slot{positions[int(m.group(1))]}_{old[m.end():]}" if m else old


def action_name(old: str, positions: tuple[int, ...]) -> str:
    """The common-layout name of an old command (``str(Command)``)."""
    return _ACTION_SLOT.sub(lambda m: f"slot={positions[int(m.group(1))]}", old)


def index_maps(schema: ly.ObservationSchema, positions: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(new index of every old observation entry, new index of every old action)."""
    if schema.obs_version != OLD_VERSION:
        raise ConversionError(f"observation version {schema.obs_version}: only version {OLD_VERSION} files convert")
    new = ly.ObservationSchema.build()
    fields, actions = {f: i for i, f in enumerate(new.fields)}, {a: i for i, a in enumerate(new.actions)}
    try:
        f_map = np.array([fields[field_name(f, positions)] for f in schema.fields])
        a_map = np.array([actions[action_name(a, positions)] for a in schema.actions])
    except (KeyError, IndexError) as e:
        raise ConversionError(f"entry {e} has no place in the common layout") from None
    return f_map, a_map


def template_vector(config: Mapping) -> np.ndarray:
    """The observation entries that do not change within an episode (task context, enabled flags, absent
    positions and blueprints) as the env reports them for ``config``; the rest are zero."""
    from esper_env.config import EsperConfig
    from esper_env.reporting import context_report

    report = context_report(EsperConfig.from_dict(dict(config)))
    return ly.report_to_vector(report)


# ---- policies -------------------------------------------------------------------------------------

def _convert_tensor(name: str, t, old_obs: int, f_map, a_map, new_bias: float | None = None):
    """One policy tensor (or its Adam moment) in the common layout: first layers gain input columns, the action
    head gains rows (a bias row the policy never had starts at ``new_bias``; everything else new is 0)."""
    import torch

    if t.ndim == 2 and t.shape[1] == old_obs and not name.startswith(("action_net", "value_net")):
        new = torch.zeros(t.shape[0], len(ly.observation_fields()), dtype=t.dtype)
        new[:, torch.as_tensor(f_map)] = t
        return new
    if name.startswith("action_net."):
        new = torch.zeros((ly.ActionCodec.layout().n, *t.shape[1:]), dtype=t.dtype)
        if new_bias is not None and name.endswith("bias"):
            new += new_bias
        new[torch.as_tensor(a_map)] = t
        return new
    return t


def _convert_optimizer(opt: dict, params: dict, old_obs: int, f_map, a_map) -> dict:
    """Adam's state: parameter ``i`` is the ``i``-th tensor of the policy's state dict (it has no buffers)."""
    names = list(params)
    state = {i: {k: _convert_tensor(names[int(i)], v, old_obs, f_map, a_map)
                 if k.startswith("exp_avg") and v.shape == params[names[int(i)]].shape else v for k, v in s.items()}
             for i, s in opt["state"].items()}
    return {**opt, "state": state}


def convert_policy(path: Path) -> bool:
    """Convert a saved policy (or PPO checkpoint) in place; False if it is already in the current layout."""
    from .policy_file import SCHEMA_ENTRY, PolicyEntry, read_policy_entry, read_tensors

    entry = read_policy_entry(path)
    if entry.schema.obs_version == ly.OBS_VERSION:
        return False
    f_map, a_map = index_maps(entry.schema, _positions(entry.config, str(path)))
    old_obs = len(entry.schema.fields)
    params = read_tensors(path, "policy.pth")
    low = float(params["action_net.bias"].min()) - NEW_ACTION_LOGIT
    converted = {k: _convert_tensor(k, t, old_obs, f_map, a_map, low) for k, t in params.items()}
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        blobs = {n: z.read(n) for n in names}
    blobs["policy.pth"] = _tensor_blob(converted)
    if "policy.optimizer.pth" in blobs:
        opt = read_tensors(path, "policy.optimizer.pth")
        blobs["policy.optimizer.pth"] = _tensor_blob(_convert_optimizer(opt, params, old_obs, f_map, a_map))
    new_entry = PolicyEntry(ly.ObservationSchema.build(), entry.config, entry.version, entry.policy)
    blobs[SCHEMA_ENTRY] = json.dumps({**new_entry.to_json(), "converted_from_obs_version": OLD_VERSION}).encode()
    with atomic_path(path, suffix=".zip") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for n in names:
            z.writestr(n, blobs[n])
    return True


def _tensor_blob(obj) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


# ---- demonstrations -------------------------------------------------------------------------------

def convert_dataset(path: Path) -> bool:
    """Convert a demonstration file in place; False if it is already in the current layout."""
    from .simic.dataset import load

    demos = load(path)
    if demos.schema.obs_version == ly.OBS_VERSION:
        return False
    f_map, a_map = index_maps(demos.schema, _positions(demos.meta.get("config"), str(path)))
    template = template_vector(demos.meta["config"])
    n_act = ly.ActionCodec.layout().n
    for e in demos.episodes.values():
        obs = np.tile(template, (len(e.obs), 1))
        obs[:, f_map] = e.obs
        mask = np.zeros((len(e.mask), n_act), bool)
        mask[:, a_map] = e.mask
        e.obs, e.mask, e.action, e.teacher = obs, mask, a_map[e.action], a_map[e.teacher]
    demos.meta["schema"] = ly.ObservationSchema.build().to_dict()
    demos.meta["converted_from_obs_version"] = OLD_VERSION
    demos.save(path)
    return True


# ---- comparison records ---------------------------------------------------------------------------

def convert_record(d: dict) -> dict:
    """One ``runs.jsonl`` record with slot numbers as positions (its key is recomputed by the caller)."""
    pos = _positions(d.get("config"), "a record")
    if pos == tuple(range(len(pos))):
        return d
    d = json.loads(json.dumps(d))
    o = d["outcome"]
    o["architecture"] = [[pos[int(k)], b] for k, b in o["architecture"]]
    for s in o["live_seeds"]:
        s["slot"] = pos[int(s["slot"])]
    for e in o["history"]:
        e["slot"] = pos[int(e["slot"])]
    if d.get("fossilized"):
        d["fossilized"] = [[pos[int(k)], b] for k, b in d["fossilized"]]
    if d.get("actions"):
        d["actions"] = [action_name(a, pos) for a in d["actions"]]
    return d


def convert_records(path: Path, converted_policies: Mapping[str, str] | None = None) -> bool:
    """Convert a ``runs.jsonl`` in place (records carry their observation version as ``layout``: 4 once
    converted); keys are recomputed from the converted run specs. False if every record is already converted."""
    from .compare.plan import named_rows, spec_of

    path = Path(path)
    rows = named_rows(path.parent / "table.md")
    lines = [json.loads(s) for s in path.read_text().splitlines() if s.strip()]
    if all(d.get("layout") == ly.OBS_VERSION for d in lines):
        return False
    out = []
    for d in lines:
        if d.get("layout") != ly.OBS_VERSION:
            d = convert_record(d)
            d["layout"] = ly.OBS_VERSION
            if d.get("key") and d.get("row"):
                try:
                    d["key"] = spec_of(d, rows).key
                except FileNotFoundError:  # a policy file that is no longer there: the key cannot be recomputed
                    pass
        out.append(d)
    with atomic_path(path, suffix=".jsonl") as tmp:
        Path(tmp).write_text("".join(json.dumps(d) + "\n" for d in out))
    return True


def convert_file(path: str | Path) -> bool:
    """Convert one file by its kind (``.zip`` policy, ``.npz`` demonstrations, ``.jsonl`` records)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}")
    kind = {".zip": convert_policy, ".npz": convert_dataset, ".jsonl": convert_records}.get(path.suffix)
    if kind is None:
        raise ConversionError(f"{path}: convert takes a policy (.zip), demonstrations (.npz) or records (.jsonl)")
    return kind(path)
