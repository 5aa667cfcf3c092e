"""Function (one per op, with forward(ctx, ...) / backward(ctx, grad)) and the backward engine.

The graph is made of Function nodes, not of tensors: a node keeps what its backward saved and the
nodes (or leaf tensors) its inputs came from, so an intermediate result nobody saved is freed as
soon as the Python code drops it, as in PyTorch. Backward walks the nodes in reverse topological
order, frees each node's saved arrays once it has run, and accumulates into the leaves' ``.grad``.

Rules for a Function: ``forward`` receives arrays (tensors unwrapped) and returns one array;
``backward`` receives the output gradient and returns one gradient (or None) per positional
input. ``forward`` may also return ``(output, *extras)``: the extras (max_pool2d's indices) come
back as Tensors without gradient. Neither may modify its arguments in place: the same array may be shared.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "grad_enabled", True)


def set_grad_enabled(mode: bool) -> None:
    _state.grad_enabled = bool(mode)


@contextlib.contextmanager
def _grad_mode(mode: bool):
    previous = is_grad_enabled()
    set_grad_enabled(mode)
    try:
        yield
    finally:
        set_grad_enabled(previous)


class no_grad(contextlib.ContextDecorator):
    """Context manager and decorator: ops record no graph inside (``torch.no_grad``)."""

    def __enter__(self):
        self._mode = _grad_mode(False)
        self._mode.__enter__()

    def __exit__(self, *exc):
        return self._mode.__exit__(*exc)


class enable_grad(no_grad):
    """Context manager and decorator: ops record the graph inside (``torch.enable_grad``)."""

    def __enter__(self):
        self._mode = _grad_mode(True)
        self._mode.__enter__()


def array_module(array):
    """NumPy, or CuPy for a CuPy array: op bodies use ``xp = array_module(x)``."""
    if type(array).__module__.split(".")[0] == "cupy":
        import cupy
        return cupy
    return np


class Function:
    """Base class of every op. Subclasses define static ``forward(ctx, *args, **kwargs)`` and
    ``backward(ctx, grad)``; ``Op.apply(*args, **kwargs)`` runs forward and records the node.

    The node is the ``ctx``: ``ctx.save_for_backward(*arrays)``, ``ctx.saved_tensors``,
    ``ctx.needs_input_grad`` (one bool per positional argument) and any attribute set in forward.
    """

    def save_for_backward(self, *arrays) -> None:
        self.saved_tensors = arrays

    @classmethod
    def apply(cls, *args, **kwargs):
        from .tensor import Tensor
        ctx = cls()
        ctx.saved_tensors = ()
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx.needs_input_grad = needs
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        out = cls.forward(ctx, *raw, **kwargs)
        extras = ()
        if isinstance(out, tuple):  # (output, *non-differentiable outputs such as indices)
            out, extras = out[0], tuple(Tensor._wrap(e) for e in out[1:])
        if any(needs) and is_grad_enabled():
            ctx.next_nodes = tuple((a._ctx if a._ctx is not None else a) if n else None
                                   for a, n in zip(args, needs))
            result = Tensor._wrap(out, requires_grad=True)
            result._ctx = ctx
        else:
            result = Tensor._wrap(out)
        return (result, *extras) if extras else result

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError


def _topological_order(root) -> list:
    """Nodes reachable from `root` (a Function node), each after every node that consumes it."""
    order, visited = [], {id(root)}
    stack = [(root, iter(getattr(root, "next_nodes", ())))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child is not None and id(child) not in visited:
                visited.add(id(child))
                stack.append((child, iter(getattr(child, "next_nodes", ()))))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order


def run_backward(tensor, grad) -> None:
    """Backpropagates `grad` (an array of tensor's shape) from `tensor` into the leaves."""
    from .tensor import Tensor
    root = tensor._ctx if tensor._ctx is not None else tensor
    if isinstance(root, Function) and not hasattr(root, "next_nodes"):
        raise RuntimeError("Trying to backward through the graph a second time: the saved "
                           "arrays of this graph were freed by the first backward")
    pending = {id(root): grad}
    given_to_leaves = set()
    for node in _topological_order(root):
        g = pending.pop(id(node), None)
        if isinstance(node, Tensor):  # a leaf
            if g is None:
                continue
            xp = array_module(g)
            g = xp.asarray(g, dtype=node.dtype, order="C")
            if node.grad is None:
                if id(g) in given_to_leaves or not g.flags.writeable:
                    g = g.copy()  # one array is never two leaves' .grad, and .grad is writeable
                given_to_leaves.add(id(g))
                node.grad = Tensor._wrap(g)
            else:
                node.grad = Tensor._wrap(node.grad.data + g)
            continue
        if g is not None:
            grads = type(node).backward(node, g)
            if not isinstance(grads, tuple):
                grads = (grads,)
            for child, gi in zip(node.next_nodes, grads):
                if child is None or gi is None:
                    continue
                key = id(child)
                pending[key] = gi if key not in pending else pending[key] + gi
        node.__dict__.clear()  # frees the saved arrays and marks the node as used
