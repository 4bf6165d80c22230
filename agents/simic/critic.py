"""Labels a report can predict: a critic of the branches, fitted across seeds.

A branch label says which command was best *on one seed*: at epoch 0, where every report looks alike, the winner
differs from seed to seed by noise (Simic v3's clones learned that noise and lost). The critic here fits, over every
branched state of every seed, the advantage of each candidate over the rollout's own command -- ``100 * (value(a) -
value(own))`` in points of the objective -- as a function of the observation: a small ensemble of MLPs with weight
decay, one output per action, trained only on the (state, action) pairs that were played to the end (racing's
dropped candidates are left out). Its label at a state is the candidate with the largest predicted advantage if that
is above ``margin`` points, else the own command: what states *like this one* reward on average, not what this
seed's noise did. Labels at states that were not branched stay the own command.

``margins`` picks the margin by cross-validation over the training seeds (:func:`pick_margin`): the critic is
refitted without each fold of seeds and its labels at the fold's branched states are scored by the advantage they
realised where they were played to the end; the margin with the largest total wins, and if no margin's deviations
realise a gain the critic *abstains* (every label stays the own command: nothing in the branches says the report
warrants a deviation).

``form="seed"`` is a critic of one seed's own report: the advantage of culling a seed, predicted from what the
report shows of *that* seed (:data:`SEED_ENTRIES`: its ``potential``, its own loss, its contribution, how long it
has been in its stage) and the episode's progress, one small network shared by every slot. Branches that culled a
seed are its data; it labels only CULL commands (other alternatives keep the own command). Fitted on a faulty
family's labels (``esper iterate --focus growing``) the full-observation critic, 111 inputs and a few hundred
noisy labels, realised negative advantages on held-out training seeds at every margin; a seed's own view of the
same labels realised positive ones (Simic v4 attempt 4, ``docs/simic.md``).

``observe`` restricts what the critic reads to a few observation fields (the blind ablation reads only ``progress``
and ``budget_left``: a critic that cannot see the report can only learn a plan). :func:`held_out` fits on all seeds
but every ``every``-th and reports, on those, how often the critic's label equals the seed's own branch label and
the advantage (in points) each label realised where it was played.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from ..residual import observe_mask
from .dataset import Demonstrations


@dataclass(frozen=True)
class CriticConfig:
    """The critic of the branches and the labels it gives."""

    objective: str = "val"
    """Which branch value it fits: "val" (final validation accuracy) or "return"."""
    hidden: int = 64
    """Units of each of the two hidden layers."""
    epochs: int = 400
    """Full-batch Adam steps."""
    lr: float = 3e-3
    """Adam learning rate."""
    weight_decay: float = 1e-2
    """AdamW weight decay (the smoothing across seeds)."""
    ensemble: int = 5
    """Independently initialised MLPs whose predictions are averaged."""
    margin: float = 0.25
    """Points of predicted advantage a candidate needs over the own command to become the label (inf: abstain)."""
    margins: tuple[float, ...] = ()
    """If given, ``margin`` is picked among these by cross-validation over seeds (:func:`pick_margin`), or the critic
    abstains when none of them realises a gain."""
    folds: int = 4
    """Folds of seeds for :func:`pick_margin`."""
    observe: tuple[str, ...] | None = None
    """Observation fields the critic reads (others read as 0); None: all."""
    seed: int = 0
    """Initialisation."""
    form: str = "report"
    """"report": every action's advantage from the whole observation; "seed": a CULL's advantage from the culled
    seed's own entries (:class:`SeedCritic`)."""

    @classmethod
    def from_json(cls, d: dict) -> CriticConfig:
        """The config a ``*.critic.json`` summary recorded (:func:`write_labels`): lists as tuples, an abstaining
        critic's null margin as inf."""
        names = {f.name for f in fields(cls)}
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names}
        return cls(**{**d, "margin": math.inf if d.get("margin", 0.25) is None else d.get("margin", 0.25)})


FORMS = ("report", "seed")
SEED_ENTRIES = ("potential", "potential_fine", "isolated_loss", "contribution", "epochs_in_stage",
                "stage_germinated", "stage_training")
"""What the ``seed`` critic reads of the seed a command acts on (observation entries ``slot<k>_<entry>``)."""
SEED_GLOBALS = ("progress",)
"""... and of the episode."""


def seed_view(slots: int) -> tuple[str, ...]:
    """The observation fields a seed critic (and a clone of its labels) reads: :data:`SEED_GLOBALS` and every slot's
    :data:`SEED_ENTRIES`."""
    return SEED_GLOBALS + tuple(f"slot{k}_{e}" for k in range(slots) for e in SEED_ENTRIES)


@dataclass(frozen=True)
class Rows:
    """Every played (state, action) pair of the branched states: observation, action, advantage in points, seed."""

    obs: np.ndarray
    action: np.ndarray
    advantage: np.ndarray
    seed: np.ndarray
    own: np.ndarray
    """Whether the row is the own command's (advantage 0 by definition)."""


def branched_states(demos: Demonstrations) -> list[tuple[int, dict]]:
    """(seed, record) of every branched state with its branch values (``esper improve`` files since Simic v4)."""
    out = []
    for seed in sorted(demos.episodes):
        for b in demos.meta.get("budget", {}).get(str(seed), {}).get("branched", []):
            out.append((seed, b))
    return out


def rows(files: list[Demonstrations], objective: str = "val") -> Rows:
    k = 0 if objective == "val" else 1
    obs, act, adv, seeds, owns = [], [], [], [], []
    for demos in files:
        for seed, b in branched_states(demos):
            o = demos.episodes[seed].obs[b["step"]]
            own = b["values"][str(b["own"])][k]
            for a, v in b["values"].items():
                obs.append(o)
                act.append(int(a))
                adv.append(100.0 * (v[k] - own))
                seeds.append(seed)
                owns.append(int(a) == int(b["own"]))
    if not obs:
        raise ValueError("no branched states with branch values: label with `esper improve` (this version) first")
    return Rows(np.stack(obs).astype(np.float32), np.array(act), np.array(adv, np.float32), np.array(seeds),
                np.array(owns, bool))


class Critic:
    """An ensemble of MLPs: observation -> predicted advantage of every action over the own command (points)."""

    def __init__(self, nets: list[torch.nn.Module], mask: np.ndarray):
        self.nets, self.mask = nets, torch.as_tensor(mask)

    @torch.no_grad()
    def predict(self, obs: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(obs, np.float32)) * self.mask
        return torch.stack([n(x) for n in self.nets]).mean(0).numpy()

    def label(self, obs: np.ndarray, own: int, candidates: list[int], margin: float) -> int:
        q = self.predict(obs[None])[0]
        best = max(sorted(candidates), key=lambda a: q[a])
        return best if q[best] - q[own] > margin else own


class SeedCritic:
    """A critic of one seed's report: observation -> predicted advantage (points) of culling each slot's seed over
    the own command; 0 for every other command (never a label)."""

    def __init__(self, nets: list[torch.nn.Module], mask: np.ndarray, culls: dict[int, int], n_actions: int):
        self.nets, self.mask, self.culls, self.n_actions = nets, np.asarray(mask, np.float32), culls, n_actions

    @torch.no_grad()
    def predict(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float32) * self.mask
        q = np.zeros((len(obs), self.n_actions), np.float32)
        for a, slot in self.culls.items():
            x = torch.as_tensor(seed_features(obs, slot))
            q[:, a] = torch.stack([n(x).squeeze(-1) for n in self.nets]).mean(0).numpy()
        return q

    label = Critic.label


@functools.cache
def _seed_columns(slot: int) -> tuple[int, ...]:
    """Observation indices of the :data:`SEED_GLOBALS` and slot ``slot``'s :data:`SEED_ENTRIES` (looked up once)."""
    from esper_env.leyline import observation_fields

    where = {f: i for i, f in enumerate(observation_fields())}
    return tuple([where[g] for g in SEED_GLOBALS] + [where[f"slot{slot}_{e}"] for e in SEED_ENTRIES])


def seed_features(obs: np.ndarray, slot: int) -> np.ndarray:
    """The :data:`SEED_GLOBALS` and slot ``slot``'s :data:`SEED_ENTRIES` of each row of ``obs``."""
    return np.asarray(obs, np.float32)[:, list(_seed_columns(slot))]


def _cull_slots(n_actions: int) -> dict[int, int]:
    """Action index -> slot of every CULL command."""
    from esper_env.leyline import LAYOUT_CODEC, Op

    return {a: c.slot for a, c in enumerate(LAYOUT_CODEC.commands[:n_actions]) if c.op == Op.CULL}


def _fit_nets(x: torch.Tensor, y_of, n_out: int, cfg: CriticConfig) -> list[torch.nn.Module]:
    """The ensemble: ``cfg.ensemble`` two-hidden-layer MLPs, full-batch AdamW on ``mse(y_of(net(x)))``."""
    nets = []
    for m in range(cfg.ensemble):
        torch.manual_seed(cfg.seed * 1000 + m)
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], cfg.hidden), torch.nn.Tanh(),
                                  torch.nn.Linear(cfg.hidden, cfg.hidden), torch.nn.Tanh(),
                                  torch.nn.Linear(cfg.hidden, n_out))
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        for _ in range(cfg.epochs):
            loss = y_of(net(x))
            opt.zero_grad()
            loss.backward()
            opt.step()
        nets.append(net.eval())
    return nets


def _fit_seed(data: Rows, n_actions: int, cfg: CriticConfig) -> SeedCritic:
    mask, culls = observe_mask(cfg.observe), _cull_slots(n_actions)
    keep = np.isin(data.action, list(culls)) & ~data.own
    if not keep.any():
        raise ValueError("a seed critic learns from CULL branches and these labels have none: label with "
                         "--focus growing (or branch CULL candidates)")
    obs = data.obs[keep] * mask
    x = torch.as_tensor(np.concatenate([seed_features(o[None], culls[int(a)])
                                        for o, a in zip(obs, data.action[keep])]))
    y = torch.as_tensor(data.advantage[keep])
    nets = _fit_nets(x, lambda out: torch.nn.functional.mse_loss(out.squeeze(1), y), 1, cfg)
    return SeedCritic(nets, mask, culls, n_actions)


def fit(data: Rows, n_actions: int, cfg: CriticConfig) -> Critic | SeedCritic:
    if cfg.form == "seed":
        return _fit_seed(data, n_actions, cfg)
    mask = observe_mask(cfg.observe)
    x = torch.as_tensor(data.obs) * torch.as_tensor(mask)
    a = torch.as_tensor(data.action, dtype=torch.long)
    y = torch.as_tensor(data.advantage)
    nets = _fit_nets(x, lambda out: torch.nn.functional.mse_loss(out.gather(1, a[:, None]).squeeze(1), y), n_actions,
                     cfg)
    return Critic(nets, mask)


def candidates_of(record: dict) -> list[int]:
    """Every candidate branched at a state: played to the end, or dropped by the race."""
    return sorted({int(a) for a in (*record["values"], *record.get("dropped", {}))})


def relabel(demos: Demonstrations, critic: Critic, margin: float) -> Demonstrations:
    """A copy of ``demos`` whose ``teacher`` column holds the critic's label at every branched state."""
    out = copy.deepcopy(demos)
    for seed, b in branched_states(out):
        ep = out.episodes[seed]
        ep.teacher = np.array(ep.teacher, copy=True)
        ep.teacher[b["step"]] = critic.label(ep.obs[b["step"]], int(b["own"]), candidates_of(b), margin)
    return out


@dataclass(frozen=True)
class Scored:
    """A branched state as the margin's cross-validation reads it."""

    seed: int
    obs: np.ndarray
    own: int
    candidates: list[int]
    values: dict
    """Points of the objective of each candidate played to the end."""


def scored_states(files: list[Demonstrations], objective: str = "val") -> list[Scored]:
    """Every branched state of ``files``, with the value of each candidate played to the end."""
    k = 0 if objective == "val" else 1
    return [Scored(seed, d.episodes[seed].obs[b["step"]], int(b["own"]), candidates_of(b),
                   {int(a): 100.0 * v[k] for a, v in b["values"].items()})
            for d in files for seed, b in branched_states(d)]


def _fit_without(data: Rows, held: set[int], n_actions: int, cfg: CriticConfig) -> Critic:
    """The critic fitted on every row whose seed is not in ``held``."""
    keep = ~np.isin(data.seed, list(held))
    return fit(Rows(*(getattr(data, f.name)[keep] for f in fields(Rows))), n_actions, cfg)


@dataclass(frozen=True)
class HeldOut:
    """The critic fitted without every ``every``-th seed, read on those seeds' branched states."""

    states: int
    agree: float
    """Fraction of states where the critic's label equals the seed's own branch label."""
    deviations: int
    """States where the critic's label is not the own command."""
    realised: float
    """Mean advantage (points) of the critic's label over the own command where that label was played to the end
    (0 where it is the own command)."""
    realised_branch: float
    """The same for the seed's own branch label (its best branch: an upper bound no report-reader reaches)."""
    known: int
    """States where the critic's label was played to the end (where ``realised`` is measured)."""

    def to_json(self) -> dict:
        return asdict(self)


def held_out(states: list[Scored], data: Rows, seeds: list[int], n_actions: int, cfg: CriticConfig,
             every: int = 5) -> HeldOut:
    """Fit on the seeds not held out (every ``every``-th of ``seeds`` in order), read on the held-out ones."""
    held = set(sorted(set(seeds))[every - 1::every])
    critic = _fit_without(data, held, n_actions, cfg)
    agree = dev = known = 0
    realised, realised_branch, n = [], [], 0
    for st in (s for s in states if s.seed in held):
        n += 1
        values, own = st.values, st.own
        best = max(sorted(values), key=lambda a: values[a])
        branch_label = best if values[best] > values[own] else own
        label = critic.label(st.obs, own, st.candidates, cfg.margin)
        agree += label == branch_label
        dev += label != own
        realised_branch.append(values[branch_label] - values[own])
        if label in values:
            known += 1
            realised.append(values[label] - values[own])
    mean = (lambda v: float(np.mean(v)) if v else float("nan"))
    return HeldOut(n, agree / max(n, 1), dev, mean(realised), mean(realised_branch), known)


@dataclass(frozen=True)
class MarginScore:
    """One candidate margin's cross-validated score."""

    margin: float
    deviations: int
    """Held-out states where the critic's label was not the own command."""
    known: int
    """Deviations whose label was played to the end (racing drops some: their advantage is unknown, counted 0)."""
    realised: float
    """Total advantage (points) the deviations realised over the own command, summed over the held-out states."""


def pick_margin(states: list[Scored], data: Rows, n_actions: int, cfg: CriticConfig
                ) -> tuple[float, list[MarginScore]]:
    """The margin among ``cfg.margins`` whose held-out deviations realised the most (folds of seeds, the critic
    refitted on ``data`` without each), or inf (abstain) if none realised more than 0 points. Returns it and every
    score."""
    seeds = sorted({s.seed for s in states})
    total = {m: [0, 0, 0.0] for m in cfg.margins}
    for fold in range(min(cfg.folds, len(seeds))):
        held = set(seeds[fold::cfg.folds])
        critic = _fit_without(data, held, n_actions, cfg)
        for st in (s for s in states if s.seed in held):
            for m in cfg.margins:
                label = critic.label(st.obs, st.own, st.candidates, m)
                if label != st.own:
                    total[m][0] += 1
                    if label in st.values:
                        total[m][1] += 1
                        total[m][2] += st.values[label] - st.values[st.own]
    scores = [MarginScore(m, *total[m]) for m in cfg.margins]
    best = max(scores, key=lambda sc: (sc.realised, sc.margin), default=None)
    return (best.margin if best is not None and best.realised > 0 else math.inf), scores


def _json_margin(m: float) -> float | None:
    return None if math.isinf(m) else m


def write_labels(files: list[Path], outs: list[Path], cfg: CriticConfig, n_actions: int) -> dict:
    """Fit the critic on every file's branched states and write each file relabelled to its ``outs`` entry; the
    held-out check beside it. Returns the summary (also saved as ``<first out>.critic.json``)."""
    from esper_env.fileio import atomic_path, portable

    from .dataset import load

    demos = [load(f) for f in files]
    data, states = rows(demos, cfg.objective), scored_states(demos, cfg.objective)
    scores = None
    if cfg.margins:
        margin, scores = pick_margin(states, data, n_actions, cfg)
        cfg = replace(cfg, margin=margin)
    critic = fit(data, n_actions, cfg)
    changed = 0
    for d, out in zip(demos, outs):
        new = relabel(d, critic, cfg.margin)
        new.meta["labelling"] = dict(new.meta.get("labelling", {}), critic=_config_json(cfg))
        changed += sum(int((new.episodes[s].teacher != d.episodes[s].teacher).sum()) for s in d.episodes)
        new.save(out)
    check = held_out(states, data, [s for d in demos for s in d.episodes], n_actions, cfg)
    summary = dict(config=_config_json(cfg), files=[portable(f) for f in files],
                   states=sum(len(branched_states(d)) for d in demos), changed_labels=changed,
                   held_out=check.to_json(), abstained=math.isinf(cfg.margin),
                   **({"margins": [dict(asdict(sc), margin=_json_margin(sc.margin)) for sc in scores]}
                      if scores is not None else {}))
    with atomic_path(Path(outs[0]).with_suffix(".critic.json"), suffix=".json") as tmp, open(tmp, "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def _config_json(cfg: CriticConfig) -> dict:
    """The config as plain JSON (an abstaining critic's margin is written as null)."""
    out = json.loads(json.dumps(asdict(cfg), default=list))
    out["margin"] = _json_margin(cfg.margin)
    return out
