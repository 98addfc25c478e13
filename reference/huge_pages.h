// huge_pages.h: memory for weights the kernel streams (interleaved copies, probe and bench
// matrices): 2 MiB-aligned, rounded up to 2 MiB, transparent huge pages requested. With 4 KiB
// pages the hardware prefetchers stop at every page and large matrices stream markedly slower.
// The pages are not touched here.
#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace gs::ref {

inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

struct HugeFree {
  void operator()(std::uint8_t* p) const { std::free(p); }
};
using HugeBuffer = std::unique_ptr<std::uint8_t, HugeFree>;

inline std::size_t huge_round_up(std::size_t bytes) { return (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes; }

// Throws std::bad_alloc when the memory is not there.
inline HugeBuffer alloc_huge_pages(std::size_t bytes) {
  const std::size_t n = huge_round_up(bytes);
  auto* p = static_cast<std::uint8_t*>(std::aligned_alloc(kHugePageBytes, n));
  if (p == nullptr) throw std::bad_alloc();
  ::madvise(p, n, MADV_HUGEPAGE);  // a hint: without THP the pages stay 4 KiB
  return HugeBuffer(p);
}

}  // namespace gs::ref
