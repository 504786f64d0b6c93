/* The chunk kernel of gluon_params_kit's statistics in C (see stats_native.py).
 *
 * gpk_parts_f32 / gpk_parts_f64: the row stats_kernels._part (numba) computes for one
 * segment of float32 / float64 values, by the same arithmetic:
 *   out[0..6] = min, max, centre c (the middle of the range, in the values' type),
 *               sum of (v - c), sum of (v - c)^2, sum of v^2, zeros (0.0 and -0.0).
 * Extremes and zeros come from one pass over the values' bits as ordered integers (integer
 * min and max vectorize; float ones with their NaN rules do not). The sums run around c (no
 * cancellation), in the values' type over blocks of 512 values (vector lanes), the blocks
 * added in double; float32 values whose squares would underflow (below 2^-20) or overflow
 * (past 2^60) are summed with every term in double. A NaN or Inf makes the sums non-finite
 * (the caller then measures the segment in float64 by numpy).
 *
 * Built by stats_native.py with the C compiler of the machine, once, into a cache folder;
 * on x86-64 each function is compiled for AVX-512, AVX2 and the baseline, chosen when the
 * library loads (target_clones), so a cache shared by machines of different CPUs is safe.
 */
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && defined(GPK_CLONES)
#define GPK_TARGETS __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GPK_TARGETS
#endif

#define LANES 512

GPK_TARGETS
void gpk_parts_f32(const float *x, int64_t n, double *out) {
    const int32_t *bits = (const int32_t *)x;
    int32_t a = INT32_MAX, b = INT32_MIN;
    int64_t zeros = 0;
    for (int64_t b0 = 0; b0 < n; b0 += LANES) {  /* zeros counted in 32 bits per block: 16 lanes */
        int64_t m = n - b0 < LANES ? n - b0 : LANES;
        const int32_t *blk = bits + b0;
        int32_t z = 0;
        for (int64_t i = 0; i < m; i++) {
            int32_t v = blk[i];
            int32_t key = v ^ ((v >> 31) & INT32_MAX);
            a = key < a ? key : a;
            b = key > b ? key : b;
            z += (v & INT32_MAX) == 0;
        }
        zeros += z;
    }
    a ^= (a >> 31) & INT32_MAX;  /* the map is its own inverse */
    b ^= (b >> 31) & INT32_MAX;
    float flo, fhi;
    memcpy(&flo, &a, 4);
    memcpy(&fhi, &b, 4);
    double lo = flo, hi = fhi;
    float ct = (float)(lo * 0.5 + hi * 0.5);
    double c = ct, big = -lo > hi ? -lo : hi;
    double sd = 0.0, sq = 0.0;
    if (!(big >= 0x1p-20 && big <= 0x1p60) && big != 0.0) {
        for (int64_t i = 0; i < n; i++) {
            double d = (double)x[i] - c;
            sd += d;
            sq += d * d;
        }
    } else {
        for (int64_t b0 = 0; b0 < n; b0 += LANES) {
            int64_t m = n - b0 < LANES ? n - b0 : LANES;
            const float *blk = x + b0;
            float bd = 0.0f, bq = 0.0f;
            for (int64_t i = 0; i < m; i++) {
                float d = blk[i] - ct;
                bd += d;
                bq += d * d;
            }
            sd += bd;
            sq += bq;
        }
    }
    out[0] = lo; out[1] = hi; out[2] = c; out[3] = sd;
    out[4] = sq; out[5] = sq + c * (2.0 * sd + (double)n * c); out[6] = (double)zeros;
}

GPK_TARGETS
void gpk_parts_f64(const double *x, int64_t n, double *out) {
    const int64_t *bits = (const int64_t *)x;
    int64_t a = INT64_MAX, b = INT64_MIN;
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = bits[i];
        int64_t key = v ^ ((v >> 63) & INT64_MAX);
        a = key < a ? key : a;
        b = key > b ? key : b;
        zeros += (v & INT64_MAX) == 0;
    }
    a ^= (a >> 63) & INT64_MAX;
    b ^= (b >> 63) & INT64_MAX;
    double lo, hi;
    memcpy(&lo, &a, 8);
    memcpy(&hi, &b, 8);
    double c = lo * 0.5 + hi * 0.5;
    double sd = 0.0, sq = 0.0;
    for (int64_t b0 = 0; b0 < n; b0 += LANES) {
        int64_t m = n - b0 < LANES ? n - b0 : LANES;
        const double *blk = x + b0;
        double bd = 0.0, bq = 0.0;
        for (int64_t i = 0; i < m; i++) {
            double d = blk[i] - c;
            bd += d;
            bq += d * d;
        }
        sd += bd;
        sq += bq;
    }
    out[0] = lo; out[1] = hi; out[2] = c; out[3] = sd;
    out[4] = sq; out[5] = sq + c * (2.0 * sd + (double)n * c); out[6] = (double)zeros;
}

/* The ABI version stats_native.py checks before using the library. */
int gpk_native_version(void) { return 1; }
