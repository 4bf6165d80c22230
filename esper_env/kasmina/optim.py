"""The SGD optimizer of a morphogenetic model, by parameter group.

Groups: ``"host"`` (the host, plus fossilized seeds) and one ``"seed<k>"`` group per live seed in slot ``k``,
so germinating or culling a seed never resets the host's momentum, and a fossilized seed joins the host's
group keeping its own momentum buffers.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_sgd(params, *, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    """Nesterov SGD with one group, ``"host"``."""
    return torch.optim.SGD([{"params": list(params), "name": "host"}], lr=lr, momentum=momentum,
                           weight_decay=weight_decay, nesterov=True)


def group(opt: torch.optim.Optimizer, name: str) -> dict:
    return next(g for g in opt.param_groups if g["name"] == name)


def add_seed(opt: torch.optim.Optimizer, index: int, seed: nn.Module, lr: float) -> None:
    opt.add_param_group({"params": list(seed.parameters()), "name": f"seed{index}", "lr": lr})


def drop_seed(opt: torch.optim.Optimizer, index: int, keep_state: bool = False) -> list[nn.Parameter]:
    """Remove slot ``index``'s group (and, unless ``keep_state``, its momentum); return its parameters."""
    g = group(opt, f"seed{index}")
    # By identity: list.remove would compare the groups' tensors by value.
    opt.param_groups[:] = [x for x in opt.param_groups if x is not g]
    if not keep_state:
        for p in g["params"]:
            opt.state.pop(p, None)
    return g["params"]


def join_host(opt: torch.optim.Optimizer, params) -> None:
    """Add ``params`` to the host's group (a fossilized seed)."""
    group(opt, "host")["params"].extend(params)


def export(opt: torch.optim.Optimizer, model: nn.Module) -> dict:
    """Groups (parameters by name in ``model``) and state, as copies."""
    names = {id(p): n for n, p in model.named_parameters()}
    return dict(param_groups=[dict(name=g["name"], params=[names[id(p)] for p in g["params"]])
                              for g in opt.param_groups],
                optimizer=copy.deepcopy(opt.state_dict()))


def restore(opt: torch.optim.Optimizer, model: nn.Module, state: dict) -> None:
    """Rebuild the groups of :func:`export`'s output over ``model``'s parameters and load the state."""
    by_name = dict(model.named_parameters())
    opt.param_groups.clear()
    opt.state.clear()
    for g in state["param_groups"]:
        opt.add_param_group({"params": [by_name[n] for n in g["params"]], "name": g["name"]})
    # A copy: load_state_dict keeps the given tensors as momentum buffers, and training would then mutate the
    # snapshot (restoring it a second time would not give the same run).
    opt.load_state_dict(copy.deepcopy(state["optimizer"]))
