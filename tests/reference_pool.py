"""Float64 NumPy references of the pooling family: plain loops over the window taps (vectorised
over the outputs), written from PyTorch's rules, nothing shared with the kernels."""

from __future__ import annotations

import numpy as np


def pool_output_size(size, kernel, stride, pad, dilation=1, ceil_mode=False):
    """PyTorch's pooling_output_shape."""
    numerator = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = numerator // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _tap_coords(out, size, kernel, stride, pad, dilation):
    """(kernel, out) input coordinates of each tap of each output's window, and whether each is
    inside [0, size)."""
    coords = (np.arange(out)[None, :] * stride - pad + np.arange(kernel)[:, None] * dilation)
    return coords, (coords >= 0) & (coords < size)


def has_empty_window(out, size, kernel, stride, pad, dilation) -> bool:
    """Whether some output's window holds no input element (possible with dilation)."""
    return not _tap_coords(out, size, kernel, stride, pad, dilation)[1].any(axis=0).all()


def max_pool2d(x, kernel, stride, padding, dilation, ceil_mode):
    """(y, indices): PyTorch's CPU scan of each window in row-major order, starting from -inf
    at the first element inside the input; an element replaces the maximum when it is greater
    or NaN. Loops over the taps, vectorised over all outputs."""
    x = np.asarray(x, np.float64)
    N, C, H, W = x.shape
    P, Q = (pool_output_size(s, k, st, p, d, ceil_mode)
            for s, k, st, p, d in zip((H, W), kernel, stride, padding, dilation))
    rows, row_ok = _tap_coords(P, H, kernel[0], stride[0], padding[0], dilation[0])
    cols, col_ok = _tap_coords(Q, W, kernel[1], stride[1], padding[1], dilation[1])
    first_row = rows[row_ok.argmax(axis=0), np.arange(P)]
    first_col = cols[col_ok.argmax(axis=0), np.arange(Q)]
    best = np.full((N, C, P, Q), -np.inf)
    at = np.broadcast_to(first_row[:, None] * W + first_col[None, :], best.shape).copy()
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            r, c = np.clip(rows[i], 0, H - 1), np.clip(cols[j], 0, W - 1)
            v = x[:, :, r[:, None], c[None, :]]
            inside = row_ok[i][:, None] & col_ok[j][None, :]
            take = inside & ((v > best) | np.isnan(v))
            best = np.where(take, v, best)
            at = np.where(take, (r[:, None] * W + c[None, :]), at)
    return best, at


def _planes(a, dtype=np.float64):
    """(N, C, h, w) as (N*C, h*w)."""
    return np.asarray(a, dtype).reshape(a.shape[0] * a.shape[1], a.shape[2] * a.shape[3])


def scatter_add(dy, indices, plane_shape):
    """Sum of dy at indices within each plane: the gradient of a gather."""
    out = np.zeros((dy.shape[0] * dy.shape[1], plane_shape[0] * plane_shape[1]))
    for plane, (values, idx) in enumerate(zip(_planes(dy), _planes(indices, np.int64))):
        np.add.at(out[plane], idx, values)
    return out.reshape(dy.shape[:2] + tuple(plane_shape))


def max_unpool2d(x, indices, out_size):
    """Zeros with x[i] at indices[i]; of repeated indices the last in row-major order wins."""
    out = np.zeros((x.shape[0] * x.shape[1], out_size[0] * out_size[1]))
    for plane, (values, idx) in enumerate(zip(_planes(x), _planes(indices, np.int64))):
        for v, i in zip(values, idx):  # in order: later writes overwrite earlier ones
            out[plane, i] = v
    return out.reshape(x.shape[:2] + tuple(out_size))


def gather(dy, indices):
    """dy at indices within each plane (the gradient of max_unpool2d, as PyTorch)."""
    return np.take_along_axis(_planes(dy), _planes(indices, np.int64), axis=1).reshape(indices.shape)


def _avg_taps(H, W, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """Tap coordinates with their inside masks, and the (P, Q) divisors of PyTorch's avg_pool2d."""
    P, Q = (pool_output_size(s, k, st, p, 1, ceil_mode)
            for s, k, st, p in zip((H, W), kernel, stride, padding))
    rows, row_ok = _tap_coords(P, H, kernel[0], stride[0], padding[0], 1)
    cols, col_ok = _tap_coords(Q, W, kernel[1], stride[1], padding[1], 1)
    if divisor_override:
        divisor = np.full((P, Q), float(divisor_override))
    elif count_include_pad:  # the window clipped to the padded input
        h = np.minimum(rows[0] + kernel[0], H + padding[0]) - rows[0]
        w = np.minimum(cols[0] + kernel[1], W + padding[1]) - cols[0]
        divisor = (h[:, None] * w[None, :]).astype(np.float64)
    else:
        divisor = (row_ok.sum(axis=0)[:, None] * col_ok.sum(axis=0)[None, :]).astype(np.float64)
    return rows, row_ok, cols, col_ok, divisor


def avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x = np.asarray(x, np.float64)
    H, W = x.shape[2:]
    rows, row_ok, cols, col_ok, divisor = _avg_taps(H, W, kernel, stride, padding, ceil_mode,
                                                    count_include_pad, divisor_override)
    total = 0.0
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            r, c = np.clip(rows[i], 0, H - 1), np.clip(cols[j], 0, W - 1)
            inside = row_ok[i][:, None] & col_ok[j][None, :]
            total = total + np.where(inside, x[:, :, r[:, None], c[None, :]], 0.0)
    return total / divisor


def avg_pool2d_grad(dy, x_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                    divisor_override):
    """Adjoint of avg_pool2d: each output's dy / divisor added to every input of its window."""
    H, W = x_shape[2:]
    rows, row_ok, cols, col_ok, divisor = _avg_taps(H, W, kernel, stride, padding, ceil_mode,
                                                    count_include_pad, divisor_override)
    share = np.asarray(dy, np.float64) / divisor
    dx = np.zeros(x_shape)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            inside = row_ok[i][:, None] & col_ok[j][None, :]
            r, c = np.broadcast_arrays(rows[i][:, None], cols[j][None, :])
            np.add.at(dx, (slice(None), slice(None), r[inside], c[inside]), share[:, :, inside])
    return dx


def _scale(in_size, out_size, align_corners, scale_factor, dtype):
    """PyTorch's area_pixel_compute_scale in the kernel's precision `dtype`."""
    t = np.dtype(dtype).type
    if align_corners:
        return t(in_size - 1) / t(out_size - 1) if out_size > 1 else t(0)
    if scale_factor:
        return t(1.0 / scale_factor)
    return t(in_size) / t(out_size)


def nearest_index(in_size, out_size, scale_factor, dtype):
    """Source index floor(dst * scale) of each output, PyTorch's generic CPU 'nearest'."""
    t = np.dtype(dtype).type
    scale = _scale(in_size, out_size, False, scale_factor, dtype)
    return np.array([min(int(np.floor(np.float32(scale * t(i)))), in_size - 1)
                     for i in range(out_size)], np.int64)


def linear_weights(in_size, out_size, align_corners, scale_factor, dtype):
    """(i0, i1, w0, w1) per output: PyTorch's compute_source_index_and_lambda."""
    t = np.dtype(dtype).type
    scale = _scale(in_size, out_size, align_corners, scale_factor, dtype)
    i0, i1, w0, w1 = [], [], [], []
    for i in range(out_size):
        if in_size == out_size:
            i0.append(i), i1.append(i), w0.append(1.0), w1.append(0.0)
            continue
        real = scale * t(i) if align_corners else max(scale * (t(i) + t(0.5)) - t(0.5), t(0))
        first = min(int(np.floor(np.float32(real))), in_size - 1)
        lam = min(max(real - t(first), t(0)), t(1))
        i0.append(first), i1.append(first + (1 if first < in_size - 1 else 0))
        w0.append(float(t(1) - lam)), w1.append(float(lam))
    return np.array(i0), np.array(i1), np.array(w0), np.array(w1)


def _interp_matrix(in_size, out_size, mode, align_corners, scale_factor, dtype):
    """(out_size, in_size) matrix of the 1-D resampling."""
    m = np.zeros((out_size, in_size))
    if mode == "nearest":
        m[np.arange(out_size), nearest_index(in_size, out_size, scale_factor, dtype)] = 1
        return m
    i0, i1, w0, w1 = linear_weights(in_size, out_size, align_corners, scale_factor, dtype)
    for o in range(out_size):
        m[o, i0[o]] += w0[o]
        m[o, i1[o]] += w1[o]
    return m


def interpolate(x, out_size, mode, align_corners, scales, dtype):
    """Separable resampling: rows then columns (bilinear is the product of 1-D weights)."""
    x = np.asarray(x, np.float64)
    mh = _interp_matrix(x.shape[2], out_size[0], mode, align_corners, scales[0], dtype)
    mw = _interp_matrix(x.shape[3], out_size[1], mode, align_corners, scales[1], dtype)
    return np.einsum("ph,nchw,qw->ncpq", mh, x, mw)


def interpolate_grad(dy, in_size, mode, align_corners, scales, dtype):
    dy = np.asarray(dy, np.float64)
    mh = _interp_matrix(in_size[0], dy.shape[2], mode, align_corners, scales[0], dtype)
    mw = _interp_matrix(in_size[1], dy.shape[3], mode, align_corners, scales[1], dtype)
    return np.einsum("ph,ncpq,qw->nchw", mh, dy, mw)
