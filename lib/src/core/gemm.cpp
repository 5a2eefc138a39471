// GEMM, BLIS-style (Van Zee & van de Geijn): five loops around a register-blocked micro-kernel.
//
//   for jc over N in NC:          B block (kc x nc) packed into NR-column panels  (L3 / L2)
//     for pc over K in KC:
//       for ic over M in MC:      A block (mc x kc) packed into MR-row panels     (L2)
//         for jr over nc in NR:   one B panel (kc x NR) stays in L1
//           for ir over mc in MR: micro-kernel: MR x NR tile of C in registers
//
// The micro-kernel broadcasts one element of A and multiplies it with NV vectors of B, so the tile is
// MR x (NV * W) for a vector width W: 12 x 2W with 32 vector registers (AVX-512, NEON), 6 x 2W with 16
// (AVX2, SSE2), 4 x 2W for SIMD128 (see Blocking), 4 x 4 in the scalar build. Two departures from
// BLIS, both measured on the small shapes a training step has: A is packed only when C is wide enough
// for a packed panel to be reused (else the kernel broadcasts straight from op(A), see ARead), and the
// last rows of C use a kernel of MR/3 or 2MR/3 rows. A third, for the many tiny products of attention
// (12 x 12 scores of one head): when C has at most W columns, B panels and the tile are one vector wide
// (NV = 1), so no FMA is spent on a second, all-padding vector; and when op(B) is exactly one panel
// wide with contiguous rows it is read in place, not packed; given transposed (B^T), it is packed W x W
// blocks at a time, transposed in registers, as a row-major op(A) is when packed (kTransposeA). B panels
// are zero-padded; a partial tile is computed in full and only its valid part is written to C (masked
// stores with AVX-512).
#include <algorithm>

#include "lipflow/core/kernels.hpp"
#include "simd.hpp"

namespace lipflow {
namespace kernels {
namespace {

template <class T>
struct Blocking {
  using V = simd::Vec<T>;
  static constexpr std::size_t W = V::size;
  static constexpr std::size_t NV = W == 1 ? 4 : 2;  // vectors per B panel (1 for C of <= W columns)
#ifdef __EMSCRIPTEN__
  // SIMD128: the engine allocates the registers. V8 on x86-64 gives wasm 15 XMM registers and a
  // multiply-add without FMA needs a temporary, so 6 x 2W (12 accumulators) is too tight; 4 x 2W
  // measured 12% faster on the E2 training step in V8, with the same results bit for bit.
  static constexpr std::size_t MR = 4;
#else
  static constexpr std::size_t MR = W == 1 ? 4 : (simd::kVectorRegisters >= 32 ? 12 : 6);
#endif
  static constexpr std::size_t KC = 256;
  static constexpr std::size_t NR = NV * W;
  static constexpr std::size_t MC = MR * (W == 1 ? 16 : 12);
  static constexpr std::size_t NC = NR * (W == 1 ? 256 : 128);
  // A is packed only when each packed panel serves more than this many B panels; below that the
  // micro-kernel broadcasts straight from op(A) (packing would cost more than it saves). In
  // WebAssembly the packing loop is scalar and the panels are narrow (8 columns): packing the 64 x 64
  // products of the E2 step cost 15% of the step in V8, so it waits for wider products there.
#ifdef __EMSCRIPTEN__
  static constexpr std::size_t kPackAPanels = 32;
#else
  static constexpr std::size_t kPackAPanels = 4;
#endif
};

// Full unrolling of the micro-kernel's loops over its constant tile (rows, vectors): the accumulator
// tile must stay in registers. GCC takes an unroll count. For clang a count is a hint it may decline
// (then, in WebAssembly, the tile lived in stack memory); unroll(full) is a request it reports when it
// cannot honour, an error under -Werror, so such a loop is seen at build time.
#if defined(__clang__)
#define LIPFLOW_UNROLL _Pragma("clang loop unroll(full)")
#else
#define LIPFLOW_UNROLL _Pragma("GCC unroll 16")
#endif

constexpr std::size_t round_up(std::size_t x, std::size_t to) { return (x + to - 1) / to * to; }

// op(A) element (i, p) lives at a[i * rs + p * cs].
template <class T>
struct Strided {
  const T* p;
  std::size_t rs, cs;
};

// WebAssembly keeps the GEMM as it was measured in V8 (Node 20) before the native tuning marked with
// kNativeTuning: each of those made the E2 step slower there, with the same bits (B^T transposed in
// registers: 0.48 -> 0.60 ms; A read in place by columns or by two row pointers: -> 0.72 ms; the
// one-tile path: -> 0.63 ms), although a lone NT product was faster with the transposition. The cause
// was not found; V8's code for this file moved by a third with changes that were neutral natively.
#ifdef __EMSCRIPTEN__
constexpr bool kNativeTuning = false;
#else
constexpr bool kNativeTuning = true;
#endif

// One P-wide panel (element (p, j) at out[p * P + j]) of a matrix stored transposed (element (p, j) at
// src[j * ld + p], j < n; B^T, or a row-major op(A)), the transpose of n rows of src done W x W at a
// time in registers (simd::transpose_block): 58 -> 24 ns for attention's 12 x 16 block of B^T with
// AVX-512. Columns n..P of the panel are zero. Needs P a multiple of W, or P < W: then each row
// written spills W - P zeros onto the next, which is written after it, and on the W - P elements
// after the panel.
template <class T, std::size_t P>
void pack_panel_transposed(const T* src, std::size_t ld, std::size_t kc, std::size_t n, T* out) {
  constexpr std::size_t W = simd::Vec<T>::size;
  for (std::size_t v = 0; v < P; v += W) {
    const std::size_t rows = v < n ? std::min(W, n - v) : 0;
    for (std::size_t p = 0; p < kc; p += W)
      simd::transpose_block(src + v * ld + p, ld, rows, std::min(W, kc - p), out + p * P + v, P);
  }
}

// pack_a packs a row-major op(A) with pack_panel_transposed when a panel's MR rows are whole W x W
// blocks (MR a multiple of W: NEON) or within one (MR < W: AVX-512, AVX2; the workspace then holds W
// spare elements for the last panel's spill).
template <class T>
constexpr bool kTransposeA = kNativeTuning && Blocking<T>::W > 1 &&
                             (Blocking<T>::MR % Blocking<T>::W == 0 || Blocking<T>::MR < Blocking<T>::W);

// Packs op(A)[ic : ic+mc, pc : pc+kc] into MR-row panels: panel r holds, for each p, MR values.
template <class T>
void pack_a(Strided<T> a, std::size_t mc, std::size_t kc, T* out) {
  constexpr std::size_t MR = Blocking<T>::MR;
  for (std::size_t ir = 0; ir < mc; ir += MR) {
    const std::size_t mr = std::min(MR, mc - ir);
    const T* src = a.p + ir * a.rs;
    if (a.rs == 1) {  // op(A) columns contiguous: MR values per p are adjacent
      for (std::size_t p = 0; p < kc; ++p) {
        const T* s = src + p * a.cs;
        std::size_t i = 0;
        for (; i < mr; ++i) out[i] = s[i];
        for (; i < MR; ++i) out[i] = T(0);
        out += MR;
      }
    } else if (a.cs == 1 && kTransposeA<T>) {  // op(A) rows contiguous: W x W blocks in registers
      pack_panel_transposed<T, MR>(src, a.rs, kc, mr, out);
      out += kc * MR;
    } else {
      for (std::size_t i = 0; i < mr; ++i) {
        const T* s = src + i * a.rs;
        for (std::size_t p = 0; p < kc; ++p) out[p * MR + i] = s[p * a.cs];
      }
      for (std::size_t i = mr; i < MR; ++i)
        for (std::size_t p = 0; p < kc; ++p) out[p * MR + i] = T(0);
      out += kc * MR;
    }
  }
}

// Packs op(B)[pc : pc+kc, jc : jc+nc] into NR-column panels (NR = NV * W): panel j holds, for each
// p, NR values.
template <class T, std::size_t NV>
void pack_b(Strided<T> b, std::size_t kc, std::size_t nc, T* out) {
  using V = simd::Vec<T>;
  constexpr std::size_t W = V::size, NR = NV * W;
  for (std::size_t jr = 0; jr < nc; jr += NR) {
    const std::size_t nr = std::min(NR, nc - jr);
    const T* src = b.p + jr * b.cs;
    if (b.cs == 1 && nr == NR) {  // rows of op(B) contiguous: vector copies
      for (std::size_t p = 0; p < kc; ++p) {
        const T* s = src + p * b.rs;
        for (std::size_t v = 0; v < NR; v += W) V::load_unaligned(s + v).store_unaligned(out + v);
        out += NR;
      }
    } else if (b.cs == 1) {
      for (std::size_t p = 0; p < kc; ++p) {
        const T* s = src + p * b.rs;
        std::size_t j = 0;
        for (; j < nr; ++j) out[j] = s[j];
        for (; j < NR; ++j) out[j] = T(0);
        out += NR;
      }
    } else if (b.rs == 1 && kNativeTuning) {  // B given transposed: W x W blocks in registers
      pack_panel_transposed<T, NR>(src, b.cs, kc, nr, out);
      out += kc * NR;
    } else {
      for (std::size_t j = 0; j < nr; ++j) {
        const T* s = src + j * b.cs;
        for (std::size_t p = 0; p < kc; ++p) out[p * NR + j] = s[p * b.rs];
      }
      for (std::size_t j = nr; j < NR; ++j)
        for (std::size_t p = 0; p < kc; ++p) out[p * NR + j] = T(0);
      out += kc * NR;
    }
  }
}

// Natively the micro-kernel is inlined into its tile loop (a call per tile cost 1% of the products of
// a training step). In WebAssembly clang decides, as when it was measured there (see kNativeTuning).
#ifdef __EMSCRIPTEN__
#define LIPFLOW_MICRO_KERNEL inline
#else
#define LIPFLOW_MICRO_KERNEL __attribute__((always_inline)) inline
#endif

// How the micro-kernel reads A, whose element (i, p) is at a[i * rs + p * cs]:
//   columns:  rs = 1 and all R rows readable (a packed MR-row panel, cs = MR; or op(A) = A^T in place
//             and mr = R): one pointer, constant offsets;
//   rows:     mr = R: two pointers, to rows 0 and R/2, walk along p; the other rows are at constant
//             multiples of rs from them (a pointer per row does not fit x86-64's 15 general registers
//             beside the loop's own, and the spills cost 6% of a 384 x 32 x 32 product);
//   clamped:  a pointer per row, rows past mr repeating row mr - 1, so nothing outside op(A) is read
//             (the extra rows are discarded).
// In WebAssembly (kNativeTuning) only packed panels are read by columns, the rest clamped.
enum class ARead { columns, rows, clamped };

// C[0:mr, 0:nr] = alpha * (A * Bpanel) + beta * C for an R x NR tile (mr <= R <= MR, NR = NV * W),
// with beta == 0 not reading C. Row p of the B panel starts at bp + p * bs (bs = NR when packed).
// Inlined natively (see LIPFLOW_MICRO_KERNEL).
template <class T, std::size_t R, ARead kRead, std::size_t NV>
LIPFLOW_MICRO_KERNEL void micro_kernel(std::size_t kc, const T* a, std::size_t rs, std::size_t cs, const T* bp,
                                       std::size_t bs, T alpha, T beta, T* c, std::size_t ldc, std::size_t mr,
                                       std::size_t nr) {
  using V = simd::Vec<T>;
  constexpr std::size_t W = V::size, NR = NV * W;
  constexpr std::size_t MR = R, H = R > 1 ? R / 2 : 1;  // ARead::rows needs R even
  const T* row[MR] = {};
  if (kRead == ARead::clamped)
    for (std::size_t i = 0; i < MR; ++i) row[i] = a + (i < mr ? i : mr - 1) * rs;
  const T* half[2] = {a, kRead == ARead::rows ? a + H * rs : a};  // (no pointer past op(A) otherwise)

  V acc[MR][NV];
LIPFLOW_UNROLL
  for (std::size_t i = 0; i < MR; ++i)
LIPFLOW_UNROLL
    for (std::size_t v = 0; v < NV; ++v) acc[i][v] = V(T(0));

  std::size_t q = 0;
  for (std::size_t p = 0; p < kc; ++p) {
    V bv[NV];
LIPFLOW_UNROLL
    for (std::size_t v = 0; v < NV; ++v) bv[v] = V::load_unaligned(bp + v * W);
LIPFLOW_UNROLL
    for (std::size_t i = 0; i < MR; ++i) {
      const V av(kRead == ARead::columns ? a[q + i]
                 : kRead == ARead::rows  ? half[i / H][(i % H) * rs]
                                         : row[i][q]);
LIPFLOW_UNROLL
      for (std::size_t v = 0; v < NV; ++v) acc[i][v] = simd::fma(av, bv[v], acc[i][v]);
    }
    q += cs;
    half[0] += cs;
    half[1] += cs;
    bp += bs;
  }

  // C = alpha acc (+ beta C); alpha = 1 (most calls) skips the multiply, which is exact.
  if (alpha != T(1)) {
    const V va(alpha);
LIPFLOW_UNROLL
    for (std::size_t i = 0; i < MR; ++i)
LIPFLOW_UNROLL
      for (std::size_t v = 0; v < NV; ++v) acc[i][v] = acc[i][v] * va;
  }
  const V vb(beta);
  if (mr == MR && nr == NR) {  // the common case: every row and column valid
LIPFLOW_UNROLL
    for (std::size_t i = 0; i < MR; ++i) {
      T* ci = c + i * ldc;
LIPFLOW_UNROLL
      for (std::size_t v = 0; v < NV; ++v) {
        V r = acc[i][v];
        if (beta != T(0)) r = simd::fma(vb, V::load_unaligned(ci + v * W), r);
        r.store_unaligned(ci + v * W);
      }
    }
    return;
  }
  // Edge tiles: the same arithmetic on the valid rows, and on the valid lanes of each vector of them
  // (attention's 12 x 12 products are all edge). The loops run to the constants MR and NV (no early
  // exit: clang counts a loop with a break as of runtime length and does not unroll it fully) so that
  // acc is only ever indexed by constants: indexed at run time, clang (WebAssembly) kept the whole tile
  // in stack memory, in the k loop too.
LIPFLOW_UNROLL
  for (std::size_t i = 0; i < MR; ++i) {
LIPFLOW_UNROLL
    for (std::size_t v = 0; v < NV; ++v) {
      if (i >= mr || v * W >= nr) continue;
      T* cv = c + i * ldc + v * W;
      const std::size_t w = std::min(W, nr - v * W);
      V r = acc[i][v];
      if (beta != T(0)) r = simd::fma(vb, simd::load_head(cv, w), r);
      simd::store_head(r, cv, w);
    }
  }
}

// One tile of R rows, A read by the cheapest way that is safe (see ARead).
template <class T, std::size_t R, bool kPackedA, std::size_t NV>
void tile_rows(std::size_t kc, const T* a, std::size_t rs, std::size_t cs, const T* bp, std::size_t bs, T alpha,
               T beta, T* c, std::size_t ldc, std::size_t mr, std::size_t nr) {
  if (kPackedA || (kNativeTuning && rs == 1 && mr == R)) {
    micro_kernel<T, R, ARead::columns, NV>(kc, a, rs, cs, bp, bs, alpha, beta, c, ldc, mr, nr);
    return;
  }
  if constexpr (kNativeTuning && R % 2 == 0) {
    if (mr == R) {
      micro_kernel<T, R, ARead::rows, NV>(kc, a, rs, cs, bp, bs, alpha, beta, c, ldc, mr, nr);
      return;
    }
  }
  micro_kernel<T, R, ARead::clamped, NV>(kc, a, rs, cs, bp, bs, alpha, beta, c, ldc, mr, nr);
}

// One tile: the full MR-row kernel, or for the last rows of C the smallest of the MR/3, 2MR/3 row
// kernels that covers them (less wasted work on the edge of small matrices).
template <class T, bool kPackedA, std::size_t NV>
void tile(std::size_t kc, const T* a, std::size_t rs, std::size_t cs, const T* bp, std::size_t bs, T alpha, T beta,
          T* c, std::size_t ldc, std::size_t mr, std::size_t nr) {
  constexpr std::size_t MR = Blocking<T>::MR, R1 = MR / 3, R2 = 2 * MR / 3;
  if (mr <= R1)
    tile_rows<T, R1, kPackedA, NV>(kc, a, rs, cs, bp, bs, alpha, beta, c, ldc, mr, nr);
  else if (mr <= R2)
    tile_rows<T, R2, kPackedA, NV>(kc, a, rs, cs, bp, bs, alpha, beta, c, ldc, mr, nr);
  else
    tile_rows<T, MR, kPackedA, NV>(kc, a, rs, cs, bp, bs, alpha, beta, c, ldc, mr, nr);
}

// The five loops for panels of NV vectors (NR = NV * W columns); gemm() has checked the arguments and
// the workspace.
template <class T, std::size_t NV>
void blocked(std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t ars, std::size_t acs,
             const T* b, std::size_t brs, std::size_t bcs, T beta, T* c, std::size_t ldc, T* work) {
  using B = Blocking<T>;
  constexpr std::size_t NR = NV * B::W;
  T* bpack = work;
  T* apack = work + round_up(std::min(n, B::NC), NR) * std::min(k, B::KC);  // used when packing A
  // op(B) exactly one panel wide with contiguous rows (P V and most backward products of a training
  // step): the kernel reads its rows in place, which saves the copy and is as fast, the few rows a
  // tile reads staying in L1.
  const bool direct_b = bcs == 1 && n == NR;

  for (std::size_t jc = 0; jc < n; jc += B::NC) {
    const std::size_t nc = std::min(B::NC, n - jc);
    const bool pack_a_blocks = nc > B::kPackAPanels * NR;
    for (std::size_t pc = 0; pc < k; pc += B::KC) {
      const std::size_t kc = std::min(B::KC, k - pc);
      const T beta_pc = pc == 0 ? beta : T(1);
      if (!direct_b) pack_b<T, NV>(Strided<T>{b + pc * brs + jc * bcs, brs, bcs}, kc, nc, bpack);
      const std::size_t bs = direct_b ? brs : NR;
      for (std::size_t ic = 0; ic < m; ic += B::MC) {
        const std::size_t mc = std::min(B::MC, m - ic);
        const T* a_block = a + ic * ars + pc * acs;
        if (pack_a_blocks) pack_a(Strided<T>{a_block, ars, acs}, mc, kc, apack);
        for (std::size_t jr = 0; jr < nc; jr += NR) {
          const std::size_t nr = std::min(NR, nc - jr);
          const T* bp = direct_b ? b + pc * brs : bpack + jr * kc;
          for (std::size_t ir = 0; ir < mc; ir += B::MR) {
            const std::size_t mr = std::min(B::MR, mc - ir);
            T* c_tile = c + (ic + ir) * ldc + jc + jr;
            if (pack_a_blocks)
              tile<T, true, NV>(kc, apack + ir * kc, 1, B::MR, bp, bs, alpha, beta_pc, c_tile, ldc, mr, nr);
            else
              tile<T, false, NV>(kc, a_block + ir * ars, ars, acs, bp, bs, alpha, beta_pc, c_tile, ldc, mr, nr);
          }
        }
      }
    }
  }
}

// blocked() for C of one tile and k within one KC block (attention's per-head products, 1,536 calls a
// step of the E5 model): the same pack and tile, without the five loops' bookkeeping.
template <class T, std::size_t NV>
void one_tile(std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t ars, std::size_t acs,
              const T* b, std::size_t brs, std::size_t bcs, T beta, T* c, std::size_t ldc, T* work) {
  constexpr std::size_t NR = NV * Blocking<T>::W;
  if (bcs == 1 && n == NR) {
    tile<T, false, NV>(k, a, ars, acs, b, brs, alpha, beta, c, ldc, m, n);
    return;
  }
  pack_b<T, NV>(Strided<T>{b, brs, bcs}, k, n, work);
  tile<T, false, NV>(k, a, ars, acs, work, NR, alpha, beta, c, ldc, m, n);
}

// C = beta * C (for k == 0 or alpha == 0).
template <class T>
void scale_c(std::size_t m, std::size_t n, T beta, T* c, std::size_t ldc) {
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

}  // namespace

template <class T>
std::size_t gemm_workspace(std::size_t m, std::size_t n, std::size_t k) noexcept {
  using B = Blocking<T>;
  if (m == 0 || n == 0 || k == 0) return 0;
  const std::size_t kc = std::min(k, B::KC), nc = std::min(n, B::NC);
  const std::size_t a_pack =
      nc > B::kPackAPanels * B::NR ? round_up(std::min(m, B::MC), B::MR) * kc + (kTransposeA<T> ? B::W : 0) : 0;
  return round_up(nc, B::NR) * kc + a_pack;
}

template <class T>
void gemm_tile(std::size_t* mr, std::size_t* nr) noexcept {
  if (mr) *mr = Blocking<T>::MR;
  if (nr) *nr = Blocking<T>::NR;
}

template <class T>
Status gemm(Trans trans_a, Trans trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
            const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc,
            T* work, std::size_t work_size) noexcept {
  using B = Blocking<T>;
  if (m == 0 || n == 0) return Status::success();
  if (c == nullptr) return Status(Code::null_pointer, "gemm: c");
  if (ldc < n) return Status(Code::invalid_argument, "gemm: ldc", (long long)ldc, (long long)n);
  const bool ta = trans_a == Trans::yes, tb = trans_b == Trans::yes;
  if (k == 0 || alpha == T(0)) {
    // Validate the operands all the same, so that a bad call fails the same way for any alpha.
    if (k != 0 && (a == nullptr || b == nullptr)) return Status(Code::null_pointer, "gemm: a or b");
    scale_c(m, n, beta, c, ldc);
    return Status::success();
  }
  if (a == nullptr) return Status(Code::null_pointer, "gemm: a");
  if (b == nullptr) return Status(Code::null_pointer, "gemm: b");
  const std::size_t min_lda = ta ? m : k, min_ldb = tb ? k : n;
  if (lda < min_lda) return Status(Code::invalid_argument, "gemm: lda", (long long)lda, (long long)min_lda);
  if (ldb < min_ldb) return Status(Code::invalid_argument, "gemm: ldb", (long long)ldb, (long long)min_ldb);
  const std::size_t need = gemm_workspace<T>(m, n, k);
  if (work == nullptr) return Status(Code::null_pointer, "gemm: work");
  if (work_size < need)
    return Status(Code::buffer_too_small, "gemm: work_size", (long long)work_size, (long long)need);

  // op(A)(i, p) = a[i * ars + p * acs]; op(B)(p, j) = b[p * brs + j * bcs]
  const std::size_t ars = ta ? 1 : lda, acs = ta ? lda : 1;
  const std::size_t brs = tb ? 1 : ldb, bcs = tb ? ldb : 1;
  // C no wider than one vector: one-vector panels (the workspace for them is no larger).
  if (B::NV > 1 && n <= B::W) {
    if (kNativeTuning && m <= B::MR && k <= B::KC)
      one_tile<T, 1>(m, n, k, alpha, a, ars, acs, b, brs, bcs, beta, c, ldc, work);
    else
      blocked<T, 1>(m, n, k, alpha, a, ars, acs, b, brs, bcs, beta, c, ldc, work);
  } else {
    blocked<T, B::NV>(m, n, k, alpha, a, ars, acs, b, brs, bcs, beta, c, ldc, work);
  }
  return Status::success();
}

#define LIPFLOW_INSTANTIATE_GEMM(T)                                                              \
  template std::size_t gemm_workspace<T>(std::size_t, std::size_t, std::size_t) noexcept;        \
  template void gemm_tile<T>(std::size_t*, std::size_t*) noexcept;                               \
  template Status gemm<T>(Trans, Trans, std::size_t, std::size_t, std::size_t, T, const T*,      \
                          std::size_t, const T*, std::size_t, T, T*, std::size_t, T*, std::size_t) noexcept;
LIPFLOW_INSTANTIATE_GEMM(float)
LIPFLOW_INSTANTIATE_GEMM(double)
#undef LIPFLOW_INSTANTIATE_GEMM

}  // namespace kernels
}  // namespace lipflow
