"""Compiled helpers of the tumor's event loop (see :mod:`cartsim.agents.tumor` for the rules)."""

from __future__ import annotations

import numpy as np
from numba import njit

from cartsim.agents.cart_kernels import DX, DY


@njit(cache=True)
def wake_neighbours(xs, ys, layer, quiescent):
    """Quiescent tumor cells next to the sites (xs, ys) wake: their ``quiescent`` flag is cleared,
    and their slots are returned, each once, in site and neighbour order.

    ``layer`` holds the tumor slot at each site (-1: none).
    """
    width, height = layer.shape
    out = np.empty(8 * xs.size, dtype=np.int64)
    k = 0
    for i in range(xs.size):
        for d in range(8):
            nx, ny = xs[i] + DX[d], ys[i] + DY[d]
            if nx < 0 or nx >= width or ny < 0 or ny >= height:
                continue
            s = layer[nx, ny]
            if s < 0 or not quiescent[s]:
                continue
            quiescent[s] = False  # so that a cell next to two freed sites wakes once
            out[k] = s
            k += 1
    return out[:k]
