"""Commands as data, the action codec of the common layout, and which commands are legal now."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .lifecycle import ACTIVE_STAGES, SeedStage

SLOT_POSITIONS = 3
"""Slot positions of the common layout: position ``p`` sits after host block ``p``. Every env has all three in
its action and observation spaces; a config enables some of them (``EsperConfig.slots``)."""

LAYOUT_BLUEPRINTS = ("conv_residual", "attention", "norm", "depthwise", "lowrank")
"""Blueprints of the common layout, in action order; a config enables some of them (``EsperConfig.blueprints``)."""


class Op(enum.IntEnum):
    """What a command does."""

    WAIT = 0
    GERMINATE = 1
    ADVANCE = 2
    CULL = 3


@dataclass(frozen=True)
class Command:
    """One Tamiyo command. ``slot`` is None only for WAIT; ``blueprint`` is set only for GERMINATE."""

    op: Op
    slot: int | None = None
    blueprint: str | None = None

    def __post_init__(self) -> None:
        if (self.op == Op.WAIT) != (self.slot is None):
            raise ValueError(f"{self.op.name} takes {'no slot' if self.op == Op.WAIT else 'a slot'}")
        if (self.op == Op.GERMINATE) != (self.blueprint is not None):
            raise ValueError("a blueprint is given with GERMINATE and only with GERMINATE")

    def __str__(self) -> str:
        if self.op == Op.WAIT:
            return "WAIT"
        if self.op == Op.GERMINATE:
            return f"GERMINATE(slot={self.slot}, {self.blueprint})"
        return f"{self.op.name}(slot={self.slot})"

    @staticmethod
    def wait() -> Command:
        return Command(Op.WAIT)

    @staticmethod
    def germinate(slot: int, blueprint: str) -> Command:
        return Command(Op.GERMINATE, slot, blueprint)

    @staticmethod
    def advance(slot: int) -> Command:
        return Command(Op.ADVANCE, slot)

    @staticmethod
    def cull(slot: int) -> Command:
        return Command(Op.CULL, slot)


class ActionCodec:
    """Bijection between commands and ``0 .. n-1``.

    Layout: ``0`` = WAIT; then GERMINATE for every (slot, blueprint), slot-major; then ADVANCE per slot;
    then CULL per slot. With 3 slots and 5 blueprints that is ``1 + 15 + 3 + 3 = 22`` actions.
    """

    def __init__(self, num_slots: int, blueprints: tuple[str, ...] | list[str]):
        if num_slots < 1:
            raise ValueError("num_slots must be >= 1")
        if not blueprints:
            raise ValueError("at least one blueprint is needed")
        self.num_slots = int(num_slots)
        self.blueprints = tuple(blueprints)
        commands = [Command.wait()]
        commands += [Command.germinate(s, b) for s in range(self.num_slots) for b in self.blueprints]
        commands += [Command.advance(s) for s in range(self.num_slots)]
        commands += [Command.cull(s) for s in range(self.num_slots)]
        self._commands = tuple(commands)
        self._index = {c: i for i, c in enumerate(commands)}

    @classmethod
    def layout(cls) -> ActionCodec:
        """The common layout's codec (every registered env's): :data:`SLOT_POSITIONS` x :data:`LAYOUT_BLUEPRINTS`,
        22 actions."""
        return cls(SLOT_POSITIONS, LAYOUT_BLUEPRINTS)

    @property
    def n(self) -> int:
        return len(self._commands)

    @property
    def commands(self) -> tuple[Command, ...]:
        return self._commands

    def encode(self, command: Command) -> int:
        try:
            return self._index[command]
        except KeyError:
            raise ValueError(f"{command} is not in this action space (slots={self.num_slots}, "
                             f"blueprints={self.blueprints})") from None

    def decode(self, action: int) -> Command:
        a = int(action)
        if a != action or not 0 <= a < self.n:
            raise ValueError(f"action {action!r} is outside the action space Discrete({self.n})")
        return self._commands[a]


@dataclass(frozen=True)
class SlotState:
    """The part of a slot's state that decides which commands are legal."""

    stage: SeedStage
    blend_complete: bool = False
    """True once a BLENDING seed's alpha has reached 1 (only then may it be fossilized)."""


def command_is_legal(command: Command, slots: Sequence[SlotState] | Mapping[int, SlotState],
                     blueprints: Collection[str] | None = None) -> bool:
    """Whether ``command`` may be applied now. WAIT is always legal.

    ``slots``: the state of each slot that exists, by slot number (a sequence is numbered from 0); a slot not
    in it (a position the config does not enable) takes no command. ``blueprints``: the ones GERMINATE may
    use (None = any).

    * GERMINATE needs a DORMANT slot and an enabled blueprint.
    * ADVANCE moves TRAINING -> BLENDING, or BLENDING -> FOSSILIZED once blending is complete.
      (GERMINATED -> TRAINING happens by itself after the seed's first epoch.)
    * CULL needs a GERMINATED, TRAINING or BLENDING seed.
    """
    if command.op == Op.WAIT:
        return True
    if not isinstance(slots, Mapping):
        slots = dict(enumerate(slots))
    slot = slots.get(command.slot)
    if slot is None:
        return False
    if command.op == Op.GERMINATE:
        return slot.stage == SeedStage.DORMANT and (blueprints is None or command.blueprint in blueprints)
    if command.op == Op.ADVANCE:
        return slot.stage == SeedStage.TRAINING or (slot.stage == SeedStage.BLENDING and slot.blend_complete)
    return slot.stage in ACTIVE_STAGES  # CULL


def legal_commands(codec: ActionCodec, slots: Sequence[SlotState] | Mapping[int, SlotState],
                   blueprints: Collection[str] | None = None) -> np.ndarray:
    """Boolean mask over ``codec``'s actions: which commands are legal now (see :func:`command_is_legal`)."""
    if not isinstance(slots, Mapping):
        slots = dict(enumerate(slots))
    return np.array([command_is_legal(c, slots, blueprints) for c in codec.commands], dtype=bool)


LAYOUT_CODEC = ActionCodec.layout()
"""The common layout's codec, built once: every registered env's actions (a controller encodes with it; the
codec is immutable)."""
