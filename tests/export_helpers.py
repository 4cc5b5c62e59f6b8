"""What the export tests share: compiling an exported C file, and running an ONNX model."""

import ctypes
import shutil
import subprocess

#: The C compiler, and the flags every exported file must compile cleanly with (no -O: callers add it).
CC = shutil.which("cc") or shutil.which("gcc")
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC"]


def compile_c(directory, source: str, stem: str, optimise: bool = True):
    """``source`` compiled to ``directory/stem.so`` (with -O2 unless ``optimise`` is False) without
    a warning; the path of the library."""
    src = directory / f"{stem}.c"
    src.write_text(source, encoding="ascii")
    lib = directory / f"{stem}.so"
    flags = CFLAGS + (["-O2"] if optimise else [])
    proc = subprocess.run([CC, *flags, str(src), "-o", str(lib), "-lm"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return lib


def load_c(directory, source: str, stem: str):
    """``source`` compiled with -O2 (:func:`compile_c`) and loaded with ctypes."""
    return ctypes.CDLL(str(compile_c(directory, source, stem)))


def onnx_session(proto):
    """An onnxruntime session of an ONNX model proto, on the CPU."""
    import onnxruntime as ort

    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
