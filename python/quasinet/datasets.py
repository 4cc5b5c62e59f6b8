"""The notebook's data: hours of sleep and hours of study -> test score.

Normalisation follows the notebook: inputs divided by the column maxima, scores by 100.
The notebook normalises its part-7 test set by the test set's own maxima, which puts train
and test inputs on different scales; here both are divided by the TRAINING maxima, the only
scaling a model could know when it meets new data.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

#: Parts 1-6: three students, (sleep hours, study hours) -> score.
X_RAW = np.array([[3.0, 5.0], [5.0, 1.0], [10.0, 2.0]])
Y_RAW = np.array([[75.0], [82.0], [95.0]])

#: Part 7 (overfitting): a fourth training student and four test students.
X_TRAIN_RAW = np.array([[3.0, 5.0], [5.0, 1.0], [10.0, 2.0], [6.0, 1.5]])
Y_TRAIN_RAW = np.array([[75.0], [82.0], [93.0], [70.0]])
X_TEST_RAW = np.array([[4.0, 5.5], [4.5, 1.0], [9.0, 2.5], [6.0, 2.0]])
Y_TEST_RAW = np.array([[70.0], [89.0], [85.0], [75.0]])


def sleep_study(normalize: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """The notebook's data, ``(X, y)`` of shapes (3, 2) and (3, 1).

    Normalised (the default): X / column maxima of X, y / 100.
    """
    X, y = X_RAW.copy(), Y_RAW.copy()
    if normalize:
        X = X / X.max(axis=0)
        y = y / 100.0
    return X, y


def sleep_study_split(normalize: bool = True) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The part-7 data, ``(X_train, y_train, X_test, y_test)``, each with 4 rows.

    Normalised (the default): both inputs divided by the TRAINING column maxima (the
    notebook divides the test inputs by their own maxima, a different scale from the
    training inputs' — corrected here), scores / 100.
    """
    Xtr, ytr, Xte, yte = X_TRAIN_RAW.copy(), Y_TRAIN_RAW.copy(), X_TEST_RAW.copy(), Y_TEST_RAW.copy()
    if normalize:
        scale = Xtr.max(axis=0)
        Xtr, Xte = Xtr / scale, Xte / scale
        ytr, yte = ytr / 100.0, yte / 100.0
    return Xtr, ytr, Xte, yte
