"""The tumor's event loop, compiled (the rules are stated in :mod:`cartsim.agents.tumor`).

Pending events (one per live cell: its division or its death) sit in a binary heap held in three
arrays, ordered by (time, sequence number): ``heap_time`` (minutes), ``heap_key[:, 0]`` the
sequence number, ``[:, 1]`` the slot, ``[:, 2]`` the slot's event generation when queued (an event
whose generation is no longer the slot's is stale and skipped), ``[:, 3]`` the kind (DIVIDE/DIE).
``meta`` holds the heap size and the last sequence number.

:func:`run_events` runs every event due by a time; a call returns early, with a status the
caller acts on, when the heap or the slot arrays need more room or its output buffers are full,
and is then simply called again. It lists the slots whose antigen densities changed (so the
caller recomputes their binding probabilities in bulk before any CAR-T acts) and the cells
that died (so the caller removes their Mesa agents, if any were made).

Random numbers come from the tumor's own xoshiro256** stream (:mod:`cartsim.agents.kernel_random`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cartsim.agents.kernel_random import exponential, gamma, integer, lognormal, uniform
from cartsim.environment.space import BLOCK_SHIFT  # occupancy blocks of 2**BLOCK_SHIFT sites a side

DIVIDE, DIE = 0, 1
GRID, STIRRED = 0, 1  # space kinds (cartsim.environment.space)
NEXT, N_FREE, LAST_UID = 0, 1, 2  # cartsim.agents.population counters
SIZE, SEQ = 0, 1  # heap meta

# run_events statuses
DONE, NEED_HEAP, NEED_SLOTS, OUTPUT_FULL = 0, 1, 2, 3

#: Moore neighbourhood offsets, in the direction order of cartsim.environment.tissue.OFFSETS.
DX = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
DY = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)


# ---------------------------------------------------------------------------- the heap
@njit(cache=True)
def _before(heap_time, heap_key, i, j):
    return heap_time[i] < heap_time[j] or (heap_time[i] == heap_time[j] and heap_key[i, 0] < heap_key[j, 0])


@njit(cache=True)
def _swap(heap_time, heap_key, i, j):
    heap_time[i], heap_time[j] = heap_time[j], heap_time[i]
    for c in range(4):
        heap_key[i, c], heap_key[j, c] = heap_key[j, c], heap_key[i, c]


@njit(cache=True)
def push(heap_time, heap_key, meta, time, slot, gen, kind):
    """Queue an event; the caller guarantees room (``meta[SIZE] < heap_time.size``)."""
    meta[SEQ] += 1
    i = meta[SIZE]
    meta[SIZE] += 1
    heap_time[i] = time
    heap_key[i, 0] = meta[SEQ]
    heap_key[i, 1] = slot
    heap_key[i, 2] = gen
    heap_key[i, 3] = kind
    while i > 0:
        parent = (i - 1) // 2
        if not _before(heap_time, heap_key, i, parent):
            break
        _swap(heap_time, heap_key, i, parent)
        i = parent


@njit(cache=True)
def pop(heap_time, heap_key, meta):
    """Remove the earliest event; its fields are copied out first by the caller (index 0)."""
    n = meta[SIZE] - 1
    meta[SIZE] = n
    if n == 0:
        return
    heap_time[0] = heap_time[n]
    for c in range(4):
        heap_key[0, c] = heap_key[n, c]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        child = left
        if left + 1 < n and _before(heap_time, heap_key, left + 1, left):
            child = left + 1
        if not _before(heap_time, heap_key, child, i):
            break
        _swap(heap_time, heap_key, i, child)
        i = child


@njit(cache=True)
def push_many(heap_time, heap_key, meta, times, slots, gens, kinds):
    """Queue several events (in the order given, which fixes their sequence numbers)."""
    for i in range(times.size):
        push(heap_time, heap_key, meta, times[i], slots[i], gens[i], kinds[i])


# ---------------------------------------------------------------------------- cell rules
@njit(cache=True)
def residual_cycle_time(rng, k_shape, theta, growth_rate):
    """Time to next division (minutes) of a cell drawn from the stable age distribution.

    The rule of :meth:`cartsim.agents.tumor.TumorPopulation.residual_cycle_times`: τ ~ Gamma
    seen with weight ∝ (1 - e^{-rτ}) (by rejection), age ~ truncated exponential on [0, τ].
    """
    while True:
        tau = gamma(rng, k_shape, theta)
        if uniform(rng) < -np.expm1(-growth_rate * tau):
            break
    u = uniform(rng)
    age = -np.log1p(-u * -np.expm1(-growth_rate * tau)) / growth_rate
    return tau - age


@njit(cache=True)
def schedule(slot, now, division_in, event_gen, heap_time, heap_key, meta, death_mean, rng):
    """Queue whichever comes first for ``slot``: division in ``division_in`` or death (exponential)."""
    event_gen[slot] += 1
    death_in = exponential(rng, death_mean) if death_mean > 0.0 else np.inf
    if division_in <= death_in:
        push(heap_time, heap_key, meta, now + division_in, slot, event_gen[slot], DIVIDE)
    else:
        push(heap_time, heap_key, meta, now + death_in, slot, event_gen[slot], DIE)


@njit(cache=True)
def _wake_site(x0, y0, now, layer, quiescent, event_gen, heap_time, heap_key, meta, death_mean,
               k_shape, theta, growth_rate, rng):
    """The quiescent neighbours of the freed site (x0, y0) wake (see :func:`wake`)."""
    width, height = layer.shape
    woke = 0
    for d in range(8):
        nx, ny = x0 + DX[d], y0 + DY[d]
        if nx < 0 or nx >= width or ny < 0 or ny >= height:
            continue
        s = layer[nx, ny]
        if s < 0 or not quiescent[s]:
            continue
        quiescent[s] = False
        schedule(s, now, residual_cycle_time(rng, k_shape, theta, growth_rate), event_gen,
                 heap_time, heap_key, meta, death_mean, rng)
        woke += 1
    return woke


@njit(cache=True)
def wake(xs, ys, now, layer, quiescent, event_gen, heap_time, heap_key, meta, death_mean,
         k_shape, theta, growth_rate, rng):
    """Quiescent tumor cells next to the freed sites (xs, ys) resume cycling at a random point
    of their cycle (a residual cycle time). Each wakes once; returns how many woke.

    The caller guarantees room for ``8·len(xs)`` more events.
    """
    woke = 0
    for i in range(xs.size):
        woke += _wake_site(xs[i], ys[i], now, layer, quiescent, event_gen, heap_time, heap_key, meta,
                           death_mean, k_shape, theta, growth_rate, rng)
    return woke


@njit(cache=True)
def _free_site(s, now, alive, pos, layer, blocks, free, counters, event_gen, died_at, quiescent,
               heap_time, heap_key, meta, death_mean, k_shape, theta, growth_rate, rng):
    """Cell ``s`` dies at ``now``: its site frees (``died_at`` records the minute), its slot goes
    on the free stack, its queued events go stale, and the quiescent cells next to it wake."""
    x0, y0 = pos[s, 0], pos[s, 1]
    event_gen[s] += 1
    alive[s] = False
    layer[x0, y0] = -1
    blocks[x0 >> BLOCK_SHIFT, y0 >> BLOCK_SHIFT] -= 1
    free[counters[N_FREE]] = s
    counters[N_FREE] += 1
    died_at[x0, y0] = now
    _wake_site(x0, y0, now, layer, quiescent, event_gen, heap_time, heap_key, meta, death_mean,
               k_shape, theta, growth_rate, rng)


@njit(cache=True)
def _inherit(antigen, src, dst, noise_sigma, loss_p, rng):
    """``antigen[dst]``: ``antigen[src]`` times log-normal noise (mean 1), each antigen lost with ``loss_p``."""
    for j in range(antigen.shape[1]):
        d = antigen[src, j]
        if noise_sigma > 0.0:
            d *= lognormal(rng, -0.5 * noise_sigma * noise_sigma, noise_sigma)
        if uniform(rng) < loss_p[j]:
            d = 0.0
        antigen[dst, j] = d


@njit(cache=True)
def run_events(until, heap_time, heap_key, meta, counters, alive, pos, uid, layer, blocks, blocker,
               use_blocker, space, quiescent, event_gen, antigen, free, died_at, death_mean,
               k_shape, theta, growth_rate, noise_sigma, loss_p, changed, n_changed, removed,
               n_removed, tally, p_chemo, p_arrest, arrest_field, arrest_threshold, rng):
    """Run the events due by ``until`` (minutes) in time order; returns a status (DONE or why it stopped).

    Division: the daughter goes to a uniformly chosen Moore neighbour with no tumor cell (nor,
    with ``use_blocker``, a T cell in ``blocker``); both cells get inherited densities and a new
    cycle; with no free neighbour the cell becomes quiescent (still mortal: a fresh death
    time). Stirred space: the daughter's site is drawn anywhere and the division fails if it is
    taken (the cell starts a new cycle). Death: the site frees, ``died_at`` records the minute,
    quiescent neighbours wake; ``blocks`` (cells per block of sites) follows the layer.
    ``changed[:n_changed[0]]`` gets slots with new densities;
    ``removed[:n_removed[0]]`` (slot, uid) of the dead; ``tally`` counts (divisions, deaths,
    chemotherapy kills, IFN-γ arrests).

    Treatments and bystander effects act on a cell about to divide once its daughter's site is
    found (a contact-inhibited cell is not cycling, and is spared): chemotherapy kills it with probability ``p_chemo`` (a death like any other); else,
    where ``arrest_field`` (IFN-γ, pM) is at least ``arrest_threshold``, the division is arrested
    with probability ``p_arrest`` and the cell starts a new cycle. Each draws only when its
    probability is positive, so a run without them draws the same numbers as before.
    """
    width, height = layer.shape
    capacity = alive.size
    while meta[SIZE] > 0 and heap_time[0] <= until:
        if meta[SIZE] + 10 > heap_time.size:
            return NEED_HEAP
        if n_changed[0] + 2 > changed.size or n_removed[0] + 1 > removed.shape[0]:
            return OUTPUT_FULL
        if counters[N_FREE] == 0 and counters[NEXT] >= capacity:
            return NEED_SLOTS
        time = heap_time[0]
        slot, gen, kind = heap_key[0, 1], heap_key[0, 2], heap_key[0, 3]
        pop(heap_time, heap_key, meta)
        if gen != event_gen[slot] or not alive[slot]:
            continue  # the cell died, was killed or rescheduled since this was queued
        x0, y0 = pos[slot, 0], pos[slot, 1]
        if kind == DIE:
            removed[n_removed[0], 0] = slot
            removed[n_removed[0], 1] = uid[slot]
            n_removed[0] += 1
            tally[1] += 1
            _free_site(slot, time, alive, pos, layer, blocks, free, counters, event_gen, died_at,
                       quiescent, heap_time, heap_key, meta, death_mean, k_shape, theta, growth_rate, rng)
            continue
        # division: where does the daughter go?
        tx, ty = -1, -1
        if space == STIRRED:
            cx, cy = integer(rng, 0, width), integer(rng, 0, height)
            if layer[cx, cy] < 0 and not (use_blocker and blocker[cx, cy] >= 0):
                tx, ty = cx, cy
            else:  # taken: the division fails, a new cycle starts (no neighbours to wait for)
                schedule(slot, time, gamma(rng, k_shape, theta), event_gen, heap_time, heap_key, meta,
                         death_mean, rng)
                continue
        else:
            n_free = 0
            for d in range(8):
                cx, cy = x0 + DX[d], y0 + DY[d]
                if 0 <= cx < width and 0 <= cy < height and layer[cx, cy] < 0 and not (
                        use_blocker and blocker[cx, cy] >= 0):
                    n_free += 1
            if n_free == 0:
                quiescent[slot] = True
                # still mortal while waiting: death is memoryless, so a fresh draw is exact
                event_gen[slot] += 1
                if death_mean > 0.0:
                    push(heap_time, heap_key, meta, time + exponential(rng, death_mean), slot,
                         event_gen[slot], DIE)
                continue
            pick = integer(rng, 0, n_free)
            for d in range(8):
                cx, cy = x0 + DX[d], y0 + DY[d]
                if 0 <= cx < width and 0 <= cy < height and layer[cx, cy] < 0 and not (
                        use_blocker and blocker[cx, cy] >= 0):
                    if pick == 0:
                        tx, ty = cx, cy
                        break
                    pick -= 1
        # a cell about to divide (with room) may be killed by chemotherapy or arrested by IFN-γ
        if p_chemo > 0.0 and uniform(rng) < p_chemo:
            removed[n_removed[0], 0] = slot
            removed[n_removed[0], 1] = uid[slot]
            n_removed[0] += 1
            tally[2] += 1
            _free_site(slot, time, alive, pos, layer, blocks, free, counters, event_gen, died_at,
                       quiescent, heap_time, heap_key, meta, death_mean, k_shape, theta, growth_rate, rng)
            continue
        if p_arrest > 0.0 and arrest_field[x0, y0] >= arrest_threshold and uniform(rng) < p_arrest:
            tally[3] += 1  # IFN-γ arrests the division: a new cycle starts
            schedule(slot, time, gamma(rng, k_shape, theta), event_gen, heap_time, heap_key, meta,
                     death_mean, rng)
            continue
        # the daughter's slot
        if counters[N_FREE] > 0:
            counters[N_FREE] -= 1
            child = free[counters[N_FREE]]
        else:
            child = counters[NEXT]
            counters[NEXT] += 1
        counters[LAST_UID] += 1
        uid[child] = counters[LAST_UID]
        alive[child] = True
        pos[child, 0], pos[child, 1] = tx, ty
        layer[tx, ty] = child
        blocks[tx >> BLOCK_SHIFT, ty >> BLOCK_SHIFT] += 1
        quiescent[child] = False
        tally[0] += 1
        # the parent's densities are the source of both daughters' (the parent is one of them)
        _inherit(antigen, slot, child, noise_sigma, loss_p, rng)
        _inherit(antigen, slot, slot, noise_sigma, loss_p, rng)
        changed[n_changed[0]] = slot
        changed[n_changed[0] + 1] = child
        n_changed[0] += 2
        schedule(slot, time, gamma(rng, k_shape, theta), event_gen, heap_time, heap_key, meta,
                 death_mean, rng)
        schedule(child, time, gamma(rng, k_shape, theta), event_gen, heap_time, heap_key, meta,
                 death_mean, rng)
    return DONE


@njit(cache=True)
def remove_cells(slots, now, alive, pos, layer, blocks, free, counters, event_gen, died_at, quiescent,
                 heap_time, heap_key, meta, death_mean, k_shape, theta, growth_rate, rng):
    """Cells in ``slots`` (live, distinct) are killed at ``now``, in order: each frees its site,
    records the minute in ``died_at``, and wakes the quiescent cells next to it (:func:`wake`).

    The caller guarantees room for ``8·len(slots)`` more events.
    """
    for i in range(slots.size):
        _free_site(slots[i], now, alive, pos, layer, blocks, free, counters, event_gen, died_at,
                   quiescent, heap_time, heap_key, meta, death_mean, k_shape, theta, growth_rate, rng)


@njit(cache=True)
def exposed_deaths(alive, pos, n, field, threshold, p_die, rng):
    """Slots of live cells at sites where ``field`` is at least ``threshold`` that die within the
    interval, each with probability ``p_die`` (in slot order; the caller removes them)."""
    out = np.empty(n, dtype=np.int64)
    k = 0
    for s in range(n):
        if alive[s] and field[pos[s, 0], pos[s, 1]] >= threshold and uniform(rng) < p_die:
            out[k] = s
            k += 1
    return out[:k]
