"""Optimizers with torch.optim's signatures, defaults, update formulas (single-tensor path),
param_groups and state_dict layout, each a few lines on a tiny base class. Adam and AdamW run
one fused C++ pass per parameter (csrc/cpu/nn.cpp)."""

from __future__ import annotations

import copy

import numpy as np

from .._backend import kernels
from ..autograd import Tensor, array_module


class Optimizer:
    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict = {}  # param -> its state (arrays and the step count)
        self.param_groups: list[dict] = []
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for name, value in self.defaults.items():
            group.setdefault(name, value)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.data[...] = 0

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    grad = p.grad.data
                    if grad.shape != p.shape:
                        raise ValueError(f"grad: expected shape {p.shape}, got {grad.shape}")
                    self._update(p.data, grad, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    # ---- state (torch's layout: state by parameter index, groups list their indices) ----
    def _params(self) -> list:
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict:
        index = {id(p): i for i, p in enumerate(self._params())}
        groups = []
        for g in self.param_groups:
            groups.append({**{k: v for k, v in g.items() if k != "params"},
                           "params": [index[id(p)] for p in g["params"]]})
        state = {index[id(p)]: {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                for k, v in s.items()} for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Loads a state_dict of this optimizer, or of the same torch.optim optimizer (tensors
        converted with np.asarray, per-parameter arrays cast to the parameter's dtype)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError("loaded state dict has a different number of parameter groups or "
                             "parameters per group")
        params = self._params()
        by_index = {i: p for g, saved in zip(self.param_groups, groups)
                    for i, p in zip(saved["params"], g["params"])}
        self.state = {}
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
            entry = {}
            for k, v in s.items():
                v = np.asarray(v.detach() if hasattr(v, "detach") else v)
                entry[k] = int(v) if k == "step" else v.astype(p.dtype, copy=True)
            self.state[p] = entry
        for g, saved in zip(self.param_groups, groups):
            g.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
        del params


def _check(name: str, value, minimum: float = 0.0) -> None:
    if not value >= minimum:
        raise ValueError(f"Invalid {name}: {value}")


class SGD(Optimizer):
    """p -= lr * d with d = g (+ weight_decay * p), through momentum buf = momentum * buf +
    (1 - dampening) * d (the first buf is d itself), nesterov d + momentum * buf."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False):
        _check("learning rate", lr)
        _check("momentum value", momentum)
        _check("weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, param, grad, state, group):
        d = -grad if group["maximize"] else grad
        if group["weight_decay"]:
            d = d + group["weight_decay"] * param
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * d
            d = d + momentum * buf if group["nesterov"] else buf
        param -= group["lr"] * d


class Adagrad(Optimizer):
    """sum += g^2; p -= lr / (1 + (step - 1) * lr_decay) * g / (sqrt(sum) + eps)."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        for name, v in (("learning rate", lr), ("lr_decay", lr_decay), ("epsilon value", eps),
                        ("weight_decay value", weight_decay),
                        ("initial_accumulator_value", initial_accumulator_value)):
            _check(name, v)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))
        for group in self.param_groups:  # torch creates the state eagerly
            for p in group["params"]:
                self.state[p] = {"step": 0, "sum": np.full(p.shape, group[
                    "initial_accumulator_value"], p.dtype)}

    def _update(self, param, grad, state, group):
        state["step"] += 1
        g = -grad if group["maximize"] else grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * param
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += g * g
        param -= clr * (g / (np.sqrt(state["sum"]) + group["eps"]))


class RMSprop(Optimizer):
    """v = alpha v + (1 - alpha) g^2 (centered: minus the squared running mean of g);
    p -= lr g / (sqrt(v) + eps), through a momentum buffer when momentum > 0."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        for name, v in (("learning rate", lr), ("epsilon value", eps), ("momentum value", momentum),
                        ("weight_decay value", weight_decay), ("alpha value", alpha)):
            _check(name, v)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _update(self, param, grad, state, group):
        if not state:
            state.update(step=0, square_avg=np.zeros_like(param))
            if group["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(param)
        state["step"] += 1
        g = -grad if group["maximize"] else grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * param
        alpha = group["alpha"]
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * (g * g)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg += (1 - alpha) * (g - grad_avg)
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += g / avg
            param -= group["lr"] * buf
        else:
            param -= group["lr"] * (g / avg)


class Adam(Optimizer):
    """m = lerp(m, g, 1 - beta1); v = beta2 v + (1 - beta2) g^2 (amsgrad: its running max);
    p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps). weight_decay adds
    weight_decay * p to g (Adam) or multiplies p by 1 - lr * weight_decay first (AdamW)."""

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False):
        for name, v in (("learning rate", lr), ("epsilon value", eps),
                        ("weight_decay value", weight_decay)):
            _check(name, v)
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def _update(self, param, grad, state, group):
        xp = array_module(param)
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(param), exp_avg_sq=xp.zeros_like(param))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(param)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        kernels(param).adam_step(
            param, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
            xp.asarray(grad, param.dtype, order="C"), group["lr"], beta1, beta2, group["eps"],
            group["weight_decay"], state["step"], group["amsgrad"], self.decoupled_weight_decay,
            group["maximize"])


class AdamW(Adam):
    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


def l1_penalty(parameters, weight: float) -> Tensor:
    """weight * sum of |p| over the parameters (seed: L1 / Lasso regularisation), to add to the
    loss; its gradient is weight * sign(p)."""
    total = None
    for p in parameters:
        term = p.abs().sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("parameters: expected at least one parameter")
    return total * weight
