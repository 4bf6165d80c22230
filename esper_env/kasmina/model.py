"""MorphogeneticModel: host + seed slots + optimizer groups + parameter and FLOP counts.

Isolation of TRAINING seeds (a tested invariant): the main forward path skips them, so the host's outputs
and gradients are exactly those of a host without the seed. Each TRAINING seed instead learns through a
*shadow pass*: the host activation at its slot, detached, goes through the seed at alpha 1 and then
through the downstream host layers with their parameters detached and their normalisation statistics
untouched (batch statistics, running buffers not updated). The seed's loss is the task loss of that shadow
pass -- an objective with a minimum that is exactly what blending the seed in will face. (A straight-
through ``s - s.detach()`` gives the seed a linear objective with no minimum: rejected.)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from ..leyline import Command, IllegalCommandError, Op, SeedStage, SlotState, command_is_legal
from . import flops, optim
from .blueprints import get_blueprint
from .flops import FlopTable
from .host import PRESETS, HostCNN
from .seeds import SeedSlot
from .settings import SETTING_NAMES, ModelSettings


def frozen_call(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` with parameters detached and buffers copied, so neither gradients nor running
    statistics reach the module (BatchNorm still normalises with the batch's statistics in train mode)."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    buffers = {k: v.clone() for k, v in module.named_buffers()}
    return functional_call(module, {**params, **buffers}, (x,))


class MorphogeneticModel(nn.Module):
    """A host CNN with seed slots after chosen blocks, and the SGD optimizer that trains them.

    Parameter groups: ``"host"`` (host, plus fossilized seeds) and one ``"seed<k>"`` group per live seed,
    so germinating or culling never resets the host's momentum.
    """

    def __init__(self, widths: tuple[int, ...] = PRESETS["default"], *, num_classes: int = 10,
                 fossilized: dict[int, str] | None = None, init_seed: int = 0, **settings):
        """``settings``: fields of :class:`ModelSettings` (slots, blueprints, blend_epochs, lr, ...)."""
        super().__init__()
        unknown = sorted(set(settings) - set(SETTING_NAMES))
        if unknown:
            raise TypeError(f"unknown model setting(s) {unknown}; the settings are {', '.join(SETTING_NAMES)}")
        s = self.settings = ModelSettings(**settings)
        slots, blueprints = tuple(s.slots), tuple(s.blueprints)
        if len(set(slots)) != len(slots) or not all(0 <= b < len(widths) for b in slots):
            raise ValueError(f"slots must be distinct block indices in 0..{len(widths) - 1}, got {slots}")
        for b in blueprints:
            get_blueprint(b)
        self.blueprints = tuple(blueprints)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.host = HostCNN(tuple(widths), num_classes)
        self.slots = nn.ModuleList(
            SeedSlot(i, widths[b], blend_epochs=s.blend_epochs, blend_schedule=s.blend_schedule,
                     embargo_epochs=s.embargo_epochs) for i, b in enumerate(slots))
        self.slot_blocks = tuple(slots)
        self._slot_after = {b: self.slots[i] for i, b in enumerate(slots)}
        self.optimizer = optim.make_sgd(self.host.parameters(), lr=s.lr, momentum=s.momentum,
                                        weight_decay=s.weight_decay)
        for k, bp in (fossilized or {}).items():
            if not 0 <= k < len(self.slots):
                raise ValueError(f"fossilized slot {k} does not exist (slots 0..{len(self.slots) - 1})")
            seed = self.slots[k].fossilize_now(bp, init_seed * 1000 + 17 * (k + 1))
            self._to_device(seed)
            optim.join_host(self.optimizer, seed.parameters())

    # ---- commands --------------------------------------------------------------------------------
    @property
    def slot_states(self) -> tuple[SlotState, ...]:
        return tuple(SlotState(s.stage, s.blend_complete) for s in self.slots)

    def is_legal(self, command: Command) -> bool:
        if command.op == Op.GERMINATE and command.blueprint not in self.blueprints:
            return False
        return command_is_legal(command, self.slot_states)

    def apply(self, command: Command, init_seed: int = 0) -> None:
        """Carry out ``command``; raise :class:`IllegalCommandError` if it is not legal now."""
        if not self.is_legal(command):
            raise IllegalCommandError(f"{command} is not legal now (slot stages: "
                                      f"{[s.stage.name for s in self.slots]})")
        if command.op == Op.WAIT:
            return
        slot = self.slots[command.slot]
        if command.op == Op.GERMINATE:
            optim.add_seed(self.optimizer, slot.index, self._to_device(slot.germinate(command.blueprint, init_seed)),
                           self.settings.seed_lr)
        elif command.op == Op.CULL:
            optim.drop_seed(self.optimizer, slot.index)
            slot.cull()
        elif slot.advance() == SeedStage.FOSSILIZED:  # joins the host's group, keeping its momentum buffers
            optim.join_host(self.optimizer, optim.drop_seed(self.optimizer, slot.index, keep_state=True))

    def _to_device(self, module: nn.Module) -> nn.Module:
        ref = next(self.host.parameters())
        return module.to(device=ref.device, memory_format=torch.channels_last)

    def start_epoch(self) -> None:
        """The slots' automatic moves before an epoch (GERMINATED -> TRAINING)."""
        for slot in self.slots:
            slot.start_epoch()

    def end_epoch(self) -> None:
        """The slots' automatic moves after an epoch (embargo countdown)."""
        for slot in self.slots:
            slot.end_epoch()

    def step_blend(self, fraction_of_epoch: float) -> None:
        for slot in self.slots:
            slot.step_blend(fraction_of_epoch)

    # ---- forward ---------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, alpha: dict[int, float] | None = None) -> torch.Tensor:
        """Logits. ``alpha`` maps slot index -> alpha override (counterfactual evaluation)."""
        return self._forward(x, alpha or {}, shadow=False)[0]

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(host logits, one shadow-pass logits tensor per isolated (GERMINATED or TRAINING) seed)."""
        return self._forward(x, {}, shadow=True)

    def _forward(self, x: torch.Tensor, alpha: dict[int, float], shadow: bool):
        taps: list[tuple[int, torch.Tensor]] = []
        h = x
        for b, block in enumerate(self.host.blocks):
            h = block(h)
            slot = self._slot_after.get(b)
            if slot is not None:
                if shadow and slot.isolated:
                    taps.append((b, h))
                h = slot(h, alpha.get(slot.index))
        return self.host.head(h), [self._shadow(b, t) for b, t in taps]

    def forward_variants(self, x: torch.Tensor, variants: list[dict[int, float]]) -> list[torch.Tensor]:
        """Logits under each alpha override (as :meth:`forward` takes them), sharing the computation the
        variants have in common: the blocks before the first slot a variant changes run once.

        Exactly equal to ``[self(x, v) for v in variants]`` (the shared activations are the same tensors
        the separate forwards would compute); the saving is the repeated prefix of the network.
        """
        taps: dict[int, torch.Tensor] = {}  # block -> its output before its slot (the shared prefix)
        h, cache, out = x, {}, []
        first = {i: self.first_change(v) for i, v in enumerate(variants)}
        deepest = max((b for b in first.values() if b is not None), default=-1)
        for b, block in enumerate(self.host.blocks):  # the unchanged pass, keeping the taps variants need
            if b > deepest and None not in first.values():
                break
            h = block(h)
            if b in self._slot_after:
                taps[b] = h
                h = self._slot_after[b](h)
        else:
            cache["base"] = self.host.head(h)
        for i, v in enumerate(variants):
            b = first[i]
            if b is None:
                out.append(cache["base"])
                continue
            h = taps[b]
            for k in range(b, len(self.host.blocks)):
                if k > b:
                    h = self.host.blocks[k](h)
                slot = self._slot_after.get(k)
                if slot is not None:
                    h = slot(h, v.get(slot.index))
            out.append(self.host.head(h))
        return out

    def first_change(self, alpha: dict[int, float]) -> int | None:
        """The first block whose slot ``alpha`` changes (its effective alpha differs), or None."""
        changed = [self.slot_blocks[k] for k, a in alpha.items()
                   if self.slots[k].seed is not None and a != self.slots[k].alpha]
        return min(changed, default=None)

    def _shadow(self, block: int, h: torch.Tensor) -> torch.Tensor:
        """Seed at ``block`` at alpha 1, then the downstream network frozen (see module docstring)."""
        s = h.detach()
        s = s + self._slot_after[block].seed(s)
        for b in range(block + 1, len(self.host.blocks)):
            s = frozen_call(self.host.blocks[b], s)
            slot = self._slot_after.get(b)
            if slot is not None and slot.seed is not None and slot.alpha > 0:
                s = s + slot.alpha * frozen_call(slot.seed, s)
        return frozen_call(self.host.head, s)

    # ---- counts ----------------------------------------------------------------------------------
    @property
    def host_params(self) -> int:
        return sum(p.numel() for p in self.host.parameters())

    def seed_params(self, stages=(SeedStage.GERMINATED, SeedStage.TRAINING, SeedStage.BLENDING)) -> int:
        return sum(s.param_count for s in self.slots if s.stage in stages)

    @property
    def fossilized_params(self) -> int:
        return self.seed_params((SeedStage.FOSSILIZED,))

    @property
    def total_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flop_table(self) -> FlopTable:
        """Per-part forward FLOPs (:mod:`.flops`), measured once per architecture."""
        key = tuple((s.index, s.blueprint) for s in self.slots if s.seed is not None)
        cached = getattr(self, "_flop_cache", None)
        if cached is None or cached[0] != key:
            self._flop_cache = cached = (key, flops.measure(self))
        return cached[1]

    def flops_per_image(self, alpha: dict[int, float] | None = None) -> int:
        """:func:`.flops.inference`: one image at the current alphas (or ``alpha`` overrides)."""
        return flops.inference(self, alpha)

    # ---- snapshots -------------------------------------------------------------------------------
    def export_state(self) -> dict:
        """Everything that defines the model and its optimizer now, as tensors and plain data (copies)."""
        return dict(slots=[s.export_state() for s in self.slots],
                    tensors={k: v.detach().clone() for k, v in self.state_dict().items()},
                    **optim.export(self.optimizer, self))

    def import_state(self, state: dict) -> None:
        """Restore :meth:`export_state`'s output into a model built with the same widths, slots and settings."""
        for slot, s in zip(self.slots, state["slots"], strict=True):
            seed = slot.import_state(s)
            if seed is not None:
                self._to_device(seed)
        self._flop_cache = None
        self.load_state_dict(state["tensors"])
        optim.restore(self.optimizer, self, state)
