"""Helpers shared by several test files (pytest puts this directory on sys.path)."""

import numpy as np


def recording_bind(net, evaluated, on_evaluation=None):
    """Make ``net.bind`` return objectives that append ``(cost, params copy)`` to ``evaluated``.

    The Trainer asks the network for its bound objective, so this records every cost the
    optimiser evaluates: through ``fg(p)``, ``fg.cost(p)`` and ``fg.gauss_newton(p)``
    (Levenberg-Marquardt); ``fg.hessp`` passes through. ``on_evaluation(n)`` is called after the n-th evaluation, if given.
    Plain function (not a fixture) so that subprocess scripts can import it too.
    """
    bind = net.bind

    def recording(*args, **kwargs):
        fg = bind(*args, **kwargs)

        def record(f, p):
            evaluated.append((f, np.array(p)))
            if on_evaluation is not None:
                on_evaluation(len(evaluated))

        def fun(p):
            f, g = fg(p)
            record(f, p)
            return f, g

        def cost(p):
            f = fg.cost(p)
            record(f, p)
            return f

        def gauss_newton(p):
            out = fg.gauss_newton(p)
            record(out[0], p)
            return out

        fun.cost, fun.gauss_newton, fun.hessp = cost, gauss_newton, fg.hessp
        return fun

    net.bind = recording
