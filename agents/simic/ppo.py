"""PPO fine-tuning of a cloned policy (MaskablePPO), with the warm start protected and every run resumable.

Protecting the warm start (an earlier system's PPO collapsed its value and entropy within a few updates):

* the critic is fitted during cloning, and the first ``vf_warmup_updates`` PPO updates train the critic only
  (the actor's parameters are frozen), so the first policy gradients use a critic fitted on-policy;
* a small learning rate, a small clip range and an early stop on the approximate KL (``target_kl``);
* TensorBoard shows the agreement with the heuristic (``simic/agreement_greedy``: the policy's most likely
  command equals the heuristic's at the visited state) and the entropy next to SB3's losses.

Episodes of training env ``i`` (of ``n_envs``) use seeds ``seed_start + i, seed_start + i + n_envs, ...``:
disjoint from evaluation (< 900) and validation (900-999) seeds and from collection (1000-1999) with the default 2000.
"""

from __future__ import annotations

import json
import signal
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import gymnasium as gym
import numpy as np

import esper_env
from esper_env.fileio import atomic_path, check_output_dir, portable

from ..callbacks import ProgressCallback
from ..parallel import maybe_interrupt
from ..policy_file import build_policy, check_schema, read_policy_entry, read_policy_schema, read_tensors, save_policy
from ..residual import RESIDUAL_ENTRY, Residual, read_residual, residual_entry
from ..seeds import check_training_seeds

PPO_SEEDS_START = 2000
"""First episode seed of PPO training (training seeds, agents/seeds.py; collection uses 1000-1999)."""


@dataclass
class PPOConfig:
    """A PPO fine-tuning run."""

    init: Path = Path("runs/bc.zip")
    """The policy to start from (``esper bc`` output); its schema must match the env; a residual clone stays
    residual (the plan's head start is part of the policy PPO trains)."""
    env_id: str = "Esper-Fast-v0"
    """Registered env id."""
    overrides: dict = field(default_factory=dict)
    """EsperConfig fields replaced in every training env."""
    timesteps: int = 2400
    """Env steps (epochs) to train for, over all envs."""
    out: Path = Path("runs/ppo")
    """Run folder: checkpoint.zip (+ .json), final.zip, curves.png (agreement, entropy, critic), tensorboard/."""
    n_envs: int = 2
    """Training envs (SubprocVecEnv when > 1; each process one torch thread)."""
    seed_start: int = PPO_SEEDS_START
    """Episode seeds: env i plays seed_start + i, then + n_envs each episode."""
    n_steps: int = 24
    """Steps per env per rollout (an env step is a whole training epoch: keep it small)."""
    batch_size: int = 24
    """Minibatch size."""
    n_epochs: int = 4
    """Passes over each rollout."""
    learning_rate: float = 1e-4
    """Adam learning rate (small: the policy starts from cloning)."""
    clip_range: float = 0.1
    """PPO clip range."""
    ent_coef: float = 0.01
    """Entropy bonus."""
    target_kl: float | None = 0.03
    """Stop an update's epochs early when the approximate KL to the rollout policy passes this."""
    vf_warmup_updates: int = 2
    """First updates that train only the critic (actor frozen)."""
    checkpoint_every: int = 1
    """Save checkpoint.zip every this many updates (and on Ctrl-C / SIGTERM)."""
    seed: int = 0
    """PPO's own randomness (sampling, minibatches)."""

    def check(self) -> None:
        """Every setting, before any work starts (one clear error each)."""
        esper_env.check_env_id(self.env_id)
        for name in ("timesteps", "n_envs", "n_steps", "batch_size", "n_epochs", "checkpoint_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.vf_warmup_updates < 0:
            raise ValueError(f"vf_warmup_updates must be >= 0, got {self.vf_warmup_updates}")
        check_training_seeds([self.seed_start], "seed_start")
        if Path(self.out).is_file():
            raise ValueError(f"--out {self.out} is a file; give a folder for the run")
        check_output_dir(self.out, "--out")

    def sb3_kwargs(self) -> dict:
        """The MaskablePPO settings of this config (``esper bc`` stores PPO's defaults in the model it writes)."""
        return dict(n_steps=self.n_steps, batch_size=self.batch_size, n_epochs=self.n_epochs,
                    learning_rate=self.learning_rate, clip_range=self.clip_range, ent_coef=self.ent_coef,
                    target_kl=self.target_kl)


class SeedSchedule(gym.Wrapper):
    """Each reset without a seed plays the next seed of ``start, start + step, ...``, from the
    ``episodes_done``-th on: a resumed run replays an interrupted episode's seed from its start (an episode
    cannot be continued from the middle of a rollout). Finished episodes are counted by the PPO callback."""

    def __init__(self, env: gym.Env, start: int, step: int, episodes_done: int = 0):
        super().__init__(env)
        self.start, self.step_size, self._next = start, step, episodes_done

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None:
            seed = self.start + self.step_size * self._next
        self._next += 1
        return self.env.reset(seed=seed, options=options)

    def action_masks(self) -> np.ndarray:
        return self.env.unwrapped.action_masks()


def _make_env(env_id: str, kwargs: dict, start: int, step: int, done: int, worker: bool,
              residual: Residual | None = None):
    def make():
        if worker:  # in SubprocVecEnv workers the main process handles Ctrl-C
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        env = SeedSchedule(gym.make(env_id, **kwargs), start, step, done)
        if residual is not None:  # the plan's command travels in the observation (agents/simic/residual_ppo.py)
            from .residual_ppo import PlanInObservation
            env = PlanInObservation(env, residual)
        return env
    return make


def _callbacks(cfg: PPOConfig, state: PPORunState, schema, extra: dict | None):
    from stable_baselines3.common.callbacks import BaseCallback

    from .. import HeuristicTamiyo
    from ..callbacks import EpisodeSummaryCallback

    class Simic(BaseCallback):
        """Agreement with the heuristic, critic warm-up, periodic checkpoints."""

        def _on_training_start(self) -> None:
            self.heuristic = HeuristicTamiyo()
            self.prev_infos = list(self.training_env.reset_infos)
            self._freeze(state.updates < cfg.vf_warmup_updates)

        def _freeze(self, frozen: bool) -> None:
            p = self.model.policy
            for module in (p.action_net, p.mlp_extractor.policy_net):
                for param in module.parameters():
                    param.requires_grad_(not frozen)
            self.logger.record("simic/actor_frozen", float(frozen))

        def _on_step(self) -> bool:
            loc = self.locals
            actions, dones, infos = loc["actions"], loc["dones"], loc["infos"]
            greedy = self.model.policy.get_distribution(loc["obs_tensor"], action_masks=loc["action_masks"]).mode()
            for i, info in enumerate(infos):
                prev = self.prev_infos[i]
                if prev and "report" in prev:
                    teacher = self.heuristic.act(None, prev)
                    self.logger.record_mean("simic/agreement_sampled", float(int(actions[i]) == teacher))
                    self.logger.record_mean("simic/agreement_greedy", float(int(greedy[i]) == teacher))
                if extra:  # a residual policy: how often its greedy command is the plan's (the observation's last)
                    plan = int(round(float(loc["obs_tensor"][i, -1])))
                    self.logger.record_mean("simic/plan_kept_greedy", float(int(greedy[i]) == plan))
                self.prev_infos[i] = self.training_env.reset_infos[i] if dones[i] else info
                state.episodes_done[i] += int(dones[i])
            return True

        def _on_rollout_end(self) -> None:
            # Called before the update that follows this rollout.
            self._freeze(state.updates < cfg.vf_warmup_updates)

        def _on_rollout_start(self) -> None:
            if self.num_timesteps > state.timesteps:  # an update has just finished
                state.updates += 1
                state.timesteps = self.num_timesteps
                if state.updates % cfg.checkpoint_every == 0:
                    save_checkpoint(cfg, self.model, state, schema, extra)

    return [Simic(), EpisodeSummaryCallback()]


@dataclass
class PPORunState:
    """A PPO run's progress, saved beside each checkpoint (``checkpoint.json``) and read back by ``--resume``."""

    config: dict
    """The env's :class:`~esper_env.config.EsperConfig` as a dict, or on ``Esper-Mixed-v0`` the keyword arguments
    that select its task distribution (a resume must use the same)."""
    n_envs: int
    init: str
    """The policy the run started from."""
    ppo: dict
    """The run's :class:`PPOConfig` as plain data."""
    updates: int = 0
    """PPO updates finished."""
    timesteps: int = 0
    """Env steps the checkpoint's model has trained on."""
    episodes_done: list[int] = field(default_factory=list)
    """Finished episodes per training env (a resumed env continues its seed sequence from there)."""

    def to_json(self) -> dict:
        return dict(updates=self.updates, timesteps=self.timesteps, episodes_done=list(self.episodes_done),
                    config=self.config, n_envs=self.n_envs, init=self.init, ppo=self.ppo)

    @classmethod
    def read(cls, path: Path) -> PPORunState:
        try:
            return cls(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"{path} is not a PPO run state ({type(e).__name__}: {e}); start a new run") from None


def checkpoint_path(out: Path) -> Path:
    return Path(out) / "checkpoint.zip"


def save_checkpoint(cfg: PPOConfig, model, state: PPORunState, schema, extra: dict | None = None) -> None:
    """The model (an SB3 zip with the schema, and ``extra`` entries: a residual policy's plan) and the run state,
    each written atomically; the state file is written last and names the timesteps the model holds."""
    out = Path(cfg.out)
    # Episode counts come from the callback (this process), never from the workers: after an interrupt in
    # the middle of a step their pipes may still hold that step's answer.
    state = replace(state, timesteps=int(model.num_timesteps))
    save_policy(model, checkpoint_path(out), schema, config=state.config, extra=extra)
    with atomic_path(out / "checkpoint.json", suffix=".json") as tmp, open(tmp, "w") as f:
        json.dump(state.to_json(), f, indent=1)
    maybe_interrupt(f"ppo:{state.timesteps}")


def train_ppo(cfg: PPOConfig, resume: bool = False, progress: bool = True):
    """Fine-tune ``cfg.init`` (or continue ``cfg.out``'s checkpoint with ``resume``); returns the model.

    A residual policy (a plan plus a learned deviation) is fine-tuned as one: the plan's head start is part of the
    policy PPO samples and updates, and the checkpoints and ``final.zip`` are residual policy files again.
    Ctrl-C or SIGTERM saves a checkpoint first and then raises KeyboardInterrupt."""
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

    cfg.check()
    out = Path(cfg.out)
    kwargs = esper_env.env_kwargs(cfg.env_id, **cfg.overrides)
    config = kwargs.get("config", kwargs)  # what a resume must match, and what the policy file records
    schema = esper_env.config_for(cfg.env_id, **cfg.overrides).schema()
    if resume:
        meta = checkpoint_path(out).with_suffix(".json")
        if not meta.is_file() or not checkpoint_path(out).is_file():
            raise FileNotFoundError(f"no checkpoint in {out} to resume; run without --resume first")
        state = PPORunState.read(meta)
        if state.config != config or state.n_envs != cfg.n_envs:
            raise ValueError(f"{out} holds a run with other env settings or n_envs; resume it with the same ones")
        init = checkpoint_path(out)
    else:
        if checkpoint_path(out).exists():
            raise ValueError(f"{out} already holds a run; pass --resume to continue it, or choose another --out")
        state = PPORunState(config=config, n_envs=cfg.n_envs, init=str(cfg.init),
                            ppo=_jsonable(asdict(cfg)), episodes_done=[0] * cfg.n_envs)
        init = Path(cfg.init)
    check_schema(read_policy_schema(init), schema, f"policy {init}")
    residual = read_residual(init)
    extra = {RESIDUAL_ENTRY: residual_entry(*residual)} if residual is not None else None
    factories = [_make_env(cfg.env_id, kwargs, cfg.seed_start + i, cfg.n_envs,
                           state.episodes_done[i], worker=cfg.n_envs > 1, residual=residual)
                 for i in range(cfg.n_envs)]
    # VecMonitor: SB3 logs the episodes' return (rollout/ep_rew_mean), what PPO maximises, beside the losses
    venv = VecMonitor(SubprocVecEnv(factories) if cfg.n_envs > 1 else DummyVecEnv(factories))
    model = _model_for(init, venv, cfg, resume, residual)
    if resume:
        model.num_timesteps = state.timesteps
    model.set_random_seed(cfg.seed + state.updates)
    remaining = cfg.timesteps - state.timesteps
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if remaining > 0:
            callbacks = _callbacks(cfg, state, schema, extra) + ([ProgressCallback(remaining)] if progress else [])
            model.learn(remaining, callback=callbacks, reset_num_timesteps=not resume, tb_log_name="ppo")
        state.updates += int(model.num_timesteps > state.timesteps)
        save_checkpoint(cfg, model, state, schema, extra)
        save_policy(model, out / "final.zip", schema, config=config, extra=extra)
        from .curves import plot_training_curves

        plot_training_curves(out / "tensorboard", out / "curves.png",
                             title=f"PPO on {cfg.env_id} from {Path(cfg.init).name}")
    except KeyboardInterrupt:
        save_checkpoint(cfg, model, state, schema, extra)
        _stop_workers(venv)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        try:
            venv.close()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            pass
    return model


def _stop_workers(venv) -> None:
    """After an interrupt in the middle of a step, a SubprocVecEnv's pipes may be out of step (some workers have
    answered, some not), and its close() would wait for answers that never come: end the workers instead."""
    venv = getattr(venv, "unwrapped", venv)  # the SubprocVecEnv under VecMonitor
    processes = getattr(venv, "processes", None)
    if not processes:
        return
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.join(timeout=10)
    venv.closed = True  # nothing left to close


def _model_for(path: Path, venv, cfg: PPOConfig, resume: bool, residual: Residual | None = None):
    """A MaskablePPO on ``venv`` with ``path``'s architecture and weights (and, resuming, its optimizer
    state), built from the file's JSON entry and tensors only: no unpickling (see ``agents.load_policy``). With
    ``residual``, the policy is a :class:`~agents.simic.residual_ppo.ResidualMaskablePolicy` with its bonus (the
    same weights: the plan travels in the observation's last entry)."""
    import torch
    from sb3_contrib import MaskablePPO

    entry = read_policy_entry(path)
    build_policy(entry)  # validates the recorded architecture
    spec = entry.policy
    kwargs = dict(net_arch=spec.net_arch, activation_fn=getattr(torch.nn, spec.activation_fn),
                  share_features_extractor=spec.share_features_extractor)
    policy = "MlpPolicy"
    if residual is not None:
        from .residual_ppo import ResidualMaskablePolicy
        policy, kwargs = ResidualMaskablePolicy, dict(kwargs, bonus=residual.bonus)
    model = MaskablePPO(policy, venv, device="cpu", seed=cfg.seed, verbose=0, **cfg.sb3_kwargs(),
                        tensorboard_log=portable(Path(cfg.out) / "tensorboard"), policy_kwargs=kwargs)
    try:
        model.policy.load_state_dict(read_tensors(path, "policy.pth"))
        if resume:
            model.policy.optimizer.load_state_dict(read_tensors(path, "policy.optimizer.pth"))
    except RuntimeError as e:
        raise ValueError(f"{path}: the weights do not fit the recorded architecture ({e})") from None
    return model


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _jsonable(d: dict) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}
