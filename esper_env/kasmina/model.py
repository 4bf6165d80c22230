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

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from ..leyline import Command, IllegalCommandError, Op, SeedStage, SlotState, command_is_legal
from .blueprints import DEFAULT_BLUEPRINTS, get_blueprint
from .host import PRESETS, HostCNN
from .seeds import SeedSlot


def frozen_call(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` with parameters detached and buffers copied, so neither gradients nor running
    statistics reach the module (BatchNorm still normalises with the batch's statistics in train mode)."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    buffers = {k: v.clone() for k, v in module.named_buffers()}
    return functional_call(module, {**params, **buffers}, (x,))


@dataclass(frozen=True)
class FlopTable:
    """Forward FLOPs per image (2 x multiply-adds of conv and linear layers) of each part of the model."""

    blocks: tuple[int, ...]
    head: int
    seeds: dict[int, int]
    """slot index -> its seed's forward FLOPs (seeds present now)."""


class MorphogeneticModel(nn.Module):
    """A host CNN with seed slots after chosen blocks, and the SGD optimizer that trains them.

    Parameter groups: ``"host"`` (host, plus fossilized seeds) and one ``"seed<k>"`` group per live seed,
    so germinating or culling never resets the host's momentum.
    """

    def __init__(self, widths: tuple[int, ...] = PRESETS["default"], *, num_classes: int = 10,
                 slots: tuple[int, ...] = (0, 1, 2), blueprints: tuple[str, ...] = DEFAULT_BLUEPRINTS,
                 blend_epochs: int = 3, blend_schedule: str = "linear", embargo_epochs: int = 2,
                 lr: float = 0.05, seed_lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 5e-4,
                 fossilized: dict[int, str] | None = None, init_seed: int = 0):
        super().__init__()
        if len(set(slots)) != len(slots) or not all(0 <= b < len(widths) for b in slots):
            raise ValueError(f"slots must be distinct block indices in 0..{len(widths) - 1}, got {slots}")
        for b in blueprints:
            get_blueprint(b)
        self.blueprints = tuple(blueprints)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.host = HostCNN(tuple(widths), num_classes)
        self.slots = nn.ModuleList(
            SeedSlot(i, widths[b], blend_epochs=blend_epochs, blend_schedule=blend_schedule,
                     embargo_epochs=embargo_epochs) for i, b in enumerate(slots))
        self.slot_blocks = tuple(slots)
        self._slot_after = {b: self.slots[i] for i, b in enumerate(slots)}
        self.seed_lr = seed_lr
        self.optimizer = torch.optim.SGD([{"params": list(self.host.parameters()), "name": "host"}],
                                         lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True)
        for k, bp in (fossilized or {}).items():
            if not 0 <= k < len(self.slots):
                raise ValueError(f"fossilized slot {k} does not exist (slots 0..{len(self.slots) - 1})")
            seed = self.slots[k].fossilize_now(bp, init_seed * 1000 + 17 * (k + 1))
            self._to_device(seed)
            self._group("host")["params"].extend(seed.parameters())

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
            seed = self._to_device(slot.germinate(command.blueprint, init_seed))
            self.optimizer.add_param_group({"params": list(seed.parameters()), "name": f"seed{slot.index}",
                                            "lr": self.seed_lr})
        elif command.op == Op.CULL:
            self._drop_group(f"seed{slot.index}")
            slot.cull()
        elif slot.advance() == SeedStage.FOSSILIZED:
            # The seed's parameters join the host's group, keeping their momentum buffers.
            params = self._drop_group(f"seed{slot.index}", keep_state=True)
            self._group("host")["params"].extend(params)

    def _to_device(self, module: nn.Module) -> nn.Module:
        ref = next(self.host.parameters())
        return module.to(device=ref.device, memory_format=torch.channels_last)

    def _group(self, name: str) -> dict:
        return next(g for g in self.optimizer.param_groups if g["name"] == name)

    def _drop_group(self, name: str, keep_state: bool = False) -> list[nn.Parameter]:
        group = self._group(name)
        # By identity: list.remove would compare the groups' tensors by value.
        self.optimizer.param_groups[:] = [g for g in self.optimizer.param_groups if g is not group]
        if not keep_state:
            for p in group["params"]:
                self.optimizer.state.pop(p, None)
        return group["params"]

    def start_epoch(self) -> None:
        for slot in self.slots:
            slot.start_epoch()

    def end_epoch(self) -> None:
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
        first = {i: self._first_change(v) for i, v in enumerate(variants)}
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

    def _first_change(self, alpha: dict[int, float]) -> int | None:
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
        """Per-part forward FLOPs, measured once per architecture by hooks on a one-image forward."""
        key = tuple((s.index, s.blueprint) for s in self.slots if s.seed is not None)
        cached = getattr(self, "_flop_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        table = self._measure_flops()
        self._flop_cache = (key, table)
        return table

    @torch.no_grad()
    def _measure_flops(self) -> FlopTable:
        flops: dict[nn.Module, int] = {}

        def hook(mod, inp, out):
            if isinstance(mod, nn.Conv2d):
                macs = out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
            else:
                macs = mod.in_features * mod.out_features * (out.numel() // mod.out_features)
            flops[mod] = flops.get(mod, 0) + 2 * macs
        handles = [m.register_forward_hook(hook) for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        was_training = self.training
        try:
            self.eval()
            ref = next(self.host.parameters())
            x = torch.zeros(1, self.host.blocks[0][0].in_channels, 32, 32, device=ref.device)
            self(x, {s.index: 1.0 for s in self.slots if s.seed is not None})
        finally:
            self.train(was_training)
            for h in handles:
                h.remove()
        part = lambda module: sum(flops.get(m, 0) for m in module.modules())  # noqa: E731
        return FlopTable(tuple(part(b) for b in self.host.blocks), part(self.host.head),
                         {s.index: part(s.seed) for s in self.slots if s.seed is not None})

    def flops_per_image(self, alpha: dict[int, float] | None = None) -> int:
        """Inference FLOPs of one image at the current alphas (or with ``alpha`` overrides, as
        :meth:`forward` takes them): host, plus every seed whose alpha is above 0."""
        t, alpha = self.flop_table(), alpha or {}
        return sum(t.blocks) + t.head + sum(f for k, f in t.seeds.items()
                                            if alpha.get(k, self.slots[k].alpha) > 0)

    def variants_flops_per_image(self, variants: list[dict[int, float]]) -> int:
        """FLOPs of one image through :meth:`forward_variants` (the shared prefix counted once)."""
        t = self.flop_table()
        firsts = [self._first_change(v) for v in variants]

        def seeds(v: dict[int, float], blocks) -> int:
            return sum(f for k, f in t.seeds.items()
                       if self.slot_blocks[k] in blocks and v.get(k, self.slots[k].alpha) > 0)
        n = len(t.blocks)
        if None in firsts:
            total = self.flops_per_image()
        else:
            deepest = max(firsts)
            total = sum(t.blocks[:deepest + 1]) + seeds({}, range(deepest + 1))
        for v, b in zip(variants, firsts):
            if b is not None:
                total += sum(t.blocks[b + 1:]) + t.head + seeds(v, range(b, n))
        return total

    def train_flops_per_image(self) -> int:
        """Training FLOPs of one image in the epoch about to run (backward counted as twice the forward).

        Main path: host and the seeds on it (BLENDING, FOSSILIZED), forward + backward = 3x forward. Each
        isolated seed's shadow pass: the seed, 3x its forward, plus the frozen downstream host, 2x its
        forward (forward + gradients to the inputs only)."""
        t = self.flop_table()
        on_path = {s.index for s in self.slots if s.stage in (SeedStage.BLENDING, SeedStage.FOSSILIZED)}
        total = 3 * (sum(t.blocks) + t.head + sum(t.seeds[k] for k in on_path))
        for slot in self.slots:
            if slot.isolated:
                b = self.slot_blocks[slot.index]
                downstream = sum(t.blocks[b + 1:]) + t.head + sum(
                    t.seeds[k] for k in on_path if self.slot_blocks[k] > b)
                total += 3 * t.seeds[slot.index] + 2 * downstream
        return total

    # ---- snapshots -------------------------------------------------------------------------------
    def export_state(self) -> dict:
        """Everything that defines the model and its optimizer now, as tensors and plain data (copies)."""
        names = {id(p): n for n, p in self.named_parameters()}
        return dict(
            slots=[s.export_state() for s in self.slots],
            tensors={k: v.detach().clone() for k, v in self.state_dict().items()},
            param_groups=[dict(name=g["name"], params=[names[id(p)] for p in g["params"]])
                          for g in self.optimizer.param_groups],
            optimizer=copy.deepcopy(self.optimizer.state_dict()))

    def import_state(self, state: dict) -> None:
        """Restore :meth:`export_state`'s output into a model built with the same widths, slots and settings."""
        for slot, s in zip(self.slots, state["slots"], strict=True):
            seed = slot.import_state(s)
            if seed is not None:
                self._to_device(seed)
        self._flop_cache = None
        self.load_state_dict(state["tensors"])
        by_name = dict(self.named_parameters())
        self.optimizer.param_groups.clear()
        self.optimizer.state.clear()
        for g in state["param_groups"]:
            self.optimizer.add_param_group({"params": [by_name[n] for n in g["params"]], "name": g["name"]})
        # A copy: load_state_dict keeps the given tensors as momentum buffers, and training would then
        # mutate the snapshot (restoring it a second time would not give the same run).
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
