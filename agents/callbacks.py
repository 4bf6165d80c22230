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
