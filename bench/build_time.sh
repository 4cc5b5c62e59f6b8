#!/bin/bash
# CPU time of each compile and link step of the Python module, built serially from a clean
# build directory (the machine may be shared: CPU time, not wall time, is the measure).
#
# usage: bench/build_time.sh BUILD_DIR [extra cmake arguments, e.g. -DQUASINET_BINDINGS_OPT=-O3]
# needs: cmake, ninja, GNU time (/usr/bin/time), and pybind11 + scipy-openblas32 importable by
# the python on PATH (or set PYTHON). SRC: another source tree (default: this one).
set -euo pipefail
build=$1; shift
src=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
py=${PYTHON:-python}
log="$build/unit_times.log"
rm -rf "$build"; mkdir -p "$build"
launcher="$build/timed.sh"
cat > "$launcher" <<EOF
#!/bin/bash
unit=link; for a in "\$@"; do case "\$a" in *.cpp) unit=\$(basename "\$a");; esac; done
exec /usr/bin/time -f "%U %S \$unit" -a -o "$log" "\$@"
EOF
chmod +x "$launcher"
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(command -v "$py")" \
  -Dpybind11_DIR="$("$py" -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" -DCMAKE_CXX_LINKER_LAUNCHER="$launcher" "$@" > "$build/configure.log"
cmake --build "$build" -j1 > "$build/build.log"
awk '{printf "%7.2f s  %s\n", $1 + $2, $3; total += $1 + $2} END {printf "%7.2f s  total CPU (user + sys)\n", total}' \
  "$log" | sort -rn
