"""Behaviour cloning: a MaskablePPO policy trained to give the teacher's command the highest probability.

The loss is the class-weighted negative log-likelihood of the teacher's commands under the *masked*
distribution (through the policy's public ``evaluate_actions``), plus a value loss on the recorded
discounted returns so that PPO starts with a critic. Held-out *episodes* (every ``holdout_every``-th in seed
order) measure agreement: overall and balanced accuracy, and recall per command kind.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from esper_env.fileio import atomic_path, check_output_file
from esper_env.leyline import ActionCodec, Op

from ..policy_file import save_policy
from ..residual import RESIDUAL_ENTRY, observe_mask, residual_entry, residual_logits, with_bonus
from .dataset import DatasetError, Demonstrations, Episode
from .dataset import load as load_demonstrations
from .ppo import PPOConfig
from .threads import torch_threads


@dataclass
class BCConfig:
    """Behaviour-cloning settings (and the PPO settings stored in the model it writes)."""

    data: Path = Path("runs/demos.npz")
    """Demonstration file from ``esper collect``."""
    also: tuple[Path, ...] = ()
    """More demonstration files with the same spaces (e.g. labels from another env id): their episodes join
    training and held-out sets, each file split the same way. The policy is built for ``data``'s env."""
    out: Path = Path("runs/bc.zip")
    """Where to save the cloned policy (an SB3 zip with the Esper schema inside)."""
    holdout_every: int = 5
    """Every n-th episode (in seed order) is held out to measure agreement, never trained on."""
    epochs: int = 300
    """Passes over the training steps."""
    batch_size: int = 256
    """Steps per gradient step."""
    lr: float = 1e-3
    """Adam learning rate."""
    net_arch: tuple[int, ...] = (128, 128)
    """Hidden layers of the policy and of the value network (separate networks)."""
    class_weight_power: float = 0.5
    """Weight of a command = (its frequency)^-power, normalised: WAIT dominates the data, 0 = unweighted."""
    vf_coef: float = 0.5
    """Weight of the value loss (fits the critic on the recorded discounted returns)."""
    entropy_coef: float = 0.0
    """Entropy bonus: > 0 keeps probability on the other legal commands, so that PPO can still explore."""
    sharpen_entropy: float | None = None
    """After fitting, divide the action logits by a temperature (the most likely command never changes) until
    the policy's mean entropy over the training states is at most this many nats: the entropy bonus decides
    which command is ranked first, and PPO still starts from a nearly deterministic policy. None = as fitted."""
    gamma: float = 0.99
    """Discount of the returns the critic is fitted to (the PPO run uses the same)."""
    seed: int = 0
    """Initialisation and minibatch order."""
    residual: Path | None = None
    """A schedule, task schedule or rule base (JSON; agents/residual.py) the policy is residual to: it plays the
    plan's command unless its logits beat it by ``residual_bonus`` (an untrained network is the plan; only deviations
    are learned). None: a plain policy."""
    residual_bonus: float = 3.0
    """The plan's head start in logits (residual policies only)."""
    observe: tuple[str, ...] | None = None
    """Residual policies only: the observation fields the network reads (the others read as 0, in training and
    when it plays; the blind ablation reads ``progress`` and ``budget_left``). None: all."""
    ppo: dict = field(default_factory=lambda: PPOConfig().sb3_kwargs())
    """MaskablePPO settings stored in the model: :class:`PPOConfig`'s defaults (``esper ppo`` may override them)."""

    def check(self) -> None:
        """Every setting, before any work starts (one clear error each)."""
        for name in ("epochs", "batch_size", "holdout_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not 0.0 <= self.entropy_coef < 100:
            raise ValueError(f"--entropy-coef must be in [0, 100), got {self.entropy_coef}")
        if self.sharpen_entropy is not None and not self.sharpen_entropy > 0:
            raise ValueError(f"--sharpen-entropy must be > 0 nats, got {self.sharpen_entropy}")
        if not self.lr > 0 or self.class_weight_power < 0 or self.vf_coef < 0 or not 0 < self.gamma <= 1:
            raise ValueError("lr must be > 0, class_weight_power and vf_coef >= 0, gamma in (0, 1]")
        for path in (self.data, *self.also):
            if not Path(path).is_file():
                raise FileNotFoundError(f"demonstration file {path}: not found (relative to {Path.cwd()}); "
                                f"record one with `esper collect`")
        if self.residual is not None:
            from ..residual import load_base

            load_base(self.residual)  # exists and parses (a rule base, a schedule or a task schedule)
            if not self.residual_bonus > 0:
                raise ValueError(f"--residual-bonus must be > 0, got {self.residual_bonus}")
            observe_mask(self.observe)  # known fields
            if self.sharpen_entropy is not None:
                raise ValueError("--sharpen-entropy rescales the logits, which changes where a residual policy "
                                 "overrules its plan; leave it unset with --residual")
        elif self.observe is not None:
            raise ValueError("observe masks a residual policy's network; give --residual too")
        check_output_file(self.out, "--out", ("zip",))


@dataclass
class Agreement:
    """How often the policy's most likely legal command equals the teacher's, on held-out episodes."""

    steps: int
    accuracy: float
    balanced_accuracy: float
    """Mean recall over the teacher's commands present (each (command, slot, blueprint) a class)."""
    recall_by_kind: dict[str, float]
    """Recall over steps whose teacher command is WAIT / GERMINATE / ADVANCE / CULL."""
    recall_by_action: dict[str, float]

    def lines(self) -> list[str]:
        kinds = "  ".join(f"{k} {v:.1%}" for k, v in self.recall_by_kind.items())
        return [f"held-out steps {self.steps}: accuracy {self.accuracy:.1%}, balanced accuracy "
                f"{self.balanced_accuracy:.1%}", f"recall by command: {kinds}"]


@dataclass(frozen=True)
class Entropy:
    """Mean entropy (nats) of the cloned policy over the training states, as fitted and after sharpening."""

    fitted: float
    logit_scale: float | None = None
    """The factor the action logits were multiplied by (None: not sharpened)."""
    sharpened: float | None = None


@dataclass(frozen=True)
class BCReport:
    """What cloning gave; written beside the policy as ``<out>.json``."""

    config: dict
    """The :class:`BCConfig` as plain data."""
    train_episodes: int
    held_out_episodes: int
    train: Agreement
    held_out: Agreement
    entropy: Entropy
    data_meta: dict
    """The demonstration file's env id, teacher, exploration, machine and date (``also``: the other files')."""

    def to_json(self) -> dict:
        d = asdict(self)
        d["entropy"] = {k: v for k, v in d["entropy"].items() if v is not None}
        return d


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    out, g = np.zeros(len(rewards), np.float32), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        g = float(rewards[t]) + gamma * g
        out[t] = g
    return out


def split(demos: Demonstrations, every: int) -> tuple[list[Episode], list[Episode]]:
    """(training, held-out) episodes: every ``every``-th episode in seed order is held out."""
    eps = [demos.episodes[s] for s in sorted(demos.episodes)]
    held = [e for i, e in enumerate(eps) if i % every == every - 1]
    return [e for i, e in enumerate(eps) if i % every != every - 1], held


def _tensors(eps: list[Episode], gamma: float, observe: tuple[str, ...] | None = None):
    obs = torch.as_tensor(np.concatenate([e.obs for e in eps]), dtype=torch.float32)
    if observe is not None:
        obs = obs * torch.as_tensor(observe_mask(observe))
    mask = torch.as_tensor(np.concatenate([e.mask for e in eps]))
    teacher = torch.as_tensor(np.concatenate([e.teacher for e in eps]), dtype=torch.long)
    returns = torch.as_tensor(np.concatenate([discounted_returns(e.reward, gamma) for e in eps]))
    return obs, mask, teacher, returns


def plan_actions(demos: Demonstrations, plan) -> dict[int, np.ndarray]:
    """The plan's command at every recorded state, by replaying each episode's executed commands from its seed
    (the env is deterministic; a state that does not replay is refused). One torch thread, as labels are made:
    kernels of other thread counts may round differently."""
    import gymnasium as gym

    from ..residual import plan_action

    env = gym.make(demos.meta["env_id"], **demos.env_kwargs)
    out = {}
    try:
        with torch_threads(1):
            for seed, ep in demos.episodes.items():
                obs, info = env.reset(seed=seed)
                base = np.zeros(len(ep.action), dtype=np.int64)
                for i, a in enumerate(ep.action):
                    if not np.allclose(obs, ep.obs[i], atol=1e-5):
                        raise DatasetError(f"episode of seed {seed} does not replay at step {i} (recorded with other "
                                           "code or settings?); relabel it to train a residual policy")
                    base[i] = plan_action(plan, info["report"], np.asarray(info["action_mask"], dtype=bool))
                    obs, _, _, _, info = env.step(int(a))
                out[seed] = base
    finally:
        env.close()
    return out


@torch.no_grad()
def agreement(policy, eps: list[Episode], codec: ActionCodec, residual: tuple | None = None,
              observe: tuple[str, ...] | None = None) -> Agreement:
    """The policy's deterministic (most likely legal) command against the teacher's on ``eps``; ``residual``:
    (plan actions by seed, bonus) for a residual policy, whose network reads ``observe`` (None: all fields)."""
    obs, mask, teacher, _ = _tensors(eps, 1.0, observe)
    policy.set_training_mode(False)
    if residual is None:
        pred = policy.get_distribution(obs, action_masks=mask.numpy()).mode()
    else:
        base = np.concatenate([residual[0][e.seed] for e in eps])
        pred = residual_logits(policy, obs, mask.numpy(), base, residual[1]).argmax(-1)
    hit = (pred == teacher).numpy()
    teacher = teacher.numpy()
    by_action = {str(codec.decode(a)): float(hit[teacher == a].mean()) for a in np.unique(teacher)}
    kinds = np.array([codec.decode(a).op.name for a in teacher])
    by_kind = {op.name: float(hit[kinds == op.name].mean()) for op in Op if (kinds == op.name).any()}
    return Agreement(len(hit), float(hit.mean()), float(np.mean(list(by_action.values()))), by_kind, by_action)


@torch.no_grad()
def mean_entropy(policy, obs: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean entropy (nats) of the masked action distribution over ``obs``."""
    return float(policy.get_distribution(obs, action_masks=mask.numpy()).entropy().mean())


@torch.no_grad()
def sharpen(policy, obs: torch.Tensor, mask: torch.Tensor, target: float) -> float:
    """Scale the action head (logits times k >= 1, so the argmax is unchanged) until the mean entropy over
    ``obs`` is at most ``target``; returns k. Entropy falls monotonically as k grows, so k is bisected."""
    head = policy.action_net
    w, b = head.weight.clone(), head.bias.clone()

    def entropy_at(k: float) -> float:
        head.weight.copy_(k * w)
        head.bias.copy_(k * b)
        return mean_entropy(policy, obs, mask)

    if entropy_at(1.0) <= target:
        return 1.0
    lo, hi = 1.0, 2.0
    while entropy_at(hi) > target and hi < 1e6:
        lo, hi = hi, 2 * hi
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if entropy_at(mid) > target else (lo, mid)
    entropy_at(hi)
    return hi


def class_weights(labels: torch.Tensor, n: int, power: float) -> torch.Tensor:
    counts = torch.bincount(labels, minlength=n).float()
    w = torch.where(counts > 0, (counts / counts.sum()).clamp_min(1e-12) ** -power, torch.zeros(()))
    return w / (w * counts).sum() * counts.sum()  # mean weight per step = 1


def behaviour_clone(cfg: BCConfig, progress: bool = True) -> tuple[object, Agreement, BCReport]:
    """Train, save ``cfg.out`` (and ``<out>.json`` with the agreement), return (model, held-out agreement,
    report)."""
    import gymnasium as gym
    from sb3_contrib import MaskablePPO
    from tqdm import trange

    import esper_env  # noqa: F401

    cfg.check()
    paths = (cfg.data, *cfg.also)
    files = [load_demonstrations(path) for path in paths]
    demos = files[0]
    env = gym.make(demos.meta["env_id"], **demos.env_kwargs)
    train_eps, held_eps, metas = [], [], []
    for path, d in zip(paths, files):
        d.check_env(env.unwrapped.schema, f"dataset {path}")
        train, held = split(d, cfg.holdout_every)
        if not train or not held:
            raise ValueError(f"{path} has {len(d.episodes)} episodes; behaviour cloning needs at least "
                             f"{cfg.holdout_every} per file (every {cfg.holdout_every}-th is held out); collect more")
        train_eps, held_eps = train_eps + train, held_eps + held
        metas.append({k: d.meta.get(k) for k in ("env_id", "teacher", "explore", "machine", "date")})
    torch.manual_seed(cfg.seed)
    arch = list(cfg.net_arch)
    model = MaskablePPO("MlpPolicy", env, policy_kwargs=dict(net_arch=dict(pi=arch, vf=arch)), gamma=cfg.gamma,
                        seed=cfg.seed, device="cpu", verbose=0, **cfg.ppo)
    policy = model.policy
    policy.set_training_mode(True)
    obs, mask, teacher, returns = _tensors(train_eps, cfg.gamma, cfg.observe)
    residual = None
    if cfg.residual is not None:  # the plan's command at every state: the logit head start the loss sees
        from ..residual import load_base

        plan = load_base(cfg.residual)
        bases = {}
        for path, d in zip(paths, files):
            if set(bases) & set(d.episodes):
                raise ValueError(f"{path} repeats a seed of another file; a residual policy needs each seed once")
            bases.update(plan_actions(d, plan))
        residual = (bases, cfg.residual_bonus)
        base = torch.as_tensor(np.concatenate([bases[e.seed] for e in train_eps]))
    weights = class_weights(teacher, env.action_space.n, cfg.class_weight_power)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    n = len(teacher)
    codec = env.unwrapped.codec
    bar = trange(cfg.epochs, desc="bc", unit="epoch", disable=not progress)
    for _ in bar:
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            if residual is None:
                values, logp, entropy = policy.evaluate_actions(obs[idx], teacher[idx],
                                                                action_masks=mask[idx].numpy())
            else:  # one actor pass: the residual policy's log-probability; the entropy stays the network's own
                dist = policy.get_distribution(obs[idx], action_masks=mask[idx].numpy())
                values, entropy = policy.predict_values(obs[idx]), dist.entropy()
                logits = with_bonus(dist.distribution.logits, base[idx], cfg.residual_bonus)
                logp = torch.log_softmax(logits, -1).gather(1, teacher[idx, None]).squeeze(1)
            w = weights[teacher[idx]]
            nll = -(w * logp).sum() / w.sum()
            value_loss = F.mse_loss(values.flatten(), returns[idx])
            loss = nll + cfg.vf_coef * value_loss - cfg.entropy_coef * entropy.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        bar.set_postfix(nll=f"{nll.item():.3f}", value=f"{value_loss.item():.4f}")
    policy.set_training_mode(False)
    entropy = Entropy(fitted=mean_entropy(policy, obs, mask))
    if cfg.sharpen_entropy is not None:
        scale = sharpen(policy, obs, mask, cfg.sharpen_entropy)
        entropy = Entropy(entropy.fitted, scale, mean_entropy(policy, obs, mask))
    train_agree = agreement(policy, train_eps, codec, residual, cfg.observe)
    held = agreement(policy, held_eps, codec, residual, cfg.observe)
    report = BCReport(config=json.loads(json.dumps(asdict(cfg), default=str)),
                      train_episodes=len(train_eps), held_out_episodes=len(held_eps), train=train_agree,
                      held_out=held, entropy=entropy,
                      data_meta=metas[0] if len(metas) == 1 else dict(metas[0], also=metas[1:]))
    extra = {RESIDUAL_ENTRY: residual_entry(plan, cfg.residual_bonus, cfg.observe)} if residual is not None else None
    out = save_policy(model, cfg.out, env.unwrapped.schema, config=demos.meta["config"], extra=extra)
    with atomic_path(out.with_suffix(".json"), suffix=".json") as tmp, open(tmp, "w") as f:
        json.dump(report.to_json(), f, indent=1)
    env.close()
    return model, held, report
