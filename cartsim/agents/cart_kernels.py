"""Compiled per-cell CAR-T rules: one loop over the cells that act, instead of (N, 9) numpy arrays.

Each function here is the compiled form of one rule of :class:`cartsim.agents.cart.CarTPopulation`,
whose numpy methods ending in ``_reference`` are the readable statement of the same rule (the tests
check that both agree in distribution). The kernels draw their random numbers from the population's
xoshiro256** stream (``rng``, a ``uint64[4]`` state; :mod:`cartsim.agents.kernel_random`), seeded
from the model's generator, so a run is reproducible from its seed whatever process runs it.

The kernels only read and write arrays. Whatever creates or removes a Mesa agent (a kill, a death,
a division) is returned as a list of slots for the population to carry out in Python, so the
per-cell work is compiled and Python runs only per event.

Competition. Where two cells compete for one thing (a free site, one target), the kernels visit
the cells in a fresh random order and the first one wins, as the reference does. Hops stay
synchronous: a site left within a step is entered in the next step at the earliest, so the
kernels and the reference see the same free sites.

Compiled with ``cache=True``: the first process compiles (a few seconds) and writes the machine
code to ``__pycache__``; later processes load it in well under a second.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cartsim.agents.kernel_random import exponential, integer, uniform
from cartsim.environment.space import BLOCK_SHIFT  # occupancy blocks of 2**BLOCK_SHIFT sites a side

ACTIVE, ENGAGED, EXHAUSTED = 0, 1, 2  # the order of cartsim.units.CAR_T_STATES
NO_DIRECTION = -1
VACATED = -2  # move(): a tcell-layer site left in the current step (free again after it)

#: Moore neighbourhood offsets (dx, dy), in the direction order of cartsim.environment.tissue.OFFSETS.
DX = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
DY = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)

# Space kinds understood by the kernels (see cartsim.environment.space).
GRID, STIRRED = 0, 1
# Positions are pos[slot, :] = (x, y) site coordinates.


@njit(cache=True)
def _shuffle(a, rng):
    """Fisher–Yates shuffle of ``a`` in place."""
    for i in range(a.size - 1, 0, -1):
        j = integer(rng, 0, i + 1)
        a[i], a[j] = a[j], a[i]


@njit(cache=True)
def dying(alive, death_at, n, now):
    """Slots of live cells whose lifespan ends by ``now`` (minutes)."""
    out = np.empty(n, dtype=np.int64)
    k = 0
    for s in range(n):
        if alive[s] and death_at[s] <= now:
            out[k] = s
            k += 1
    return out[:k]


@njit(cache=True)
def attack(alive, state, target, target_uid, product, kills, subset, inhibited, pd1, n, max_kills,
           tumor_alive, tumor_uid, tumor_bind_p, p_kill, p_detach, p_pd1, claimed, stamp, rng):
    """Engaged cells kill, let go, or hold on; returns (killer slots, their targets).

    Per engaged cell, one uniform draw ``u``: with contact (target alive, same cell, still
    bindable), ``u < p_kill`` kills and ``u < p_kill + p_detach`` lets go; without contact the
    cell lets go at once. Several killers of one target: the first in random order kills, the
    others lose their target. ``claimed`` (one entry per tumor slot) marks targets taken in
    this step with ``stamp``. Disengaged cells return to active, or exhausted at ``max_kills``.
    The caller updates kills, stimulation and the tumor for each returned kill. ``p_kill`` and
    ``p_detach`` are indexed by the cell's T-cell subset and whether PD-1 inhibits its engagement
    (``inhibited``). With ``p_pd1 > 0``, a PD-1− cell in contact becomes PD-1+ with probability
    ``p_pd1`` (one more draw, after the first).
    """
    killers = np.empty(n, dtype=np.int64)
    nk = 0
    for s in range(n):
        if not alive[s] or state[s] != ENGAGED:
            continue
        t = target[s]
        contact = tumor_alive[t] and tumor_uid[t] == target_uid[s] and tumor_bind_p[t, product[s]] > 0
        u = uniform(rng)
        if contact and p_pd1 > 0.0 and not pd1[s] and uniform(rng) < p_pd1:
            pd1[s] = True
        k = 1 if inhibited[s] else 0
        pk = p_kill[subset[s], k]
        if contact and u < pk:
            killers[nk] = s
            nk += 1
        elif (not contact) or u < pk + p_detach[subset[s], k]:
            target[s] = -1
            state[s] = EXHAUSTED if kills[s] >= max_kills else ACTIVE
    killers = killers[:nk]
    _shuffle(killers, rng)
    winners = np.empty(nk, dtype=np.int64)
    victims = np.empty(nk, dtype=np.int64)
    nw = 0
    for i in range(nk):
        s = killers[i]
        t = target[s]
        if claimed[t] != stamp:
            claimed[t] = stamp
            winners[nw] = s
            victims[nw] = t
            nw += 1
        else:  # another cell killed this target first
            target[s] = -1
            state[s] = EXHAUSTED if kills[s] >= max_kills else ACTIVE
    return winners[:nw], victims[:nw]


@njit(cache=True)
def seek_targets(alive, state, pos, product, target, target_uid, last_stimulated, n, now,
                 tumor_layer, tumor_blocks, tumor_uid, tumor_bind_p, memory, divisions, death_at, subset,
                 mean_lifespan, pd1, inhibited, tumor_pos, pdl1_inducer, pdl1_base, pdl1_induced,
                 pdl1_inducer_half_max, pdl1_half_max, blockade, bound_cells, rng):
    """Active cells test the tumor cells they touch (own site and 8 neighbours); returns
    (contacts tested, bindings).

    Each touching tumor cell with a per-step binding probability ``p > 0`` is tested once
    (no draw when ``p >= 1``); among several successes one is chosen uniformly (reservoir
    sampling), and the cell engages it. A cell with no tumor cell in the 8 × 8 blocks of sites
    around it (``tumor_blocks``: tumor cells per block) touches none and is skipped: the blocks
    fit in the first-level cache, the layer does not.

    A memory cell that binds is re-activated: an effector again, with a new clone's division count
    (0) and a new lifespan drawn from its subset's effector mean ``mean_lifespan`` (minutes).

    PD-1: a PD-1+ cell's binding is inhibited with probability ``(1 - blockade)·L/(L + pdl1_half_max)``
    for the target's PD-L1 density ``L = pdl1_base + pdl1_induced·c/(c + pdl1_inducer_half_max)``,
    ``c`` the inducing cytokine (pM) at the target's site; an inhibited binding engages but does
    not stimulate (``last_stimulated`` is kept). The slots of the cells that bound are written
    to ``bound_cells`` (length ``n`` at least), in order.
    """
    width, height = tumor_layer.shape
    tested = 0
    bound = 0
    for s in range(n):
        if not alive[s] or state[s] != ACTIVE:
            continue
        x0, y0 = pos[s, 0], pos[s, 1]
        bx0, bx1 = max(x0 - 1, 0) >> BLOCK_SHIFT, min(x0 + 1, width - 1) >> BLOCK_SHIFT
        by0, by1 = max(y0 - 1, 0) >> BLOCK_SHIFT, min(y0 + 1, height - 1) >> BLOCK_SHIFT
        if (tumor_blocks[bx0, by0] == 0 and tumor_blocks[bx1, by0] == 0
                and tumor_blocks[bx0, by1] == 0 and tumor_blocks[bx1, by1] == 0):
            continue
        prod = product[s]
        successes = 0
        chosen = -1
        for k in range(-1, 8):
            if k < 0:
                cx, cy = x0, y0
            else:
                cx, cy = x0 + DX[k], y0 + DY[k]
                if cx < 0 or cx >= width or cy < 0 or cy >= height:
                    continue
            t = tumor_layer[cx, cy]
            if t < 0:
                continue
            p = tumor_bind_p[t, prod]
            if p <= 0.0:
                continue
            tested += 1
            if p >= 1.0 or uniform(rng) < p:
                successes += 1
                if successes == 1 or uniform(rng) * successes < 1.0:
                    chosen = t
        if chosen >= 0:
            state[s] = ENGAGED
            target[s] = chosen
            target_uid[s] = tumor_uid[chosen]
            inhibited[s] = False
            if pd1[s]:
                c = pdl1_inducer[tumor_pos[chosen, 0], tumor_pos[chosen, 1]]
                ligand = pdl1_base + pdl1_induced * c / (c + pdl1_inducer_half_max)
                inhibited[s] = uniform(rng) < (1.0 - blockade) * ligand / (ligand + pdl1_half_max)
            if not inhibited[s]:
                last_stimulated[s] = now
            if memory[s]:
                memory[s] = False
                divisions[s] = 0
                death_at[s] = now + exponential(rng, mean_lifespan[subset[s]])
            bound_cells[bound] = s
            bound += 1
    return tested, bound


@njit(cache=True)
def move(alive, state, pos, direction, n, tcell_layer, tumor_layer, squeeze, space,
         p_hop, p_keep, chemo, chemo_on, sensing, strength, rng):
    """Unengaged cells hop to a free neighbouring site; returns (hop attempts, left xs, left ys).

    A cell hops with probability ``p_hop`` per step. On the grid it keeps its direction with
    probability ``p_keep`` and otherwise turns to one of the 7 other directions (or any of 8 when
    it has none), heading up the chemoattractant ``chemo`` instead with probability ``strength``
    where the best neighbour exceeds its own site by ``sensing``. The target site must be inside,
    free of CAR-T and, unless T cells squeeze past tumor cells, of tumor cells; a blocked cell
    forgets its direction. Stirred: the target is a uniformly drawn site anywhere. Movers act in
    random order. The sites left are returned so that waiting tumor cells next to them can wake.

    Hops are synchronous, as in the reference: a site counts as free only if it was free at the
    start of the step, so a site left in this step cannot be entered until the next one (it is
    marked ``VACATED`` in ``tcell_layer`` until the end of the step: one array to look at, not
    two); two cells aiming at one free site: the first in random order gets it.
    """
    width, height = tcell_layer.shape
    movers = np.empty(n, dtype=np.int64)
    m = 0
    for s in range(n):
        if alive[s] and state[s] != ENGAGED and uniform(rng) < p_hop:
            movers[m] = s
            m += 1
    movers = movers[:m]
    _shuffle(movers, rng)
    left_x = np.empty(m, dtype=np.int64)
    left_y = np.empty(m, dtype=np.int64)
    nl = 0
    for i in range(m):
        s = movers[i]
        x0, y0 = pos[s, 0], pos[s, 1]
        if space == STIRRED:
            tx, ty = integer(rng, 0, width), integer(rng, 0, height)
        else:
            d = direction[s]
            if d == NO_DIRECTION or uniform(rng) >= p_keep:
                d = integer(rng, 0, 8) if d == NO_DIRECTION else (d + 1 + integer(rng, 0, 7)) % 8
                if chemo_on:
                    best = -1
                    best_v = -np.inf
                    for k in range(8):
                        cx, cy = x0 + DX[k], y0 + DY[k]
                        if 0 <= cx < width and 0 <= cy < height and chemo[cx, cy] > best_v:
                            best_v = chemo[cx, cy]
                            best = k
                    if best >= 0 and best_v - chemo[x0, y0] >= sensing and uniform(rng) < strength:
                        d = best
                direction[s] = d
            tx, ty = x0 + DX[d], y0 + DY[d]
        ok = 0 <= tx < width and 0 <= ty < height
        if ok:
            ok = tcell_layer[tx, ty] == -1 and (squeeze or tumor_layer[tx, ty] < 0)
        if ok:
            tcell_layer[x0, y0] = VACATED
            tcell_layer[tx, ty] = s
            pos[s, 0], pos[s, 1] = tx, ty
            left_x[nl], left_y[nl] = x0, y0
            nl += 1
        elif space != STIRRED:
            direction[s] = NO_DIRECTION  # blocked: pick a new direction next hop
    for i in range(nl):  # the sites left in this step are free again from the next one
        tcell_layer[left_x[i], left_y[i]] = -1
    return m, left_x[:nl], left_y[:nl]


@njit(cache=True)
def dividing(alive, state, pos, divisions, last_stimulated, n, subset, now, window, max_divisions,
             division_rate, il2_boost, il2_half_max, il2, dt, homeostatic_rate, memory, rng):
    """Slots of activated cells that divide within this step (rate boosted by IL-2 at their site).

    Activated: stimulated within ``window`` minutes and not exhausted. The division hazard is
    ``division_rate·(1 + il2_boost·c/(c + il2_half_max))`` for IL-2 ``c`` (pM), ``division_rate``
    indexed by the cell's T-cell subset, and the step
    probability ``1 - exp(-rate·dt)`` (:func:`cartsim.rates.hazard_probability`).

    After lymphodepletion (``homeostatic_rate`` > 0, per minute) every non-exhausted effector
    below ``max_divisions`` divides at that extra, antigen-independent rate too, activated or not
    (memory cells do not divide); with ``homeostatic_rate`` 0 resting cells draw nothing.
    """
    out = np.empty(n, dtype=np.int64)
    k = 0
    for s in range(n):
        if not alive[s] or state[s] == EXHAUSTED or divisions[s] >= max_divisions:
            continue
        if now - last_stimulated[s] > window:  # resting
            if homeostatic_rate > 0.0 and not memory[s] and uniform(rng) < -np.expm1(-homeostatic_rate * dt):
                out[k] = s
                k += 1
            continue
        c = il2[pos[s, 0], pos[s, 1]]
        rate = division_rate[subset[s]] * (1.0 + il2_boost * c / (c + il2_half_max)) + homeostatic_rate
        if uniform(rng) < -np.expm1(-rate * dt):
            out[k] = s
            k += 1
    return out[:k]


@njit(cache=True)
def differentiate(alive, state, memory, last_stimulated, death_at, n, now, window, p_memory,
                  mean_memory_lifespan, rng):
    """Resting effectors become memory cells; returns how many did.

    Resting: active (not engaged, not exhausted), not memory, and not stimulated within ``window``
    minutes. Each becomes a memory cell within the step with probability ``p_memory``
    (:func:`cartsim.rates.hazard_probability` of the formation rate) and then lives an exponential
    lifespan of mean ``mean_memory_lifespan`` minutes from now (memoryless: a fresh draw is exact).
    """
    formed = 0
    for s in range(n):
        if (alive[s] and state[s] == ACTIVE and not memory[s] and now - last_stimulated[s] > window
                and uniform(rng) < p_memory):
            memory[s] = True
            death_at[s] = now + exponential(rng, mean_memory_lifespan)
            formed += 1
    return formed


@njit(cache=True)
def fratricide(alive, state, memory, pos, product, subset, kills, last_stimulated, carried_encounter_p,
               carriers, tcell_layer, max_kills, kill_rate, dt, now, rng):
    """CAR-T carrying antigen (``carriers``) are killed by the active effectors around them.

    For each carrier (in random order) and each active, non-memory CAR-T on the 8 sites around
    it, one draw: the neighbour kills the carrier within the step with probability
    ``1 - exp(-k·P·dt)``, ``k`` the kill rate (1/min) of the neighbour's subset and ``P`` the
    probability that a contact with the carrier's antigen binds the neighbour's CAR
    (``carried_encounter_p``, by product): a contact that binds kills at the kill rate. The first
    success kills the carrier; the killer counts a kill and is stimulated. Returns the killed
    carriers (the caller frees their slots).
    """
    width, height = tcell_layer.shape
    _shuffle(carriers, rng)
    victims = np.empty(carriers.size, dtype=np.int64)
    nv = 0
    for i in range(carriers.size):
        v = carriers[i]
        if not alive[v]:
            continue
        x0, y0 = pos[v, 0], pos[v, 1]
        for k in range(8):
            cx, cy = x0 + DX[k], y0 + DY[k]
            if cx < 0 or cx >= width or cy < 0 or cy >= height:
                continue
            s = tcell_layer[cx, cy]
            if s < 0 or not alive[s] or state[s] != ACTIVE or memory[s]:
                continue
            hazard = kill_rate[subset[s]] * carried_encounter_p[v, product[s]]
            if hazard > 0.0 and uniform(rng) < -np.expm1(-hazard * dt):
                alive[v] = False  # the caller releases the slot
                victims[nv] = v
                nv += 1
                kills[s] += 1
                last_stimulated[s] = now
                if kills[s] >= max_kills:
                    state[s] = EXHAUSTED
                break
    return victims[:nv]


@njit(cache=True)
def activated(alive, state, last_stimulated, n, now, window):
    """Slots of activated cells: stimulated within ``window`` minutes of ``now`` and not exhausted."""
    out = np.empty(n, dtype=np.int64)
    k = 0
    for s in range(n):
        if alive[s] and state[s] != EXHAUSTED and now - last_stimulated[s] <= window:
            out[k] = s
            k += 1
    return out[:k]


@njit(cache=True)
def divide(parents, pos, alive, uid, counters, free, tcell_layer, tumor_layer, squeeze, space, state,
           product, kills, divisions, target, direction, last_stimulated, death_at, subset, memory, pd1,
           inhibited, now, mean_lifespan, max_kills, rng):
    """The ``parents`` divide, in order: each daughter goes to a uniformly chosen free Moore
    neighbour (no CAR-T; no tumor cell unless T cells squeeze past), or, stirred, to one site
    drawn anywhere if it is free; with no room the division does not happen. Returns the number
    of daughters.

    A daughter starts active with no kills (CARCADE: the kill limit is per cell, the division
    limit per lineage), the parent's product, lineage divisions and activation, no direction,
    its T-cell subset, and a lifespan drawn from an exponential of mean ``mean_lifespan`` minutes
    (indexed by subset). The caller
    guarantees a free slot for every parent (``counters``/``free``: see
    :mod:`cartsim.agents.population`).
    """
    width, height = tcell_layer.shape
    born = 0
    for i in range(parents.size):
        p = parents[i]
        x0, y0 = pos[p, 0], pos[p, 1]
        tx, ty = -1, -1
        if space == STIRRED:
            cx, cy = integer(rng, 0, width), integer(rng, 0, height)
            if tcell_layer[cx, cy] < 0 and (squeeze or tumor_layer[cx, cy] < 0):
                tx, ty = cx, cy
        else:
            n_free = 0
            for d in range(8):
                cx, cy = x0 + DX[d], y0 + DY[d]
                if 0 <= cx < width and 0 <= cy < height and tcell_layer[cx, cy] < 0 and (
                        squeeze or tumor_layer[cx, cy] < 0):
                    n_free += 1
            if n_free > 0:
                pick = integer(rng, 0, n_free)
                for d in range(8):
                    cx, cy = x0 + DX[d], y0 + DY[d]
                    if 0 <= cx < width and 0 <= cy < height and tcell_layer[cx, cy] < 0 and (
                            squeeze or tumor_layer[cx, cy] < 0):
                        if pick == 0:
                            tx, ty = cx, cy
                            break
                        pick -= 1
        if tx < 0:
            continue  # no room: the division does not happen
        divisions[p] += 1
        if counters[1] > 0:  # N_FREE
            counters[1] -= 1
            c = free[counters[1]]
        else:
            c = counters[0]  # NEXT
            counters[0] += 1
        counters[2] += 1  # LAST_UID
        uid[c] = counters[2]
        alive[c] = True
        pos[c, 0], pos[c, 1] = tx, ty
        tcell_layer[tx, ty] = c
        state[c] = EXHAUSTED if max_kills <= 0 else ACTIVE
        product[c] = product[p]
        kills[c] = 0
        divisions[c] = divisions[p]
        target[c] = -1
        direction[c] = NO_DIRECTION
        last_stimulated[c] = last_stimulated[p]
        subset[c] = subset[p]
        memory[c] = False  # only resting cells become memory cells; a dividing one is activated
        pd1[c] = pd1[p]
        inhibited[c] = False
        death_at[c] = now + exponential(rng, mean_lifespan[subset[c]])
        born += 1
    return born
