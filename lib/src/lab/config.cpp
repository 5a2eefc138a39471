// lipflow/lab/config.cpp: strict JSON experiment configs (see config.hpp).
//
// Every read goes through Obj, which checks the JSON type before reading a value (so no bad input
// reaches one of nlohmann-json's throwing paths, which abort under JSON_NOEXCEPTION), records which
// keys were read, and rejects the others. The first error wins and names its field.
#include "lipflow/lab/config.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "lipflow/analysis/monitor.hpp"
#include "lipflow/optim/schedule.hpp"

namespace lipflow {
namespace lab {

using json = nlohmann::json;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string show(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + names[i];
  return s;
}

std::string range_text(const char* what, double lo, double hi, bool lo_open, bool hi_open) {
  std::string s = std::string(what) + " in " + (lo_open ? "(" : "[") + (lo == -kInf ? "-inf" : num(lo)) + ", " +
                  (hi == kInf ? "inf" : num(hi)) + (hi_open ? ")" : "]");
  return s;
}

// The first error sticks; later ones are ignored. Always returns false (for `return fail(...)`).
bool fail(ConfigError* e, const std::string& path, const std::string& value, const std::string& allowed) {
  if (e->ok()) {
    e->path = path.empty() ? "(config)" : path;
    e->value = value;
    e->allowed = allowed;
  }
  return false;
}

bool in_range(double v, double lo, double hi, bool lo_open, bool hi_open) {
  if (lo_open ? !(v > lo) : !(v >= lo)) return false;
  if (hi_open ? !(v < hi) : !(v <= hi)) return false;
  return true;
}

// A JSON value read as a number (any finite number).
bool read_real(const json& v, const std::string& path, double lo, double hi, bool lo_open, bool hi_open, double* out,
               ConfigError* e) {
  const std::string allowed = range_text("a finite number", lo, hi, lo_open, hi_open);
  if (!v.is_number()) return fail(e, path, show(v), allowed);
  const double x = v.get<double>();
  if (!std::isfinite(x) || !in_range(x, lo, hi, lo_open, hi_open)) return fail(e, path, show(v), allowed);
  *out = x;
  return true;
}

// A JSON value read as a non-negative integer in [lo, hi] (an integral float is accepted below 2^53).
bool read_uint(const json& v, const std::string& path, std::uint64_t lo, std::uint64_t hi, std::uint64_t* out,
               ConfigError* e) {
  const std::string allowed = "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  std::uint64_t x = 0;
  if (v.is_number_unsigned()) {
    x = v.get<std::uint64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d < 0 || d > 9007199254740992.0 || std::floor(d) != d) return fail(e, path, show(v), allowed);
    x = static_cast<std::uint64_t>(d);
  } else {
    return fail(e, path, show(v), allowed);  // negative integers, strings, booleans, null...
  }
  if (x < lo || x > hi) return fail(e, path, show(v), allowed);
  *out = x;
  return true;
}

// An object being read: checks types, remembers the keys read, rejects the rest in finish().
class Obj {
 public:
  Obj(const json& j, std::string path, ConfigError* e) : j_(j), path_(std::move(path)), e_(e) {}

  bool is_object() { return j_.is_object() ? true : fail(e_, path_, show(j_), "an object"); }
  std::string sub(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
  const std::string& path() const { return path_; }

  // The value under key, or null when absent (a required one is an error naming the key).
  const json* get(const char* key, bool required = false) {
    bool listed = false;
    for (const std::string& k : seen_) listed = listed || k == key;
    if (!listed) seen_.push_back(key);
    auto it = j_.find(key);
    if (it == j_.end()) {
      if (required) fail(e_, sub(key), "(missing)", "a required field");
      return nullptr;
    }
    return &*it;
  }
  bool has(const char* key) const { return j_.find(key) != j_.end(); }

  // Each returns false on error; an absent optional field leaves *out unchanged and returns true.
  bool real(const char* key, double* out, double lo, double hi, bool lo_open = false, bool hi_open = false,
            bool required = false) {
    const json* v = get(key, required);
    if (v == nullptr) return !required;
    return read_real(*v, sub(key), lo, hi, lo_open, hi_open, out, e_);
  }
  bool u64(const char* key, std::uint64_t* out, std::uint64_t lo, std::uint64_t hi, bool required = false) {
    const json* v = get(key, required);
    if (v == nullptr) return !required;
    return read_uint(*v, sub(key), lo, hi, out, e_);
  }
  // As u64, into a size_t: the upper limit is also capped at what size_t holds (wasm32 has 32 bits).
  bool size(const char* key, std::size_t* out, std::uint64_t lo, std::uint64_t hi, bool required = false) {
    std::uint64_t x = *out;
    const std::uint64_t cap = static_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max());
    if (!u64(key, &x, lo, hi < cap ? hi : cap, required)) return false;
    *out = static_cast<std::size_t>(x);
    return true;
  }
  bool boolean(const char* key, bool* out) {
    const json* v = get(key);
    if (v == nullptr) return true;
    if (!v->is_boolean()) return fail(e_, sub(key), show(*v), "true or false");
    *out = v->get<bool>();
    return true;
  }
  // A string from `names` (index into names written to *index).
  bool choice(const char* key, const std::vector<std::string>& names, std::size_t* index, bool required = false) {
    const json* v = get(key, required);
    if (v == nullptr) return !required;
    return choose(*v, sub(key), names, index, e_);
  }
  static bool choose(const json& v, const std::string& path, const std::vector<std::string>& names, std::size_t* index,
                     ConfigError* e) {
    const std::string allowed = "one of: " + join(names);
    if (!v.is_string()) return fail(e, path, show(v), allowed);
    const std::string& s = v.get_ref<const std::string&>();
    for (std::size_t i = 0; i < names.size(); ++i)
      if (s == names[i]) {
        *index = i;
        return true;
      }
    return fail(e, path, show(v), allowed);
  }
  // Rejects every key not read; `what` names the object in the message.
  bool finish(const std::string& what) {
    if (!e_->ok()) return false;
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      bool known = false;
      for (const std::string& k : seen_) known = known || k == it.key();
      if (!known) return fail(e_, sub(it.key().c_str()), show(it.value()), "no such field in " + what + " (fields: " + join(seen_) + ")");
    }
    return true;
  }

 private:
  const json& j_;
  std::string path_;
  ConfigError* e_;
  std::vector<std::string> seen_;
};

// ---- hyper-parameter tables (optimizers, schedules, datasets)

enum class PType { real, integer, boolean };
struct PSpec {
  const char* name;
  PType type;
  double def;
  double lo, hi;
  bool lo_open, hi_open;
  bool required;
};
constexpr double kBig = static_cast<double>(kMaxCount);
constexpr PSpec R(const char* n, double def, double lo, double hi, bool lo_open = false, bool hi_open = false) {
  return PSpec{n, PType::real, def, lo, hi, lo_open, hi_open, false};
}
constexpr PSpec I(const char* n, double def, double lo, double hi = kBig, bool required = false) {
  return PSpec{n, PType::integer, def, lo, hi, false, false, required};
}
constexpr PSpec B(const char* n, bool def) { return PSpec{n, PType::boolean, def ? 1.0 : 0.0, 0, 1, false, false, false}; }
constexpr PSpec Req(PSpec s) {
  s.required = true;
  return s;
}

struct Table {
  const char* name;
  std::vector<PSpec> specs;
};

const PSpec kLr = R("lr", 1e-3, 0, kInf, false, true);
const PSpec kWd = R("weight_decay", 0, 0, kInf, false, true);
const PSpec kB1 = R("beta1", 0.9, 0, 1, false, true);
const PSpec kB2 = R("beta2", 0.999, 0, 1, false, true);
const PSpec kEps8 = R("eps", 1e-8, 0, kInf, true, true);

const std::vector<Table>& optimizer_tables() {
  static const std::vector<Table> t = {
      {"sgd", {kLr, R("momentum", 0, 0, kInf, false, true), R("dampening", 0, 0, 1), kWd, B("nesterov", false)}},
      {"adam", {kLr, kB1, kB2, kEps8, kWd, B("amsgrad", false)}},
      {"adamw", {kLr, kB1, kB2, kEps8, R("weight_decay", 1e-2, 0, kInf, false, true), B("amsgrad", false)}},
      {"nadam", {R("lr", 2e-3, 0, kInf, false, true), kB1, kB2, kEps8, kWd, R("momentum_decay", 4e-3, 0, kInf, false, true)}},
      {"radam", {kLr, kB1, kB2, kEps8, kWd}},
      {"adamax", {R("lr", 2e-3, 0, kInf, false, true), kB1, kB2, kEps8, kWd}},
      {"adagrad",
       {R("lr", 1e-2, 0, kInf, false, true), R("lr_decay", 0, 0, kInf, false, true), kWd,
        R("initial_accumulator_value", 0, 0, kInf, false, true), R("eps", 1e-10, 0, kInf, true, true)}},
      {"rmsprop",
       {R("lr", 1e-2, 0, kInf, false, true), R("alpha", 0.99, 0, 1, false, true), kEps8, kWd,
        R("momentum", 0, 0, kInf, false, true), B("centered", false)}},
      {"lamb",
       {kLr, kB1, kB2, R("eps", 1e-6, 0, kInf, false, true), R("eps_root", 0, 0, kInf, false, true), kWd}},
      {"lars",
       {kLr, R("momentum", 0.9, 0, kInf, false, true), R("eta", 1e-3, 0, kInf, true, true),
        R("eps", 1e-8, 0, kInf, false, true), kWd, B("nesterov", false)}},
      {"lion",
       {R("lr", 1e-4, 0, kInf, true, true), R("beta1", 0.9, 0, 1), R("beta2", 0.99, 0, 1), kWd,
        B("decoupled_weight_decay", false)}},
      {"adafactor",
       {R("lr", 0, 0, kInf, false, true), R("eps1", 1e-30, 0, kInf, true, true), R("eps2", 1e-3, 0, kInf, false, true),
        R("clip_threshold", 1, 0, kInf, true, true), R("decay_rate", -0.8, -kInf, 0, true, false),
        R("beta1", 0, 0, 1, false, true), kWd, B("scale_parameter", true), B("relative_step", true),
        B("warmup_init", false)}},
  };
  return t;
}

const std::vector<Table>& schedule_tables() {
  static const std::vector<Table> t = {
      {"constant", {R("factor", 1, 0, 1), I("total_iters", 0, 0)}},
      {"step", {I("step_size", 1, 1, kBig, true), R("gamma", 0.1, 0, kInf, false, true)}},
      {"multi_step", {R("gamma", 0.1, 0, kInf, false, true)}},
      {"exponential", {Req(R("gamma", 0.1, 0, kInf, false, true))}},
      {"linear", {R("start_factor", 1.0 / 3.0, 0, 1), R("end_factor", 1, 0, 1), I("total_iters", 5, 1)}},
      {"cosine", {I("t_max", 1, 1, kBig, true), R("eta_min", 0, 0, kInf, false, true)}},
      {"warmup_cosine",
       {I("warmup_steps", 0, 0, kBig, true), I("decay_steps", 1, 1, kBig, true), R("init_factor", 0, 0, 1),
        R("end_factor", 0, 0, 1), R("exponent", 1, 0, kInf, true, true)}},
      {"inverse_sqrt", {I("warmup_steps", 1, 1, kBig, true)}},
      {"one_cycle",
       {I("total_steps", 1, 1, kBig, true), R("pct_start", 0.3, 0, 1), R("div_factor", 25, 0, kInf, true, true),
        R("final_div_factor", 1e4, 0, kInf, true, true), B("three_phase", false)}},
  };
  return t;
}

const std::vector<Table>& dataset_tables() {
  const double E = static_cast<double>(kMaxExtent);
  const double kMaxSamples = 2147483647.0;     // a split holds fewer than 2^31 samples
  const double kMaxVocabulary = 16777216.0;    // token ids are stored exactly as floats
  static const std::vector<Table> t = {
      {"two_spirals", {I("train_samples", 512, 1, kMaxSamples), I("test_samples", 256, 1, kMaxSamples),
                       R("turns", 1.0, 0, 100, true), R("noise", 0.05, 0, 1e6)}},
      {"moons", {I("train_samples", 512, 1, kMaxSamples), I("test_samples", 256, 1, kMaxSamples), R("noise", 0.1, 0, 1e6)}},
      {"gaussian_mixture",
       {I("train_samples", 512, 1, kMaxSamples), I("test_samples", 256, 1, kMaxSamples), I("classes", 3, 2, 4096),
        I("dims", 2, 1, E), R("mean_scale", 2.0, 0, 1e6, true), R("spread", 0.5, 0, 1e6)}},
      {"sine", {I("train_samples", 512, 1, kMaxSamples), I("test_samples", 256, 1, kMaxSamples), R("noise", 0.05, 0, 1e6)}},
      {"copy", {I("train_samples", 512, 1, kMaxSamples), I("test_samples", 256, 1, kMaxSamples), I("length", 8, 1, E),
                I("vocabulary", 8, 2, kMaxVocabulary)}},
      {"reverse", {I("train_samples", 512, 1, kMaxSamples), I("test_samples", 256, 1, kMaxSamples), I("length", 8, 1, E),
                   I("vocabulary", 8, 2, kMaxVocabulary)}},
      {"sort", {I("train_samples", 512, 1, kMaxSamples), I("test_samples", 256, 1, kMaxSamples), I("length", 8, 1, E),
                I("vocabulary", 8, 2, kMaxVocabulary)}},
      {"mod_add", {I("train_samples", 512, 1, kMaxSamples), I("test_samples", 256, 1, kMaxSamples), I("length", 8, 2, E),
                   I("vocabulary", 8, 2, kMaxVocabulary)}},
  };
  return t;
}

std::vector<std::string> table_names(const std::vector<Table>& t) {
  std::vector<std::string> n;
  for (const Table& x : t) n.push_back(x.name);
  return n;
}

const Table* find_table(const std::vector<Table>& t, const std::string& name) {
  for (const Table& x : t)
    if (name == x.name) return &x;
  return nullptr;
}

// Reads every parameter of the table from o (filling defaults) into *out.
bool read_params(Obj& o, const Table& t, Params* out, ConfigError* e) {
  for (const PSpec& s : t.specs) {
    double v = s.def;
    const json* j = o.get(s.name, s.required);
    if (j == nullptr) {
      if (s.required) return false;
    } else if (s.type == PType::boolean) {
      if (!j->is_boolean()) return fail(e, o.sub(s.name), show(*j), "true or false");
      v = j->get<bool>() ? 1.0 : 0.0;
    } else if (s.type == PType::integer) {
      std::uint64_t x = 0;
      if (!read_uint(*j, o.sub(s.name), static_cast<std::uint64_t>(s.lo), static_cast<std::uint64_t>(s.hi), &x, e))
        return false;
      v = static_cast<double>(x);
    } else if (!read_real(*j, o.sub(s.name), s.lo, s.hi, s.lo_open, s.hi_open, &v, e)) {
      return false;
    }
    (*out)[s.name] = v;
  }
  return true;
}

void write_params(json& j, const Table& t, const Params& p) {
  for (const PSpec& s : t.specs) {
    auto it = p.find(s.name);
    const double v = it == p.end() ? s.def : it->second;
    if (s.type == PType::boolean)
      j[s.name] = v != 0.0;
    else if (s.type == PType::integer)
      j[s.name] = static_cast<std::uint64_t>(v);
    else
      j[s.name] = v;
  }
}

double param(const Params& p, const char* name) {
  auto it = p.find(name);
  return it == p.end() ? 0.0 : it->second;
}

// ---- enum names

template <class E>
std::vector<std::string> enum_names(int count, const char* (*name)(E) noexcept) {
  std::vector<std::string> n;
  for (int i = 0; i < count; ++i) n.push_back(name(static_cast<E>(i)));
  return n;
}
const std::vector<std::string>& layer_names() {
  static const std::vector<std::string> n = enum_names<LayerType>(17, layer_type_name);
  return n;
}
const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> n = enum_names<kernels::Activation>(kernels::kActivationCount, kernels::activation_name);
  return n;
}
const std::vector<std::string>& init_names() {
  static const std::vector<std::string> n = enum_names<nn::InitKind>(7, nn::init_name);
  return n;
}
const std::vector<std::string> kResidualNames = {"plain", "weighted", "rezero", "layerscale"};
const std::vector<std::string> kVariantNames = {"dot_product", "cosine", "l2_distance"};
const std::vector<std::string> kPlacementNames = {"pre_ln", "post_ln"};
const std::vector<std::string> kBlockNorms = {"layer_norm", "rms_norm", "center_norm"};
const std::vector<std::string> kClipKinds = {"none", "norm", "value", "agc"};
const std::vector<std::string> kNonfiniteNames = {"stop", "skip"};
const std::vector<std::string> kNormNames = {"l1", "l2", "linf"};
const std::vector<std::string> kEstimatorNames = {"gradient_norms", "update_ratios",     "flags",    "norm_input_std",
                                                  "attention_entropy", "jacobian_products", "lipschitz",
                                                  "lower_bound"};

// ---- layers

bool read_init(Obj& o, nn::InitSpec* init, ConfigError* e) {
  const json* v = o.get("init");
  if (v == nullptr) return true;
  std::size_t k = 0;
  if (v->is_string()) {
    if (!Obj::choose(*v, o.sub("init"), init_names(), &k, e)) return false;
    init->kind = static_cast<nn::InitKind>(k);
    return true;
  }
  Obj io(*v, o.sub("init"), e);
  if (!io.is_object()) return fail(e, o.sub("init"), show(*v), "an initializer name or {kind, gain, fan_out}");
  if (!io.choice("kind", init_names(), &k, true)) return false;
  init->kind = static_cast<nn::InitKind>(k);
  if (!io.real("gain", &init->gain, 0, 1e6, true)) return false;
  if (!io.boolean("fan_out", &init->fan_out)) return false;
  return io.finish("init");
}

json write_init(const nn::InitSpec& s) {
  json j = json::object();
  j["kind"] = nn::init_name(s.kind);
  j["gain"] = s.gain;
  j["fan_out"] = s.fan_out;
  return j;
}

// Reads kind (required) and the parameters that kind takes (alpha: leaky_relu, elu; beta: softplus).
bool read_activation_fields(Obj& o, kernels::ActivationSpec* f, ConfigError* e) {
  std::size_t k = 0;
  if (!o.choice("kind", activation_names(), &k, true)) return false;
  f->kind = static_cast<kernels::Activation>(k);
  if (f->kind == kernels::Activation::leaky_relu || f->kind == kernels::Activation::elu)
    if (!o.real("alpha", &f->alpha, 0, 1e6)) return false;
  if (f->kind == kernels::Activation::softplus)
    if (!o.real("beta", &f->beta, 0, 1e6, true)) return false;
  (void)e;
  return true;
}

void write_activation_fields(json& j, const kernels::ActivationSpec& f) {
  j["kind"] = kernels::activation_name(f.kind);
  if (f.kind == kernels::Activation::leaky_relu || f.kind == kernels::Activation::elu) j["alpha"] = f.alpha;
  if (f.kind == kernels::Activation::softplus) j["beta"] = f.beta;
}

// "activation": "gelu_erf" or {"kind": "leaky_relu", "alpha": 0.1}.
bool read_activation(Obj& o, const char* key, kernels::ActivationSpec* f, ConfigError* e) {
  const json* v = o.get(key);
  if (v == nullptr) return true;
  std::size_t k = 0;
  if (v->is_string()) {
    if (!Obj::choose(*v, o.sub(key), activation_names(), &k, e)) return false;
    f->kind = static_cast<kernels::Activation>(k);
    return true;
  }
  Obj ao(*v, o.sub(key), e);
  if (!ao.is_object()) return false;
  if (!read_activation_fields(ao, f, e)) return false;
  return ao.finish("activation");
}

bool read_attention(Obj& o, LayerConfig* l, ConfigError* e) {
  nn::AttentionOptions& a = l->attention;
  if (!o.size("heads", &a.heads, 1, 4096)) return false;
  std::size_t k = 0;
  if (o.has("variant")) {
    if (!o.choice("variant", kVariantNames, &k)) return false;
    a.variant = static_cast<nn::AttentionVariant>(k);
  } else {
    o.get("variant");
  }
  if (!o.boolean("causal", &a.causal) || !o.boolean("bias", &a.bias)) return false;
  if (o.has("scale")) {
    if (!o.real("scale", &a.scale, 0, 1e6, true)) return false;
    l->has_scale = true;
  } else {
    o.get("scale");
  }
  if (!o.real("temperature", &a.temperature, 0, 1e6)) return false;
  if (!o.boolean("learnable_temperature", &a.learnable_temperature)) return false;
  if (!o.real("eps", &a.eps, 0, 1, true)) return false;
  if (!o.boolean("value_from_query", &a.value_from_query)) return false;
  if (a.value_from_query && a.variant != nn::AttentionVariant::l2_distance)
    return fail(e, o.sub("value_from_query"), "true", "false unless variant is l2_distance");
  if (a.learnable_temperature && a.variant != nn::AttentionVariant::cosine)
    return fail(e, o.sub("learnable_temperature"), "true", "false unless variant is cosine");
  return read_init(o, &a.init, e);
}

void write_attention(json& j, const LayerConfig& l) {
  const nn::AttentionOptions& a = l.attention;
  j["heads"] = a.heads;
  j["variant"] = kVariantNames[static_cast<int>(a.variant)];
  j["causal"] = a.causal;
  j["bias"] = a.bias;
  if (l.has_scale) j["scale"] = a.scale;
  j["temperature"] = a.temperature;
  j["learnable_temperature"] = a.learnable_temperature;
  j["eps"] = a.eps;
  j["value_from_query"] = a.value_from_query;
  j["init"] = write_init(a.init);
}

std::string shape_text(const nn::Shape& s) {
  std::string t = "(";
  for (int d = 0; d < s.rank; ++d) t += (d ? ", " : "") + std::to_string(s.dims[d]);
  return t + ")";
}

bool check_extent(const nn::Shape& s, const std::string& path, ConfigError* e) {
  std::uint64_t n = 1;  // at most 3 extents of at most 2^20 each: no overflow in 64 bits
  for (int d = 0; d < s.rank; ++d) {
    if (s.dims[d] == 0 || s.dims[d] > kMaxExtent) return fail(e, path, shape_text(s), "every extent in [1, 1048576]");
    n *= s.dims[d];
  }
  const std::uint64_t limit = std::uint64_t{1} << 31;  // also fits a 32-bit size_t (wasm32)
  if (n > limit) return fail(e, path, shape_text(s), "at most 2^31 values per sample");
  return true;
}

struct Walk {
  ConfigError* e;
  const ModelConfig* model;
};

bool read_layers(const json& v, const std::string& path, std::size_t depth, nn::Shape in, bool top, Walk& w,
                 std::vector<LayerConfig>* out, nn::Shape* shape_out);

// Reads one layer whose input has shape `in`; writes its output shape.
bool read_layer(const json& v, const std::string& path, std::size_t depth, std::size_t index, bool top, nn::Shape in,
                Walk& w, LayerConfig* l, nn::Shape* out) {
  ConfigError* e = w.e;
  Obj o(v, path, e);
  if (!o.is_object()) return false;
  std::size_t t = 0;
  if (!o.choice("type", layer_names(), &t, true)) return false;
  l->type = static_cast<LayerType>(t);
  const std::string type_name = layer_type_name(l->type);
  if (top && index == 0 && w.model->input == InputKind::tokens && l->type != LayerType::embedding)
    return fail(e, o.sub("type"), "\"" + type_name + "\"", "\"embedding\" (the first layer of a model with token input)");
  *out = in;
  const std::size_t E = kMaxExtent;
  switch (l->type) {
    case LayerType::linear:
      if (!o.size("width", &l->width, 1, E, true) || !o.boolean("bias", &l->bias) || !read_init(o, &l->init, e))
        return false;
      out->dims[out->rank - 1] = l->width;
      break;
    case LayerType::activation:
      if (!read_activation_fields(o, &l->activation, e)) return false;
      break;
    case LayerType::softmax:
    case LayerType::log_softmax:
      if (!o.real("temperature", &l->temperature, 0, 1e6, true)) return false;
      break;
    case LayerType::layer_norm:
    case LayerType::rms_norm:
    case LayerType::instance_norm:
      if (!o.real("eps", &l->eps, 0, 1, true) || !o.boolean("affine", &l->affine)) return false;
      break;
    case LayerType::center_norm:
      if (!o.boolean("affine", &l->affine)) return false;
      break;
    case LayerType::batch_norm:
      if (!o.real("eps", &l->eps, 0, 1, true) || !o.real("momentum", &l->momentum, 0, 1) ||
          !o.boolean("affine", &l->affine))
        return false;
      break;
    case LayerType::group_norm:
      if (!o.size("groups", &l->groups, 1, E, true) || !o.real("eps", &l->eps, 0, 1, true) ||
          !o.boolean("affine", &l->affine))
        return false;
      if (in.dims[0] % l->groups != 0)
        return fail(e, o.sub("groups"), std::to_string(l->groups),
                    "a divisor of the channels (" + std::to_string(in.dims[0]) + ")");
      break;
    case LayerType::conv2d: {
      if (!o.size("channels", &l->channels, 1, E, true) || !o.size("kernel", &l->kernel, 1, 4096, true) ||
          !o.size("stride", &l->stride, 1, 4096) || !o.size("padding", &l->padding, 0, 4096) ||
          !o.boolean("bias", &l->bias) || !read_init(o, &l->init, e))
        return false;
      if (in.rank != 3)
        return fail(e, o.sub("type"), "\"conv2d\"", "conv2d on an image input (channels, height, width), not " + shape_text(in));
      const std::size_t h = in.dims[1] + 2 * l->padding, wd = in.dims[2] + 2 * l->padding;
      if (l->kernel > h || l->kernel > wd)
        return fail(e, o.sub("kernel"), std::to_string(l->kernel),
                    "at most the padded input extent (" + std::to_string(h < wd ? h : wd) + ")");
      *out = nn::Shape::image(l->channels, (h - l->kernel) / l->stride + 1, (wd - l->kernel) / l->stride + 1);
      break;
    }
    case LayerType::embedding: {
      l->vocabulary = w.model->vocabulary;
      l->max_tokens = w.model->tokens;
      if (!o.size("width", &l->width, 1, E, true) || !o.size("vocabulary", &l->vocabulary, 1, E) ||
          !o.size("max_tokens", &l->max_tokens, 1, E))
        return false;
      if (!top || index != 0 || w.model->input != InputKind::tokens)
        return fail(e, o.sub("type"), "\"embedding\"", "embedding only as the first layer of a model with token input");
      if (l->vocabulary < w.model->vocabulary)
        return fail(e, o.sub("vocabulary"), std::to_string(l->vocabulary),
                    ">= model.input.vocabulary (" + std::to_string(w.model->vocabulary) + ")");
      if (l->max_tokens < w.model->tokens)
        return fail(e, o.sub("max_tokens"), std::to_string(l->max_tokens),
                    ">= model.input.tokens (" + std::to_string(w.model->tokens) + ")");
      *out = nn::Shape::tokens(in.dims[0], l->width);
      break;
    }
    case LayerType::attention:
      if (!read_attention(o, l, e)) return false;
      if (in.rank != 2)
        return fail(e, o.sub("type"), "\"attention\"", "attention on (tokens, width) samples, not " + shape_text(in));
      if (in.dims[1] % l->attention.heads != 0)
        return fail(e, o.sub("heads"), std::to_string(l->attention.heads),
                    "a divisor of the width (" + std::to_string(in.dims[1]) + ")");
      break;
    case LayerType::residual: {
      std::size_t k = 0;
      if (o.has("kind")) {
        if (!o.choice("kind", kResidualNames, &k)) return false;
        l->residual = static_cast<nn::ResidualKind>(k);
      } else {
        o.get("kind");
      }
      if (!o.real("alpha_init", &l->alpha_init, -1e6, 1e6)) return false;
      const json* b = o.get("branch", true);
      if (b == nullptr) return false;
      if (depth + 1 > kMaxLayerDepth)
        return fail(e, o.sub("branch"), "(depth " + std::to_string(depth + 1) + ")",
                    "residual branches nested at most " + std::to_string(kMaxLayerDepth) + " deep");
      nn::Shape bout;
      if (!read_layers(*b, o.sub("branch"), depth + 1, in, false, w, &l->branch, &bout)) return false;
      if (bout != in)
        return fail(e, o.sub("branch"), shape_text(bout), "a branch that keeps the shape " + shape_text(in));
      break;
    }
    case LayerType::feed_forward:
      if (!o.size("hidden", &l->hidden, 1, E, true) || !read_activation(o, "activation", &l->activation, e) ||
          !o.boolean("bias", &l->bias) || !read_init(o, &l->init, e))
        return false;
      break;
    case LayerType::transformer_block: {
      std::size_t k = 0;
      if (o.has("placement")) {
        if (!o.choice("placement", kPlacementNames, &k)) return false;
        l->placement = static_cast<nn::Placement>(k);
      } else {
        o.get("placement");
      }
      if (o.has("norm")) {
        if (!o.choice("norm", kBlockNorms, &k)) return false;
        l->norm = k == 0 ? LayerType::layer_norm : k == 1 ? LayerType::rms_norm : LayerType::center_norm;
      } else {
        o.get("norm");
      }
      if (!o.real("eps", &l->eps, 0, 1, true)) return false;
      if (const json* a = o.get("attention")) {
        Obj ao(*a, o.sub("attention"), e);
        if (!ao.is_object() || !read_attention(ao, l, e) || !ao.finish("attention")) return false;
      }
      if (!o.size("hidden", &l->hidden, 1, E, true) || !read_activation(o, "activation", &l->activation, e)) return false;
      if (o.has("shortcut")) {
        if (!o.choice("shortcut", kResidualNames, &k)) return false;
        l->residual = static_cast<nn::ResidualKind>(k);
      } else {
        o.get("shortcut");
      }
      if (!o.real("alpha_init", &l->alpha_init, -1e6, 1e6)) return false;
      if (in.rank != 2)
        return fail(e, o.sub("type"), "\"transformer_block\"", "a block on (tokens, width) samples, not " + shape_text(in));
      if (in.dims[1] % l->attention.heads != 0)
        return fail(e, o.sub("attention.heads"), std::to_string(l->attention.heads),
                    "a divisor of the width (" + std::to_string(in.dims[1]) + ")");
      break;
    }
    case LayerType::flatten:
      *out = nn::Shape::vec(in.size());
      break;
  }
  if (!o.finish(type_name)) return false;
  if (l->type == LayerType::activation || l->type == LayerType::feed_forward || l->type == LayerType::transformer_block) {
    if (!kernels::validate(l->activation).ok())
      return fail(e, path, show(v), "a valid activation (elu alpha >= 0, softplus beta > 0)");
  }
  return check_extent(*out, path, e);
}

bool read_layers(const json& v, const std::string& path, std::size_t depth, nn::Shape in, bool top, Walk& w,
                 std::vector<LayerConfig>* out, nn::Shape* shape_out) {
  if (!v.is_array()) return fail(w.e, path, show(v), "an array of layers");
  if (v.empty()) return fail(w.e, path, "[]", "at least one layer");
  const std::size_t cap = top ? kMaxLayers - 1 : kMaxLayers;  // the top level keeps room for the head
  if (v.size() > cap) return fail(w.e, path, std::to_string(v.size()) + " layers", "at most " + std::to_string(cap));
  out->clear();
  nn::Shape s = in;
  for (std::size_t i = 0; i < v.size(); ++i) {
    LayerConfig l;
    nn::Shape next;
    if (!read_layer(v[i], path + "[" + std::to_string(i) + "]", depth, i, top, s, w, &l, &next)) return false;
    out->push_back(std::move(l));
    s = next;
  }
  *shape_out = s;
  return true;
}

json write_layer(const LayerConfig& l);

json write_layers(const std::vector<LayerConfig>& ls) {
  json a = json::array();
  for (const LayerConfig& l : ls) a.push_back(write_layer(l));
  return a;
}

json write_layer(const LayerConfig& l) {
  json j = json::object();
  j["type"] = layer_type_name(l.type);
  switch (l.type) {
    case LayerType::linear:
      j["width"] = l.width;
      j["bias"] = l.bias;
      j["init"] = write_init(l.init);
      break;
    case LayerType::activation:
      write_activation_fields(j, l.activation);
      break;
    case LayerType::softmax:
    case LayerType::log_softmax:
      j["temperature"] = l.temperature;
      break;
    case LayerType::layer_norm:
    case LayerType::rms_norm:
    case LayerType::instance_norm:
      j["eps"] = l.eps;
      j["affine"] = l.affine;
      break;
    case LayerType::center_norm:
      j["affine"] = l.affine;
      break;
    case LayerType::batch_norm:
      j["eps"] = l.eps;
      j["momentum"] = l.momentum;
      j["affine"] = l.affine;
      break;
    case LayerType::group_norm:
      j["groups"] = l.groups;
      j["eps"] = l.eps;
      j["affine"] = l.affine;
      break;
    case LayerType::conv2d:
      j["channels"] = l.channels;
      j["kernel"] = l.kernel;
      j["stride"] = l.stride;
      j["padding"] = l.padding;
      j["bias"] = l.bias;
      j["init"] = write_init(l.init);
      break;
    case LayerType::embedding:
      j["width"] = l.width;
      j["vocabulary"] = l.vocabulary;
      j["max_tokens"] = l.max_tokens;
      break;
    case LayerType::attention:
      write_attention(j, l);
      break;
    case LayerType::residual:
      j["kind"] = kResidualNames[static_cast<int>(l.residual)];
      j["alpha_init"] = l.alpha_init;
      j["branch"] = write_layers(l.branch);
      break;
    case LayerType::feed_forward: {
      j["hidden"] = l.hidden;
      json a = json::object();
      write_activation_fields(a, l.activation);
      j["activation"] = a;
      j["bias"] = l.bias;
      j["init"] = write_init(l.init);
      break;
    }
    case LayerType::transformer_block: {
      j["placement"] = kPlacementNames[static_cast<int>(l.placement)];
      j["norm"] = layer_type_name(l.norm);
      j["eps"] = l.eps;
      json a = json::object();
      write_attention(a, l);
      j["attention"] = a;
      j["hidden"] = l.hidden;
      json f = json::object();
      write_activation_fields(f, l.activation);
      j["activation"] = f;
      j["shortcut"] = kResidualNames[static_cast<int>(l.residual)];
      j["alpha_init"] = l.alpha_init;
      break;
    }
    case LayerType::flatten:
      break;
  }
  return j;
}

// ---- sections

bool read_model(const json& v, ModelConfig* m, ConfigError* e) {
  Obj o(v, "model", e);
  if (!o.is_object()) return false;
  const json* in = o.get("input", true);
  if (in == nullptr) return false;
  Obj io(*in, "model.input", e);
  if (!io.is_object()) return false;
  const std::size_t E = kMaxExtent;
  if (io.has("features")) {
    m->input = InputKind::features;
    if (!io.size("features", &m->features, 1, E, true)) return false;
  } else if (io.has("tokens")) {
    m->input = InputKind::tokens;
    if (!io.size("tokens", &m->tokens, 1, E, true) || !io.size("vocabulary", &m->vocabulary, 1, E, true)) return false;
  } else if (io.has("channels")) {
    m->input = InputKind::image;
    if (!io.size("channels", &m->channels, 1, E, true) || !io.size("height", &m->height, 1, E, true) ||
        !io.size("width", &m->width, 1, E, true))
      return false;
  } else {
    return fail(e, "model.input", show(*in), "{features} or {tokens, vocabulary} or {channels, height, width}");
  }
  if (!io.finish("model.input")) return false;
  if (!check_extent(m->input_shape(), "model.input", e)) return false;

  const json* layers = o.get("layers", true);
  if (layers == nullptr) return false;
  Walk w{e, m};
  nn::Shape s;
  if (!read_layers(*layers, "model.layers", 0, m->input_shape(), true, w, &m->layers, &s)) return false;
  if (const json* h = o.get("head")) {
    Obj ho(*h, "model.head", e);
    if (!ho.is_object()) return false;
    m->has_head = true;
    m->head = LayerConfig();
    m->head.type = LayerType::linear;
    if (!ho.size("width", &m->head.width, 1, E, true) || !ho.boolean("bias", &m->head.bias) ||
        !read_init(ho, &m->head.init, e) || !ho.finish("model.head"))
      return false;
  }
  return o.finish("model");
}

bool read_optimizer(const json& v, OptimizerConfig* c, ConfigError* e) {
  Obj o(v, "optimizer", e);
  if (!o.is_object()) return false;
  std::size_t k = 0;
  const auto names = table_names(optimizer_tables());
  if (!o.choice("name", names, &k, true)) return false;
  const Table& t = optimizer_tables()[k];
  c->name = t.name;
  c->params.clear();
  if (!read_params(o, t, &c->params, e)) return false;
  if (o.has("decay")) {
    if (!o.choice("decay", {"weights_only", "all"}, &k)) return false;
    c->decay_weights_only = k == 0;
  } else {
    o.get("decay");
  }
  if (!o.finish("optimizer " + c->name)) return false;
  const Params& p = c->params;
  if ((c->name == "sgd" || c->name == "lars") && param(p, "nesterov") != 0 &&
      (param(p, "momentum") <= 0 || param(p, "dampening") != 0))
    return fail(e, "optimizer.nesterov", "true", "false unless momentum > 0 and dampening == 0");
  if (c->name == "lamb" && param(p, "eps") == 0 && param(p, "eps_root") == 0)
    return fail(e, "optimizer.eps", "0", "> 0 when eps_root is 0");
  if (c->name == "adafactor" && param(p, "relative_step") != 0 && param(p, "lr") != 0)
    return fail(e, "optimizer.lr", num(param(p, "lr")), "0 when relative_step is true");
  if (c->name == "adafactor" && param(p, "warmup_init") != 0 && param(p, "relative_step") == 0)
    return fail(e, "optimizer.warmup_init", "true", "false unless relative_step is true");
  return true;
}

bool read_phase(Obj& o, const char* default_kind, SchedulePhaseConfig* p, ConfigError* e) {
  std::size_t k = 0;
  const auto names = table_names(schedule_tables());
  p->kind = default_kind;
  if (o.has("kind")) {
    if (!o.choice("kind", names, &k)) return false;
    p->kind = names[k];
  } else {
    o.get("kind");
  }
  const Table& t = *find_table(schedule_tables(), p->kind);
  p->params.clear();
  p->milestones.clear();
  if (!read_params(o, t, &p->params, e)) return false;
  if (p->kind == "multi_step") {
    const json* m = o.get("milestones", true);
    if (m == nullptr) return false;
    const std::string path = o.sub("milestones");
    if (!m->is_array() || m->empty() || m->size() > optim::Schedule::kMaxMilestones)
      return fail(e, path, show(*m), "an array of 1 to 16 strictly increasing step counts");
    for (std::size_t i = 0; i < m->size(); ++i) {
      std::uint64_t x = 0;
      if (!read_uint((*m)[i], path + "[" + std::to_string(i) + "]", 0, kMaxCount, &x, e)) return false;
      if (!p->milestones.empty() && x <= p->milestones.back())
        return fail(e, path + "[" + std::to_string(i) + "]", std::to_string(x),
                    "> the previous milestone (" + std::to_string(p->milestones.back()) + ")");
      p->milestones.push_back(static_cast<std::size_t>(x));
    }
  }
  if (p->kind == "one_cycle") {
    if (o.has("anneal")) {
      if (!o.choice("anneal", {"cos", "linear"}, &k)) return false;
      p->anneal = k == 0 ? "cos" : "linear";
    } else {
      o.get("anneal");
    }
  }
  return true;
}

void write_phase(json& j, const SchedulePhaseConfig& p) {
  j["kind"] = p.kind;
  write_params(j, *find_table(schedule_tables(), p.kind), p.params);
  if (p.kind == "multi_step") j["milestones"] = p.milestones;
  if (p.kind == "one_cycle") j["anneal"] = p.anneal;
}

bool schedule_from(const ScheduleConfig& c, optim::SequentialSchedule* out, ConfigError* e);
bool make_schedule_phase(const SchedulePhaseConfig& p, optim::Schedule* out);

bool read_schedule(const json& v, ScheduleConfig* c, ConfigError* e) {
  Obj o(v, "schedule", e);
  if (!o.is_object() || !read_phase(o, "constant", &c->main, e)) return false;
  c->has_warmup = false;
  if (const json* w = o.get("warmup")) {
    Obj wo(*w, "schedule.warmup", e);
    if (!wo.is_object()) return false;
    c->has_warmup = true;
    if (!wo.size("steps", &c->warmup_steps, 1, kMaxCount, true)) return false;
    // A linear warmup spans the warmup by default.
    const bool linear_default = !wo.has("kind") || (wo.get("kind")->is_string() && wo.get("kind")->get_ref<const std::string&>() == "linear");
    if (!read_phase(wo, "linear", &c->warmup, e)) return false;
    if (linear_default && !wo.has("total_iters")) c->warmup.params["total_iters"] = static_cast<double>(c->warmup_steps);
    if (!wo.finish("schedule.warmup")) return false;
  }
  if (!o.finish("schedule " + c->main.kind)) return false;
  optim::SequentialSchedule s;
  return schedule_from(*c, &s, e);
}

bool read_clip(const json& v, ClipConfig* c, ConfigError* e) {
  Obj o(v, "clip", e);
  if (!o.is_object()) return false;
  std::size_t k = 0;
  if (!o.choice("kind", kClipKinds, &k, true)) return false;
  c->kind = kClipKinds[k];
  if (c->kind == "norm") {
    if (!o.real("max_norm", &c->max_norm, 0, kInf, true, true, true)) return false;
    if (o.has("norm")) {
      if (!o.choice("norm", kNormNames, &k)) return false;
      c->norm = kNormNames[k];
    } else {
      o.get("norm");
    }
  } else if (c->kind == "value") {
    if (!o.real("clip_value", &c->clip_value, 0, kInf, true, true, true)) return false;
  } else if (c->kind == "agc") {
    if (!o.real("clipping", &c->clipping, 0, kInf, true, true) || !o.real("eps", &c->eps, 0, kInf, true, true)) return false;
  }
  return o.finish("clip " + c->kind);
}

bool read_training(const json& v, TrainingConfig* c, ConfigError* e) {
  Obj o(v, "training", e);
  if (!o.is_object()) return false;
  if (!o.u64("steps", &c->steps, 1, kMaxCount) || !o.size("batch_size", &c->batch_size, 1, kMaxExtent) ||
      !o.u64("seed", &c->seed, 0, std::numeric_limits<std::uint64_t>::max()) ||
      !o.u64("eval_every", &c->eval_every, 0, kMaxCount))
    return false;
  // null: no divergence check (an infinite factor, which JSON has no number for).
  if (const json* d = o.get("divergence_factor")) {
    const double x = d->is_number() ? d->get<double>() : 0;
    if (d->is_null()) c->divergence_factor = kInf;
    else if (std::isfinite(x) && x > 1) c->divergence_factor = x;
    else return fail(e, o.sub("divergence_factor"), show(*d), "a finite number in (1, inf), or null (no divergence check)");
  }
  std::size_t policy = c->nonfinite == "skip" ? 1 : 0;
  if (!o.choice("nonfinite", kNonfiniteNames, &policy)) return false;
  c->nonfinite = kNonfiniteNames[policy];
  if (const json* m = o.get("monitor")) {
    Obj mo(*m, "training.monitor", e);
    if (!mo.is_object() || !mo.size("every", &c->monitor.every, 1, kMaxCount)) return false;
    c->monitor.estimators.clear();
    if (const json* es = mo.get("estimators")) {
      const std::string path = "training.monitor.estimators";
      if (!es->is_array() || es->size() > kEstimatorNames.size())
        return fail(e, path, show(*es), "an array of estimator names: " + join(kEstimatorNames));
      for (std::size_t i = 0; i < es->size(); ++i) {
        std::size_t k = 0;
        if (!Obj::choose((*es)[i], path + "[" + std::to_string(i) + "]", kEstimatorNames, &k, e)) return false;
        c->monitor.estimators.push_back(kEstimatorNames[k]);
      }
    }
    if (!mo.finish("training.monitor")) return false;
  }
  return o.finish("training");
}

bool read_dataset(const json& v, DatasetConfig* c, ConfigError* e) {
  Obj o(v, "dataset", e);
  if (!o.is_object()) return false;
  std::size_t k = 0;
  if (!o.choice("name", table_names(dataset_tables()), &k, true)) return false;
  const Table& t = dataset_tables()[k];
  c->name = t.name;
  c->params.clear();
  return read_params(o, t, &c->params, e) && o.finish("dataset " + c->name);
}

// The deepest nesting of arrays and objects in the text (strings skipped), without parsing it.
std::size_t nesting_depth(const std::string& text) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escape = false;
  for (char ch : text) {
    if (in_string) {
      if (escape) escape = false;
      else if (ch == '\\') escape = true;
      else if (ch == '"') in_string = false;
      continue;
    }
    if (ch == '"') in_string = true;
    else if (ch == '[' || ch == '{') deepest = ++depth > deepest ? depth : deepest;
    else if ((ch == ']' || ch == '}') && depth > 0) --depth;
  }
  return deepest;
}

// Finds where JSON text stops being well-formed (nlohmann's SAX interface reports the byte and the
// last token read without throwing).
class ErrorLocator : public nlohmann::json_sax<json> {
 public:
  std::size_t position = 0;
  std::string token;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t pos, const std::string& last, const nlohmann::detail::exception&) override {
    position = pos;
    token = last;
    return false;
  }
};

std::string printable(std::string s) {
  if (s.size() > 40) s = s.substr(0, 40) + "...";
  for (char& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) ch = '?';
  return s;
}

bool same_params(const Params& a, const Params& b) { return a == b; }

bool same_phase(const SchedulePhaseConfig& a, const SchedulePhaseConfig& b) {
  return a.kind == b.kind && same_params(a.params, b.params) && a.milestones == b.milestones && a.anneal == b.anneal;
}

}  // namespace

// ---- public

std::string ConfigError::message() const {
  if (ok()) return "ok";
  return path + " = " + value + ": expected " + allowed;
}

const char* layer_type_name(LayerType t) noexcept {
  switch (t) {
    case LayerType::linear: return "linear";
    case LayerType::activation: return "activation";
    case LayerType::softmax: return "softmax";
    case LayerType::log_softmax: return "log_softmax";
    case LayerType::layer_norm: return "layer_norm";
    case LayerType::rms_norm: return "rms_norm";
    case LayerType::center_norm: return "center_norm";
    case LayerType::batch_norm: return "batch_norm";
    case LayerType::group_norm: return "group_norm";
    case LayerType::instance_norm: return "instance_norm";
    case LayerType::conv2d: return "conv2d";
    case LayerType::embedding: return "embedding";
    case LayerType::attention: return "attention";
    case LayerType::residual: return "residual";
    case LayerType::feed_forward: return "feed_forward";
    case LayerType::transformer_block: return "transformer_block";
    case LayerType::flatten: return "flatten";
  }
  return "unknown";
}

nn::Shape ModelConfig::input_shape() const noexcept {
  switch (input) {
    case InputKind::features: return nn::Shape::vec(features);
    case InputKind::tokens: return nn::Shape::vec(tokens);
    case InputKind::image: return nn::Shape::image(channels, height, width);
  }
  return nn::Shape();
}

double OptimizerConfig::lr() const noexcept { return param(params, "lr"); }

bool operator==(const LayerConfig& a, const LayerConfig& b) noexcept {
  const auto& x = a.attention;
  const auto& y = b.attention;
  const bool attention_same = x.heads == y.heads && x.variant == y.variant && x.causal == y.causal && x.bias == y.bias &&
                              (a.has_scale ? x.scale == y.scale : true) && x.temperature == y.temperature &&
                              x.learnable_temperature == y.learnable_temperature && x.eps == y.eps &&
                              x.value_from_query == y.value_from_query && x.init.kind == y.init.kind &&
                              x.init.gain == y.init.gain && x.init.fan_out == y.init.fan_out;
  return a.type == b.type && a.width == b.width && a.bias == b.bias && a.init.kind == b.init.kind &&
         a.init.gain == b.init.gain && a.init.fan_out == b.init.fan_out && a.vocabulary == b.vocabulary &&
         a.max_tokens == b.max_tokens && a.hidden == b.hidden && a.channels == b.channels && a.kernel == b.kernel &&
         a.stride == b.stride && a.padding == b.padding && a.activation.kind == b.activation.kind &&
         a.activation.alpha == b.activation.alpha && a.activation.beta == b.activation.beta &&
         a.temperature == b.temperature && a.eps == b.eps && a.affine == b.affine && a.groups == b.groups &&
         a.momentum == b.momentum && attention_same && a.has_scale == b.has_scale && a.residual == b.residual &&
         a.alpha_init == b.alpha_init && a.branch == b.branch && a.placement == b.placement && a.norm == b.norm;
}

bool operator==(const ExperimentConfig& a, const ExperimentConfig& b) noexcept {
  const ModelConfig &m = a.model, &n = b.model;
  const bool model = m.input == n.input && m.features == n.features && m.tokens == n.tokens &&
                     m.vocabulary == n.vocabulary && m.channels == n.channels && m.height == n.height &&
                     m.width == n.width && m.layers == n.layers && m.has_head == n.has_head &&
                     (!m.has_head || m.head == n.head);
  const bool optimizer = a.optimizer.name == b.optimizer.name && same_params(a.optimizer.params, b.optimizer.params) &&
                         a.optimizer.decay_weights_only == b.optimizer.decay_weights_only;
  const bool schedule = same_phase(a.schedule.main, b.schedule.main) && a.schedule.has_warmup == b.schedule.has_warmup &&
                        (!a.schedule.has_warmup ||
                         (a.schedule.warmup_steps == b.schedule.warmup_steps && same_phase(a.schedule.warmup, b.schedule.warmup)));
  const ClipConfig &c = a.clip, &d = b.clip;
  const bool clip = c.kind == d.kind && c.max_norm == d.max_norm && c.norm == d.norm && c.clip_value == d.clip_value &&
                    c.clipping == d.clipping && c.eps == d.eps;
  const TrainingConfig &t = a.training, &u = b.training;
  const bool training = t.steps == u.steps && t.batch_size == u.batch_size && t.seed == u.seed &&
                        t.eval_every == u.eval_every && t.divergence_factor == u.divergence_factor && t.nonfinite == u.nonfinite &&
                        t.monitor.every == u.monitor.every && t.monitor.estimators == u.monitor.estimators;
  const bool dataset = a.dataset.name == b.dataset.name && same_params(a.dataset.params, b.dataset.params);
  return model && optimizer && schedule && clip && training && dataset && a.memory_cap_bytes == b.memory_cap_bytes;
}

namespace {

bool make_schedule_phase(const SchedulePhaseConfig& p, optim::Schedule* out) {
  const Params& q = p.params;
  auto z = [&](const char* n) { return static_cast<std::size_t>(param(q, n)); };
  optim::Schedule s;
  if (p.kind == "constant") s = optim::Schedule::constant_lr(param(q, "factor"), z("total_iters"));
  else if (p.kind == "step") s = optim::Schedule::step_lr(z("step_size"), param(q, "gamma"));
  else if (p.kind == "multi_step") s = optim::Schedule::multi_step_lr(p.milestones.data(), p.milestones.size(), param(q, "gamma"));
  else if (p.kind == "exponential") s = optim::Schedule::exponential_lr(param(q, "gamma"));
  else if (p.kind == "linear") s = optim::Schedule::linear_lr(param(q, "start_factor"), param(q, "end_factor"), z("total_iters"));
  else if (p.kind == "cosine") s = optim::Schedule::cosine_annealing_lr(z("t_max"), param(q, "eta_min"));
  else if (p.kind == "warmup_cosine")
    s = optim::Schedule::warmup_cosine_decay(z("warmup_steps"), z("decay_steps"), param(q, "init_factor"),
                                             param(q, "end_factor"), param(q, "exponent"));
  else if (p.kind == "inverse_sqrt") s = optim::Schedule::inverse_sqrt(z("warmup_steps"));
  else if (p.kind == "one_cycle")
    s = optim::Schedule::one_cycle(z("total_steps"), param(q, "pct_start"),
                                   p.anneal == "linear" ? optim::Anneal::linear : optim::Anneal::cos,
                                   param(q, "div_factor"), param(q, "final_div_factor"), param(q, "three_phase") != 0);
  else return false;
  *out = s;
  return true;
}

bool schedule_from(const ScheduleConfig& c, optim::SequentialSchedule* out, ConfigError* e) {
  char buf[160];
  optim::Schedule main, warm;
  if (!make_schedule_phase(c.main, &main)) return fail(e, "schedule.kind", c.main.kind, "a known schedule");
  Status st = main.validate();
  if (!st.ok()) return fail(e, "schedule", c.main.kind, std::string("valid parameters (") + st.message(buf, sizeof buf) + ")");
  optim::SequentialSchedule s;
  if (c.has_warmup) {
    if (!make_schedule_phase(c.warmup, &warm)) return fail(e, "schedule.warmup.kind", c.warmup.kind, "a known schedule");
    st = optim::SequentialSchedule::warmup_then(warm, c.warmup_steps, main, &s);
    if (!st.ok())
      return fail(e, "schedule.warmup", c.warmup.kind, std::string("valid parameters (") + st.message(buf, sizeof buf) + ")");
  } else {
    st = s.add(main, 0);
    if (!st.ok()) return fail(e, "schedule", c.main.kind, std::string("valid parameters (") + st.message(buf, sizeof buf) + ")");
  }
  *out = s;
  return true;
}

}  // namespace

ConfigError make_schedule(const ScheduleConfig& config, optim::SequentialSchedule* out) {
  ConfigError e;
  if (out == nullptr) fail(&e, "schedule", "null", "an output");
  else schedule_from(config, out, &e);
  return e;
}

ConfigError parse_config(const std::string& text, ExperimentConfig* out) {
  ConfigError e;
  if (out == nullptr) {
    fail(&e, "(config)", "null", "a config to write");
    return e;
  }
  if (text.size() > kMaxConfigText) {
    fail(&e, "(config)", std::to_string(text.size()) + " bytes", "at most " + std::to_string(kMaxConfigText) + " bytes");
    return e;
  }
  const std::size_t depth = nesting_depth(text);
  if (depth > kMaxJsonDepth) {
    fail(&e, "(config)", "nesting depth " + std::to_string(depth), "at most " + std::to_string(kMaxJsonDepth));
    return e;
  }
  const json root = json::parse(text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/false);
  if (root.is_discarded()) {
    ErrorLocator where;
    json::sax_parse(text, &where, nlohmann::detail::input_format_t::json, /*strict=*/true, /*ignore_comments=*/false);
    fail(&e, "(config)", "\"" + printable(text) + "\" (byte " + std::to_string(where.position) + ", near '" +
         printable(where.token) + "')", "well-formed JSON text");
    return e;
  }
  ExperimentConfig c;
  Obj o(root, "", &e);
  if (!o.is_object()) return e;
  const json* m = o.get("model", true);
  if (m == nullptr || !read_model(*m, &c.model, &e)) return e;
  if (const json* v = o.get("optimizer"))
    if (!read_optimizer(*v, &c.optimizer, &e)) return e;
  if (c.optimizer.params.empty()) {  // defaults of the default optimizer
    const Table& t = *find_table(optimizer_tables(), c.optimizer.name);
    for (const PSpec& s : t.specs) c.optimizer.params[s.name] = s.def;
  }
  if (const json* v = o.get("schedule")) {
    if (!read_schedule(*v, &c.schedule, &e)) return e;
  } else {
    c.schedule.main.params = {{"factor", 1.0}, {"total_iters", 0.0}};
  }
  if (const json* v = o.get("clip"))
    if (!read_clip(*v, &c.clip, &e)) return e;
  if (const json* v = o.get("training"))
    if (!read_training(*v, &c.training, &e)) return e;
  const json* d = o.get("dataset", true);
  if (d == nullptr || !read_dataset(*d, &c.dataset, &e)) return e;
  if (!o.u64("memory_cap_bytes", &c.memory_cap_bytes, 1, kMaxCount)) return e;
  if (!o.finish("the config")) return e;
  *out = std::move(c);
  return e;
}

std::string to_json_text(const ExperimentConfig& c) {
  json root = json::object();
  json model = json::object();
  json input = json::object();
  const ModelConfig& m = c.model;
  if (m.input == InputKind::features) {
    input["features"] = m.features;
  } else if (m.input == InputKind::tokens) {
    input["tokens"] = m.tokens;
    input["vocabulary"] = m.vocabulary;
  } else {
    input["channels"] = m.channels;
    input["height"] = m.height;
    input["width"] = m.width;
  }
  model["input"] = input;
  model["layers"] = write_layers(m.layers);
  if (m.has_head) {
    json h = json::object();
    h["width"] = m.head.width;
    h["bias"] = m.head.bias;
    h["init"] = write_init(m.head.init);
    model["head"] = h;
  }
  root["model"] = model;

  json opt = json::object();
  opt["name"] = c.optimizer.name;
  if (const Table* t = find_table(optimizer_tables(), c.optimizer.name)) write_params(opt, *t, c.optimizer.params);
  opt["decay"] = c.optimizer.decay_weights_only ? "weights_only" : "all";
  root["optimizer"] = opt;

  json sched = json::object();
  write_phase(sched, c.schedule.main);
  if (c.schedule.has_warmup) {
    json w = json::object();
    w["steps"] = c.schedule.warmup_steps;
    write_phase(w, c.schedule.warmup);
    sched["warmup"] = w;
  }
  root["schedule"] = sched;

  json clip = json::object();
  clip["kind"] = c.clip.kind;
  if (c.clip.kind == "norm") {
    clip["max_norm"] = c.clip.max_norm;
    clip["norm"] = c.clip.norm;
  } else if (c.clip.kind == "value") {
    clip["clip_value"] = c.clip.clip_value;
  } else if (c.clip.kind == "agc") {
    clip["clipping"] = c.clip.clipping;
    clip["eps"] = c.clip.eps;
  }
  root["clip"] = clip;

  json tr = json::object();
  tr["steps"] = c.training.steps;
  tr["batch_size"] = c.training.batch_size;
  tr["seed"] = c.training.seed;
  tr["eval_every"] = c.training.eval_every;
  if (std::isinf(c.training.divergence_factor)) tr["divergence_factor"] = nullptr;  // no divergence check
  else tr["divergence_factor"] = c.training.divergence_factor;
  tr["nonfinite"] = c.training.nonfinite;
  json mon = json::object();
  mon["every"] = c.training.monitor.every;
  mon["estimators"] = c.training.monitor.estimators;
  tr["monitor"] = mon;
  root["training"] = tr;

  json ds = json::object();
  ds["name"] = c.dataset.name;
  if (const Table* t = find_table(dataset_tables(), c.dataset.name)) write_params(ds, *t, c.dataset.params);
  root["dataset"] = ds;
  root["memory_cap_bytes"] = c.memory_cap_bytes;
  return root.dump(2, ' ', false, json::error_handler_t::replace);
}

static_assert(kMonitorLowerBound == 1u << analysis::kMonitorExtensionBit, "the lower bound is extension 0");

std::uint32_t monitor_estimator_bits(const MonitorConfig& monitor) noexcept {
  if (monitor.estimators.empty()) return analysis::kMonitorAll;
  static const std::uint32_t bits[] = {analysis::kMonitorGradientNorms,   analysis::kMonitorUpdateRatios,
                                       analysis::kMonitorFlags,           analysis::kMonitorNormInputStd,
                                       analysis::kMonitorAttentionEntropy, analysis::kMonitorJacobianProducts,
                                       analysis::kMonitorLipschitz,       kMonitorLowerBound};
  std::uint32_t out = 0;
  for (const std::string& n : monitor.estimators)
    for (std::size_t i = 0; i < kEstimatorNames.size(); ++i)
      if (n == kEstimatorNames[i]) out |= bits[i];
  return out;
}

}  // namespace lab
}  // namespace lipflow
