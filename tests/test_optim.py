"""fastseg.optim against torch.optim: every optimizer and option over several steps (float64 to
1e-10, float32 to 1e-4), param_groups, state_dict, schedulers, early stopping, L1 penalty."""

import math

import numpy as np
import pytest

import fastseg
from fastseg import optim
from helpers import assert_close, torch
from nn_helpers import needs_torch

OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, weight_decay=0.05, initial_accumulator_value=0.2)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, eps=1e-3, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
]


def quadratic_problem(rng, dtype):
    """Parameters and a fixed loss sum(a * p^2 + b * p) with a gradient that changes per step."""
    shapes = [(3, 4), (5,), (2, 1, 3)]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    coeffs = [(rng.random(s).astype(dtype) + 0.5, rng.standard_normal(s).astype(dtype)) for s in shapes]
    return params, coeffs


def run(lib, name, options, params, coeffs, steps, groups=False):
    """`steps` steps of lib's optimizer `name` (lib: fastseg or torch) on the quadratic problem;
    with `groups`, the first parameter in its own group at half the learning rate."""
    optim_module = optim if lib is fastseg else torch.optim
    ps = [lib.tensor(p.copy(), requires_grad=True) for p in params]
    arg = [{"params": ps[:1], "lr": options["lr"] * 0.5}, {"params": ps[1:]}] if groups else ps
    opt = getattr(optim_module, name)(arg, **options)
    cs = [(lib.tensor(a), lib.tensor(b)) for a, b in coeffs]
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = sum(((a * p * p) + b * p).sum() for p, (a, b) in zip(ps, cs))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return ps, losses, opt


@needs_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,options", OPTIMIZERS,
                         ids=[f"{n}-{','.join(f'{k}={v}' for k, v in o.items())}" for n, o in OPTIMIZERS])
def test_optimizer_matches_torch(name, options, dtype, rng):
    params, coeffs = quadratic_problem(rng, dtype)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    for groups in (False, True):
        ps, losses, opt = run(fastseg, name, options, params, coeffs, 6, groups)
        pt, losses_t, opt_t = run(torch, name, options, params, coeffs, 6, groups)
        assert_close(losses, losses_t, tol, "losses")
        for i, (a, b) in enumerate(zip(ps, pt)):
            assert a.dtype == dtype
            assert_close(a.data, b.detach().numpy(), tol, f"param {i}")
    # torch's optimizer state loads into fastseg's, and the next steps still agree
    fresh = [fastseg.tensor(p.detach().numpy().copy(), requires_grad=True) for p in pt]
    opt2 = getattr(optim, name)([{"params": fresh[:1]}, {"params": fresh[1:]}], **options)
    opt2.load_state_dict(opt_t.state_dict())
    assert opt2.param_groups[0]["lr"] == options["lr"] * 0.5
    for _ in range(2):
        for opt_, ps_ in ((opt2, fresh), (opt_t, pt)):
            opt_.zero_grad()
            if ps_ is pt:
                loss = sum(((torch.tensor(a) * p * p) + torch.tensor(b) * p).sum()
                           for p, (a, b) in zip(ps_, coeffs))
            else:
                loss = sum(((a * p * p) + b * p).sum() for p, (a, b) in zip(ps_, coeffs))
            loss.backward()
            opt_.step()
    for a, b in zip(fresh, pt):
        assert_close(a.data, b.detach().numpy(), tol, "after loading torch's state")


def test_state_dict_round_trip_and_errors(rng):
    params, coeffs = quadratic_problem(rng, np.float64)
    ps, _, opt = run(fastseg, "Adam", dict(lr=0.01, amsgrad=True), params, coeffs, 3)
    state = opt.state_dict()
    assert sorted(state["state"][0]) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    assert state["state"][0]["step"] == 3 and state["param_groups"][0]["params"] == [0, 1, 2]
    copy = [fastseg.tensor(p.data.copy(), requires_grad=True) for p in ps]
    opt2 = optim.Adam(copy, lr=0.01, amsgrad=True)
    opt2.load_state_dict(state)
    for o, q in ((opt, ps), (opt2, copy)):
        o.zero_grad()
        sum(((a * p * p) + b * p).sum() for p, (a, b) in zip(q, coeffs)).backward()
        o.step()
    for a, b in zip(ps, copy):
        assert np.array_equal(a.data, b.data)
    with pytest.raises(ValueError, match="different number"):
        optim.Adam(copy[:2]).load_state_dict(state)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": copy[:1]}, {"params": copy[:1]}])
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(copy, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.Adam(copy, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.RMSprop(copy, lr=-1)


def test_parameters_without_gradient_are_skipped(rng):
    a, b = (fastseg.tensor(rng.standard_normal(3), requires_grad=True) for _ in range(2))
    before = b.data.copy()
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    (a * a).sum().backward()
    opt.step()
    assert np.array_equal(b.data, before) and b not in opt.state


def test_l1_penalty(rng):
    a = fastseg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = fastseg.tensor(rng.standard_normal(5), requires_grad=True)
    penalty = optim.l1_penalty([a, b], 0.01)
    assert np.isclose(penalty.item(), 0.01 * (np.abs(a.data).sum() + np.abs(b.data).sum()))
    penalty.backward()
    assert np.array_equal(a.grad.data, 0.01 * np.sign(a.data))
    with pytest.raises(ValueError, match="at least one parameter"):
        optim.l1_penalty([], 0.1)


@needs_torch
def test_schedulers_match_torch():
    def pair(make_fs, make_torch, steps=25, metrics=None):
        p = fastseg.tensor(np.zeros(1), requires_grad=True)
        q = torch.zeros(1, requires_grad=True)
        o, ot = optim.SGD([p], lr=0.5), torch.optim.SGD([q], lr=0.5)
        s, st = make_fs(o), make_torch(ot)
        lrs, lrs_t = [], []
        for i in range(steps):
            ot.step()
            if metrics is None:
                s.step()
                st.step()
            else:
                s.step(metrics[i])
                st.step(metrics[i])
            lrs.append(o.param_groups[0]["lr"])
            lrs_t.append(ot.param_groups[0]["lr"])
        assert_close(lrs, lrs_t, 1e-14, "lr")
        assert s.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-14)

    pair(lambda o: optim.StepLR(o, 4, gamma=0.5),
         lambda o: torch.optim.lr_scheduler.StepLR(o, 4, gamma=0.5))
    pair(lambda o: optim.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
         lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01), steps=30)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.8, 0.81, 0.82, 0.83, 0.84, 0.85, 0.7] * 2
    for kw in (dict(patience=2), dict(patience=1, cooldown=2, factor=0.5, min_lr=0.01),
               dict(mode="max", threshold=0.05, threshold_mode="abs", patience=0)):
        pair(lambda o: optim.ReduceLROnPlateau(o, **kw),
             lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kw), len(metrics), metrics)


def test_early_stopping():
    stopper = optim.EarlyStopping(patience=3, min_delta=0.01)
    losses = [1.0, 0.8, 0.795, 0.79, 0.7, 0.71, 0.705, 0.702]  # < min_delta gains don't count
    decisions = [stopper.step(v) for v in losses]
    assert decisions == [False] * 7 + [True]
    assert stopper.best == 0.7 and stopper.best_epoch == 4
    net = fastseg.nn.Conv2d(1, 1, 1)
    keep = optim.EarlyStopping(patience=1, mode="max")
    keep.step(0.5, net)
    saved = net.weight.data.copy()
    net.weight.data[...] += 1
    assert keep.step(0.4, net)
    net.load_state_dict(keep.best_state)
    assert np.array_equal(net.weight.data, saved)
    with pytest.raises(ValueError, match="patience"):
        optim.EarlyStopping(patience=0)


def test_cosine_closed_form():
    p = fastseg.tensor(np.zeros(1), requires_grad=True)
    o = optim.SGD([p], lr=1.0)
    s = optim.CosineAnnealingLR(o, T_max=10)
    for t in range(1, 11):
        s.step()
        assert math.isclose(o.param_groups[0]["lr"], (1 + math.cos(math.pi * t / 10)) / 2,
                            abs_tol=1e-12)
