"""Choosing the holdout rows used for early stopping and for comparing candidates."""

import numpy as np

HOLDOUT_RATE = 0.2
# With this few rows a holdout would be too small to mean anything: every row is used both
# for training and for validation (as the earlier implementation did).
MIN_ROWS_FOR_HOLDOUT = 32
def split_holdout(strata, holdout_set_size, seed, rate=HOLDOUT_RATE):
    """(training_rows, holdout_rows): sorted row indices, for rows of stratum ids `strata`
    (an objective's: classes, or numeric label bins).

    The holdout has min(`rate` (20%) of the rows, holdout_set_size) rows, never more, shared among
    the strata in proportion to their size (largest remainders first), with at least one row
    from every stratum that has two or more rows, so every class is represented on both
    sides. When there are more such strata than holdout rows, the largest strata get one
    row each (ties drawn with the seed) and the others none: `missed_strata` counts them.
    """
    n_rows = len(strata)
    everything = np.arange(n_rows)
    if n_rows <= MIN_ROWS_FOR_HOLDOUT:
        return everything, everything

    strata = np.asarray(strata)
    members = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    target = min(int(round(rate * n_rows)), holdout_set_size)
    rng = np.random.default_rng(seed)
    counts = _allocate(np.array([len(m) for m in members]), target, rng)
    holdout = [rng.permutation(rows)[:count] for rows, count in zip(members, counts)]
    holdout = np.sort(np.concatenate(holdout))
    training = np.setdiff1d(everything, holdout)
    return training, holdout


def missed_strata(strata, holdout_rows):
    """How many strata (classes, or numeric label bins) have no row in the holdout."""
    strata = np.asarray(strata)
    return len(np.unique(strata)) - len(np.unique(strata[holdout_rows]))


def _allocate(sizes, target, rng):
    """Split `target` among strata of `sizes`: proportional, largest remainder, >= 1 each
    while there are enough rows to go round, else one each for the largest strata."""
    eligible = sizes >= 2
    if eligible.sum() >= target:
        # Largest first; `rng` orders strata of equal size.
        order = np.lexsort((rng.permutation(len(sizes)), -sizes))
        counts = np.zeros(len(sizes), int)
        counts[order[eligible[order]][:target]] = 1
        return counts
    counts = np.where(eligible, 1, 0)
    spare = target - counts.sum()

    # Proportional shares of what is left, never taking a stratum's last training row.
    room = np.where(eligible, sizes - 1 - counts, 0)
    shares = spare * room / max(room.sum(), 1)
    extra = np.minimum(np.floor(shares).astype(int), room)
    order = np.argsort(-(shares - extra), kind="stable")
    for stratum in order[: max(0, spare - extra.sum())]:
        if extra[stratum] < room[stratum]:
            extra[stratum] += 1
    return counts + extra
