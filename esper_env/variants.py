"""Episode variants: what changes *inside* an episode, decided in one overridable place.

A stationary task trains every epoch on the same training split, validates on the same validation split, and
leaves a germinated seed as the model made it. A task family whose data or seeds change mid-episode (classes that
arrive late, a domain shift, seeds that can fail) is a subclass of :class:`EpisodeVariant` -- the way Minigrid's
environments override ``_gen_grid`` -- not an edit inside :class:`~esper_env.env.EsperEnv`:

.. code-block:: python

    class LateData(EpisodeVariant):
        '''The first half of the budget trains on half the training split.'''
        def train_loader(self, epoch, loaders):
            return loaders.train_subset(0.5) if epoch < self.config.max_epochs // 2 else loaders.train

    class LateDataEnv(EsperEnv):
        variant_class = LateData

Rules a variant keeps, so that episodes stay deterministic and snapshots restore them exactly:

* it is a pure function of ``(config, seed)`` and of the epoch: the env builds it at ``reset`` from the episode's
  seed and builds it again, from the same seed, at ``restore``; it keeps no other state between epochs;
* a loader it returns draws its order from ``loaders.train.generator`` (which snapshots save), as
  :meth:`EpisodeLoaders.train_subset` does;
* what it decides is never told to the controller: a controller sees only what the training report measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from .config import EsperConfig
    from .data import DeviceLoader
    from .kasmina.seeds import SeedSlot


@dataclass(frozen=True)
class EpisodeLoaders:
    """One episode's three splits, as the env built them at reset."""

    train: DeviceLoader
    val: DeviceLoader
    test: DeviceLoader

    def train_subset(self, mask: torch.Tensor | float) -> DeviceLoader:
        """A loader over part of the training split (a boolean mask over its images, or the first fraction of
        them), batched like ``train`` and shuffled by ``train``'s generator."""
        from .data import DeviceLoader

        t = self.train
        if not isinstance(mask, torch.Tensor):
            keep = torch.zeros(len(t.labels), dtype=torch.bool, device=t.labels.device)
            keep[: max(1, int(round(float(mask) * len(t.labels))))] = True
            mask = keep
        return DeviceLoader(t.images[mask], t.labels[mask], t.batch_size, train=True, generator=t.generator,
                            device=t.device, channels_last=t.channels_last, pad=t.pad)


class EpisodeVariant:
    """The stationary episode: every epoch trains on the whole training split and validates on the validation
    split; a germinated seed is left as the model made it. Subclasses override what changes.

    ``config``: the env's :class:`~esper_env.config.EsperConfig`; ``seed``: this episode's variant seed (drawn
    from ``reset(seed=...)``), from which a subclass draws its hidden event (e.g. the epoch it happens)."""

    name = "stationary"

    def __init__(self, config: EsperConfig, seed: int):
        self.config, self.seed = config, int(seed)

    def train_loader(self, epoch: int, loaders: EpisodeLoaders) -> DeviceLoader:
        """The loader epoch ``epoch`` (0-based: the epoch about to be trained) trains on."""
        return loaders.train

    def val_loader(self, epoch: int, loaders: EpisodeLoaders) -> DeviceLoader:
        """The loader the report after epoch ``epoch`` validates on (``epoch`` = epochs trained so far; 0 at
        reset)."""
        return loaders.val

    def seed_lr_scale(self, slot: int, germinated_at: int) -> float:
        """A factor on the learning rate of the seed germinated in model slot ``slot`` at epoch ``germinated_at``,
        every epoch of its life (1.0: as configured). A pure function of its arguments and the variant's seed,
        so a restored episode gets the same factors."""
        return 1.0

    def germinated(self, slot: SeedSlot, epoch: int) -> None:
        """Called right after a seed is germinated in ``slot`` (a model slot; ``epoch`` = epochs trained so
        far). A variant may change the new seed's module here, e.g. its initial scale."""

    def test_loader(self, loaders: EpisodeLoaders) -> DeviceLoader:
        """The loader the final test pass evaluates on."""
        return loaders.test

    def old_test_loader(self, loaders: EpisodeLoaders) -> DeviceLoader | None:
        """Where the data changed mid-episode: a test loader of the data as it was at the start, whose accuracy
        the outcome reports as ``old_test_accuracy`` (forgetting); None otherwise."""
        return None


_SALT = 0xE5E7
"""Mixed into a variant's draws, so that they and the episode's other randomness are independent streams."""


FAULT_LR_SCALE = 1000.0
"""A failed seed's learning rate, as a multiple of a sound one's."""


class FaultySeeds(EpisodeVariant):
    """Seeds that can fail (``event="faulty_seeds"``): each germination fails with probability ``fault_p``,
    independently, and a failed seed trains at :data:`FAULT_LR_SCALE` times its learning rate for its whole life
    (a learning rate drawn with a bad tail): its isolated training diverges, and blended in it ruins the host
    (probe on Fast, training seeds 1000-1003, one conv_residual grown at once and kept: 13.8% test accuracy with a
    failed seed, 31.4% with a sound one, 25.4% without growth). The report shows it from the seed's first epoch:
    its ``isolated_loss`` is 6.6-9.3 where a sound seed's is 2.3. Culling it and germinating again is the remedy (a
    fresh germination draws again). Milder failures hide: at 30x the isolated loss looks sound for the first
    epochs while the kept seed still costs ~6 points, and a seed that never learns costs nothing on Fast (a frozen
    random branch blended in gave 32.9% vs 33.3% for the two-seed ceiling plan)."""

    name = "faulty_seeds"

    def failed(self, slot: int, germinated_at: int) -> bool:
        """Whether the seed germinated in model slot ``slot`` at epoch ``germinated_at`` fails (a pure function)."""
        u = np.random.default_rng([self.seed, int(slot), int(germinated_at), _SALT]).random()
        return bool(u < self.config.fault_p)

    def seed_lr_scale(self, slot: int, germinated_at: int) -> float:
        return FAULT_LR_SCALE if self.failed(slot, germinated_at) else 1.0


def _like(loader: DeviceLoader, images: torch.Tensor, labels: torch.Tensor, generator=None) -> DeviceLoader:
    from .data import DeviceLoader

    return DeviceLoader(images.contiguous(), labels, loader.batch_size, train=loader.train,
                        generator=generator if loader.train else None, device=loader.device,
                        channels_last=loader.channels_last, pad=loader.pad)


class _Cached(EpisodeVariant):
    """A variant whose loaders are built once per episode, on first use."""

    def __init__(self, config: EsperConfig, seed: int):
        super().__init__(config, seed)
        self._cache: dict[str, DeviceLoader] = {}

    def _cached(self, key: str, build) -> DeviceLoader:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]


class NewClasses(_Cached):
    """New classes arrive (``event="new_classes"``, class-incremental): until epoch ``event_epoch`` the training
    stream holds only the images of classes ``0..first_classes-1``; from then on it holds every class, the first
    classes with the first ``replay`` fraction of their images. Validation follows the stream (the classes trained
    on so far: what a user could measure); the test set covers every class."""

    name = "new_classes"

    def _old(self, loader: DeviceLoader) -> torch.Tensor:
        return loader.labels < self.config.first_classes

    def train_loader(self, epoch: int, loaders: EpisodeLoaders) -> DeviceLoader:
        if epoch < self.config.event_epoch:
            key, mask = "before", lambda: self._old(loaders.train)
        else:
            def mask():
                old = self._old(loaders.train)
                kept = torch.cumsum(old.long(), 0) <= round(self.config.replay * int(old.sum()))
                return ~old | (old & kept)
            key = "after"
        return self._cached(key, lambda: loaders.train_subset(mask()))

    def val_loader(self, epoch: int, loaders: EpisodeLoaders) -> DeviceLoader:
        if epoch > self.config.event_epoch:  # the report after an epoch trained on every class
            return loaders.val
        v = loaders.val
        return self._cached("val", lambda: _like(v, v.images[self._old(v)], v.labels[self._old(v)]))


def _noise(x: torch.Tensor) -> torch.Tensor:
    g = torch.Generator(device=x.device).manual_seed(_SALT)
    return (x.float() + 40.0 * torch.randn(x.shape, generator=g, device=x.device)).round().clamp(0, 255)


def _blur(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.avg_pool2d(x.float(), 3, stride=1, padding=1, count_include_pad=False).round()


SHIFTS = {
    "negative": lambda x: 255 - x,
    "rotate": lambda x: torch.rot90(x, 1, (2, 3)),
    "noise": lambda x: _noise(x).to(torch.uint8),
    "blur": lambda x: _blur(x).to(torch.uint8),
    "colour": lambda x: x[:, [2, 0, 1]],
}
"""Domain shifts, on uint8 images [N, C, H, W]: a photographic negative, a 90-degree rotation (a camera mounted
differently), sensor noise (Gaussian, sigma 40 of 255, the same noise for every run), a 3x3 blur (defocus), and a
colour-channel permutation (another sensor's colours)."""


class DomainShift(_Cached):
    """A domain shift (``event="domain_shift"``): from epoch ``event_epoch`` on, every training image is transformed
    by ``shift_kind`` (:data:`SHIFTS`); the report validates on the new domain once an epoch has trained on it (what
    a user could measure), and the test set is the new domain's. The outcome's ``old_test_accuracy`` is the final
    model's accuracy on the old domain's test set (forgetting)."""

    name = "domain_shift"

    def _shifted(self, key: str, loader: DeviceLoader) -> DeviceLoader:
        return self._cached(key, lambda: _like(loader, SHIFTS[self.config.shift_kind](loader.images), loader.labels,
                                               loader.generator))

    def train_loader(self, epoch: int, loaders: EpisodeLoaders) -> DeviceLoader:
        return loaders.train if epoch < self.config.event_epoch else self._shifted("train", loaders.train)

    def val_loader(self, epoch: int, loaders: EpisodeLoaders) -> DeviceLoader:
        return loaders.val if epoch <= self.config.event_epoch else self._shifted("val", loaders.val)

    def test_loader(self, loaders: EpisodeLoaders) -> DeviceLoader:
        return self._shifted("test", loaders.test)

    def old_test_loader(self, loaders: EpisodeLoaders) -> DeviceLoader | None:
        return loaders.test


class FewClasses(_Cached):
    """A task easier than it looks (``event="few_classes"``): every split holds only the images of classes
    ``0..first_classes-1``; the report says nothing of it but what the learning curve shows. How much capacity
    the task needs is hidden: the canonical case for a network that grows."""

    name = "few_classes"

    def _few(self, key: str, loader: DeviceLoader) -> DeviceLoader:
        def build():
            keep = loader.labels < self.config.first_classes
            return _like(loader, loader.images[keep], loader.labels[keep], loader.generator)
        return self._cached(key, build)

    def train_loader(self, epoch: int, loaders: EpisodeLoaders) -> DeviceLoader:
        return self._few("train", loaders.train)

    def val_loader(self, epoch: int, loaders: EpisodeLoaders) -> DeviceLoader:
        return self._few("val", loaders.val)

    def test_loader(self, loaders: EpisodeLoaders) -> DeviceLoader:
        return self._few("test", loaders.test)


VARIANTS: dict[str, type[EpisodeVariant]] = {"none": EpisodeVariant, "faulty_seeds": FaultySeeds,
                                             "new_classes": NewClasses, "domain_shift": DomainShift,
                                             "few_classes": FewClasses}
"""The variant of each ``EsperConfig.event``."""
