// Gradient clipping against tests/golden/optim_clip.py: torch.nn.utils.clip_grad_norm_ (2, inf and 1
// norms; max_norm below, at and above the norm), clip_grad_value_, and AGC written in torch as timm's
// adaptive_clip_grad. Double to 1e-12, float to 1e-5, on each source (a Param array, a module tree, an
// optimizer), with the returned norm, no heap, and every error path.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/optim/clip.hpp"
#include "lipflow/optim/sgd.hpp"
#include "support/alloc_counter.hpp"
#include "support/golden.hpp"

using namespace lipflow;
using namespace lipflow::optim;
using namespace lipflow_test;

namespace {

const Golden& golden() {
  static const Golden g = load_golden("optim_clip");
  return g;
}

template <class T>
double tolerance() {
  return sizeof(T) == sizeof(double) ? 1e-12 : 1e-5;
}

// Largest relative error per element (an exact zero must stay exactly zero).
double worst_rel(const std::vector<double>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return HUGE_VAL;
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double e = want[i] == 0 ? (got[i] == 0 ? 0 : HUGE_VAL) : std::fabs(got[i] - want[i]) / std::fabs(want[i]);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

// The golden parameters in a two-layer model (Linear 4 -> 5, Linear 5 -> 3), whose parameters are also
// held by an SGD optimizer and listed in a plain array: the three sources of the clipping functions.
template <class T>
struct Fixture {
  nn::Linear<T> l1{5}, l2{3};
  nn::Model<T> model;
  Sgd<T> opt;
  AlignedBuffer buf;
  std::vector<nn::Param<T>> params;

  bool setup() {
    MemoryPlan plan;
    Arena arena;
    if (!model.add(&l1).ok() || !model.add(&l2).ok() || !model.plan(nn::Shape::vec(4), 1, plan).ok()) return false;
    if (!opt.add(model.layers()).ok() || !opt.plan(plan).ok()) return false;
    buf = AlignedBuffer(plan.total_bytes());
    if (!arena.bind(plan, buf.data(), buf.size()).ok() || !model.bind(arena).ok() || !opt.bind(arena).ok()) return false;
    if (!model.visit_params([&](const nn::Param<T>& p) {
          params.push_back(p);
          return Status::success();
        }).ok())
      return false;
    const auto& shapes = golden()["shapes"];
    if (params.size() * 2 != shapes.size()) return false;
    std::size_t off = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const nn::Param<T>& p = params[i];
      if (p.rows != shapes[2 * i] || p.cols != shapes[2 * i + 1]) return false;  // PyTorch's layout
      for (std::size_t j = 0; j < p.size; ++j) p.value[j] = static_cast<T>(golden()["w"][off + j]);
      off += p.size;
    }
    reset_grads();
    return off == golden()["w"].size();
  }
  void reset_grads() {
    std::size_t off = 0;
    for (const auto& p : params)
      for (std::size_t j = 0; j < p.size; ++j) p.grad[j] = static_cast<T>(golden()["g"][off++]);
  }
  std::vector<double> grads() const {
    std::vector<double> out;
    for (const auto& p : params) out.insert(out.end(), p.grad, p.grad + p.size);
    return out;
  }
};

enum class Source { array, module, optimizer };
const Source kSources[] = {Source::array, Source::module, Source::optimizer};
const char* source_name(Source s) { return s == Source::array ? "array" : s == Source::module ? "module" : "optimizer"; }

// Runs `clip(source)` on fresh gradients for each source and compares with the golden case.
template <class T>
void check_case(Fixture<T>& f, const std::string& name,
                const std::function<Status(Source, double*)>& clip) {
  const double tol = tolerance<T>();
  for (Source s : kSources) {
    SCOPED_TRACE(name + " on " + source_name(s));
    f.reset_grads();
    double norm = -1;
    AllocationWatch watch;
    const Status st = clip(s, &norm);
    EXPECT_EQ(watch.count(), 0u) << "clipping allocated";
    ASSERT_TRUE(st.ok()) << st.where();
    const double want = golden()[name + "_norm"].at(0);
    EXPECT_LE(std::fabs(norm - want), tol * want) << "returned norm " << norm << " want " << want;
    EXPECT_LE(worst_rel(f.grads(), golden()[name + "_g"]), tol);
  }
}

template <class T>
void check_all() {
  ASSERT_TRUE(golden().ok) << "missing golden optim_clip (run tests/golden/optim_clip.py)";
  Fixture<T> f;
  ASSERT_TRUE(f.setup());
  const std::size_t n = f.params.size();
  struct NormCase { const char* tag; kernels::Norm norm; std::vector<const char*> fractions; };
  const NormCase norm_cases[] = {{"norm2", kernels::Norm::l2, {"0.05", "0.5", "1", "3"}},
                                 {"norminf", kernels::Norm::linf, {"0.3", "2"}},
                                 {"norm1", kernels::Norm::l1, {"0.2", "5"}}};
  int cases = 0;
  for (const NormCase& c : norm_cases)
    for (const char* frac : c.fractions) {
      const std::string name = std::string(c.tag) + "_" + frac;
      const double max_norm = golden()[name + "_limit"].at(0);
      check_case<T>(f, name, [&](Source s, double* norm) {
        if (s == Source::array) return clip_grad_norm<T>(f.params.data(), n, max_norm, norm, c.norm);
        if (s == Source::module) return clip_grad_norm<T>(f.model.layers(), max_norm, norm, c.norm);
        return clip_grad_norm<T>(f.opt, max_norm, norm, c.norm);
      });
      ++cases;
    }
  for (const char* frac : {"0.05", "0.3", "2"}) {
    const std::string name = std::string("value_") + frac;
    const double c = golden()[name + "_limit"].at(0);
    check_case<T>(f, name, [&](Source s, double* norm) {
      if (s == Source::array) return clip_grad_value<T>(f.params.data(), n, c, norm);
      if (s == Source::module) return clip_grad_value<T>(f.model.layers(), c, norm);
      return clip_grad_value<T>(f.opt, c, norm);
    });
    ++cases;
  }
  for (const char* tag : {"0.01_0.001", "0.1_0.001", "1_0.001", "0.05_0.5"}) {
    const std::string name = std::string("agc_") + tag;
    AgcOptions o;
    o.clipping = golden()[name + "_limit"].at(0);
    o.eps = golden()[name + "_limit"].at(1);
    check_case<T>(f, name, [&](Source s, double* norm) {
      if (s == Source::array) return adaptive_clip_grad<T>(f.params.data(), n, o, norm);
      if (s == Source::module) return adaptive_clip_grad<T>(f.model.layers(), o, norm);
      return adaptive_clip_grad<T>(f.opt, o, norm);
    });
    ++cases;
  }
  EXPECT_EQ(cases, 15);
}

}  // namespace

TEST(Clip, MatchesPyTorchDouble) { check_all<double>(); }
TEST(Clip, MatchesPyTorchFloat) { check_all<float>(); }

// The golden cases clip some gradients and leave others: the tests above would notice a no-op.
TEST(Clip, GoldenCasesChangeTheGradients) {
  ASSERT_TRUE(golden().ok);
  const auto& g = golden()["g"];
  for (const char* name : {"norm2_0.05", "norm2_1", "norminf_0.3", "norm1_0.2", "value_0.05", "agc_0.01_0.001",
                           "agc_0.05_0.5"})
    EXPECT_GT(worst_rel(golden()[std::string(name) + "_g"], g), 1e-9) << name;
  for (const char* name : {"norm2_3", "norminf_2", "norm1_5", "value_2"})
    EXPECT_EQ(golden()[std::string(name) + "_g"], g) << name;
  // AGC keeps the units under their threshold: the zero-gradient row and W1's smallest-ratio row.
  const auto& agc = golden()["agc_1_0.001_g"];
  EXPECT_EQ(agc[0], g[0]);
  EXPECT_EQ(agc[4], g[4]);
  EXPECT_NE(agc[16], g[16]);  // the row with ||G|| = 3 ||W||
}

TEST(Clip, NormOnlyAndEmptyLists) {
  Fixture<double> f;
  ASSERT_TRUE(f.setup());
  double norm = -1;
  ASSERT_TRUE(clip_grad_norm<double>(f.opt, HUGE_VAL, &norm).ok());  // measures, never clips
  EXPECT_NEAR(norm, golden()["norm2_1_norm"][0], 1e-12 * norm);
  EXPECT_EQ(f.grads(), golden()["g"]);
  ASSERT_TRUE(clip_grad_value<double>(f.model.layers(), HUGE_VAL, &norm).ok());
  EXPECT_EQ(f.grads(), golden()["g"]);
  ASSERT_TRUE(clip_grad_norm<double>(nullptr, 0, 1.0, &norm).ok());  // PyTorch returns 0 for no gradients
  EXPECT_EQ(norm, 0.0);
  ASSERT_TRUE(adaptive_clip_grad<double>(f.params.data(), 0, AgcOptions(), &norm).ok());
  EXPECT_EQ(norm, 0.0);
  ASSERT_TRUE(clip_grad_value<double>(f.params.data(), f.params.size(), 0.1).ok());  // no norm asked
  for (double v : f.grads()) EXPECT_LE(std::fabs(v), 0.1);
}

// PyTorch's behaviour on a non-finite norm (error_if_nonfinite = false): coef = max_norm / inf = 0
// multiplies every gradient (inf * 0 = NaN); with error_if_nonfinite, an error and nothing changed.
TEST(Clip, NonFiniteNorms) {
  std::vector<double> a = {1.0, -2.0, std::numeric_limits<double>::infinity()}, b = {3.0, 4.0}, wa(3, 1.0), wb(2, 1.0);
  nn::Param<double> ps[2];
  ps[0].value = wa.data();
  ps[0].grad = a.data();
  ps[0].size = ps[0].cols = 3;
  ps[0].rows = 1;
  ps[1].value = wb.data();
  ps[1].grad = b.data();
  ps[1].size = ps[1].cols = 2;
  ps[1].rows = 1;
  double norm = 0;
  EXPECT_EQ(clip_grad_norm<double>(ps, 2, 1.0, &norm, kernels::Norm::l2, true).code(), Code::invalid_argument);
  EXPECT_TRUE(std::isinf(norm));
  EXPECT_EQ(b[0], 3.0);
  ASSERT_TRUE(clip_grad_norm<double>(ps, 2, 1.0, &norm).ok());
  EXPECT_TRUE(std::isinf(norm));
  EXPECT_EQ(a[0], 0.0);
  EXPECT_TRUE(std::isnan(a[2]));
  EXPECT_EQ(b[1], 0.0);
  // NaN: the norm is NaN and spreads (as PyTorch); clip by value keeps NaN entries NaN.
  a = {1.0, std::nan(""), 5.0};
  b = {3.0, -4.0};
  ASSERT_TRUE(clip_grad_value<double>(ps, 2, 2.0, &norm).ok());
  EXPECT_TRUE(std::isnan(norm));
  EXPECT_EQ(a[0], 1.0);
  EXPECT_TRUE(std::isnan(a[1]));
  EXPECT_EQ(a[2], 2.0);
  EXPECT_EQ(b[1], -2.0);
}

// Norms that overflow when squared still give the right total (per-parameter norms are combined
// with rescaling).
TEST(Clip, LargeGradientsDoNotOverflow) {
  std::vector<double> a(3, 3e200), b(1, 4e200), w(3, 1.0);
  nn::Param<double> ps[2];
  ps[0].value = w.data();
  ps[0].grad = a.data();
  ps[0].size = 3;
  ps[1].value = w.data();
  ps[1].grad = b.data();
  ps[1].size = 1;
  double norm = 0;
  ASSERT_TRUE(clip_grad_norm<double>(ps, 2, 1.0, &norm).ok());
  const double want = std::sqrt(27.0 + 16.0) * 1e200;
  EXPECT_NEAR(norm, want, 1e-14 * want);
  EXPECT_NEAR(std::sqrt(3 * a[0] * a[0] + b[0] * b[0]), 1.0, 1e-12);
}

TEST(Clip, InvalidArgumentsChangeNothing) {
  Fixture<double> f;
  ASSERT_TRUE(f.setup());
  nn::Param<double>* p = f.params.data();
  const std::size_t n = f.params.size();
  const std::vector<double> before = f.grads();
  double norm = -1;
  for (double bad : {0.0, -1.0, std::nan("")}) {
    EXPECT_EQ(clip_grad_norm<double>(p, n, bad, &norm).code(), Code::invalid_argument) << bad;
    EXPECT_EQ(clip_grad_value<double>(f.model.layers(), bad).code(), Code::invalid_argument) << bad;
    AgcOptions o;
    o.clipping = bad;
    EXPECT_EQ(adaptive_clip_grad<double>(f.opt, o).code(), Code::invalid_argument) << bad;
    o = AgcOptions();
    o.eps = bad;
    EXPECT_EQ(adaptive_clip_grad<double>(p, n, o).code(), Code::invalid_argument) << bad;
  }
  AgcOptions inf_clip;
  inf_clip.clipping = HUGE_VAL;
  EXPECT_EQ(adaptive_clip_grad<double>(p, n, inf_clip).code(), Code::invalid_argument);
  EXPECT_EQ(clip_grad_norm<double>(p, n, 1.0, &norm, static_cast<kernels::Norm>(9)).code(), Code::invalid_argument);
  EXPECT_EQ(clip_grad_norm<double>(nullptr, 2, 1.0).code(), Code::null_pointer);
  // A bad parameter late in the list: found before the first gradient is written.
  std::vector<nn::Param<double>> list(f.params);
  list[3].grad = nullptr;
  EXPECT_EQ(clip_grad_norm<double>(list.data(), n, 1e-3).code(), Code::null_pointer);
  EXPECT_EQ(clip_grad_value<double>(list.data(), n, 1e-3).code(), Code::null_pointer);
  EXPECT_EQ(adaptive_clip_grad<double>(list.data(), n).code(), Code::null_pointer);
  list = f.params;
  list[3].value = nullptr;  // AGC needs the weights, the others do not
  EXPECT_EQ(adaptive_clip_grad<double>(list.data(), n).code(), Code::null_pointer);
  list = f.params;
  list[2].cols = 4;  // 3 x 4 != 15
  EXPECT_EQ(adaptive_clip_grad<double>(list.data(), n).code(), Code::shape_mismatch);
  EXPECT_EQ(f.grads(), before);
  // An optimizer whose parameters have no memory yet (the module is not bound).
  nn::Linear<double> l(2);
  Sgd<double> unbound;
  MemoryPlan plan;
  nn::Shape out;
  ASSERT_TRUE(l.plan(nn::Shape::vec(3), 1, plan, &out).ok());
  ASSERT_TRUE(unbound.add(l).ok());
  EXPECT_EQ(clip_grad_norm<double>(unbound, 1.0).code(), Code::null_pointer);
  EXPECT_EQ(adaptive_clip_grad<double>(unbound).code(), Code::null_pointer);
}
