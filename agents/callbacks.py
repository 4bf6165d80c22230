"""Stable-Baselines3 callbacks for Esper environments."""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback


class EpisodeSummaryCallback(BaseCallback):
    """Log each finished episode's ``info["final"].summary()`` (final accuracies, seeds germinated /
    fossilized / culled, added parameters, training FLOPs, ...) as ``esper/<name>``, averaged between logger
    dumps, so it shows in TensorBoard next to SB3's own curves."""

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            outcome = info.get("final")
            if outcome is not None:
                for key, value in outcome.summary().items():
                    self.logger.record_mean(f"esper/{key}", float(value))
        return True


class ProgressCallback(BaseCallback):
    """A tqdm bar over env steps (SB3's own needs the ``rich`` package, which Esper does not install)."""

    def __init__(self, total: int, desc: str = "ppo"):
        super().__init__()
        self.total, self.desc = total, desc
        self.bar = None

    def _on_training_start(self) -> None:
        from tqdm import tqdm

        self.start = self.num_timesteps
        self.bar = tqdm(total=self.total, unit="step", desc=self.desc)

    def _on_step(self) -> bool:
        self.bar.update(self.num_timesteps - self.start - self.bar.n)
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()
