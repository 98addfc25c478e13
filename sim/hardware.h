// hardware.h: devices (GPUs, CPUs, unified-memory chips, boards) and systems
// (devices + host + links + price), loaded from hwdb/ (schema: hwdb/README.md).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "json_util.h"
#include "units.h"

namespace gs {

struct Device {
  std::string id, name, kind;   // kind: "gpu" | "cpu" | "unified" (one memory shared by CPU and GPU)
  std::string vendor;           // "nvidia" | "amd" | "apple" | "intel" | "arm" ...
  std::string backend;          // default backend family: "cuda" | "rocm" | "metal" | "vulkan" | "cpu"
  std::string arch;             // "turing", "ampere", "ada", "zen4", "cortex-a76" ...
  double memory_bytes = 0;
  double memory_bandwidth_bytes_per_s = 0;
  // Peak compute per data type: "fp32", "fp16", "bf16", "int8", "fp8", "fp4" (dense, no sparsity).
  std::map<std::string, double> peak_flops_per_s;
  // Measured next to a run (gemmasim validate; hwdb files do not set it): the reference kernel's
  // mat-vec stream per weight format ("q4_0", ...) at `cores` threads. A CPU engine profile with
  // bandwidth_efficiency_by_format streams those formats at this rate instead of its ratio x
  // memory_bandwidth_bytes_per_s (a STREAM triad on fresh arrays, which a one-thread read stream
  // of this kernel does not follow on a shared VM: docs/validation.md).
  std::map<std::string, double> weight_stream_bytes_per_s;
  double gpu_memory_fraction = 1.0;  // unified chips: share the GPU may wire (Apple ~0.75)
  int cores = 0;                // CPU cores (cpu / unified)
  // Instruction-set features of the CPU cores (hwdb/cpu-features.json ids: "avx2", "avx512_vnni",
  // "dotprod", "i8mm" ...); a CPU device that states them and no int8 peak gets one derived from
  // its fp32 peak (int8_source says so).
  std::vector<std::string> cpu_features;
  // Unified chips whose peak table is their GPU's: the CPU cores' own peaks ("fp32", "fp16",
  // "int8"; int8 derived from cpu_features when not stated); empty when unknown.
  std::map<std::string, double> cpu_peak_flops_per_s;
  std::string int8_source;
  // Written by `gemmasim probe`: the reference kernel's constants measured on this machine
  // (measured.reference_engine_throughput), whether its attention reads the f16 KV cache in
  // place, its ISA and the probe's tag; an engine with throughput_from "device" takes them.
  json probed_engine_constants;
  bool attention_reads_f16 = false;
  std::string probed_isa, probed_tag;
  int pcie_generation = 0;      // discrete GPUs: PCIe generation of the card (0 unknown)
  int pcie_lanes = 0;           // discrete GPUs: PCIe lanes of the card (0 unknown: x16 assumed)
  // Where the device is used: "desktop" (also laptops), "server" (datacenter, headless),
  // "board" (Raspberry Pi, Jetson), "phone"; "" = not stated (a desktop). Sets the memory the
  // operating system keeps (hwdb/reserve.json).
  std::string form_factor;
  // Phones: the memory one app may use (iOS jetsam limit, Android after system services); 0 unknown.
  double app_memory_limit_bytes = 0;
  // Unified chips whose default backend is the CPU (Android phones): the GPU's own peaks, for
  // engines that run on it (LiteRT-LM's GPU back end); empty when unknown.
  std::map<std::string, double> gpu_peak_flops_per_s;
  double tdp_w = 0;
  // Published whole-machine power while an LLM runs (a board or a unified box measured at the
  // wall), replacing the tdp_w rule of sim/power.h for a system of this device alone; 0 unknown.
  double measured_loaded_w = 0;
  double price_usd = 0;         // 0: unknown
  std::string price_date, price_kind;
  json sources;
  bool is_gpu() const { return kind == "gpu"; }
  bool is_unified() const { return kind == "unified"; }
  double flops(const std::string& dtype) const;  // falls back fp16 -> fp32; 0 if unknown
};

struct Link {
  std::string kind;            // "pcie" | "nvlink" | "none"
  int generation = 0, lanes = 0;
  double bytes_per_s = 0;      // practical per direction
};

// A system: what a user owns or would buy.
struct System {
  std::string id, name, file;
  std::vector<Device> gpus;    // one entry per physical GPU (count expanded)
  Device host;                 // CPU (or unified chip) with host memory
  double host_memory_bytes = 0;
  Link host_link;              // CPU <-> GPU
  Link gpu_link;               // GPU <-> GPU
  double price_usd = 0;
  std::string price_date;
  double rental_usd_per_hour = 0;  // cloud instances: the hourly on-demand price (0: not rented)
  double measured_loaded_w = 0;     // published power at the wall during LLM runs (0: unknown)
  json parts, sources;
  // Memory the operating system and desktop keep (hwdb/reserve.json by form factor, or the
  // system file's own figures, or --reserve): host_reserve_bytes out of host (or unified)
  // memory, display_reserve_bytes out of the first GPU (the one driving the display).
  std::string form_factor = "desktop";
  double host_reserve_bytes = 0, display_reserve_bytes = 0;
  std::string reserve_source;
  // one memory shared by CPU and GPU: a unified host chip with no discrete GPU attached
  // (a Raspberry Pi 5 or a Mac driving an external GPU is a host + a discrete GPU)
  bool unified() const { return host.is_unified() && gpus.empty(); }
  bool has_gpu() const { return !gpus.empty() || host.is_unified(); }
  // the backend the layers run on: the first GPU's, else the host's (a unified chip's GPU or CPU)
  const std::string& backend() const { return gpus.empty() ? host.backend : gpus.front().backend; }
  double gpu_memory_bytes() const;  // all GPUs (or the unified chip's GPU-usable share)
  // What the user should know about numbers given without a source (a device file of their own
  // without `sources`, an inline --hw spec, a FLOP/s derived for it); the CLI prints them.
  std::vector<std::string> warnings;
};

Device load_device_file(const std::string& path);
System load_system_file(const std::string& path);
// --hw: a system id, a device id (wrapped in a default system), a path to a JSON file, or an
// inline spec of comma-separated key=value pairs:
//   kind=gpu|cpu|unified   (default: gpu when vram is given, else cpu)
//   vram=12GiB | mem=64GiB (the device's memory; mem for a CPU or unified chip)
//   bw=360GB/s             (its memory bandwidth; required)
//   fp16=, bf16=, fp32=, int8=, fp8=, fp4= (peak FLOP/s, e.g. fp16=40TFLOPS)
//   ram=32GiB              (host memory beside a GPU; default 32 GiB)
//   backend=cuda|rocm|metal|vulkan|sycl|cpu (default: cuda for a gpu, metal for a unified chip,
//   cpu for a cpu), cores=N, name=TEXT
// A GPU given without any FLOP/s gets fp16 = bw x the median fp16 FLOP per byte of the GPUs in
// hwdb/devices, with a warning (System::warnings): decode follows bw, prefill that guess.
// A device file of the user's own (a path) may omit `sources` and `schema_version`: its
// numbers are taken with a warning. Files in hwdb/ must carry both.
System resolve_hardware(const std::string& id_or_path);
// --reserve BYTES: the host (or unified) memory the OS keeps, replacing the system's default.
void set_host_reserve(System& s, double bytes, const std::string& why);
// --display-reserve BYTES: the VRAM the display keeps on the first GPU.
void set_display_reserve(System& s, double bytes);
// Memory usable by this run out of host/unified memory: installed minus the OS reserve (and,
// on a phone, at most the app limit).
double usable_host_memory_bytes(const System& s);
std::vector<Device> all_devices();
std::vector<System> all_systems();

}  // namespace gs
