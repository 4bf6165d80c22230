"""Seed lifecycle: the stages and the table of legal transitions (:func:`check_transition`)."""

from __future__ import annotations

import enum


class SeedStage(enum.IntEnum):
    """Stage of one seed slot."""

    DORMANT = 0
    """Empty slot; a seed may be germinated here."""
    GERMINATED = 1
    """The seed's first epoch: created and already training in isolation; TRAINING from the next epoch."""
    TRAINING = 2
    """The seed trains in isolation: the host's outputs and gradients are unaffected."""
    BLENDING = 3
    """The seed is blended in: output = host + alpha * seed, alpha ramping 0 -> 1."""
    FOSSILIZED = 4
    """The seed is permanently part of the host (alpha = 1)."""
    CULLED = 5
    """The seed was removed; the slot is under embargo before it returns to DORMANT."""


LEGAL_TRANSITIONS: dict[SeedStage, frozenset[SeedStage]] = {
    SeedStage.DORMANT: frozenset({SeedStage.GERMINATED}),
    SeedStage.GERMINATED: frozenset({SeedStage.TRAINING, SeedStage.CULLED}),
    SeedStage.TRAINING: frozenset({SeedStage.BLENDING, SeedStage.CULLED}),
    SeedStage.BLENDING: frozenset({SeedStage.FOSSILIZED, SeedStage.CULLED}),
    SeedStage.FOSSILIZED: frozenset(),
    SeedStage.CULLED: frozenset({SeedStage.DORMANT}),
}
"""Every legal ``from -> to`` move. Anything else raises :class:`IllegalTransitionError`."""

ACTIVE_STAGES = frozenset({SeedStage.GERMINATED, SeedStage.TRAINING, SeedStage.BLENDING})
"""Stages in which a seed is alive but not yet permanent."""


class IllegalTransitionError(ValueError):
    """A lifecycle move that :data:`LEGAL_TRANSITIONS` does not allow."""


class IllegalCommandError(ValueError):
    """A command that is well formed but not legal in the current state."""


def check_transition(current: SeedStage, target: SeedStage) -> SeedStage:
    """Return ``target`` if ``current -> target`` is legal; raise otherwise (never fail silently)."""
    if target not in LEGAL_TRANSITIONS[SeedStage(current)]:
        allowed = ", ".join(s.name for s in sorted(LEGAL_TRANSITIONS[current])) or "nothing"
        raise IllegalTransitionError(
            f"illegal seed transition {SeedStage(current).name} -> {SeedStage(target).name} "
            f"(from {SeedStage(current).name} only {allowed} is allowed)"
        )
    return SeedStage(target)
