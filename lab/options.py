"""Command-line options generated from config dataclasses: one settings source for every ``esper`` command.

Each option's flag, type, default and help come from a field of the command's config dataclass (its
docstring is the help); the checks live in the dataclass (``check()``), so a script that builds the config
gets the same errors as the command line. The options every command shares (``--env``, ``--set``, ``--out``,
``--workers``, ``--quiet``) are declared once, here.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import typing
from pathlib import Path
from typing import Any


def parse_setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as a Python literal when it is one (``10``, ``(1, 2)``), else as a string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a plain string such as dataset=cifar10


def _kind(hint: Any) -> tuple[type, bool, bool]:
    """(element type, is a sequence, may be None) of a field's type hint."""
    optional = False
    args = typing.get_args(hint)
    if type(None) in args:
        optional = True
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    if typing.get_origin(hint) in (tuple, list):
        return (args[0] if args else str), True, optional
    return hint, False, optional


def add_options(parser: argparse.ArgumentParser, cls: type, names: tuple[str, ...],
                flags: dict[str, str] | None = None, metavars: dict[str, str] | None = None) -> None:
    """Add an option per field in ``names`` of dataclass ``cls``: ``--field-name`` (or ``flags[name]``), typed
    from the annotation, defaulting to the field's default, with the field's docstring as help."""
    from esper_env.config import field_docs

    hints, docs = typing.get_type_hints(cls), field_docs(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in names:
        f = fields[name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        elem, many, optional = _kind(hints[name])
        flag = (flags or {}).get(name, "--" + name.replace("_", "-"))
        shown = " ".join(map(str, default)) if many and default else default
        help_ = docs.get(name, "").replace("%", "%%") + f" (default: {shown})"
        kw: dict[str, Any] = dict(dest=name, help=help_)
        if elem is bool and not many:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, **kw)
            continue
        parser.add_argument(flag, type=str if elem is Path else elem, nargs="+" if many else None,
                            default=list(default) if many and default is not None else default,
                            metavar=(metavars or {}).get(name, "N" if elem in (int, float) else None), **kw)


def config_from(args: argparse.Namespace, cls: type, **extra: Any):
    """An instance of ``cls`` from the parsed options that name its fields, plus ``extra``."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    for k, v in values.items():
        if isinstance(v, list):
            values[k] = tuple(v)
    return cls(**{**values, **extra})


def add_env(parser: argparse.ArgumentParser, default: str) -> None:
    import esper_env

    parser.add_argument("--env", dest="env_id", default=default,
                        help=f"registered env id: {', '.join(esper_env.ENV_IDS)} (default: {default})")
    from esper_env.config import SETTINGS

    parser.add_argument("--preset", dest="setting", choices=sorted(SETTINGS), default=None,
                        help="a named set of env settings, applied before --set (cifar10-subset: the real subset's "
                             "sizes, small host, 20 epochs; give --data-root or --set data_root=...)")
    parser.add_argument("--set", dest="overrides", type=parse_setting, action="append", default=[],
                        metavar="KEY=VALUE", help="override an env setting (EsperConfig field), e.g. --set "
                                                  "max_epochs=10 (repeatable)")
    add_data_root(parser)  # every command that takes an env takes --data-root (the preset's help says so)


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", default=None,
                        help="folder holding cifar-10-batches-py (or $ESPER_DATA_DIR); same as --set data_root=...")


def add_quiet(parser: argparse.ArgumentParser, what: str = "no progress bar") -> None:
    parser.add_argument("--quiet", action="store_true", help=what)


def env_overrides(args: argparse.Namespace) -> dict:
    """``--preset``, then ``--set`` pairs (and ``--data-root``), as a dict of EsperConfig fields."""
    from esper_env.config import SETTINGS

    out = dict(SETTINGS[args.setting]) if getattr(args, "setting", None) else {}
    out.update(args.overrides)
    if getattr(args, "data_root", None):
        out["data_root"] = args.data_root
    return out


def parse_args(cls: type, argv: list[str] | None = None, description: str | None = None):
    """A benchmark script's ``Args`` dataclass from its command line: every field an option (its docstring the
    help, its default the default), CleanRL style; ``choices`` in a field's metadata restrict it."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, cls, tuple(f.name for f in dataclasses.fields(cls)))
    for action in parser._actions:
        f = next((f for f in dataclasses.fields(cls) if f.name == action.dest), None)
        if f is not None and "choices" in f.metadata:
            action.choices = f.metadata["choices"]
    return config_from(parser.parse_args(argv), cls)
