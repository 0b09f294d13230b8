/* benches/gap.c: how much of its CPU a busy process loses, and in what gaps.
 *
 *   gcc -O2 -o gap benches/gap.c && taskset -c 1 ./gap 5
 *
 * Spins for the given seconds reading CLOCK_MONOTONIC and counts the jumps of
 * over 0.2 ms between two reads: time the CPU spent elsewhere (kernel threads,
 * interrupts, the hypervisor). Run it on the switch's CPU while a generator
 * loads the other one, to see the stalls a userspace switch must absorb. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  double dur = argc > 1 ? atof(argv[1]) : 5, t0 = now(), last = t0, lost = 0, max = 0;
  int n[5] = {0};
  for (;;) {
    double t = now(), g = t - last;
    last = t;
    if (t - t0 > dur) break;
    if (g > 0.0002) {
      lost += g;
      if (g > max) max = g;
      n[g > 0.004 ? 4 : g > 0.002 ? 3 : g > 0.001 ? 2 : g > 0.0005 ? 1 : 0]++;
    }
  }
  printf("gaps 0.2-0.5 ms: %d, 0.5-1 ms: %d, 1-2 ms: %d, 2-4 ms: %d, over 4 ms: %d; "
         "longest %.2f ms; %.2f%% of the time lost\n",
         n[0], n[1], n[2], n[3], n[4], max * 1e3, 100 * lost / dur);
  return 0;
}
