// The kernel set a plan runs with: the xsimd kernels, or their scalar
// references (for comparison in tests and benchmarks).
#pragma once

#include "infomamba/kernels/kernels.h"

namespace infomamba {

struct KernelTable {
  const char* name;
  decltype(&kernels::scalar::linear) linear;
  decltype(&kernels::scalar::rmsnorm) rmsnorm;
  decltype(&kernels::scalar::add) add;
  decltype(&kernels::scalar::causal_conv1d_step) causal_conv1d_step;
  decltype(&kernels::scalar::selective_scan_step) selective_scan_step;
  decltype(&kernels::scalar::concept_memory_step) concept_memory_step;
  decltype(&kernels::scalar::gated_mix) gated_mix;
};

#define IMB_KERNEL_TABLE(ns, label)                                                          \
  KernelTable {                                                                              \
    label, &ns::linear, &ns::rmsnorm, &ns::add, &ns::causal_conv1d_step,                     \
        &ns::selective_scan_step, &ns::concept_memory_step, &ns::gated_mix                   \
  }

inline const KernelTable& simd_kernel_table() {
  static const KernelTable table = IMB_KERNEL_TABLE(kernels::simd, "simd");
  return table;
}

inline const KernelTable& scalar_kernel_table() {
  static const KernelTable table = IMB_KERNEL_TABLE(kernels::scalar, "scalar");
  return table;
}

#undef IMB_KERNEL_TABLE

}  // namespace infomamba
