"""Leyline: the contracts every part of Esper speaks.

* :class:`SeedStage` and the table of legal lifecycle transitions (:func:`check_transition`).
* Commands as data (:class:`Command`), the :class:`ActionCodec` between commands and the integers of a
  flat ``Discrete`` action space, and :func:`legal_commands`.
* Reports as frozen dataclasses (:class:`SlotReport`, :class:`TrainingReport`) and the one versioned
  function that turns a report into the observation vector (:func:`report_to_vector`), in the *common
  layout* every env shares: :data:`SLOT_POSITIONS` slot positions x :data:`LAYOUT_BLUEPRINTS`, with the task's
  context (:class:`TaskContext`).
* What an episode leaves behind: :class:`LifecycleEvent` and :class:`EpisodeOutcome`.
* :class:`ObservationSchema`: the observation's version, entry names and action codec, recorded with every
  saved policy or dataset so that one built for other spaces is refused.

This package imports nothing from the rest of the project: arrows point *to* it, never from it.

One module a job: :mod:`.lifecycle`, :mod:`.commands`, :mod:`.reports`, :mod:`.observation` (the vector and the
schema) and :mod:`.outcomes`. Every name is re-exported here: ``from esper_env.leyline import X`` works for all.
"""

from .commands import (  # noqa: F401
    LAYOUT_BLUEPRINTS,
    LAYOUT_CODEC,
    SLOT_POSITIONS,
    ActionCodec,
    Command,
    Op,
    SlotState,
    command_is_legal,
    legal_commands,
)
from .lifecycle import (  # noqa: F401
    ACTIVE_STAGES,
    LEGAL_TRANSITIONS,
    IllegalCommandError,
    IllegalTransitionError,
    SeedStage,
    check_transition,
)
from .observation import (  # noqa: F401
    APPENDED,
    FINE_SCALE,
    LAYOUT_SCHEMA,
    OBS_VERSION,
    SLOT_ENTRIES,
    TASK_ENTRIES,
    ObservationSchema,
    observation_fields,
    report_to_vector,
    symlog,
)
from .outcomes import EpisodeOutcome, EventCause, LifecycleEvent, SeedOutcome  # noqa: F401
from .reports import HISTORY_LEN, SlotReport, TaskContext, TrainingReport, plateau_epochs  # noqa: F401
