"""Probes: hand-written variants of a controller, played to measure what a signal of the report is worth -- not
shipped controllers, not oracles (they read only the report).

``benchmarks/reactive_headroom.py`` plays them beside the reactive heuristic and the oracle told the event
(:class:`lab.oracles.ReactiveReveal`): how much of the headroom above the reactive heuristic a simple rule on one
more entry of the report (a TRAINING seed's ``potential``) recovers.
"""

from __future__ import annotations

from agents.reactive import ReactiveConfig, ReactiveTamiyo


class _Potential(ReactiveTamiyo):
    threshold = 0.0

    def __init__(self):
        super().__init__(ReactiveConfig(potential=self.threshold), f"reactive-potential-{self.threshold:g}")


class Potential02(_Potential):
    """The reactive heuristic, also culling a GERMINATED or TRAINING seed whose potential is below -2 points."""

    threshold = 0.02


class Potential03(_Potential):
    """... below -3 points."""

    threshold = 0.03


class Potential05(_Potential):
    """... below -5 points."""

    threshold = 0.05
