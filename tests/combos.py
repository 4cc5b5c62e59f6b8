"""The (architecture, activation, loss) combinations the correctness tests sweep."""

HIDDEN = ["sigmoid", "tanh", "relu", "softplus", "identity"]
# (loss, output activation) pairs: the squared losses with every output, each
# cross-entropy with the output it is defined for.
LOSS_OUTPUT = [
    ("sse", "sigmoid"),
    ("sse", "identity"),
    ("mse", "tanh"),
    ("mse", "relu"),
    ("mse", "softplus"),
    ("mse", "softmax"),
    ("sse", "softmax"),
    ("binary_crossentropy", "sigmoid"),
    ("softmax_crossentropy", "softmax"),
]
SHAPES = [[2, 3, 1], [4, 6, 5, 3], [3, 8, 8, 8, 2]]


def cases():
    out = []
    for sizes in SHAPES:
        for loss, output in LOSS_OUTPUT:
            if output == "softmax" and sizes[-1] < 2:
                continue  # softmax needs two outputs; tests/test_bad_input.py checks the refusal
            for hidden in HIDDEN:
                for bias in (True, False):
                    out.append((sizes, hidden, output, loss, bias))
    return out


def case_id(c):
    sizes, hidden, output, loss, bias = c
    return f"{'-'.join(map(str, sizes))}-{hidden}-{output}-{loss}-{'b' if bias else 'nob'}"
