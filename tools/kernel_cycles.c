/* Cycles per vector of the row kernels, data in L1: the measurement behind the cycle counts
 * in the notes and comments (an x86-64 tool; the kernels of the best ISA this CPU runs).
 *
 *   gcc -O3 -ffp-contract=off -fno-math-errno -Icsrc tools/kernel_cycles.c csrc/fsm_driver.c \
 *       csrc/fsm_dispatch.c csrc/fsm_scalar.c csrc/fsm_sse2.c csrc/fsm_avx2.c -lm -o /tmp/kc
 *   /tmp/kc [n]          (n: the row length, default 1000)
 *
 * Each kernel runs on four rows of n float32 in turn (16 KB for n = 1000, in L1), many
 * times; the best of 5 rounds is printed in core cycles per 8 floats. The time stamp
 * counter need not tick at the core clock: its ratio to the core clock is taken from a
 * chain of dependent double adds, assumed 3 cycles each (Zen 2-4, most recent Intel cores
 * have 4: then scale the figures by 4/3). A/B: build two copies of csrc and compare.
 */
#include "fsm.h"
#include <stdio.h>
#include <stdlib.h>
#include <x86intrin.h>

#define ROWS 4
#define ADD_LATENCY 3.0

/* core cycles per time stamp tick, from a chain of dependent adds */
static double core_per_tick(void)
{
    const long reps = 50000000;
    double a = 1.0;
    unsigned long long t0 = __rdtsc();
    for (long i = 0; i < reps; i++) {
        a += 1e-9;
        __asm__ volatile("" : "+x"(a));
    }
    unsigned long long t1 = __rdtsc();
    return ADD_LATENCY * (double)reps / (double)(t1 - t0);
}

int main(int argc, char **argv)
{
    const fsm_int n = argc > 1 ? atol(argv[1]) : 1000;
    const fsm_kernels *k = fsm_isa_kernels(fsm_best_isa());
    float *x = aligned_alloc(64, sizeof(float) * ROWS * (size_t)((n + 15) / 16 * 16));
    float *y = aligned_alloc(64, sizeof(float) * ROWS * (size_t)((n + 15) / 16 * 16));
    float m[ROWS];
    srand(1);
    for (fsm_int i = 0; i < ROWS * n; i++) x[i] = (float)(6.0 * rand() / RAND_MAX - 3.0);
    for (int r = 0; r < ROWS; r++) m[r] = k->row_max_f32(x + r * n, n);
    const double cpt = core_per_tick();
    const long calls = 400000000 / (n + 100);
    static const char *names[] = {"row_max", "row_expsum, stored (softmax)",
                                  "row_expsum, ties apart (logsumexp)", "row_expsum_ml (loss)",
                                  "row_expsum_ml, stored (loss + grad)", "row_scale"};
    printf("kernels: %s, rows of %ld float32; core cycles per tick %.3f\n", k->name, (long)n, cpt);
    volatile double sink = 0;
    for (int t = 0; t < 6; t++) {
        double best = 1e30;
        for (int round = 0; round < 5; round++) {
            const unsigned long long t0 = __rdtsc();
            for (long i = 0; i < calls; i++) {
                const int r = (int)(i % ROWS);
                const float *xr = x + r * n;
                float *yr = y + r * n;
                double sum = 0, ties = 0;
                switch (t) {
                case 0: sum = k->row_max_f32(xr, n); break;
                case 1: k->row_expsum_f32(xr, n, m[r], 1, yr, &sum, NULL); break;
                case 2: k->row_expsum_f32(xr, n, m[r], 1, NULL, &sum, &ties); break;
                case 3: k->row_expsum_ml_f32(xr, n, m[r], NULL, &sum, &ties, NULL, NULL); break;
                case 4: k->row_expsum_ml_f32(xr, n, m[r], yr, &sum, &ties, NULL, NULL); break;
                default: k->row_scale_f32(yr, n, 0.5f, 0.0f); break;
                }
                sink += sum;
            }
            const double c = (double)(__rdtsc() - t0) * cpt / (double)calls / ((double)n / 8.0);
            best = c < best ? c : best;
        }
        printf("%-38s %6.2f cycles per 8 floats\n", names[t], best);
    }
    free(x);
    free(y);
    return 0;
}
