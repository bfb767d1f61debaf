#include "infomamba/kernels/kernels.h"

namespace infomamba::kernels {

const KernelTable& scalar_kernels() {
  static const KernelTable table = {
      "scalar",          scalar::linear,  scalar::rmsnorm,
      scalar::silu,      scalar::sigmoid, scalar::softplus,
      scalar::softmax,   scalar::add,     scalar::causal_conv1d_step,
      scalar::selective_scan_step,        scalar::concept_memory_step,
      scalar::gated_mix};
  return table;
}

const KernelTable& simd_kernels() {
  static const KernelTable table = {
      "simd",          simd::linear,  simd::rmsnorm,
      simd::silu,      simd::sigmoid, simd::softplus,
      simd::softmax,   simd::add,     simd::causal_conv1d_step,
      simd::selective_scan_step,      simd::concept_memory_step,
      simd::gated_mix};
  return table;
}

}  // namespace infomamba::kernels
