// The only file that knows about Python: converts and checks arrays, releases the GIL around
// the C++ work, and turns C++ exceptions into Python ones (std::invalid_argument -> ValueError,
// quasinet::NonFinite -> FloatingPointError).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "activations.h"
#include "blas.h"
#include "network.h"
#include "parallel.h"

namespace py = pybind11;
using quasinet::Network;

namespace {

using Array = py::array_t<double, py::array::c_style>;

// Below this many multiply-adds a call is shorter than releasing and re-taking the GIL.
constexpr std::size_t kReleaseGilWork = 4096;

std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  s << (a.ndim() == 1 ? ",)" : ")");
  return s.str();
}

// A C-contiguous float64 view of obj: no copy when it already is one, one conversion for
// other real dtypes, byte orders and layouts; a TypeError for anything that is not real.
bool aligned(const py::array& a) { return reinterpret_cast<std::uintptr_t>(a.data()) % alignof(double) == 0; }

Array real_array(py::handle obj, const char* name) {
  if (Array::check_(obj)) {
    auto a = py::reinterpret_borrow<Array>(obj);
    if (aligned(a)) return a;
    // A float64 view at an odd byte offset: reading it through double* is undefined behaviour
    // (and traps with aligned vector loads), so copy it into fresh, aligned memory.
    Array copy(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
    std::memcpy(copy.mutable_data(), a.data(), static_cast<std::size_t>(a.nbytes()));
    return copy;
  }
  py::array a = py::array::ensure(obj);
  if (!a) {
    PyErr_Clear();
    throw py::type_error(std::string(name) + " must be an array of real numbers, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  const char kind = a.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
    throw py::type_error(std::string(name) + " must hold real numbers (float, int or bool), got dtype " +
                         std::string(py::str(a.dtype())));
  return py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a);
}

void require_finite(const Array& a, const char* name) {
  const double* p = a.data();
  const py::ssize_t n = a.size();
  for (py::ssize_t i = 0; i < n; ++i) {
    if (!std::isfinite(p[i])) {
      std::ostringstream s;
      s << name << " must be finite, got " << p[i] << " at flat index " << i;
      if (a.ndim() == 2) s << " (row " << i / a.shape(1) << ", column " << i % a.shape(1) << ")";
      throw py::value_error(s.str());
    }
  }
}

// Checked inputs of one call, owning any converted copies. Y and w are optional rather than
// default-constructed arrays, which would each allocate an empty ndarray on every call.
struct Data {
  Array X;
  std::optional<Array> Y, w;
  std::size_t N = 0;
  const double* y_ptr() const { return Y ? Y->data() : nullptr; }
  const double* w_ptr() const { return w ? w->data() : nullptr; }
};

Array check_X(const Network& net, py::handle obj) {
  Array X = real_array(obj, "X");
  if (X.ndim() != 2)
    throw py::value_error("X must be 2-D (samples, " + std::to_string(net.n_inputs()) + " features), got shape " +
                          shape_str(X));
  if (static_cast<std::size_t>(X.shape(1)) != net.n_inputs())
    throw py::value_error("X must have " + std::to_string(net.n_inputs()) + " columns (one per network input), got " +
                          std::to_string(X.shape(1)));
  if (X.shape(0) == 0) throw py::value_error("X has 0 samples: expected at least 1");
  require_finite(X, "X");
  return X;
}

Data check_data(const Network& net, py::handle X_obj, py::handle Y_obj, py::handle w_obj) {
  Data d{check_X(net, X_obj), std::nullopt, std::nullopt, 0};
  d.N = static_cast<std::size_t>(d.X.shape(0));
  const std::size_t nL = net.n_outputs();
  if (!Y_obj.is_none()) {
    const Array& Y = d.Y.emplace(real_array(Y_obj, "y"));
    const bool column = Y.ndim() == 1 && nL == 1;
    if (!(Y.ndim() == 2 || column))
      throw py::value_error("y must be 2-D (samples, " + std::to_string(nL) + " outputs)" +
                            (nL == 1 ? std::string(" or 1-D") : std::string()) + ", got shape " + shape_str(Y));
    if (static_cast<std::size_t>(Y.shape(0)) != d.N)
      throw py::value_error("y has " + std::to_string(Y.shape(0)) + " rows but X has " + std::to_string(d.N));
    const std::size_t cols = column ? 1 : static_cast<std::size_t>(Y.shape(1));
    if (cols != nL)
      throw py::value_error("y must have " + std::to_string(nL) + " column(s) (one per network output), got " +
                            std::to_string(cols));
    require_finite(Y, "y");
  }
  if (!w_obj.is_none()) {
    const Array& w = d.w.emplace(real_array(w_obj, "sample_weight"));
    if (w.ndim() != 1 || static_cast<std::size_t>(w.shape(0)) != d.N)
      throw py::value_error("sample_weight must have shape (" + std::to_string(d.N) + ",), got " + shape_str(w));
    require_finite(w, "sample_weight");
    const double* p = w.data();
    for (std::size_t i = 0; i < d.N; ++i)
      if (p[i] < 0.0)
        throw py::value_error("sample_weight must be >= 0, got " + std::to_string(p[i]) + " at index " +
                              std::to_string(i));
  }
  return d;
}

Array check_params(const Network& net, py::handle obj) {
  Array p = real_array(obj, "params");
  if (p.ndim() != 1 || static_cast<std::size_t>(p.shape(0)) != net.n_params())
    throw py::value_error("params must have shape (" + std::to_string(net.n_params()) +
                          ",) (the network's n_params), got " + shape_str(p));
  return p;
}

double* check_grad_out(const Network& net, py::handle obj) {
  if (!Array::check_(obj))
    throw py::type_error("grad must be a C-contiguous float64 array of shape (" + std::to_string(net.n_params()) +
                         ",)");
  auto g = py::reinterpret_borrow<Array>(obj);
  if (g.ndim() != 1 || static_cast<std::size_t>(g.shape(0)) != net.n_params())
    throw py::value_error("grad must have shape (" + std::to_string(net.n_params()) + ",), got " + shape_str(g));
  if (!g.writeable()) throw py::value_error("grad must be writable");
  if (!aligned(g)) throw py::value_error("grad must be aligned to 8 bytes, got a view at an odd byte offset");
  return g.mutable_data();
}

quasinet::Kernel parse_kernel(const std::string& name) {
  if (name == "auto") return quasinet::Kernel::Auto;
  if (name == "blas") return quasinet::Kernel::Blas;
  if (name == "reference") return quasinet::Kernel::Reference;
  throw py::value_error("kernel must be 'auto', 'blas' or 'reference', got '" + name + "'");
}

bool check_signals(void*) {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

quasinet::Options make_options(std::size_t block_rows, std::size_t threads, const std::string& kernel) {
  quasinet::Options opt;
  opt.block_rows = block_rows;
  opt.threads = threads;
  opt.kernel = parse_kernel(kernel);
  opt.interrupt.fn = check_signals;
  return opt;
}

// Runs f with the GIL released when the work is large enough to be worth it. Safe because
// the core touches only the arrays' memory, which the Data/Array handles held by the caller
// keep alive, and no Python object.
template <class F>
auto run_core(const Network& net, std::size_t N, quasinet::Options opt, F&& f) {
  if (N * net.n_params() < kReleaseGilWork) {
    opt.interrupt = {};  // one block at most; nothing to interrupt
    return f(opt);
  }
  try {
    py::gil_scoped_release release;
    return f(opt);
  } catch (const quasinet::Interrupted&) {
    throw py::error_already_set();
  }
}

// A new 1-D float64 array of n elements through NumPy's C API: the generic py::array_t
// constructor builds shape and stride vectors and looks the dtype up on every call, which
// costs more than the whole core evaluation of a tiny network.
Array new_vector(std::size_t n) {
  auto& api = py::detail::npy_api::get();
  Py_intptr_t dims[1] = {static_cast<Py_intptr_t>(n)};
  PyObject* descr = api.PyArray_DescrFromType_(py::detail::npy_api::NPY_DOUBLE_);  // new reference
  if (!descr) throw py::error_already_set();
  // Steals the reference to descr.
  PyObject* arr = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, 1, dims, nullptr, nullptr, 0, nullptr);
  if (!arr) throw py::error_already_set();
  return py::reinterpret_steal<Array>(arr);
}

// A direction v for a Hessian-vector product: shape (P,), finite.
Array check_direction(const Network& net, py::handle obj) {
  Array v = real_array(obj, "v");
  if (v.ndim() != 1 || static_cast<std::size_t>(v.shape(0)) != net.n_params())
    throw py::value_error("v must have shape (" + std::to_string(net.n_params()) +
                          ",) (the network's n_params), got " + shape_str(v));
  require_finite(v, "v");
  return v;
}

// kind of a Hessian-vector product: true for the exact Hessian, false for Gauss-Newton.
bool parse_hessian_kind(const std::string& kind) {
  if (kind == "exact") return true;
  if (kind == "gauss-newton") return false;
  throw py::value_error("kind must be 'exact' or 'gauss-newton', got '" + kind + "'");
}

// The largest P for which a (P, P) Gauss-Newton matrix is formed; the Python layer's
// GAUSS_NEWTON_MAX_PARAMS (quasinet.network) says why.
constexpr std::size_t kGaussNewtonMaxParams = 8192;

py::tuple gauss_newton_call(const Network& net, const Array& p, const Data& d, const quasinet::Options& options) {
  if (net.n_params() > kGaussNewtonMaxParams)
    throw py::value_error("the network has P = " + std::to_string(net.n_params()) +
                          " parameters: its (P, P) Gauss-Newton matrix would need " +
                          std::to_string(8 * net.n_params() * net.n_params()) + " bytes, above the limit of P = " +
                          std::to_string(kGaussNewtonMaxParams) + "; use method='L-BFGS-B' or Hessian-vector products");
  const auto P = static_cast<py::ssize_t>(net.n_params());
  Array G({P, P});
  Array grad = new_vector(net.n_params());
  double* Gp = G.mutable_data();
  double* g = grad.mutable_data();
  const double J = run_core(net, d.N, options, [&](const quasinet::Options& opt) {
    return net.gauss_newton(Gp, g, p.data(), d.X.data(), d.y_ptr(), d.w_ptr(), d.N, opt);
  });
  return py::make_tuple(J, grad, G);
}

Array hessp_call(const Network& net, const Array& p, const Array& v, const Data& d, bool exact,
                 const quasinet::Options& options) {
  Array hv = new_vector(net.n_params());
  double* h = hv.mutable_data();
  run_core(net, d.N, options, [&](const quasinet::Options& opt) {
    net.hessp(h, p.data(), v.data(), d.X.data(), d.y_ptr(), d.w_ptr(), d.N, exact, opt);
    return 0;
  });
  return hv;
}

// (J, grad) without pybind11's generic casters.
py::tuple cost_grad_tuple(double J, py::object grad) {
  PyObject* j = PyFloat_FromDouble(J);
  if (!j) throw py::error_already_set();
  PyObject* t = PyTuple_New(2);
  if (!t) {
    Py_DECREF(j);
    throw py::error_already_set();
  }
  PyTuple_SET_ITEM(t, 0, j);
  PyTuple_SET_ITEM(t, 1, grad.release().ptr());
  return py::reinterpret_steal<py::tuple>(t);
}

// Optional output weights (losses.h) of a bound objective's cost, Gauss-Newton matrix and
// Hessian-vector products: None, or n_outputs finite numbers >= 0, for the sse and mse losses.
// Only the shape is checked here (the core sees a bare pointer); the loss and the values are
// checked by each core call on entry (check_output_weights), whose std::invalid_argument
// arrives as ValueError.
class OutputWeights {
 public:
  OutputWeights(const Network& net, py::handle obj) {
    if (obj.is_none()) return;
    const std::size_t K = net.n_outputs();
    Array o = real_array(obj, "output_weights");
    if (o.ndim() != 1 || static_cast<std::size_t>(o.shape(0)) != K)
      throw py::value_error("output_weights must have shape (" + std::to_string(K) + ",) (one per output), got " +
                            shape_str(o));
    o_.emplace(std::move(o));
  }
  quasinet::Options apply(quasinet::Options opt) const {
    opt.output_weights = o_ ? o_->data() : nullptr;
    return opt;
  }

 private:
  std::optional<Array> o_;
};

// X and y validated once and held; calling it costs one core evaluation and no checks of
// the data. Returned by Network.bind for scipy.optimize.minimize(jac=True).
class Bound {
 public:
  Bound(std::shared_ptr<const Network> net, Data data, quasinet::Options opt)
      : net_(std::move(net)), data_(std::move(data)), opt_(opt) {
    if (!data_.Y) throw py::value_error("bind needs targets y");
  }

  py::tuple call(py::handle params_obj) const {
    Array p = check_params(*net_, params_obj);
    Array grad = new_vector(net_->n_params());
    double* g = grad.mutable_data();
    const double J = run_core(*net_, data_.N, opt_, [&](const quasinet::Options& o) {
      return net_->cost_grad(g, p.data(), data_.X.data(), data_.y_ptr(), data_.w_ptr(), data_.N, o);
    });
    return cost_grad_tuple(J, std::move(grad));
  }

  double cost(py::handle params_obj, py::handle o_obj) const {
    Array p = check_params(*net_, params_obj);
    OutputWeights o(*net_, o_obj);
    return run_core(*net_, data_.N, o.apply(opt_), [&](const quasinet::Options& opt) {
      return net_->cost(p.data(), data_.X.data(), data_.y_ptr(), data_.w_ptr(), data_.N, opt);
    });
  }

  Array hessp(py::handle params_obj, py::handle v_obj, const std::string& kind, py::handle o_obj) const {
    const bool exact = parse_hessian_kind(kind);
    Array p = check_params(*net_, params_obj);
    Array v = check_direction(*net_, v_obj);
    OutputWeights o(*net_, o_obj);
    return hessp_call(*net_, p, v, data_, exact, o.apply(opt_));
  }

  py::tuple gauss_newton(py::handle params_obj, py::handle o_obj) const {
    Array p = check_params(*net_, params_obj);
    OutputWeights o(*net_, o_obj);
    return gauss_newton_call(*net_, p, data_, o.apply(opt_));
  }

  std::size_t n_samples() const { return data_.N; }
  const Array& X() const { return data_.X; }
  const Array& Y() const { return *data_.Y; }

 private:
  std::shared_ptr<const Network> net_;
  Data data_;
  quasinet::Options opt_;
};

Array elementwise(const std::string& name, py::handle z_obj, bool derivative) {
  const quasinet::Activation f = quasinet::parse_activation(name);
  if (f == quasinet::Activation::Softmax) throw py::value_error("softmax is not elementwise");
  Array z = real_array(z_obj, "z");
  Array out(std::vector<py::ssize_t>(z.shape(), z.shape() + z.ndim()));
  const double* in = z.data();
  double* o = out.mutable_data();
  for (py::ssize_t i = 0; i < z.size(); ++i) o[i] = derivative ? quasinet::derivative(f, in[i]) : quasinet::apply(f, in[i]);
  return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "quasinet's C++ core: forward pass, cost and backpropagation over a flat parameter buffer.";
  quasinet::blas_single_thread();
  // A non-finite result is NumPy's "floating point error" (np.errstate(all="raise") raises the same).
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const quasinet::NonFinite& e) {
      PyErr_SetString(PyExc_FloatingPointError, e.what());
    }
  });

  py::class_<Network, std::shared_ptr<Network>>(m, "Network")
      .def(py::init([](std::vector<long long> sizes, const std::string& activation,
                       const std::string& output_activation, bool bias, const std::string& loss, double l2,
                       const std::string& dtype) {
             quasinet::Spec spec;
             for (std::size_t i = 0; i < sizes.size(); ++i) {
               if (sizes[i] <= 0)
                 throw py::value_error("layer_sizes must be positive, got " + std::to_string(sizes[i]) +
                                       " at position " + std::to_string(i));
               spec.sizes.push_back(static_cast<std::size_t>(sizes[i]));
             }
             spec.hidden = quasinet::parse_activation(activation);
             spec.output = quasinet::parse_activation(output_activation);
             spec.bias = bias;
             spec.loss = quasinet::parse_loss(loss);
             spec.l2 = l2;
             spec.precision = quasinet::parse_precision(dtype);
             return std::make_shared<Network>(std::move(spec));
           }),
           py::arg("layer_sizes"), py::arg("activation"), py::arg("output_activation"), py::arg("bias"),
           py::arg("loss"), py::arg("l2"), py::arg("dtype") = "float64")
      .def_property_readonly("n_params", &Network::n_params)
      .def_property_readonly("layer_sizes", [](const Network& n) { return n.spec().sizes; })
      .def_property_readonly("activation", [](const Network& n) { return quasinet::activation_name(n.spec().hidden); })
      .def_property_readonly("output_activation",
                             [](const Network& n) { return quasinet::activation_name(n.spec().output); })
      .def_property_readonly("bias", [](const Network& n) { return n.spec().bias; })
      .def_property_readonly("loss", [](const Network& n) { return quasinet::loss_name(n.spec().loss); })
      .def_property_readonly("l2", [](const Network& n) { return n.spec().l2; })
      .def_property_readonly("dtype", [](const Network& n) { return quasinet::precision_name(n.spec().precision); })
      .def_property_readonly(
          "layout",
          [](const Network& n) {
            py::list out;
            for (const auto& l : n.layout().layers)
              out.append(py::make_tuple(l.w, l.n_in, l.n_out, n.spec().bias ? py::int_(l.b) : py::object(py::none())));
            return out;
          },
          "Per layer: (W offset, n_in, n_out, b offset or None).")
      .def(
          "forward",
          [](const Network& net, py::handle params, py::handle X, std::size_t block_rows, std::size_t threads,
             const std::string& kernel) {
            Array p = check_params(net, params);
            Array x = check_X(net, X);
            const auto N = static_cast<std::size_t>(x.shape(0));
            Array out({static_cast<py::ssize_t>(N), static_cast<py::ssize_t>(net.n_outputs())});
            double* o = out.mutable_data();
            run_core(net, N, make_options(block_rows, threads, kernel), [&](const quasinet::Options& opt) {
              net.forward(o, p.data(), x.data(), N, opt);
              return 0;
            });
            return out;
          },
          py::arg("params"), py::arg("X"), py::kw_only(), py::arg("block_rows") = 0, py::arg("threads") = 0,
          py::arg("kernel") = "auto")
      .def(
          "input_jacobian",
          [](const Network& net, py::handle params, py::handle X, const std::string& mode, std::size_t block_rows,
             std::size_t threads, const std::string& kernel) {
            Network::JacobianMode m;
            if (mode == "auto")
              m = Network::JacobianMode::Auto;
            else if (mode == "reverse")
              m = Network::JacobianMode::Reverse;
            else if (mode == "forward")
              m = Network::JacobianMode::Forward;
            else
              throw py::value_error("mode must be 'auto', 'reverse' or 'forward', got '" + mode + "'");
            Array p = check_params(net, params);
            Array x = check_X(net, X);
            const auto N = static_cast<std::size_t>(x.shape(0));
            Array out({static_cast<py::ssize_t>(N), static_cast<py::ssize_t>(net.n_outputs()),
                       static_cast<py::ssize_t>(net.n_inputs())});
            double* o = out.mutable_data();
            run_core(net, N, make_options(block_rows, threads, kernel), [&](const quasinet::Options& opt) {
              net.input_jacobian(o, p.data(), x.data(), N, opt, m);
              return 0;
            });
            return out;
          },
          py::arg("params"), py::arg("X"), py::kw_only(), py::arg("mode") = "auto", py::arg("block_rows") = 0,
          py::arg("threads") = 0, py::arg("kernel") = "auto",
          "J (N, n_outputs, n_inputs): J[i, k, j] = d out[i, k] / d X[i, j].")
      .def_property_readonly(
          "jacobian_mode",
          [](const Network& net) {
            return net.jacobian_mode(Network::JacobianMode::Auto) == Network::JacobianMode::Forward ? "forward"
                                                                                                   : "reverse";
          },
          "The order input_jacobian(mode='auto') uses for this architecture.")
      .def(
          "cost",
          [](const Network& net, py::handle params, py::handle X, py::handle Y, py::handle w, std::size_t block_rows,
             std::size_t threads, const std::string& kernel, py::handle o_obj) {
            Array p = check_params(net, params);
            Data d = check_data(net, X, Y, w);
            if (!d.Y) throw py::value_error("y is required");
            OutputWeights o(net, o_obj);
            return run_core(net, d.N, o.apply(make_options(block_rows, threads, kernel)),
                            [&](const quasinet::Options& opt) {
                              return net.cost(p.data(), d.X.data(), d.y_ptr(), d.w_ptr(), d.N, opt);
                            });
          },
          py::arg("params"), py::arg("X"), py::arg("y"), py::arg("sample_weight") = py::none(), py::kw_only(),
          py::arg("block_rows") = 0, py::arg("threads") = 0, py::arg("kernel") = "auto",
          py::arg("output_weights") = py::none())
      .def(
          "cost_grad",
          [](const Network& net, py::handle params, py::handle X, py::handle Y, py::handle w, py::handle grad,
             std::size_t block_rows, std::size_t threads, const std::string& kernel) {
            Array p = check_params(net, params);
            Data d = check_data(net, X, Y, w);
            if (!d.Y) throw py::value_error("y is required");
            py::object g_obj = grad.is_none() ? py::object(new_vector(net.n_params()))
                                              : py::reinterpret_borrow<py::object>(grad);
            double* g = check_grad_out(net, g_obj);
            // The core zeroes grad before reading its inputs: an output sharing memory with
            // one of them would silently corrupt the answer.
            const std::size_t g_bytes = net.n_params() * sizeof(double);
            const auto overlaps = [&](const Array& a) {
              const char* lo = reinterpret_cast<const char*>(a.data());
              const char* glo = reinterpret_cast<const char*>(g);
              return lo < glo + g_bytes && glo < lo + a.nbytes();
            };
            if (overlaps(p) || overlaps(d.X) || (d.Y && overlaps(*d.Y)) || (d.w && overlaps(*d.w)))
              throw py::value_error("grad must not share memory with params, X, y or sample_weight");
            const double J =
                run_core(net, d.N, make_options(block_rows, threads, kernel), [&](const quasinet::Options& opt) {
                  return net.cost_grad(g, p.data(), d.X.data(), d.y_ptr(), d.w_ptr(), d.N, opt);
                });
            return py::make_tuple(J, g_obj);
          },
          py::arg("params"), py::arg("X"), py::arg("y"), py::arg("sample_weight") = py::none(),
          py::arg("grad") = py::none(), py::kw_only(), py::arg("block_rows") = 0, py::arg("threads") = 0,
          py::arg("kernel") = "auto")
      .def(
          "bind",
          [](std::shared_ptr<Network> net, py::handle X, py::handle Y, py::handle w, std::size_t block_rows,
             std::size_t threads, const std::string& kernel) {
            Data d = check_data(*net, X, Y, w);
            return Bound(std::move(net), std::move(d), make_options(block_rows, threads, kernel));
          },
          py::arg("X"), py::arg("y"), py::arg("sample_weight") = py::none(), py::kw_only(), py::arg("block_rows") = 0,
          py::arg("threads") = 0, py::arg("kernel") = "auto")
      .def(
          "jacobian",
          [](const Network& net, py::handle params, py::handle X, std::size_t block_rows, std::size_t threads,
             const std::string& kernel) {
            Array p = check_params(net, params);
            Array x = check_X(net, X);
            const auto N = static_cast<std::size_t>(x.shape(0));
            Array J({static_cast<py::ssize_t>(N), static_cast<py::ssize_t>(net.n_outputs()),
                     static_cast<py::ssize_t>(net.n_params())});
            double* o = J.mutable_data();
            run_core(net, N, make_options(block_rows, threads, kernel), [&](const quasinet::Options& opt) {
              net.jacobian(o, p.data(), x.data(), N, opt);
              return 0;
            });
            return J;
          },
          py::arg("params"), py::arg("X"), py::kw_only(), py::arg("block_rows") = 0, py::arg("threads") = 0,
          py::arg("kernel") = "auto")
      .def(
          "gauss_newton",
          [](const Network& net, py::handle params, py::handle X, py::handle Y, py::handle w, std::size_t block_rows,
             std::size_t threads, const std::string& kernel, py::handle o_obj) {
            Array p = check_params(net, params);
            Data d = check_data(net, X, Y, w);
            if (!d.Y) throw py::value_error("y is required");
            OutputWeights o(net, o_obj);
            return gauss_newton_call(net, p, d, o.apply(make_options(block_rows, threads, kernel)));
          },
          py::arg("params"), py::arg("X"), py::arg("y"), py::arg("sample_weight") = py::none(), py::kw_only(),
          py::arg("block_rows") = 0, py::arg("threads") = 0, py::arg("kernel") = "auto",
          py::arg("output_weights") = py::none())
      .def(
          "hessp",
          [](const Network& net, py::handle params, py::handle X, py::handle Y, py::handle v, py::handle w,
             const std::string& kind, std::size_t block_rows, std::size_t threads, const std::string& kernel,
             py::handle o_obj) {
            const bool exact = parse_hessian_kind(kind);
            Array p = check_params(net, params);
            Data d = check_data(net, X, Y, w);
            if (!d.Y) throw py::value_error("y is required");
            Array dir = check_direction(net, v);
            OutputWeights o(net, o_obj);
            return hessp_call(net, p, dir, d, exact, o.apply(make_options(block_rows, threads, kernel)));
          },
          py::arg("params"), py::arg("X"), py::arg("y"), py::arg("v"), py::arg("sample_weight") = py::none(),
          py::kw_only(), py::arg("kind") = "exact", py::arg("block_rows") = 0, py::arg("threads") = 0,
          py::arg("kernel") = "auto", py::arg("output_weights") = py::none());

  py::class_<Bound>(m, "Bound")
      .def("__call__", &Bound::call, py::arg("params"), "Cost and a new gradient array at params.")
      .def("cost", &Bound::cost, py::arg("params"), py::kw_only(), py::arg("output_weights") = py::none(),
           "Cost only at params; output_weights (n_outputs,) weigh each output's squared error (sse, mse).")
      .def("hessp", &Bound::hessp, py::arg("params"), py::arg("v"), py::arg("kind") = "exact", py::kw_only(),
           py::arg("output_weights") = py::none(),
           "H v at params: the exact Hessian of the cost (kind='exact') or its Gauss-Newton matrix.")
      .def("gauss_newton", &Bound::gauss_newton, py::arg("params"), py::kw_only(),
           py::arg("output_weights") = py::none(),
           "(cost, grad, G) at params, G the (P, P) Gauss-Newton matrix; output_weights as in cost.")
      .def_property_readonly("n_samples", &Bound::n_samples)
      .def_property_readonly("X", &Bound::X)
      .def_property_readonly("y", &Bound::Y);

  m.def("activation", [](const std::string& name, py::handle z) { return elementwise(name, z, false); },
        py::arg("name"), py::arg("z"), "f(z) elementwise for an elementwise activation.");
  m.def("activation_derivative", [](const std::string& name, py::handle z) { return elementwise(name, z, true); },
        py::arg("name"), py::arg("z"), "f'(z) elementwise for an elementwise activation.");
  m.def("set_num_threads", [](long long n) {
    if (n < 0) throw py::value_error("number of threads must be >= 0 (0: all cores), got " + std::to_string(n));
    quasinet::set_default_threads(static_cast<std::size_t>(n));
  }, py::arg("n"));
  m.def("get_num_threads", &quasinet::default_threads);
  m.def("has_blas", &quasinet::have_blas);
}
