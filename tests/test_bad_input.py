"""Every entry point rejects bad input with a clear exception naming what was expected and what came."""

import numpy as np
import pytest

import quasinet as qn


@pytest.fixture
def net():
    return qn.Network([2, 3, 1], seed=0)


X_OK = np.array([[0.3, 1.0], [0.5, 0.2], [1.0, 0.4]])
Y_OK = np.array([[0.75], [0.82], [0.95]])


# --- construction -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        (dict(layer_sizes=[2]), ValueError, r"layer_sizes needs at least an input and an output size, got \[2\]"),
        (dict(layer_sizes=[]), ValueError, r"needs at least an input and an output size"),
        (dict(layer_sizes=[2, 0, 1]), ValueError, r"layer_sizes must be positive, got 0 at position 1"),
        (dict(layer_sizes=[2, -3, 1]), ValueError, r"layer_sizes must be positive, got -3 at position 1"),
        (dict(layer_sizes=[2, 3.0, 1]), TypeError, r"layer_sizes must hold ints, got float at position 1"),
        (dict(layer_sizes=[2, True, 1]), TypeError, r"layer_sizes must hold ints, got bool at position 1"),
        (dict(layer_sizes="231"), TypeError, r"layer_sizes must be a sequence of ints, got str"),
        (dict(layer_sizes=5), TypeError, r"layer_sizes must be a sequence of ints, got int"),
        (dict(layer_sizes=[2, 1], activation="swish"), ValueError,
         r"unknown activation 'swish': expected one of sigmoid \(logistic\), tanh, relu, softplus, identity \(linear\), softmax"),
        (dict(layer_sizes=[2, 1], output_activation="Sigmoid"), ValueError, r"unknown activation 'Sigmoid'"),
        (dict(layer_sizes=[2, 1], activation=None), TypeError, r"activation must be a string, got NoneType"),
        (dict(layer_sizes=[2, 1], loss="mae"), ValueError,
         r"unknown loss 'mae': expected one of sse, mse, binary_crossentropy, softmax_crossentropy"),
        (dict(layer_sizes=[2, 3, 1], activation="softmax"), ValueError,
         r"activation 'softmax' is only available as output_activation"),
        (dict(layer_sizes=[2, 1], output_activation="softmax"), ValueError,
         r"output_activation 'softmax' needs at least 2 outputs, got 1"),
        (dict(layer_sizes=[2, 1], output_activation="identity", loss="binary_crossentropy"), ValueError,
         r"loss 'binary_crossentropy' needs output_activation 'sigmoid', got 'identity'"),
        (dict(layer_sizes=[2, 2], output_activation="sigmoid", loss="softmax_crossentropy"), ValueError,
         r"loss 'softmax_crossentropy' needs output_activation 'softmax', got 'sigmoid'"),
        (dict(layer_sizes=[2, 1], l2=-1.0), ValueError, r"l2 must be a finite number >= 0, got -1"),
        (dict(layer_sizes=[2, 1], l2=float("nan")), ValueError, r"l2 must be a finite number >= 0, got nan"),
        (dict(layer_sizes=[2, 1], l2="0.1"), TypeError, r"l2 must be a real number, got str"),
        (dict(layer_sizes=[2, 1], bias=1), TypeError, r"bias must be a bool, got int"),
    ],
)
def test_bad_construction(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        qn.Network(**kwargs)


# --- data -------------------------------------------------------------------------------------
BAD_X = [
    (np.array([0.3, 1.0]), ValueError, r"X must be 2-D \(samples, 2 features\), got shape \(2,\)"),
    (np.zeros((3, 2, 1)), ValueError, r"X must be 2-D \(samples, 2 features\), got shape \(3, 2, 1\)"),
    (np.zeros((3, 5)), ValueError, r"X must have 2 columns \(one per network input\), got 5"),
    (np.zeros((0, 2)), ValueError, r"X has 0 samples: expected at least 1"),
    (np.array([[0.3, np.nan], [0.5, 0.2], [1.0, 0.4]]), ValueError,
     r"X must be finite, got nan at flat index 1 \(row 0, column 1\)"),
    (np.array([[0.3, 1.0], [0.5, 0.2], [np.inf, 0.4]]), ValueError, r"X must be finite, got inf at flat index 4 \(row 2, column 0\)"),
    (np.array([["a", "b"]] * 3), TypeError, r"X must hold real numbers \(float, int or bool\), got dtype <U1"),
    (X_OK.astype(complex), TypeError, r"X must hold real numbers \(float, int or bool\), got dtype complex128"),
    (X_OK.astype(object), TypeError, r"X must hold real numbers \(float, int or bool\), got dtype object"),
]


@pytest.mark.parametrize("X, exc, message", BAD_X)
@pytest.mark.parametrize("call", ["forward", "cost", "cost_grad", "bind", "check_gradient"])
def test_bad_X(net, call, X, exc, message):
    with pytest.raises(exc, match=message):
        if call == "forward":
            net.forward(X)
        elif call == "check_gradient":
            qn.check_gradient(net, X, Y_OK)
        else:
            getattr(net, call)(X, Y_OK)


BAD_Y = [
    (np.array([[0.75], [0.82]]), ValueError, r"y has 2 rows but X has 3"),
    (np.zeros((3, 2)), ValueError, r"y must have 1 column\(s\) \(one per network output\), got 2"),
    (np.zeros((3, 1, 1)), ValueError, r"y must be 2-D \(samples, 1 outputs\) or 1-D, got shape \(3, 1, 1\)"),
    (np.array([[0.75], [np.nan], [0.95]]), ValueError, r"y must be finite, got nan at flat index 1"),
    (np.array([["a"], ["b"], ["c"]]), TypeError, r"y must hold real numbers"),
    (None, ValueError, r"y is required"),
]


@pytest.mark.parametrize("y, exc, message", BAD_Y)
@pytest.mark.parametrize("call", ["cost", "cost_grad", "bind", "train"])
def test_bad_y(net, call, y, exc, message):
    if y is None and call in ("bind", "train"):
        message = r"bind needs targets y"
    with pytest.raises(exc, match=message):
        if call == "train":
            qn.Trainer(net).train(X_OK, y)
        else:
            getattr(net, call)(X_OK, y)


def test_bad_y_with_several_outputs():
    net = qn.Network([2, 3, 2])
    with pytest.raises(ValueError, match=r"y must be 2-D \(samples, 2 outputs\), got shape \(3,\)"):
        net.cost(X_OK, np.zeros(3))


@pytest.mark.parametrize(
    "w, exc, message",
    [
        (np.ones(2), ValueError, r"sample_weight must have shape \(3,\), got \(2,\)"),
        (np.ones((3, 1)), ValueError, r"sample_weight must have shape \(3,\), got \(3, 1\)"),
        (np.array([1.0, -1.0, 1.0]), ValueError, r"sample_weight must be >= 0, got -1.0+ at index 1"),
        (np.array([1.0, np.nan, 1.0]), ValueError, r"sample_weight must be finite"),
        (np.zeros(3), ValueError, r"sample weights must sum to a positive finite number, got 0"),
    ],
)
def test_bad_sample_weight(w, exc, message):
    net = qn.Network([2, 3, 1], loss="mse")
    with pytest.raises(exc, match=message):
        net.cost_grad(X_OK, Y_OK, w)


def test_bad_class_labels():
    net = qn.Network([2, 3, 3], output_activation="softmax", loss="softmax_crossentropy")
    with pytest.raises(ValueError, match=r"integer class labels must lie in \[0, 2\], got range \[0, 3\]"):
        net.cost(X_OK, np.array([0, 3, 1]))


# --- parameters -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "p, exc, message",
    [
        (np.zeros(8), ValueError, r"params must have shape \(13,\) \(the network's n_params\), got \(8,\)"),
        (np.zeros((13, 1)), ValueError, r"params must have shape \(13,\) \(the network's n_params\), got \(13, 1\)"),
        (np.full(13, np.nan), ValueError, r"params must be finite, got NaN or infinity"),
        (np.array(["x"] * 13), TypeError, r"params must hold real numbers, got dtype <U1"),
    ],
)
def test_bad_set_params(net, p, exc, message):
    with pytest.raises(exc, match=message):
        net.set_params(p)


@pytest.mark.parametrize(
    "p, exc, message",
    [
        (np.zeros(14), ValueError, r"params must have shape \(13,\) \(the network's n_params\), got \(14,\)"),
        (np.zeros(13, dtype=complex), TypeError, r"params must hold real numbers \(float, int or bool\), got dtype complex128"),
        ("abc", TypeError, r"params must hold real numbers \(float, int or bool\), got dtype <U3"),
    ],
)
def test_bad_params_to_bound_function(net, p, exc, message):
    fg = net.bind(X_OK, Y_OK)
    with pytest.raises(exc, match=message):
        fg(p)
    with pytest.raises(exc, match=message):
        fg.cost(p)


# --- conversions that are accepted, and give the right answer --------------------------------
def test_float32_fortran_strided_and_big_endian_are_converted_once(net):
    J, G = net.cost_grad(X_OK, Y_OK)
    variants = [
        X_OK.astype(np.float32).astype(np.float64),  # exact values via float32 round trip below
        np.asfortranarray(X_OK),
        np.ascontiguousarray(np.repeat(X_OK, 2, axis=1))[:, ::2],
        X_OK.astype(">f8"),
    ]
    for X in variants[1:]:
        assert not (X.flags.c_contiguous and X.dtype == np.float64 and X.dtype.isnative)
        J2, G2 = net.cost_grad(X, Y_OK)
        assert J2 == J
        np.testing.assert_array_equal(G2, G)
    X32 = X_OK.astype(np.float32)
    J3, _ = net.cost_grad(X32, Y_OK)
    assert J3 == net.cost(variants[0], Y_OK)


def test_int_and_bool_inputs_are_numbers(net):
    Xi = np.array([[1, 0], [0, 1], [1, 1]])
    assert net.cost(Xi, Y_OK) == net.cost(Xi.astype(float), Y_OK)
    assert net.cost(Xi.astype(bool), Y_OK) == net.cost(Xi.astype(float), Y_OK)
    assert net.cost(Xi.tolist(), Y_OK.ravel().tolist()) == net.cost(Xi.astype(float), Y_OK)


def test_forward_output_is_a_new_array(net):
    a = net.forward(X_OK)
    b = net.forward(X_OK)
    assert a is not b and not np.shares_memory(a, b)


def test_bad_numerical_gradient_eps(net):
    with pytest.raises(ValueError, match=r"eps must be a positive finite number, got 0"):
        qn.numerical_gradient(net, X_OK, Y_OK, eps=0)


def test_bad_thread_count():
    with pytest.raises(ValueError, match=r"number of threads must be >= 0 \(0: all cores\), got -1"):
        qn.set_num_threads(-1)
    with pytest.raises(TypeError, match=r"n must be an int, got float"):
        qn.set_num_threads(1.5)


def test_grad_output_sharing_memory_with_an_input_is_refused(net):
    p = net.get_params()
    X = np.vstack([X_OK, np.zeros((4, 2))])  # 7 x 2 = 14 doubles, room for a 13-double view
    y = np.ones(7)
    J, G = net._core.cost_grad(p, X, y)
    for grad, what in ((p, "params"), (X.reshape(-1)[:13], "X")):
        with pytest.raises(ValueError, match=r"grad must not share memory with params, X, y or sample_weight"):
            net._core.cost_grad(p, X, y, None, grad)
    np.testing.assert_array_equal(p, net.params)  # nothing was overwritten
    out = np.empty(13)
    J2, G2 = net._core.cost_grad(p, X, y, None, out)
    assert G2 is out and J2 == J
    np.testing.assert_array_equal(out, G)


def test_huge_l2_and_layer_sizes_are_clear_errors():
    with pytest.raises(ValueError, match=r"l2 must be a finite number >= 0, got 1000000000"):
        qn.Network([2, 1], l2=10**400)
    with pytest.raises(ValueError, match=r"layer_sizes\[0\] = 1180591620717411303424 exceeds 2\^31"):
        qn.Network([2**70, 1])
