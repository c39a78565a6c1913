"""The random numbers of the compiled kernels: xoshiro256** streams seeded from the model's generator.

Each population that runs compiled rules holds one stream, a ``uint64[4]`` state array filled from
the model's ``numpy.random.Generator`` (PCG64) when the population is made (:func:`new_stream`).
A run is therefore reproducible from its seed, whatever process or executor runs it. xoshiro256**
(Blackman & Vigna 2018, "Scrambled linear pseudorandom number generators") passes BigCrush and
costs about a nanosecond per draw; a plain state array crosses into compiled code with no overhead,
which a ``Generator`` object does not (about 10 µs per call to type and unwrap it).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U53 = 1.0 / 9007199254740992.0  # 2**-53

# uint64 constants: numba turns mixed uint64/int64 arithmetic into floats, so every operand is uint64
_U5, _U7, _U9 = np.uint64(5), np.uint64(7), np.uint64(9)
_U11, _U17, _U45 = np.uint64(11), np.uint64(17), np.uint64(45)
_U64 = np.uint64(64)


def new_stream(rng: np.random.Generator) -> np.ndarray:
    """A fresh xoshiro256** state drawn from ``rng``."""
    state = rng.integers(0, 2**64, size=4, dtype=np.uint64, endpoint=False)
    if not state.any():  # the one state xoshiro cannot leave
        state[0] = 1
    return state


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << k) | (x >> (_U64 - k))


@njit(cache=True)
def next_uint64(state):
    """The next 64 random bits, advancing ``state`` in place."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    result = _rotl(s1 * _U5, _U7) * _U9
    t = s1 << _U17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, _U45)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return result


@njit(cache=True)
def uniform(state):
    """A uniform double in [0, 1) (53 random bits)."""
    return float(next_uint64(state) >> _U11) * _U53


@njit(cache=True)
def integer(state, low, high):
    """A uniform integer in [low, high) (bias below 2**-53·(high - low), negligible here)."""
    return low + np.int64(uniform(state) * (high - low))


@njit(cache=True)
def exponential(state, mean):
    """An exponential waiting time with the given mean."""
    return -mean * np.log1p(-uniform(state))


@njit(cache=True)
def normal(state):
    """A standard normal deviate (Marsaglia's polar method; the second deviate is discarded)."""
    while True:
        u = 2.0 * uniform(state) - 1.0
        v = 2.0 * uniform(state) - 1.0
        s = u * u + v * v
        if 0.0 < s < 1.0:
            return u * np.sqrt(-2.0 * np.log(s) / s)


@njit(cache=True)
def gamma(state, shape, scale):
    """A Gamma(shape, scale) deviate (Marsaglia & Tsang 2000; shape < 1 by the boost u^(1/shape))."""
    boost = 1.0
    if shape < 1.0:
        boost = uniform(state) ** (1.0 / shape)
        shape += 1.0
    d = shape - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    while True:
        x = normal(state)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = uniform(state)
        if u < 1.0 - 0.0331 * x * x * x * x or np.log(u) < 0.5 * x * x + d * (1.0 - v + np.log(v)):
            return d * v * scale * boost


@njit(cache=True)
def lognormal(state, mu, sigma):
    """exp(N(mu, sigma²))."""
    return np.exp(mu + sigma * normal(state))
