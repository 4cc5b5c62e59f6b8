"""
Export to ONNX and to C, checked against predict
================================================

A fitted estimator exports with its scaling to an ONNX graph (run here by onnxruntime) and to
one self-contained C99 file. The C file is compiled into a shared library with the system's C
compiler and called through ``ctypes``. Both are compared with the estimator's own
``predict``: the figure shows the absolute differences per row, at the level of float64
rounding.
"""

import ctypes
import os
import shutil
import subprocess
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
from sklearn.datasets import make_friedman1

from quasinet.export import to_c, to_onnx
from quasinet.sklearn import QuasiNetRegressor

X, y = make_friedman1(n_samples=300, noise=0.5, random_state=0)
reg = QuasiNetRegressor(hidden_layer_sizes=(8,), method="L-BFGS-B", max_iter=3000,
                        random_state=0).fit(X, y)
expected = reg.predict(X)

workdir = tempfile.mkdtemp()
onnx_path = os.path.join(workdir, "friedman.onnx")
to_onnx(reg, onnx_path)
session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
(onnx_pred,) = session.run(None, {"X": X})
diff_onnx = np.abs(onnx_pred.ravel() - expected)
print(f"ONNX: largest difference from predict {diff_onnx.max():.1e}")

c_path = os.path.join(workdir, "friedman.c")
to_c(reg, c_path, name="friedman")
diff_c = None
compiler = shutil.which("gcc") or shutil.which("cc")
if compiler is None:
    print("no C compiler found: the C export was written but not compiled or checked")
else:
    lib_path = os.path.join(workdir, "libfriedman.so")
    subprocess.run([compiler, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    c_path, "-o", lib_path, "-lm"], check=True)
    lib = ctypes.CDLL(lib_path)
    lib.friedman_predict.argtypes = [ctypes.POINTER(ctypes.c_double), ctypes.c_size_t,
                                     ctypes.POINTER(ctypes.c_double)]
    Xc = np.ascontiguousarray(X)
    out = np.empty(len(X))
    lib.friedman_predict(Xc.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), len(X),
                         out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))
    diff_c = np.abs(out - expected)
    print(f"C ({os.path.basename(compiler)}): largest difference from predict {diff_c.max():.1e}")
shutil.rmtree(workdir)

# %%
fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
tiny = np.finfo(float).tiny  # exact agreement drawn at the bottom of the log scale
ax.semilogy(np.maximum(diff_onnx, tiny), ".", label="ONNX (onnxruntime)")
if diff_c is not None:
    ax.semilogy(np.maximum(diff_c, tiny), "x", ms=4, label="C (compiled)")
ax.axhline(np.finfo(float).eps * np.abs(expected).max(), color="k", lw=1, ls="--",
           label="float64 eps x max |prediction|")
ax.set(xlabel="row", ylabel="|export - predict|", ylim=(1e-18, 1e-12),
       title="Exports agree with predict to rounding")
ax.legend(loc="upper right")
plt.show()
