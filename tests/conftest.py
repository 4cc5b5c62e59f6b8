"""Helpers shared by several test files (pytest puts this directory on sys.path)."""

import numpy as np


def recording_bind(net, evaluated, on_evaluation=None):
    """Make ``net.bind`` return objectives that append ``(cost, params copy)`` to ``evaluated``.

    The Trainer asks the network for its bound objective, so this records every cost the
    optimiser evaluates. ``on_evaluation(n)`` is called after the n-th evaluation, if given.
    Plain function (not a fixture) so that subprocess scripts can import it too.
    """
    bind = net.bind

    def recording(*args, **kwargs):
        fg = bind(*args, **kwargs)

        def fun(p):
            try:
                f, g = fg(p)
            except FloatingPointError:  # the core refuses a non-finite result: record it as NaN
                evaluated.append((float("nan"), np.array(p)))
                raise
            evaluated.append((f, np.array(p)))
            if on_evaluation is not None:
                on_evaluation(len(evaluated))
            return f, g

        fun.cost = fg.cost
        return fun

    net.bind = recording
