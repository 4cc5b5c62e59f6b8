"""Review of the committee default: behaviour a committee must share with one network."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")


def test_a_committee_predicts_a_dask_array_lazily_as_one_network_does():
    # docs/guide/dask.md: "predict returns lazy dask arrays". One network's predict maps its
    # forward pass over the blocks; the default regressor averages a committee, whose predict
    # must stay lazy too (an out-of-core X would otherwise be read whole into memory).
    from quasinet.sklearn import QuasiNetRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.standard_normal(300)
    reg = QuasiNetRegressor(random_state=0, max_iter=30).fit(X, y)
    assert len(reg.members_) > 1  # the default committee
    Xd = da.from_array(X, chunks=(100, 3))
    pred = reg.predict(Xd)
    assert isinstance(pred, da.Array) and pred.shape == (300,)
    np.testing.assert_allclose(pred.compute(), reg.predict(X), rtol=1e-12, atol=1e-12)
