"""The model file format's own module: plain data in and out, the version rule, no imports above it.

The hostile files (truncated, pickled, inconsistent) are in test_io.py and test_attack2.py,
through ``load_model``; here: what :mod:`quasinet.modelfile` itself promises.
"""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

import quasinet
from quasinet import Network, modelfile
from quasinet.network import ACTIVATIONS, DTYPES, GAUSS_NEWTON_MAX_PARAMS, LOSSES, OUTPUT_ACTIVATIONS

NAMES = dict(activation=ACTIVATIONS, output_activation=OUTPUT_ACTIVATIONS, loss=LOSSES, dtype=DTYPES)


def _read(path, **kw):
    return modelfile.read(path, names=NAMES, max_posterior_params=kw.get("max_posterior_params",
                                                                          GAUSS_NEWTON_MAX_PARAMS))


def test_imports_nothing_of_quasinet_but_files():
    # network.py imports modelfile: any other quasinet import here could close a circle.
    tree = ast.parse(Path(modelfile.__file__).read_text(encoding="utf-8"))
    relative = [(node.module, [a.name for a in node.names]) for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level > 0]
    absolute = [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
    absolute += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0]
    assert relative == [("files", ["atomic_write"])]
    assert not [m for m in absolute if m.split(".")[0] == "quasinet"]


def test_network_save_reads_back_as_plain_data(tmp_path):
    net = Network([3, 4, 2], activation="tanh", seed=3)
    net.save(tmp_path / "n.qnet")
    h, arrays = _read(tmp_path / "n.qnet")
    assert h == dict(format="quasinet-model", version=1, n_params=net.n_params, dtype="float64", **{
        k: v for k, v in net.spec().items() if k != "dtype"})
    assert set(arrays) == {"params"} and arrays["params"].dtype == np.float64
    assert arrays["params"].tobytes() == net.params.tobytes()
    assert quasinet.load(tmp_path / "n.qnet").params.tobytes() == net.params.tobytes()


@pytest.mark.parametrize("dtype, extra, version", [
    ("float64", {}, 1),
    ("float64", dict(inputs=["a", "b", "c"], info={"n": 1}), 1),
    ("float64", dict(method="BR"), 2),
    ("float32", {}, 3),
    ("float32", dict(method="BR"), 3),
    ("float64", dict(encoding={"columns": []}), 4),
    ("float32", dict(encoding={"columns": []}, method="BR"), 4),
])
def test_header_takes_the_oldest_version_that_holds_its_content(dtype, extra, version):
    net = Network([3, 2, 1], seed=0, dtype=dtype)
    h = modelfile.header(net.spec(), net.n_params, **extra)
    assert h["version"] == version
    assert ("dtype" in h) == (dtype != "float64")
    assert all(h[k] == v for k, v in extra.items())
    assert not {"inputs", "targets", "classes", "info", "method", "posterior", "encoding"} - set(extra) & set(h)


def test_the_posterior_limit_is_the_callers(tmp_path):
    net = Network([3, 2, 1], seed=0)
    P = net.n_params
    post = dict(beta=1.0, alpha=[1.0], group_names=["all"], gamma=1.0, log_evidence=0.0, ard=False,
                feature_relevance=None, moderate=False)
    modelfile.write(tmp_path / "p.qnet", modelfile.header(net.spec(), P, posterior=post),
                    {"params": net.params, "covariance": np.eye(P)})
    h, arrays = _read(tmp_path / "p.qnet")
    assert h["posterior"] == post and arrays["covariance"].shape == (P, P)
    with pytest.raises(ValueError, match=f"p.qnet: a posterior needs at most {P - 1} parameters, the network has {P}"):
        _read(tmp_path / "p.qnet", max_posterior_params=P - 1)


def test_names_are_the_callers(tmp_path):
    Network([3, 2, 1], activation="relu", seed=0).save(tmp_path / "r.qnet")
    with pytest.raises(ValueError, match="activation must be one of tanh, got 'relu'"):
        modelfile.read(tmp_path / "r.qnet", names={**NAMES, "activation": ("tanh",)}, max_posterior_params=10)
    h = json.loads(np.load(tmp_path / "r.qnet")["header"].tobytes())
    assert h["activation"] == "relu"
