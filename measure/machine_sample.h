// machine_sample.h: the machine's speed at one moment, next to a measured run, and the rates a
// prediction takes from a probe and such samples.
//
// A shared machine's speed moves between a probe and a run, and during a run: validate samples
// the triad and the vector peaks right before and after each phase it times and predicts from
// those, with the probe's kernel constants (docs/validation.md).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "json_util.h"
#include "probe.h"
#include "validate.h"

namespace gs::measure {

// The machine's figures at one moment: triad, vector peaks and the kernel's stream of each
// weight format the run reads, at the run's threads; the clock, stolen time and busy CPU time
// when the child stopped (stop_*) and when it was continued (cont_*), and the child's own CPU
// time at the stop. Between one sample's continue and the next one's stop only the child
// should run: busy - child's CPU time is what other work took (other_cpu_s).
struct MachineSample {
  double triad_bytes_per_s = 0, fp32_flops_per_s = 0, int8_ops_per_s = 0;
  std::map<std::string, double> stream_bytes_per_s;
  double stop_s = 0, stop_steal_s = -1, cont_s = 0, cont_steal_s = -1;
  double stop_busy_s = -1, cont_busy_s = -1, child_cpu_s = -1;
};
// Other work's CPU time in the window from a's continue to b's stop (-1: unknown).
double other_cpu_s(const MachineSample& a, const MachineSample& b);
// Triad (best of 3, 3 x 256 MiB arrays allocated once per process), vector peaks, and for each
// format in `formats` the kernel's stream (64 MiB matrices per row length, 3 timed passes).
MachineSample sample_machine(int threads, const std::vector<std::string>& formats);
// The probe's figures at `threads` threads with its kernel constants (no sample yet).
MachineRates rates_at(const ProbeResult& p, int threads, const json& constants);
// r with the triad, peaks and streams of the mean of samples a and b.
MachineRates between(MachineRates r, const MachineSample& a, const MachineSample& b);
// The prediction's rates: the triad and the peaks, no measured streams.
MachineRates triad_alone(MachineRates r);

}  // namespace gs::measure
