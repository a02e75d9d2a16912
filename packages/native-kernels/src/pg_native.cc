// oneDNN f32 convolutions (forward, backward-data, backward-weights) for TensorFlow.js's wasm backend.
//
// Why this is hand-written: tfjs-node (TensorFlow's own native kernels) cannot install on the machines pg
// targets, and tfjs-wasm's convolutions (single-threaded XNNPACK forward, a plain loop for the input
// gradient, none for the filter gradient) dominate pg's run and training time. This addon gives the wasm
// backend oneDNN's convolutions (the library PyTorch uses for its CPU convs): it reads and writes tensors in
// place in the wasm heap (a Uint8Array over the wasm Memory, with byte offsets), so no data is copied.
//
// Layouts: activations NHWC; filters [kh, kw, cin / groups, cout] (tfjs HWIO; a depthwise filter
// [kh, kw, c, multiplier] is the groups == c case, output channel c * multiplier + m). Only f32, direct
// algorithm, default (strict) fp math: sums of integers below 2^24 stay exact in any order.
//
// Threads: oneDNN here is the OpenMP build. omp_set_num_threads sets the calling OS thread's team size, and
// each Node worker thread is its own OS thread, so setThreads is per JS thread; primitives and their cache
// are thread_local too (a primitive is created for one thread count).
#define NAPI_VERSION 8
#include <node_api.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnnl.hpp"

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

// Convolution parameters, in the order the JS side packs them (an Int32Array of P_COUNT).
enum Param {
  P_N, P_H, P_W, P_CIN, P_OH, P_OW, P_COUT, P_KH, P_KW, P_GROUPS,
  P_SH, P_SW, P_DH, P_DW, P_PT, P_PB, P_PL, P_PR, P_ACT, P_HAS_BIAS, P_WEIGHT_LAYOUT, P_COUNT
};
enum Activation { ACT_LINEAR = 0, ACT_RELU = 1, ACT_RELU6 = 2 };
// Filter layouts: tfjs [kh, kw, cin / groups, cout], ONNX [cout, cin / groups, kh, kw].
enum WeightLayout { W_HWIO = 0, W_OIHW = 1 };
enum Kind { K_FWD = 0, K_BWD_DATA = 1, K_BWD_WEIGHTS = 2 };

// Weights already in a primitive's layout, with the user-layout bytes they came from. Inference runs the
// same weights again and again, and oneDNN's reorder of a tfjs-layout filter is a sizeable part of a
// conv's time (docs/native-kernels.md); a hit is decided by comparing all the bytes (memcmp), so a reuse is
// always exact.
struct CachedWeights {
  std::vector<uint8_t> user;
  memory prim;
};

struct Conv {
  memory::desc src, wei, dst, bias;  // user-side descs (NHWC, tfjs filter layout)
  memory::desc pwei;                 // the primitive's weights layout
  // The primitive's activation layouts: oneDNN's channel-blocked layout (nChw8c with AVX2) when `blocked`,
  // else the user's NHWC descs. See blockedActivations().
  memory::desc psrc, pdst;
  bool blocked = false;
  std::string impl;  // oneDNN's implementation name, e.g. "brgconv:avx512_core" or "ref:any"
  reorder srcIn, srcOut, dstIn, dstOut;  // user <-> primitive activations, the ones this kind needs
  primitive prim;
  bool weightsReorder = false;
  reorder toPrim, fromPrim;         // user -> primitive weights (fwd, bwd data); primitive -> user (bwd weights)
  std::vector<CachedWeights> weights;  // forward / backward-data only
};

// A growable 64-byte-aligned buffer: where blocked activations live during one call.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(data_); }
  void* get(size_t bytes) {
    if (bytes > size_) {
      std::free(data_);
      size_ = (bytes + 63) / 64 * 64;
      data_ = std::aligned_alloc(64, size_);
      if (!data_) {
        size_ = 0;
        throw std::bad_alloc();
      }
    }
    return data_;
  }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

struct ThreadState {
  engine eng{engine::kind::cpu, 0};
  stream strm{eng};
  int threads = 0;  // 0: OpenMP's default
  std::unordered_map<std::string, std::unique_ptr<Conv>> cache;
  size_t weightBytes = 0;
  Scratch srcSide, dstSide;  // blocked src / dst (or diff_src / diff_dst) of the running call
};

// Bound on the reordered-weights cache per thread (user copy + reordered copy); cleared when exceeded.
constexpr size_t WEIGHT_CACHE_BYTES = size_t(256) << 20;

thread_local std::unique_ptr<ThreadState> state;

ThreadState& st() {
  if (!state) state.reset(new ThreadState());
  return *state;
}

memory::desc userWeights(const int* p) {
  const memory::dim g = p[P_GROUPS], kh = p[P_KH], kw = p[P_KW], cout = p[P_COUT];
  const memory::dim icg = p[P_CIN] / g, ocg = cout / g;
  if (p[P_WEIGHT_LAYOUT] == W_OIHW) {
    if (g == 1) return memory::desc({cout, icg, kh, kw}, dt::f32, tag::oihw);
    return memory::desc({g, ocg, icg, kh, kw}, dt::f32, tag::goihw);
  }
  // [kh][kw][icg][g * ocg + o] described by strides, so no JS-side transpose is needed.
  if (g == 1) return memory::desc({cout, icg, kh, kw}, dt::f32, memory::dims{1, cout, kw * icg * cout, icg * cout});
  return memory::desc({g, ocg, icg, kh, kw}, dt::f32, memory::dims{ocg, 1, cout, kw * icg * cout, icg * cout});
}

memory::dims weightDims(const int* p) {
  const memory::dim g = p[P_GROUPS];
  if (g == 1) return {p[P_COUT], p[P_CIN], p[P_KH], p[P_KW]};
  return {g, p[P_COUT] / g, p[P_CIN] / g, p[P_KH], p[P_KW]};
}

// Whether the primitive may run on oneDNN's channel-blocked activation layout instead of NHWC. oneDNN's
// AVX2 convolutions on nChw8c run faster than on NHWC for 3x3 convs with 64-128 channels (forward,
// backward-data and backward-weights alike), by far more than the two reorders per call cost
// (docs/native-kernels.md). Only plain spatial convs whose channels fill whole blocks: 1x1 convs are
// already fast on NHWC (a GEMM) and grouped/depthwise convs are memory-bound, so the reorders would cost
// more than they save (MobileNetV2's inference is slower with its 1x1 convs blocked), and
// a 3-channel stem would be padded to 8. PG_NATIVE_BLOCKED=0 keeps NHWC
// everywhere (read when a primitive is made, so a benchmark can compare both in one process). Results stay
// deterministic for a given thread count.
bool blockedActivations(const int* p) {
  const char* e = std::getenv("PG_NATIVE_BLOCKED");
  const bool enabled = !(e && std::strcmp(e, "0") == 0);
  return enabled && p[P_GROUPS] == 1 && p[P_KH] * p[P_KW] > 1 && p[P_CIN] % 8 == 0 && p[P_COUT] % 8 == 0;
}

// oneDNN's reference implementations ("ref:any") are plain loops, far slower than its JIT kernels.
bool isReference(const std::string& impl) { return impl.rfind("ref", 0) == 0; }

// The primitive of one kind for the parameters p, on oneDNN's preferred activation layout when mayBlock.
std::unique_ptr<Conv> makeConv(ThreadState& s, int kind, const int* p, bool mayBlock) {
  auto c = std::make_unique<Conv>();
  c->src = memory::desc({p[P_N], p[P_CIN], p[P_H], p[P_W]}, dt::f32, tag::nhwc);
  c->dst = memory::desc({p[P_N], p[P_COUT], p[P_OH], p[P_OW]}, dt::f32, tag::nhwc);
  c->wei = userWeights(p);
  // With tag::any oneDNN picks its preferred activation layout; the backward passes take the forward's.
  const memory::desc anySrc({p[P_N], p[P_CIN], p[P_H], p[P_W]}, dt::f32, tag::any);
  const memory::desc anyDst({p[P_N], p[P_COUT], p[P_OH], p[P_OW]}, dt::f32, tag::any);
  const bool hasBias = p[P_HAS_BIAS] != 0;
  c->bias = hasBias ? memory::desc({p[P_COUT]}, dt::f32, tag::a) : memory::desc();
  memory::desc anyWei(weightDims(p), dt::f32, tag::any);
  const memory::dims strides{p[P_SH], p[P_SW]}, dil{p[P_DH] - 1, p[P_DW] - 1};
  const memory::dims padL{p[P_PT], p[P_PL]}, padR{p[P_PB], p[P_PR]};

  primitive_attr attr;
  if (kind == K_FWD && p[P_ACT] != ACT_LINEAR) {
    post_ops ops;
    if (p[P_ACT] == ACT_RELU) ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    else ops.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f);
    attr.set_post_ops(ops);
  }
  const prop_kind fwdKind = kind == K_FWD ? prop_kind::forward_inference : prop_kind::forward_training;
  const memory::desc& fSrc = mayBlock ? anySrc : c->src;
  const memory::desc& fDst = mayBlock ? anyDst : c->dst;
  auto fwdDesc = hasBias
      ? convolution_forward::desc(fwdKind, algorithm::convolution_direct, fSrc, anyWei,
                                  memory::desc({p[P_COUT]}, dt::f32, tag::a), fDst, strides, dil, padL, padR)
      : convolution_forward::desc(fwdKind, algorithm::convolution_direct, fSrc, anyWei, fDst, strides, dil,
                                  padL, padR);
  convolution_forward::primitive_desc fwd(fwdDesc, attr, s.eng);
  c->psrc = fwd.src_desc();
  c->pdst = fwd.dst_desc();
  c->blocked = c->psrc != c->src || c->pdst != c->dst;  // oneDNN may still have chosen NHWC
  if (kind == K_FWD) {
    c->pwei = fwd.weights_desc();
    c->prim = convolution_forward(fwd);
    c->impl = fwd.impl_info_str();
  } else if (kind == K_BWD_DATA) {
    convolution_backward_data::desc d(algorithm::convolution_direct, c->psrc, anyWei, c->pdst, strides, dil, padL,
                                      padR);
    convolution_backward_data::primitive_desc pd(d, s.eng, fwd);
    c->pwei = pd.weights_desc();
    c->prim = convolution_backward_data(pd);
    c->impl = pd.impl_info_str();
  } else {
    auto d = hasBias ? convolution_backward_weights::desc(algorithm::convolution_direct, c->psrc, anyWei, c->bias,
                                                           c->pdst, strides, dil, padL, padR)
                     : convolution_backward_weights::desc(algorithm::convolution_direct, c->psrc, anyWei, c->pdst,
                                                           strides, dil, padL, padR);
    convolution_backward_weights::primitive_desc pd(d, s.eng, fwd);
    c->pwei = pd.diff_weights_desc();
    c->prim = convolution_backward_weights(pd);
    c->impl = pd.impl_info_str();
  }
  if (c->blocked) {
    // Inputs are reordered in, outputs out: fwd src -> dst, bwd-data diff_dst -> diff_src, bwd-weights src, diff_dst.
    if (kind != K_BWD_DATA) c->srcIn = reorder(reorder::primitive_desc(s.eng, c->src, s.eng, c->psrc));
    if (kind == K_BWD_DATA) c->srcOut = reorder(reorder::primitive_desc(s.eng, c->psrc, s.eng, c->src));
    if (kind != K_FWD) c->dstIn = reorder(reorder::primitive_desc(s.eng, c->dst, s.eng, c->pdst));
    if (kind == K_FWD) c->dstOut = reorder(reorder::primitive_desc(s.eng, c->pdst, s.eng, c->dst));
  }
  c->weightsReorder = c->pwei != c->wei;
  if (c->weightsReorder) {
    if (kind == K_BWD_WEIGHTS) c->fromPrim = reorder(reorder::primitive_desc(s.eng, c->pwei, s.eng, c->wei));
    else c->toPrim = reorder(reorder::primitive_desc(s.eng, c->wei, s.eng, c->pwei));
  }
  return c;
}

Conv& get(int kind, const int* p) {
  ThreadState& s = st();
  std::string key(reinterpret_cast<const char*>(p), sizeof(int) * P_COUNT);
  key.push_back(static_cast<char>(kind));
  key.append(std::to_string(omp_get_max_threads()));
  const bool mayBlock = blockedActivations(p);
  key.push_back(mayBlock ? 'b' : 'n');
  auto it = s.cache.find(key);
  if (it != s.cache.end()) return *it->second;
  auto c = makeConv(s, kind, p, mayBlock);
  // The blocked layout oneDNN prefers for the forward pass may have no JIT backward kernel (AVX-512's
  // nChw16c with 8 channels): its backward passes then fall to the reference loops, so keep NHWC.
  if (mayBlock && isReference(c->impl)) c = makeConv(s, kind, p, false);
  Conv& ref = *c;
  s.cache.emplace(std::move(key), std::move(c));
  return ref;
}

// ---- N-API plumbing -------------------------------------------------------------------------------------

bool check(napi_env env, napi_status status, const char* what) {
  if (status == napi_ok) return true;
  napi_throw_error(env, "PG_NATIVE_ARGS", what);
  return false;
}

// The heap's base pointer (a Uint8Array over the wasm Memory) and its length in bytes.
bool heapArg(napi_env env, napi_value v, uint8_t** base, size_t* len) {
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value buf;
  size_t off;
  if (!check(env, napi_get_typedarray_info(env, v, &type, &length, &data, &buf, &off), "heap must be a Uint8Array"))
    return false;
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, "PG_NATIVE_ARGS", "heap must be a Uint8Array");
    return false;
  }
  *base = static_cast<uint8_t*>(data);
  *len = length;
  return true;
}

bool paramsArg(napi_env env, napi_value v, int** p) {
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value buf;
  size_t off;
  if (!check(env, napi_get_typedarray_info(env, v, &type, &length, &data, &buf, &off), "params must be an Int32Array"))
    return false;
  if (type != napi_int32_array || length != P_COUNT) {
    napi_throw_type_error(env, "PG_NATIVE_ARGS", "params must be an Int32Array of the convolution's 21 parameters");
    return false;
  }
  *p = static_cast<int*>(data);
  return true;
}

// A byte offset into the heap, checked to hold `bytes`; -1 means absent (returns nullptr, ok).
bool offsetArg(napi_env env, napi_value v, uint8_t* base, size_t len, size_t bytes, float** out) {
  int64_t o;
  if (!check(env, napi_get_value_int64(env, v, &o), "offsets must be numbers")) return false;
  if (o < 0) {
    *out = nullptr;
    return true;
  }
  if (static_cast<size_t>(o) + bytes > len || (o & 3) != 0) {
    napi_throw_range_error(env, "PG_NATIVE_ARGS", "tensor offset out of the heap's bounds");
    return false;
  }
  *out = reinterpret_cast<float*>(base + o);
  return true;
}

bool validParams(napi_env env, const int* p) {
  for (int i = 0; i < P_COUNT; i++) {
    if (p[i] < 0 || (i <= P_GROUPS && p[i] == 0) || ((i >= P_SH && i <= P_DW) && p[i] < 1)) {
      napi_throw_range_error(env, "PG_NATIVE_ARGS", "invalid convolution parameters");
      return false;
    }
  }
  if (p[P_WEIGHT_LAYOUT] > W_OIHW || p[P_ACT] > ACT_RELU6) {
    napi_throw_range_error(env, "PG_NATIVE_ARGS", "invalid convolution parameters");
    return false;
  }
  if (p[P_CIN] % p[P_GROUPS] != 0 || p[P_COUT] % p[P_GROUPS] != 0) {
    napi_throw_range_error(env, "PG_NATIVE_ARGS", "channels must divide by groups");
    return false;
  }
  return true;
}

size_t srcBytes(const int* p) { return 4ull * p[P_N] * p[P_H] * p[P_W] * p[P_CIN]; }
size_t dstBytes(const int* p) { return 4ull * p[P_N] * p[P_OH] * p[P_OW] * p[P_COUT]; }
size_t weiBytes(const int* p) { return 4ull * p[P_KH] * p[P_KW] * (p[P_CIN] / p[P_GROUPS]) * p[P_COUT]; }

// Runs `f`, turning a oneDNN error into a JS exception.
template <typename F>
napi_value guarded(napi_env env, F f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    napi_throw_error(env, "PG_NATIVE_DNNL", e.what());
  } catch (const std::exception& e) {
    napi_throw_error(env, "PG_NATIVE", e.what());
  }
  return nullptr;
}

// The weights in the primitive's layout: a cached reorder when the same bytes were seen, else a new one.
memory primWeights(Conv& c, memory& user, const float* wUser) {
  ThreadState& s = st();
  const size_t bytes = c.wei.get_size();
  const uint8_t* u = reinterpret_cast<const uint8_t*>(wUser);
  for (auto& cw : c.weights)
    if (std::memcmp(cw.user.data(), u, bytes) == 0) return cw.prim;
  memory pw(c.pwei, s.eng);
  c.toPrim.execute(s.strm, user, pw);
  const size_t cost = bytes + c.pwei.get_size();
  if (s.weightBytes + cost > WEIGHT_CACHE_BYTES) {
    for (auto& e : s.cache) e.second->weights.clear();
    s.weightBytes = 0;
  }
  if (cost <= WEIGHT_CACHE_BYTES / 4) {
    // Training changes the weights every step: keep only the latest few per shape.
    if (c.weights.size() >= 8) {
      s.weightBytes -= cost;
      c.weights.erase(c.weights.begin());
    }
    c.weights.push_back(CachedWeights{std::vector<uint8_t>(u, u + bytes), pw});
    s.weightBytes += cost;
  }
  return pw;
}

// Executes the primitive on the user's NHWC tensors `srcSide` (src, or diff_src for backward-data) and
// `dstSide` (dst, or diff_dst); `wUser` is the user-layout weights (or diff weights for backward-weights),
// `bias` the bias (or diff bias), or nullptr. Blocked primitives work on scratch copies, reordered in and out.
void run(Conv& c, int kind, float* srcSide, float* dstSide, float* wUser, float* bias) {
  ThreadState& s = st();
  memory srcU(c.src, s.eng, srcSide), dstU(c.dst, s.eng, dstSide);
  memory srcP = srcU, dstP = dstU;
  if (c.blocked) {
    srcP = memory(c.psrc, s.eng, s.srcSide.get(c.psrc.get_size()));
    dstP = memory(c.pdst, s.eng, s.dstSide.get(c.pdst.get_size()));
    if (kind != K_BWD_DATA) c.srcIn.execute(s.strm, srcU, srcP);
    if (kind != K_FWD) c.dstIn.execute(s.strm, dstU, dstP);
  }
  std::unordered_map<int, memory> args;
  if (kind == K_FWD) {
    args = {{DNNL_ARG_SRC, srcP}, {DNNL_ARG_DST, dstP}};
    if (bias) args.insert({DNNL_ARG_BIAS, memory(c.bias, s.eng, bias)});
  } else if (kind == K_BWD_DATA) {
    args = {{DNNL_ARG_DIFF_DST, dstP}, {DNNL_ARG_DIFF_SRC, srcP}};
  } else {
    args = {{DNNL_ARG_SRC, srcP}, {DNNL_ARG_DIFF_DST, dstP}};
    if (bias) args.insert({DNNL_ARG_DIFF_BIAS, memory(c.bias, s.eng, bias)});
  }
  memory user(c.wei, s.eng, wUser);
  const int wArg = kind == K_BWD_WEIGHTS ? DNNL_ARG_DIFF_WEIGHTS : DNNL_ARG_WEIGHTS;
  if (!c.weightsReorder) {
    args.insert({wArg, user});
    c.prim.execute(s.strm, args);
  } else if (kind == K_BWD_WEIGHTS) {
    memory pw(c.pwei, s.eng);
    args.insert({wArg, pw});
    c.prim.execute(s.strm, args);
    c.fromPrim.execute(s.strm, pw, user);
  } else {
    args.insert({wArg, primWeights(c, user, wUser)});
    c.prim.execute(s.strm, args);
  }
  if (c.blocked && kind == K_FWD) c.dstOut.execute(s.strm, dstP, dstU);
  if (c.blocked && kind == K_BWD_DATA) c.srcOut.execute(s.strm, srcP, srcU);
  s.strm.wait();
}

// ---- Reading the kernels' arguments --------------------------------------------------------------------

// Element-wise parameters, in the order the JS side packs them (an Int32Array of E_COUNT).
enum EltParam { E_SIZE, E_SCALES, E_BITS, E_HBITS, E_CHANNELS, E_SPARSE, E_WANT_SUM, E_TAIL, E_COUNT };

// What the gate forward applies to its output (E_TAIL): nothing, a ReLU, or the residual Add (of the gate offset)
// and a ReLU: the nodes after a gated layer that training runs inside it (docs/native-kernels.md).
enum GateTail { TAIL_NONE, TAIL_RELU, TAIL_ADD_RELU };

bool eltParamsArg(napi_env env, napi_value v, int** p) {
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value buf;
  size_t off;
  if (!check(env, napi_get_typedarray_info(env, v, &type, &length, &data, &buf, &off), "params must be an Int32Array"))
    return false;
  if (type != napi_int32_array || length != E_COUNT) {
    napi_throw_type_error(env, "PG_NATIVE_ARGS", "params must be an Int32Array of the element-wise op's 8 parameters");
    return false;
  }
  int* e = static_cast<int*>(data);
  const bool ok = e[E_SIZE] > 0 && e[E_SCALES] > 0 && e[E_SIZE] % e[E_SCALES] == 0 && e[E_BITS] >= 1 && e[E_BITS] <= 16 &&
                  e[E_HBITS] >= 0 && e[E_HBITS] <= e[E_BITS] && e[E_CHANNELS] > 0 && e[E_SIZE] % e[E_CHANNELS] == 0 &&
                  e[E_TAIL] >= TAIL_NONE && e[E_TAIL] <= TAIL_ADD_RELU;
  if (!ok) {
    napi_throw_range_error(env, "PG_NATIVE_ARGS", "invalid element-wise parameters");
    return false;
  }
  *p = e;
  return true;
}

// Pooling parameters (the convolution's layout; see PgMaxPool): positive sizes and strides, pads >= 0, and an
// input whose flat indices fit the int32 arg tensor.
bool poolParamsArg(napi_env env, napi_value v, int** p) {
  if (!paramsArg(env, v, p)) return false;
  const int* q = *p;
  const bool ok = q[P_N] > 0 && q[P_H] > 0 && q[P_W] > 0 && q[P_CIN] > 0 && q[P_OH] > 0 && q[P_OW] > 0 && q[P_KH] > 0 &&
                  q[P_KW] > 0 && q[P_SH] > 0 && q[P_SW] > 0 && q[P_PT] >= 0 && q[P_PL] >= 0 &&
                  static_cast<int64_t>(q[P_N]) * q[P_H] * q[P_W] * q[P_CIN] < (1ll << 31);
  if (!ok) napi_throw_range_error(env, "PG_NATIVE_ARGS", "invalid pooling parameters");
  return ok;
}

// LSTM parameters (an Int32Array of L_COUNT): steps T, batch N, hidden H, and 1 for the reverse direction.
enum LstmParam { L_STEPS, L_BATCH, L_HIDDEN, L_REVERSE, L_COUNT };

bool lstmParamsArg(napi_env env, napi_value v, int** p) {
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value buf;
  size_t off;
  if (!check(env, napi_get_typedarray_info(env, v, &type, &length, &data, &buf, &off), "params must be an Int32Array")) return false;
  int* q = static_cast<int*>(data);
  if (type != napi_int32_array || length != L_COUNT || q[L_STEPS] < 1 || q[L_BATCH] < 1 || q[L_HIDDEN] < 1 || (q[L_REVERSE] != 0 && q[L_REVERSE] != 1)) {
    napi_throw_range_error(env, "PG_NATIVE_ARGS", "invalid LSTM parameters");
    return false;
  }
  *p = q;
  return true;
}

// One call's arguments, read by index in the order a kernel states them: the heap (argument 0) on
// construction, then its parameters, scalars and tensors. Each read checks its argument and throws its
// PG_NATIVE_ARGS error, so the first bad argument in that order decides the error. Once a read has failed
// (a JS exception is pending) the later ones call no N-API and give null tensors, zero numbers and zero
// parameters, so a kernel reads everything it needs, then asks complete() once before it touches a tensor.
// A call with another argument count does nothing and throws nothing, as the kernels always did.
// A Float32Array's elements (any backing buffer, SharedArrayBuffer included).
bool floatArrayArg(napi_env env, napi_value v, float** data, size_t* length, const char* what) {
  napi_typedarray_type type;
  void* d;
  napi_value buf;
  size_t off;
  if (!check(env, napi_get_typedarray_info(env, v, &type, length, &d, &buf, &off), what)) return false;
  if (type != napi_float32_array) {
    napi_throw_type_error(env, "PG_NATIVE_ARGS", what);
    return false;
  }
  *data = static_cast<float*>(d);
  return true;
}

class KernelArgs {
 public:
  KernelArgs(napi_env env, napi_callback_info info, size_t count, bool withHeap = true) : env_(env) {
    size_t argc = MAX_ARGS;
    napi_get_cb_info(env, info, &argc, argv_, nullptr, nullptr);
    ok_ = argc == count && count <= MAX_ARGS && (!withHeap || heapArg(env, argv_[0], &base_, &len_));
  }

  // A convolution's parameters, checked (validParams).
  const int* convParams(size_t i) {
    const int* p = read(paramsArg, i);
    if (ok_) ok_ = validParams(env_, p);
    return ok_ ? p : NO_PARAMS;
  }
  const int* eltParams(size_t i) { return read(eltParamsArg, i); }
  const int* lstmParams(size_t i) { return read(lstmParamsArg, i); }
  const int* poolParams(size_t i) { return read(poolParamsArg, i); }

  // A number argument; `what` is the error message if it is not one.
  double number(size_t i, const char* what) { return scalar(napi_get_value_double, i, what); }
  int64_t int64(size_t i, const char* what) { return scalar(napi_get_value_int64, i, what); }
  int32_t int32(size_t i, const char* what) { return scalar(napi_get_value_int32, i, what); }

  // A tensor of `count` 4-byte elements at the byte offset in argument i, checked to lie in the heap; an
  // offset of -1 (absent) returns null and makes complete() fail. optional(): absent is allowed.
  template <typename T = float>
  T* tensor(size_t i, size_t count) {
    T* t = optional<T>(i, count);
    missing_ = missing_ || (ok_ && !t);
    return t;
  }
  template <typename T = float>
  T* optional(size_t i, size_t count) {
    static_assert(sizeof(T) == 4, "offsetArg checks a 4-byte alignment");
    float* t = nullptr;
    if (ok_) ok_ = offsetArg(env_, argv_[i], base_, len_, sizeof(T) * count, &t);
    return reinterpret_cast<T*>(t);
  }

  // Every read succeeded and every tensor() is present; `consistent` is the kernel's own rule for its
  // optional() tensors and parameters. A missing tensor or a broken rule throws `message`.
  bool complete(bool consistent = true, const char* message = "missing tensor") {
    if (!ok_) return false;
    if (missing_ || !consistent) {
      napi_throw_error(env_, "PG_NATIVE_ARGS", message);
      ok_ = false;
    }
    return ok_;
  }

  // A Float32Array argument outside the heap (its length in *length); `what` is the error message.
  float* floats(size_t i, size_t* length, const char* what) {
    float* f = nullptr;
    *length = 0;
    if (ok_) ok_ = floatArrayArg(env_, argv_[i], &f, length, what);
    return f;
  }

  uint8_t* heap() const { return base_; }
  size_t heapBytes() const { return len_; }

 private:
  static constexpr size_t MAX_ARGS = 16;

  // A failed read of parameters gives zeros, so the sizes a kernel derives from them before complete() are 0.
  static constexpr int NO_PARAMS[P_COUNT] = {};

  const int* read(bool (*arg)(napi_env, napi_value, int**), size_t i) {
    int* p = nullptr;
    if (ok_) ok_ = arg(env_, argv_[i], &p);
    return ok_ ? p : NO_PARAMS;
  }

  template <typename T>
  T scalar(napi_status (*get)(napi_env, napi_value, T*), size_t i, const char* what) {
    T v = 0;
    if (ok_) ok_ = check(env_, get(env_, argv_[i], &v), what);
    return v;
  }

  napi_env env_;
  napi_value argv_[MAX_ARGS];
  uint8_t* base_ = nullptr;
  size_t len_ = 0;
  bool ok_ = false;
  bool missing_ = false;
};

// ---- Convolution entry points --------------------------------------------------------------------------

// convForward(heap, xOff, wOff, bOff, yOff, params)
napi_value ConvForward(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 6);
  const int* p = args.convParams(5);
  float* x = args.tensor(1, srcBytes(p) / 4);
  float* w = args.tensor(2, weiBytes(p) / 4);
  float* b = args.optional(3, p[P_COUT]);
  float* y = args.tensor(4, dstBytes(p) / 4);
  if (!args.complete((p[P_HAS_BIAS] != 0) == (b != nullptr))) return nullptr;
  return guarded(env, [&] { run(get(K_FWD, p), K_FWD, x, y, w, b); });
}

// convBackwardData(heap, dyOff, wOff, dxOff, params)
napi_value ConvBackwardData(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 5);
  const int* p = args.convParams(4);
  float* dy = args.tensor(1, dstBytes(p) / 4);
  float* w = args.tensor(2, weiBytes(p) / 4);
  float* dx = args.tensor(3, srcBytes(p) / 4);
  if (!args.complete(!p[P_HAS_BIAS] && !p[P_ACT], "missing tensor or a bias/activation on a backward-data call"))
    return nullptr;
  return guarded(env, [&] { run(get(K_BWD_DATA, p), K_BWD_DATA, dx, dy, w, nullptr); });
}

// convBackwardWeights(heap, xOff, dyOff, dwOff, dbOff, params)
napi_value ConvBackwardWeights(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 6);
  const int* p = args.convParams(5);
  float* x = args.tensor(1, srcBytes(p) / 4);
  float* dy = args.tensor(2, dstBytes(p) / 4);
  float* dw = args.tensor(3, weiBytes(p) / 4);
  float* db = args.optional(4, p[P_COUT]);
  if (!args.complete((p[P_HAS_BIAS] != 0) == (db != nullptr) && !p[P_ACT],
                     "missing tensor or an activation on a backward-weights call"))
    return nullptr;
  return guarded(env, [&] { run(get(K_BWD_WEIGHTS, p), K_BWD_WEIGHTS, x, dy, dw, db); });
}

// convImplementation(kind, params): the name of oneDNN's implementation that runs this convolution (kind 0
// forward, 1 backward-data, 2 backward-weights), for tests that no shape pg meets falls to a reference loop.
napi_value ConvImplementation(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 2, false);
  const int kind = static_cast<int>(args.int64(0, "kind must be a number"));
  const int* p = args.convParams(1);
  if (!args.complete(kind >= K_FWD && kind <= K_BWD_WEIGHTS, "kind must be 0, 1 or 2")) return nullptr;
  napi_value r = nullptr;
  guarded(env, [&] {
    const std::string& impl = get(kind, p).impl;
    napi_create_string_utf8(env, impl.c_str(), impl.size(), &r);
  });
  return r;
}

// ---- PG quantizer and gate (element-wise) ---------------------------------------------------------------
//
// Why hand-written: composed from tfjs-wasm ops, one gated conv's quantizer and gate run ~25 element-wise
// kernels forward and backward, each a full pass over the activation (and several of them slow in tfjs-wasm);
// with the convolutions native they are a large part of a training step. These loops do each in
// one pass, single-threaded (so the results never depend on a thread count), plain C++ the compiler
// vectorises. The forwards repeat the composed ops' float32 operations in the same order (see
// packages/core/src/gating/fused-conv.ts), so their outputs are bit-identical; build with -ffp-contract=off so no
// multiply-add is fused. The backwards' sums accumulate in double, so they may differ from tfjs's float
// sums in the last bits.

// tfjs's Round: half to even, the sign kept (round(-0.3) = -0). Adding and subtracting 2^23 rounds a float
// below 2^23 in magnitude to an integer in the current (nearest-even) mode; larger ones already are.
inline float roundHalfEven(float v) {
  const float a = std::fabs(v);
  const float r = std::copysign((a + 8388608.f) - 8388608.f, v);
  return a < 8388608.f ? r : v;
}

// tfjs-wasm's Step with alpha 0 (NaN stays NaN).
inline float stepOf(float v) { return std::isnan(v) ? v : (v > 0.f ? 1.f : 0.f); }

// e^v for the surrogate's sigmoid (the backward only, where float tolerance is enough): Cephes' expf
// polynomial after v = k·ln2 + f, relative error ~2e-7, in plain arithmetic the compiler vectorises (libm's
// expf is a call per element, most of the gate backward's time: docs/native-kernels.md).
inline float expApprox(float v) {
  v = v < -87.f ? -87.f : (v > 88.f ? 88.f : v);
  const float kf = (v * 1.44269504088896341f + 12582912.f) - 12582912.f;  // round to nearest, |.| < 2^22
  float f = v - kf * 0.693359375f;
  f = f - kf * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  p = p * f * f + f + 1.f;
  const int32_t k = static_cast<int32_t>(kf);
  float scale;
  const int32_t bitsOf = (k + 127) << 23;
  std::memcpy(&scale, &bitsOf, 4);
  return p * scale;
}

// The element-wise loops every training step runs (quantizer split, gate forward and backward) are compiled
// twice: for the build's baseline (SSE2: 4 floats an instruction) and for AVX2 (8), chosen at run time. The
// same float32 operations in the same order either way (no FMA: -ffp-contract=off), so the same bytes; only
// the width differs. Each loop is an always-inline template; its two callers below set the target.
#define PG_INLINE inline __attribute__((always_inline))
#define PG_AVX2 __attribute__((target("avx2")))

bool hasAvx2() {
  static const bool avx2 = (__builtin_cpu_init(), __builtin_cpu_supports("avx2"));
  return avx2;
}

// One scale block [lo, hi) of pgQuantSplit: with Split, hb and lb; without, the fake-quantized x_q into hb.
template <bool Split>
PG_INLINE void quantSplitBlock(const float* __restrict x, float* __restrict r, float* __restrict hb,
                               float* __restrict lb, size_t lo, size_t hi, float si, float n, float step) {
  const float unit = si / n;
  const float invStep = 1.f / step;  // a power of two: exact
  for (size_t j = lo; j < hi; j++) {
    const float rj = x[j] / si;
    const float c = rj < -1.f ? -1.f : (rj > 1.f ? 1.f : rj);
    const float qs = roundHalfEven(c * n);
    r[j] = rj;
    if (!Split) {
      hb[j] = qs * unit;
      continue;
    }
    const float t = qs * invStep;
    // floor(relu(t)) - floor(relu(-t)) term by term (so +0 where the composed ops give +0), with floor(|t|)
    // by an integer conversion (|t| <= 2^16 here): libm's floor is a call per element the compiler cannot
    // vectorise.
    const float fl = static_cast<float>(static_cast<int32_t>(std::fabs(t)));
    const float trunc = (t > 0.f ? fl : 0.f) - (t < 0.f ? fl : 0.f);
    const float h = (trunc * step) * unit;
    hb[j] = h;
    lb[j] = qs * unit - h;
  }
}

using QuantSplitFn = void (*)(const float*, float*, float*, float*, size_t, size_t, float, float, float);
template <bool Split>
void quantSplitBase(const float* x, float* r, float* hb, float* lb, size_t lo, size_t hi, float si, float n, float step) {
  quantSplitBlock<Split>(x, r, hb, lb, lo, hi, si, n, step);
}
template <bool Split>
PG_AVX2 void quantSplitAvx2(const float* x, float* r, float* hb, float* lb, size_t lo, size_t hi, float si, float n,
                            float step) {
  quantSplitBlock<Split>(x, r, hb, lb, lo, hi, si, n, step);
}

// pgQuantSplit(heap, x, s, r, hb, lb, params): r = x/s, q_s = round(clip(r, -1, 1)·n), unit = s/n,
// q_hb = trunc(q_s/step)·step, hb = q_hb·unit, lb = q_s·unit - hb. s has E_SCALES entries, each for a
// contiguous block of the tensor (1: per tensor; the batch size: per sample).
napi_value PgQuantSplit(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 7);
  const int* e = args.eltParams(6);
  const float* x = args.tensor(1, e[E_SIZE]);
  const float* s = args.tensor(2, e[E_SCALES]);
  float* r = args.tensor(3, e[E_SIZE]);
  float* hb = args.tensor(4, e[E_SIZE]);
  float* lb = args.optional(5, e[E_SIZE]);
  if (!args.complete(lb || e[E_HBITS] == 0)) return nullptr;
  const float n = static_cast<float>((1 << e[E_BITS]) - 1);
  const float step = static_cast<float>(1 << (e[E_HBITS] ? e[E_BITS] - e[E_HBITS] : 0));
  const size_t block = e[E_SIZE] / e[E_SCALES];
  const QuantSplitFn split = hasAvx2() ? (lb ? quantSplitAvx2<true> : quantSplitAvx2<false>)
                                       : (lb ? quantSplitBase<true> : quantSplitBase<false>);
  for (int i = 0; i < e[E_SCALES]; i++) split(x, r, hb, lb, i * block, (i + 1) * block, s[i], n, step);
  return nullptr;
}

// The backward sums run over chunks: an element-wise loop writes each element's float term to a small
// buffer, then sumInLanes adds it in double over 8 fixed lanes. Both loops vectorise (a single running sum
// would not: its order is fixed), and the order stays fixed, so the result is deterministic.
constexpr size_t CHUNK = 1024;

double sumInLanes(const float* __restrict t, size_t cnt) {
  double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t j = 0;
  for (; j + 8 <= cnt; j += 8)
    for (int l = 0; l < 8; l++) lanes[l] += t[j + l];
  double sum = 0;
  for (; j < cnt; j++) sum += t[j];
  for (int l = 0; l < 8; l++) sum += lanes[l];
  return sum;
}

// pgQuantBackward(heap, g, r, hb, s, dx, dsHb, params): with in = 1[|r| <= 1] (the clip bounds pass),
// dx = g·in and, when E_WANT_SUM, dsHb[0] = Σ g·(hb/s - in·r) (the high-bit share of the LSQ scale gradient).
napi_value PgQuantBackward(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 8);
  const int* e = args.eltParams(7);
  const float* g = args.tensor(1, e[E_SIZE]);
  const float* r = args.tensor(2, e[E_SIZE]);
  const float* hb = args.tensor(3, e[E_SIZE]);
  const float* s = args.tensor(4, e[E_SCALES]);
  float* dx = args.tensor(5, e[E_SIZE]);
  float* ds = args.optional(6, 1);
  if (!args.complete((e[E_WANT_SUM] != 0) == (ds != nullptr))) return nullptr;
  const size_t block = e[E_SIZE] / e[E_SCALES];
  double sum = 0;
  float term[CHUNK];
  for (int i = 0; i < e[E_SCALES]; i++) {
    const float si = s[i];
    for (size_t lo = i * block, end = lo + block; lo < end; lo += CHUNK) {
      const size_t cnt = std::min(CHUNK, end - lo);
      const float* __restrict gc = g + lo;
      const float* __restrict rc = r + lo;
      const float* __restrict hc = hb + lo;
      float* __restrict dc = dx + lo;
      for (size_t j = 0; j < cnt; j++) {
        const float in = std::fabs(rc[j]) - 1.f > 0.f ? 0.f : 1.f;
        dc[j] = gc[j] * in;
        term[j] = gc[j] * (hc[j] / si - in * rc[j]);
      }
      if (ds) sum += sumInLanes(term, cnt);
    }
  }
  if (ds) ds[0] = static_cast<float>(sum);
  return nullptr;
}

// pgFakeQuantBackward(heap, dy, r, s, dx, ds, params): the gradients autodiff gives through fakeQuant's
// x_q = round(clip(x/s, -1, 1)·n)·(s/n) with the straight-through round (the clip bounds pass):
// dx = (dy·unit)·(in·n)/s, and per scale entry ds = Σ dy·q_s/n - Σ dr·r/s with dr = (dy·unit)·(in·n)
// (autodiff's Σ dr·x/s² with x/s = r; sums in double).
napi_value PgFakeQuantBackward(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 7);
  const int* e = args.eltParams(6);
  const float* dy = args.tensor(1, e[E_SIZE]);
  const float* r = args.tensor(2, e[E_SIZE]);
  const float* s = args.tensor(3, e[E_SCALES]);
  float* dx = args.tensor(4, e[E_SIZE]);
  float* ds = args.tensor(5, e[E_SCALES]);
  if (!args.complete()) return nullptr;
  const float n = static_cast<float>((1 << e[E_BITS]) - 1);
  const size_t block = e[E_SIZE] / e[E_SCALES];
  for (int i = 0; i < e[E_SCALES]; i++) {
    const float si = s[i];
    const float unit = si / n;
    double sumR = 0, sumQ = 0;
    float termR[CHUNK], termQ[CHUNK];
    for (size_t lo = i * block, end = lo + block; lo < end; lo += CHUNK) {
      const size_t cnt = std::min(CHUNK, end - lo);
      const float* __restrict dyc = dy + lo;
      const float* __restrict rc = r + lo;
      float* __restrict dc = dx + lo;
      for (size_t j = 0; j < cnt; j++) {
        const float rj = rc[j];
        const float in = std::fabs(rj) - 1.f > 0.f ? 0.f : 1.f;
        const float c = rj < -1.f ? -1.f : (rj > 1.f ? 1.f : rj);
        const float qs = roundHalfEven(c * n);
        const float dr = (dyc[j] * unit) * (in * n);
        dc[j] = dr / si;
        termR[j] = dr * rj;
        termQ[j] = dyc[j] * qs;
      }
      sumR += sumInLanes(termR, cnt);
      sumQ += sumInLanes(termQ, cnt);
    }
    ds[i] = static_cast<float>(sumQ / n - sumR / si);
  }
  return nullptr;
}

// The gate forward's loop (see PgGateForward), instantiated with and without the offset, the gate output and
// each tail, so each vectorises. Returns Σ M (in double per channel, so NaN propagates as in a float sum; exact
// below 2^53). The tail's ReLU is `a < 0 ? 0 : a` (NaN and -0 pass, as tfjs's), its Add O + offset after O.
template <bool HasOffset, bool WantM, int Tail>
PG_INLINE double gateForwardLoop(const float* __restrict ohb, const float* __restrict olb, const float* __restrict off,
                       const float* __restrict d, float* __restrict y, float* __restrict z, float* __restrict m,
                       size_t rows, int c, double* __restrict on) {
  for (size_t i = 0; i < rows; i++) {
    const size_t o = i * c;
    for (int k = 0; k < c; k++) {
      const float zk = (HasOffset ? ohb[o + k] + off[o + k] : ohb[o + k]) - d[k];
      const float mk = stepOf(zk);
      z[o + k] = zk;
      if (WantM) m[o + k] = mk;
      const float yk = ohb[o + k] + mk * olb[o + k];
      const float ak = Tail == TAIL_ADD_RELU ? yk + off[o + k] : yk;
      y[o + k] = Tail == TAIL_NONE ? ak : (ak < 0.f ? 0.f : ak);
      on[k] += mk;
    }
  }
  double sum = 0;
  for (int k = 0; k < c; k++) sum += on[k];
  return sum;
}

using GateForwardFn = double (*)(const float*, const float*, const float*, const float*, float*, float*, float*, size_t,
                                 int, double*);
template <bool HasOffset, bool WantM, int Tail>
double gateForwardBase(const float* ohb, const float* olb, const float* off, const float* d, float* y, float* z,
                       float* m, size_t rows, int c, double* on) {
  return gateForwardLoop<HasOffset, WantM, Tail>(ohb, olb, off, d, y, z, m, rows, c, on);
}
template <bool HasOffset, bool WantM, int Tail>
PG_AVX2 double gateForwardAvx2(const float* ohb, const float* olb, const float* off, const float* d, float* y,
                               float* z, float* m, size_t rows, int c, double* on) {
  return gateForwardLoop<HasOffset, WantM, Tail>(ohb, olb, off, d, y, z, m, rows, c, on);
}
template <bool HasOffset, bool WantM, int Tail>
GateForwardFn gateForwardOf() {
  return hasAvx2() ? gateForwardAvx2<HasOffset, WantM, Tail> : gateForwardBase<HasOffset, WantM, Tail>;
}
template <bool HasOffset, bool WantM>
GateForwardFn gateForwardFor(int tail) {
  if (tail == TAIL_RELU) return gateForwardOf<HasOffset, WantM, TAIL_RELU>();
  if constexpr (HasOffset) {
    if (tail == TAIL_ADD_RELU) return gateForwardOf<HasOffset, WantM, TAIL_ADD_RELU>();
  }
  return gateForwardOf<HasOffset, WantM, TAIL_NONE>();
}

// pgGateForward(heap, ohb, olb, offset, delta, y, z, m, fraction, counts, params): z = O_hb - Δ (Δ per channel,
// the last axis), or z = (O_hb + offset) - Δ with a gate offset (-1: absent; the residual gate, rounded as the
// composed add then sub), M = step(z), O = O_hb + M·O_lb, y = O, ReLU(O) (E_TAIL relu) or ReLU(O + offset)
// (E_TAIL add-relu, with an offset); M itself only when asked (-1: not; the backward
// recomputes it from z). fraction[0] = ΣM / size (tfjs's mean of M: a float sum of 0s and 1s is exact below
// 2^24, then one float division) and counts = [ΣM, size], the sparsity budget's and the reported sparsity's,
// so no pass over M is needed for them (-1: not wanted).
napi_value PgGateForward(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 11);
  const int* e = args.eltParams(10);
  const int c = e[E_CHANNELS];
  const float* ohb = args.tensor(1, e[E_SIZE]);
  const float* olb = args.tensor(2, e[E_SIZE]);
  const float* off = args.optional(3, e[E_SIZE]);
  const float* d = args.tensor(4, c);
  float* y = args.tensor(5, e[E_SIZE]);
  float* z = args.tensor(6, e[E_SIZE]);
  float* m = args.optional(7, e[E_SIZE]);
  float* fraction = args.optional(8, 1);
  float* counts = args.optional(9, 2);
  const int tail = e[E_TAIL];
  if (!args.complete()) return nullptr;
  if (tail == TAIL_ADD_RELU && !off) {
    napi_throw_error(env, "PG_NATIVE_ARGS", "the add-relu tail needs the offset");
    return nullptr;
  }
  thread_local std::vector<double> on;
  on.assign(size_t(c), 0.0);
  const GateForwardFn loop = off ? (m ? gateForwardFor<true, true>(tail) : gateForwardFor<true, false>(tail))
                                 : (m ? gateForwardFor<false, true>(tail) : gateForwardFor<false, false>(tail));
  const float count = static_cast<float>(loop(ohb, olb, off, d, y, z, m, e[E_SIZE] / c, c, on.data()));
  const float size = static_cast<float>(e[E_SIZE]);
  if (fraction) fraction[0] = count / size;
  if (counts) {
    counts[0] = count;
    counts[1] = size;
  }
  return nullptr;
}

// Where the gradient reaching M comes from: none, a tensor dGate, or one value for every element (the
// gradient of the mean of M, the sparsity budget's: d(mean)/dM = 1/size everywhere).
enum GateGrad { DG_NONE, DG_TENSOR, DG_UNIFORM };

// The gate backward's loop (see PgGateBackward); acc holds 2c doubles (Σ dz and Σ dO_lb·O_lb per channel),
// row c floats. Each row runs two loops, the element-wise one writing dz to `row`, so both vectorises.
// M = step(z), as the forward computed it, so it is not read. With Relu, the gradient reaching O is
// dy·step(out) (tfjs's ReLU gradient; out = ReLU(a) is positive where a is).
template <bool Sparse, GateGrad Dg, bool Relu>
PG_INLINE float gateBackwardLoop(const float* __restrict dyIn, const float* __restrict out, const float* __restrict olb,
                       const float* __restrict z, const float* __restrict dg, float dgu, float* __restrict dohb,
                       float* __restrict dolb, float* __restrict dzOut, size_t rows, int c, float alpha,
                       double* __restrict acc, float* __restrict row) {
  double* __restrict ad = acc;
  double* __restrict ao = acc + c;
  for (size_t i = 0; i < rows; i++) {
    const size_t o = i * c;
    for (int k = 0; k < c; k++) {
      const float dy = Relu ? dyIn[o + k] * stepOf(out[o + k]) : dyIn[o + k];
      const float mk = stepOf(z[o + k]);
      const float sg = 1.f / (1.f + expApprox(-(z[o + k] * alpha)));
      const float slope0 = (sg * (1.f - sg)) * alpha;
      const float slope = Sparse ? slope0 * mk : slope0;
      const float up = dy * olb[o + k];
      const float dz = (Dg == DG_TENSOR ? up + dg[o + k] : Dg == DG_UNIFORM ? up + dgu : up) * slope;
      dohb[o + k] = dy + dz;
      dolb[o + k] = dy * mk;
      row[k] = dz;
    }
    for (int k = 0; k < c; k++) {
      ad[k] += row[k];
      ao[k] += static_cast<double>(dolb[o + k]) * olb[o + k];
    }
    if (dzOut) std::memcpy(dzOut + o, row, sizeof(float) * c);
  }
  double dot = 0;
  for (int k = 0; k < c; k++) dot += ao[k];
  return static_cast<float>(dot);
}

using GateBackwardFn = float (*)(const float*, const float*, const float*, const float*, const float*, float, float*,
                                 float*, float*, size_t, int, float, double*, float*);
template <bool Sparse, GateGrad Dg, bool Relu>
float gateBackwardBase(const float* dy, const float* out, const float* olb, const float* z, const float* dg, float dgu,
                       float* dohb, float* dolb, float* dzOut, size_t rows, int c, float alpha, double* acc, float* row) {
  return gateBackwardLoop<Sparse, Dg, Relu>(dy, out, olb, z, dg, dgu, dohb, dolb, dzOut, rows, c, alpha, acc, row);
}
template <bool Sparse, GateGrad Dg, bool Relu>
PG_AVX2 float gateBackwardAvx2(const float* dy, const float* out, const float* olb, const float* z, const float* dg,
                               float dgu, float* dohb, float* dolb, float* dzOut, size_t rows, int c, float alpha,
                               double* acc, float* row) {
  return gateBackwardLoop<Sparse, Dg, Relu>(dy, out, olb, z, dg, dgu, dohb, dolb, dzOut, rows, c, alpha, acc, row);
}
template <bool Sparse, GateGrad Dg, bool Relu>
GateBackwardFn gateBackwardOf() {
  return hasAvx2() ? gateBackwardAvx2<Sparse, Dg, Relu> : gateBackwardBase<Sparse, Dg, Relu>;
}
template <bool Sparse, bool Relu>
GateBackwardFn gateBackwardFor(GateGrad dg) {
  return dg == DG_TENSOR ? gateBackwardOf<Sparse, DG_TENSOR, Relu>()
                         : (dg == DG_UNIFORM ? gateBackwardOf<Sparse, DG_UNIFORM, Relu>()
                                             : gateBackwardOf<Sparse, DG_NONE, Relu>());
}

// pgGateBackward(heap, dy, out, olb, z, dGate, dgUniform, dohb, dolb, dz, dDelta, dotLb, params, alpha): with
// out (-1: absent), the layer's output after its ReLU tail, the gradient reaching O is dy·step(out), else dy;
// the surrogate slope = α·σ(αz)(1 - σ(αz)) (·M with E_SPARSE, M = step(z)), dz = (dy·O_lb + dGate)·slope with
// dGate a tensor, or dgUniform[0] for every element (at most one of them; -1: absent), dO_hb = dy + dz,
// dO_lb = dy·M, dΔ = -Σ dz per channel, dz itself when asked (-1: not; a gate offset's gradient), and with
// E_WANT_SUM dotLb[0] = Σ dO_lb·O_lb. With the add-relu tail the offset's whole gradient is dO_hb (the Add's
// dy plus the gate's dz), so dz is not asked for.
napi_value PgGateBackward(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 14);
  const int* e = args.eltParams(12);
  const double alphaD = args.number(13, "alpha must be a number");
  const int c = e[E_CHANNELS];
  const float* dy = args.tensor(1, e[E_SIZE]);
  const float* out = args.optional(2, e[E_SIZE]);
  const float* olb = args.tensor(3, e[E_SIZE]);
  const float* z = args.tensor(4, e[E_SIZE]);
  const float* dg = args.optional(5, e[E_SIZE]);
  const float* dgu = args.optional(6, 1);
  float* dohb = args.tensor(7, e[E_SIZE]);
  float* dolb = args.tensor(8, e[E_SIZE]);
  float* dzOut = args.optional(9, e[E_SIZE]);
  float* dd = args.tensor(10, c);
  float* dot = args.optional(11, 1);
  if (!args.complete((e[E_WANT_SUM] != 0) == (dot != nullptr))) return nullptr;
  if (dg && dgu) {
    napi_throw_error(env, "PG_NATIVE_ARGS", "dGate and dgUniform are exclusive");
    return nullptr;
  }
  const float alpha = static_cast<float>(alphaD);
  const size_t rows = e[E_SIZE] / c;
  // Per-channel double accumulators (a fixed order: deterministic; along the channel axis: vectorisable).
  thread_local std::vector<double> acc;
  thread_local std::vector<float> row;
  acc.assign(2 * size_t(c), 0.0);
  row.resize(c);
  // Instantiated per case: a branch inside the loop keeps GCC from vectorising it.
  const GateGrad kind = dg ? DG_TENSOR : (dgu ? DG_UNIFORM : DG_NONE);
  const bool sparse = e[E_SPARSE] != 0;
  const GateBackwardFn loop = out ? (sparse ? gateBackwardFor<true, true>(kind) : gateBackwardFor<false, true>(kind))
                                  : (sparse ? gateBackwardFor<true, false>(kind) : gateBackwardFor<false, false>(kind));
  const float sum = loop(dy, out, olb, z, dg, dgu ? dgu[0] : 0.f, dohb, dolb, dzOut, rows, c, alpha, acc.data(), row.data());
  for (int k = 0; k < c; k++) dd[k] = static_cast<float>(-acc[k]);
  if (dot) dot[0] = sum;
  return nullptr;
}

// pgQuantizeWeights(heap, w, wq, params): pg's per-tensor weight quantizer, the same float32 ops in the same
// order as quantizeWeights' composed ones: s_w = max(max|w|, 1e-12), wq = sign(w)·((round((|w|/s_w)·n)/n)·s_w).
// max is exact in any order; sign(±0) is +0 as tfjs's Sign, so ±0 weights give +0 there too.
napi_value PgQuantizeWeights(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 4);
  const int* e = args.eltParams(3);
  const size_t size = e[E_SIZE];
  const float* w = args.tensor(1, size);
  float* wq = args.tensor(2, size);
  if (!args.complete()) return nullptr;
  const float n = static_cast<float>((1 << e[E_BITS]) - 1);
  // max |w| in 8 independent lanes, so the compiler vectorises it (a single running max is one long dependency
  // chain). Max is exact and every comparison skips NaN, so the lanes give the single loop's value.
  float lanes[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  size_t i0 = 0;
  for (; i0 + 8 <= size; i0 += 8)
    for (int k = 0; k < 8; k++) {
      const float v = std::fabs(w[i0 + k]);
      lanes[k] = v > lanes[k] ? v : lanes[k];
    }
  float m = 0.f;
  for (int k = 0; k < 8; k++) m = lanes[k] > m ? lanes[k] : m;
  for (; i0 < size; i0++) {
    const float v = std::fabs(w[i0]);
    m = v > m ? v : m;
  }
  const float floor = 1e-12f;
  const float sw = m > floor ? m : floor;
  const float* __restrict wi = w;
  float* __restrict out = wq;
  for (size_t i = 0; i < size; i++) {
    const float v = wi[i];
    const float sg = v > 0.f ? 1.f : (v < 0.f ? -1.f : 0.f);
    out[i] = sg * ((roundHalfEven((std::fabs(v) / sw) * n) / n) * sw);
  }
  return nullptr;
}

// pgGelu(heap, x, y, slope, size): GELU y = x·Φ(x), Φ(x) = (erf(x·√½) + 1)·0.5, and its derivative
// slope = Φ(x) + x·φ(x), φ(x) = e^(-x²/2)/√(2π), in one pass (training: the backward is then dy·slope). erf by
// Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, the formula tfjs's Erf kernels use), whose
// e^(-(x·√½)²) is φ's exponential too: one expApprox an element, in plain arithmetic the compiler vectorises
// (libm's erff and expf are a call per element).
napi_value PgGelu(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 5);
  const int64_t size = args.int64(4, "size must be an integer");
  const size_t n = size > 0 ? size : 0;
  const float* __restrict x = args.tensor(1, n);
  float* __restrict y = args.tensor(2, n);
  float* __restrict slope = args.tensor(3, n);
  if (!args.complete(size > 0, size > 0 ? "missing tensor" : "size must be >= 1")) return nullptr;
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    const float a = std::fabs(v * 0.70710678118654752f);
    const float e = expApprox(-(a * a));
    const float t = 1.f / (1.f + 0.3275911f * a);
    const float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    const float erfA = 1.f - poly * e;
    const float cdf = ((v < 0.f ? -erfA : erfA) + 1.f) * 0.5f;
    y[i] = v * cdf;
    slope[i] = cdf + v * (e * 0.39894228040143268f);
  }
  return nullptr;
}

// A LayerNorm kernel's [rows, c] shape from arguments i and i + 1: the element, channel and row counts, all 0
// when the shape is invalid (rows or c below 1), so that the tensor checks cannot read past a buffer.
struct RowShape {
  bool valid;
  size_t n, cn, rn;
};
RowShape rowShape(KernelArgs& args, size_t i) {
  const int64_t rows = args.int64(i, "rows must be an integer");
  const int64_t c = args.int64(i + 1, "channels must be an integer");
  const bool valid = rows > 0 && c > 0;
  return valid ? RowShape{true, size_t(rows * c), size_t(c), size_t(rows)} : RowShape{false, 0, 0, 0};
}

// pgLayerNorm(heap, x, gamma, beta, y, xhat, r, rows, c): LayerNorm over the last axis of x [rows, c],
// μ and σ² = mean((x - μ)²) in double per row, r = 1/√(σ² + ε) per row, x̂ = (x - μ)·r, y = x̂·γ + β (γ, β [c]).
// x̂ and r are what the backward needs.
napi_value PgLayerNorm(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 10);
  const auto [valid, n, cn, rn] = rowShape(args, 7);
  const double eps = args.number(9, "epsilon must be a number");
  const float* __restrict x = args.tensor(1, n);
  const float* __restrict gamma = args.tensor(2, cn);
  const float* __restrict beta = args.tensor(3, cn);
  float* __restrict y = args.tensor(4, n);
  float* __restrict xhat = args.tensor(5, n);
  float* __restrict r = args.tensor(6, rn);
  if (!args.complete(valid, valid ? "missing tensor" : "rows and channels must be >= 1")) return nullptr;
  for (size_t i = 0; i < rn; i++) {
    const float* __restrict xi = x + i * cn;
    double sum = 0;
    for (size_t k = 0; k < cn; k++) sum += xi[k];
    const double mean = sum / cn;
    double sq = 0;
    for (size_t k = 0; k < cn; k++) sq += (xi[k] - mean) * (xi[k] - mean);
    const float ri = static_cast<float>(1.0 / std::sqrt(sq / cn + eps));
    const float mf = static_cast<float>(mean);
    float* __restrict hi = xhat + i * cn;
    float* __restrict yi = y + i * cn;
    for (size_t k = 0; k < cn; k++) {
      hi[k] = (xi[k] - mf) * ri;
      yi[k] = hi[k] * gamma[k] + beta[k];
    }
    r[i] = ri;
  }
  return nullptr;
}

// pgLayerNormBackward(heap, dy, xhat, r, gamma, dx, dgamma, dbeta, rows, c): with g = dy·γ,
// dx = r·(g - mean(g) - x̂·mean(g·x̂)) per row, dγ = Σ dy·x̂ and dβ = Σ dy over the rows (sums in double, in row
// order: deterministic).
napi_value PgLayerNormBackward(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 10);
  const auto [valid, n, cn, rn] = rowShape(args, 8);
  const float* __restrict dy = args.tensor(1, n);
  const float* __restrict xhat = args.tensor(2, n);
  const float* __restrict r = args.tensor(3, rn);
  const float* __restrict gamma = args.tensor(4, cn);
  float* __restrict dx = args.tensor(5, n);
  float* __restrict dgamma = args.tensor(6, cn);
  float* __restrict dbeta = args.tensor(7, cn);
  if (!args.complete(valid, valid ? "missing tensor" : "rows and channels must be >= 1")) return nullptr;
  thread_local std::vector<double> acc;
  thread_local std::vector<float> g;
  acc.assign(2 * cn, 0.0);
  g.resize(cn);
  double* __restrict ag = acc.data();
  double* __restrict ab = acc.data() + cn;
  float* __restrict gr = g.data();
  for (size_t i = 0; i < rn; i++) {
    const float* __restrict dyi = dy + i * cn;
    const float* __restrict hi = xhat + i * cn;
    double sg = 0, sgh = 0;
    for (size_t k = 0; k < cn; k++) {
      gr[k] = dyi[k] * gamma[k];
      sg += gr[k];
      sgh += static_cast<double>(gr[k]) * hi[k];
      ag[k] += static_cast<double>(dyi[k]) * hi[k];
      ab[k] += dyi[k];
    }
    const float mg = static_cast<float>(sg / cn), mgh = static_cast<float>(sgh / cn);
    float* __restrict dxi = dx + i * cn;
    for (size_t k = 0; k < cn; k++) dxi[k] = r[i] * ((gr[k] - mg) - hi[k] * mgh);
  }
  for (size_t k = 0; k < cn; k++) {
    dgamma[k] = static_cast<float>(ag[k]);
    dbeta[k] = static_cast<float>(ab[k]);
  }
  return nullptr;
}

// batchMatMul(heap, a, b, c, batch, m, k, n, transA, transB): c[i] = op(a[i])·op(b[i]) for each of `batch`
// row-major matrices, c[i] [m, n]; a[i] is [m, k] ([k, m] with transA), b[i] [k, n] ([n, k] with transB).
// One oneDNN sgemm per matrix: a transposed operand is read in place, not copied.
napi_value BatchMatMul(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 10);
  const int64_t batch = args.int64(4, "sizes must be integers"), m = args.int64(5, "sizes must be integers");
  const int64_t k = args.int64(6, "sizes must be integers"), n = args.int64(7, "sizes must be integers");
  const int32_t transA = args.int32(8, "transA must be 0 or 1"), transB = args.int32(9, "transB must be 0 or 1");
  const bool valid = batch > 0 && m > 0 && k > 0 && n > 0 && (transA == 0 || transA == 1) && (transB == 0 || transB == 1);
  const size_t bn = valid ? batch : 0, mk = valid ? m * k : 0, kn = valid ? k * n : 0, mn = valid ? m * n : 0;
  const float* a = args.tensor(1, bn * mk);
  const float* b = args.tensor(2, bn * kn);
  float* c = args.tensor(3, bn * mn);
  if (!args.complete(valid, valid ? "missing tensor" : "invalid matrix product sizes")) return nullptr;
  for (size_t i = 0; i < bn; i++)
    dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', m, n, k, 1.f, a + i * mk, transA ? m : k, b + i * kn, transB ? k : n,
               0.f, c + i * mn, n);
  return nullptr;
}

// Max pooling of NHWC activations with explicit pads (conv parameter layout: N, H, W, Cin (= channels), OutH,
// OutW, KernelH, KernelW, strides, pads; dilation 1). Padded cells never win; ties go to the last cell in
// the window's row-major order (tfjs-wasm's MaxPoolGrad choice). arg holds the winner's flat input index, -1 for a
// window without an input cell (y = -inf there).
napi_value PgMaxPool(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 5);
  const int* p = args.poolParams(4);
  const int N = p[P_N], H = p[P_H], W = p[P_W], C = p[P_CIN], OH = p[P_OH], OW = p[P_OW];
  const size_t outSize = 1ull * N * OH * OW * C;
  const float* x = args.tensor(1, 1ull * N * H * W * C);
  float* y = args.tensor(2, outSize);
  int32_t* arg = args.tensor<int32_t>(3, outSize);
  if (!args.complete()) return nullptr;
  for (int b = 0; b < N; b++)
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        const size_t o = ((static_cast<size_t>(b) * OH + oh) * OW + ow) * C;
        float* __restrict best = y + o;
        int32_t* __restrict where = arg + o;
        bool first = true;
        for (int kh = 0; kh < p[P_KH]; kh++) {
          const int ih = oh * p[P_SH] - p[P_PT] + kh;
          if (ih < 0 || ih >= H) continue;
          for (int kw = 0; kw < p[P_KW]; kw++) {
            const int iw = ow * p[P_SW] - p[P_PL] + kw;
            if (iw < 0 || iw >= W) continue;
            const int32_t at = ((b * H + ih) * W + iw) * C;
            const float* __restrict xc = x + at;
            if (first) {
              // The first input cell always takes the window, so a window of -inf (or NaN) still points at one.
              for (int c = 0; c < C; c++) {
                best[c] = xc[c];
                where[c] = at + c;
              }
              first = false;
              continue;
            }
            // Branch-free, so GCC vectorises it (a select on where[] alone stayed scalar): >= hands ties to the
            // later cell.
            for (int c = 0; c < C; c++) {
              const float v = xc[c], bv = best[c];
              const int32_t take = -static_cast<int32_t>(v >= bv);
              best[c] = v >= bv ? v : bv;
              where[c] = (where[c] & ~take) | ((at + c) & take);
            }
          }
        }
        if (first)
          for (int c = 0; c < C; c++) {
            best[c] = -INFINITY;
            where[c] = -1;
          }
      }
  return nullptr;
}

// pgMaxPoolBackward(heap, dy, arg, dx, params): dx = 0, then dx[arg] += dy in the output's row-major order, so
// an input cell that wins several windows sums their gradients in the order tfjs's MaxPoolGrad does.
napi_value PgMaxPoolBackward(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 5);
  const int* p = args.poolParams(4);
  const size_t inSize = 1ull * p[P_N] * p[P_H] * p[P_W] * p[P_CIN];
  const size_t outSize = 1ull * p[P_N] * p[P_OH] * p[P_OW] * p[P_CIN];
  const float* dy = args.tensor(1, outSize);
  const int32_t* arg = args.tensor<int32_t>(2, outSize);
  float* dx = args.tensor(3, inSize);
  if (!args.complete()) return nullptr;
  std::fill(dx, dx + inSize, 0.f);
  for (size_t o = 0; o < outSize; o++) {
    const int32_t i = arg[o];
    if (i >= 0 && static_cast<size_t>(i) < inSize) dx[i] += dy[o];
  }
  return nullptr;
}

// setThreads(n): the OpenMP team size for this JS thread's convolutions (n >= 1).
napi_value SetThreads(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 1, /*withHeap=*/false);
  const int32_t n = args.int32(0, "threads must be a number");
  if (!args.complete()) return nullptr;
  if (n < 1) {
    napi_throw_range_error(env, "PG_NATIVE_ARGS", "threads must be >= 1");
    return nullptr;
  }
  omp_set_num_threads(n);
  st().threads = n;
  return nullptr;
}

napi_value GetThreads(napi_env env, napi_callback_info) {
  napi_value r;
  napi_create_int32(env, omp_get_max_threads(), &r);
  return r;
}

// columnCopy(heap, src, srcStride, dst, dstStride, rows, width): `rows` rows of `width` 4-byte words from src
// (rows srcStride words apart) to dst (dstStride apart), offsets in bytes: a channel slice of NHWC data, or one
// part of a channel concat. tfjs-wasm copies such short rows through a typed-array view each, and a JS
// copyWithin a row still pays a call a row; one memcpy a row here.
napi_value ColumnCopy(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 7);
  int64_t v[6];
  for (int i = 0; i < 6; i++) v[i] = args.int64(i + 1, "column copy arguments must be numbers");
  if (!args.complete()) return nullptr;
  uint8_t* base = args.heap();
  const size_t len = args.heapBytes();
  const int64_t src = v[0], srcStride = v[1], dst = v[2], dstStride = v[3], rows = v[4], width = v[5];
  if (rows <= 0 || width <= 0) return nullptr;
  const auto fits = [&](int64_t at, int64_t stride) {
    return at >= 0 && (at & 3) == 0 && stride >= width &&
           static_cast<uint64_t>(at) + 4ull * static_cast<uint64_t>((rows - 1) * stride + width) <= len;
  };
  if (!fits(src, srcStride) || !fits(dst, dstStride)) {
    napi_throw_range_error(env, "PG_NATIVE_ARGS", "column copy out of the heap's bounds");
    return nullptr;
  }
  const size_t bytes = 4ull * static_cast<size_t>(width);
  for (int64_t r = 0; r < rows; r++) std::memcpy(base + dst + 4 * r * dstStride, base + src + 4 * r * srcStride, bytes);
  return nullptr;
}

// ---- Data-parallel gradient sum ---------------------------------------------------------------------------
//
// Why native: the data-parallel trainer sums the shards' gradient slots (shared memory, one slot per
// micro-shard) on the main thread while the workers wait, a JavaScript loop over every parameter of every
// shard (docs/native-kernels.md). Here the parameters are split over all cores; each element is
// still summed slot 0, 1, 2... in float32 from +0, the same additions in the same order as the loop it replaces,
// so the result is bit-identical whatever the thread count.

// sumSlots(slots: Float32Array, shards, out: Float32Array): out[p] = Σ_k slots[k * out.length + p].
napi_value SumSlots(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 3, false);
  size_t slotsLen, total;
  float* slots = args.floats(0, &slotsLen, "slots must be a Float32Array");
  const int32_t shards = args.int32(1, "shards must be a number");
  float* out = args.floats(2, &total, "out must be a Float32Array");
  if (!args.complete()) return nullptr;
  if (shards < 1 || slotsLen < static_cast<size_t>(shards) * total) {
    napi_throw_range_error(env, "PG_NATIVE_ARGS", "slots must hold shards x out.length floats");
    return nullptr;
  }
  const int64_t n = static_cast<int64_t>(total);
#pragma omp parallel for num_threads(omp_get_num_procs()) schedule(static)
  for (int64_t p = 0; p < n; p++) {
    float acc = 0.f;
    for (int32_t k = 0; k < shards; k++) acc += slots[static_cast<size_t>(k) * total + p];
    out[p] = acc;
  }
  return nullptr;
}

// ---- Adam ---------------------------------------------------------------------------------------------------
//
// Why native: tfjs's Adam runs a dozen element-wise kernels per variable, each a pass over it, on the main
// thread while the training workers wait (docs/native-kernels.md), after copying the summed
// gradients into new tensors. This is the same update in one pass on every core, reading the gradient where the
// data-parallel sum left it and writing the variable and both moments in place in the wasm heap. It repeats
// tfjs's float32 operations in tfjs's order (AdamOptimizer.applyGradients, 4.x), so results are bit-identical:
//   m' = m·β1 + g·(1-β1); v' = v·β2 + g²·(1-β2); x' = ((m'/(1-β1^t)) / (√(v'/(1-β2^t)) + ε))·(-lr) + x.
enum AdamScalar { A_B1, A_OMB1, A_B2, A_OMB2, A_OMAB1, A_OMAB2, A_EPS, A_NEG_LR, A_COUNT };

// adamUpdate(heap, xOff, mOff, vOff, grad: Float32Array, scalars: Float32Array(8)); grad.length elements.
napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 6);
  size_t count, nScalars;
  const float* g = args.floats(4, &count, "grad must be a Float32Array");
  const float* k = args.floats(5, &nScalars, "scalars must be a Float32Array");
  float* x = args.tensor(1, count);
  float* m = args.tensor(2, count);
  float* v = args.tensor(3, count);
  if (!args.complete()) return nullptr;
  if (nScalars != A_COUNT) {
    napi_throw_range_error(env, "PG_NATIVE_ARGS", "Adam takes 8 scalars");
    return nullptr;
  }
  const float b1 = k[A_B1], omb1 = k[A_OMB1], b2 = k[A_B2], omb2 = k[A_OMB2];
  const float omab1 = k[A_OMAB1], omab2 = k[A_OMAB2], eps = k[A_EPS], negLr = k[A_NEG_LR];
  const int64_t n = static_cast<int64_t>(count);
  // Element-wise: the thread count does not change a bit; small variables are not worth waking threads for.
  const int threads = n >= (int64_t(1) << 16) ? omp_get_num_procs() : 1;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = m[i] * b1 + gi * omb1;
    const float vi = v[i] * b2 + (gi * gi) * omb2;
    m[i] = mi;
    v[i] = vi;
    const float mh = mi / omab1;
    const float vh = vi / omab2;
    x[i] = ((mh / (std::sqrt(vh) + eps)) * negLr) + x[i];
  }
  return nullptr;
}

// ---- Recurrent layers: one LSTM direction ------------------------------------------------------------------
//
// Why native: composed from tfjs-wasm ops, each time step of an LSTM is a MatMul and a dozen element-wise
// kernels forward and twice that backward, each a separate pass (and tfjs-wasm's per-step slicing and stacking
// copy the whole sequence), so a training step spent most of its time between kernels. Here the recurrence is
// one call each way: per step one oneDNN sgemm (h_{t-1}·Rᵀ) and one pass over the gates. The input products
// x_t·Wᵀ of all steps (and their gradients) stay single tfjs matrix products outside. Gate order is ONNX's
// (i, o, f, c); the activations are the default ones (sigmoid, tanh, tanh), computed with std::exp/std::tanh.
// For the reverse direction, step k reads time T-1-k; outputs are indexed by time.

inline float sigmoidOf(float v) { return 1.f / (1.f + std::exp(-v)); }

// lstmForward(heap, xp, rt, h0, c0, y, saved, params): xp [T, N, 4H] the input products with both biases,
// rt [H, 4H] = Rᵀ, h0 and c0 [N, H]; writes y [T, N, H] (h_t) and saved [T, N, 5H] (c_t, i, o, f, g per step).
napi_value LstmForward(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 8);
  const int* p = args.lstmParams(7);
  const size_t T = p[L_STEPS], N = p[L_BATCH], H = p[L_HIDDEN];
  const float* xp = args.tensor(1, T * N * 4 * H);
  const float* rt = args.tensor(2, H * 4 * H);
  const float* h0 = args.tensor(3, N * H);
  const float* c0 = args.tensor(4, N * H);
  float* y = args.tensor(5, T * N * H);
  float* saved = args.tensor(6, T * N * 5 * H);
  if (!args.complete()) return nullptr;
  const bool reverse = p[L_REVERSE] != 0;
  thread_local std::vector<float> gates;
  gates.resize(N * 4 * H);
  for (size_t k = 0; k < T; k++) {
    const size_t t = reverse ? T - 1 - k : k;
    const float* hPrev = k == 0 ? h0 : y + (reverse ? t + 1 : t - 1) * N * H;
    const float* cPrev = k == 0 ? c0 : saved + (reverse ? t + 1 : t - 1) * N * 5 * H;
    const size_t cStride = k == 0 ? H : 5 * H;
    std::memcpy(gates.data(), xp + t * N * 4 * H, sizeof(float) * N * 4 * H);
    dnnl_sgemm('N', 'N', N, 4 * H, H, 1.f, hPrev, H, rt, 4 * H, 1.f, gates.data(), 4 * H);
    for (size_t n = 0; n < N; n++) {
      const float* g = gates.data() + n * 4 * H;
      float* s = saved + (t * N + n) * 5 * H;
      float* h = y + (t * N + n) * H;
      const float* cp = cPrev + n * cStride;
      for (size_t j = 0; j < H; j++) {
        const float i = sigmoidOf(g[j]), o = sigmoidOf(g[H + j]), f = sigmoidOf(g[2 * H + j]), c = std::tanh(g[3 * H + j]);
        const float cell = f * cp[j] + i * c;
        s[j] = cell;
        s[H + j] = i;
        s[2 * H + j] = o;
        s[3 * H + j] = f;
        s[4 * H + j] = c;
        h[j] = o * std::tanh(cell);
      }
    }
  }
  return nullptr;
}

// lstmBackward(heap, rt, y, saved, h0, c0, dy, dhT, dcT, dxp, dh0, dc0, dRt, params): the gradients of the
// gate pre-activations per step (dxp [T, N, 4H], which are also the input products' and biases' gradients),
// of the initial states, and dRt = Σ_t h_{t-1}ᵀ·dxp_t [H, 4H], from dy [T, N, H] and the final states' dhT, dcT.
napi_value LstmBackward(napi_env env, napi_callback_info info) {
  KernelArgs args(env, info, 14);
  const int* p = args.lstmParams(13);
  const size_t T = p[L_STEPS], N = p[L_BATCH], H = p[L_HIDDEN];
  const float* rt = args.tensor(1, H * 4 * H);
  const float* y = args.tensor(2, T * N * H);
  const float* saved = args.tensor(3, T * N * 5 * H);
  const float* h0 = args.tensor(4, N * H);
  const float* c0 = args.tensor(5, N * H);
  const float* dy = args.tensor(6, T * N * H);
  const float* dhT = args.tensor(7, N * H);
  const float* dcT = args.tensor(8, N * H);
  float* dxp = args.tensor(9, T * N * 4 * H);
  float* dh0 = args.tensor(10, N * H);
  float* dc0 = args.tensor(11, N * H);
  float* dRt = args.tensor(12, H * 4 * H);
  if (!args.complete()) return nullptr;
  const bool reverse = p[L_REVERSE] != 0;
  thread_local std::vector<float> dh, dc;
  dh.assign(dhT, dhT + N * H);
  dc.assign(dcT, dcT + N * H);
  std::fill(dRt, dRt + H * 4 * H, 0.f);
  for (size_t k = T; k-- > 0;) {
    const size_t t = reverse ? T - 1 - k : k;
    const bool first = k == 0;
    const size_t prev = reverse ? t + 1 : t - 1;
    const float* hPrev = first ? h0 : y + prev * N * H;
    float* dG = dxp + t * N * 4 * H;
    for (size_t n = 0; n < N; n++) {
      const float* s = saved + (t * N + n) * 5 * H;
      const float* cp = first ? c0 + n * H : saved + (prev * N + n) * 5 * H;
      const float* dyt = dy + (t * N + n) * H;
      float* g = dG + n * 4 * H;
      float* dhn = dh.data() + n * H;
      float* dcn = dc.data() + n * H;
      for (size_t j = 0; j < H; j++) {
        const float cell = s[j], i = s[H + j], o = s[2 * H + j], f = s[3 * H + j], c = s[4 * H + j];
        const float th = std::tanh(cell);
        const float dhj = dhn[j] + dyt[j];
        const float dcell = dcn[j] + dhj * o * (1.f - th * th);
        g[j] = dcell * c * i * (1.f - i);
        g[H + j] = dhj * th * o * (1.f - o);
        g[2 * H + j] = dcell * cp[j] * f * (1.f - f);
        g[3 * H + j] = dcell * i * (1.f - c * c);
        dcn[j] = dcell * f;
      }
    }
    // dh_{t-1} = dG·R = dG·rtᵀ; dRt += h_{t-1}ᵀ·dG.
    dnnl_sgemm('N', 'T', N, H, 4 * H, 1.f, dG, 4 * H, rt, 4 * H, 0.f, dh.data(), H);
    dnnl_sgemm('T', 'N', H, 4 * H, N, 1.f, hPrev, H, dG, 4 * H, 1.f, dRt, 4 * H);
  }
  std::memcpy(dh0, dh.data(), sizeof(float) * N * H);
  std::memcpy(dc0, dc.data(), sizeof(float) * N * H);
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"convForward", nullptr, ConvForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"convBackwardData", nullptr, ConvBackwardData, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"convBackwardWeights", nullptr, ConvBackwardWeights, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"convImplementation", nullptr, ConvImplementation, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pgQuantSplit", nullptr, PgQuantSplit, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pgQuantBackward", nullptr, PgQuantBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pgFakeQuantBackward", nullptr, PgFakeQuantBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pgGateForward", nullptr, PgGateForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pgGateBackward", nullptr, PgGateBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pgQuantizeWeights", nullptr, PgQuantizeWeights, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pgGelu", nullptr, PgGelu, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pgLayerNorm", nullptr, PgLayerNorm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pgLayerNormBackward", nullptr, PgLayerNormBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchMatMul", nullptr, BatchMatMul, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pgMaxPool", nullptr, PgMaxPool, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pgMaxPoolBackward", nullptr, PgMaxPoolBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"columnCopy", nullptr, ColumnCopy, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sumSlots", nullptr, SumSlots, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adamUpdate", nullptr, AdamUpdate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"getThreads", nullptr, GetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"lstmForward", nullptr, LstmForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"lstmBackward", nullptr, LstmBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
