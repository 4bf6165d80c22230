"""The experiment protocol: what is measured, on which seeds, and how it is reported.

Above :mod:`agents` (controllers and learners) and below ``benchmarks/`` (one script per question):

* :mod:`lab.compare` -- controllers played paired by seed, the cached runs, intervals, tables and figures;
* :mod:`lab.evaluation` -- an evaluation as data (env, overrides, seeds, rows, goal checks), always claimed in
  :mod:`lab.ledger` before it plays; :mod:`lab.stages` -- one resumable stage runner;
* :mod:`lab.tune`, :mod:`lab.twin`, :mod:`lab.headroom` -- the static ceiling and how far a learner may gain;
* :mod:`lab.records` -- one typed record per episode; :mod:`lab.run`, :mod:`lab.checkpoint` -- one episode;
* :mod:`lab.cli` (``esper``) and :mod:`lab.options` -- the command line, which parses and prints.
"""
