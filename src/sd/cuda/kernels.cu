// pivot's fused CUDA kernels (f32): group/layer norm with optional SiLU, scaled softmax, GEGLU,
// and their input gradients. They mirror the CPU kernels in src/sd/cpu (same formulas, statistics
// accumulated in double), so a UNet call on the GPU launches a few kernels per norm or softmax
// instead of the ~10 forward and ~20 backward ops of candle composites.
//
// Every kernel takes contiguous rows, and its arguments in the order (x, [∂y], out, sizes…,
// parameters…). Reductions run one block per row.

#define SQRT1_2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32); every thread gets the total.
__device__ double block_sum(double v, double *shared) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // `shared` may still be read from the previous call
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        double w = lane < warps ? shared[lane] : 0.0;
        w = warp_sum(w);
        if (lane == 0) shared[0] = w;
    }
    __syncthreads();
    return shared[0];
}

__device__ float block_max(float v, float *shared) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float w = lane < warps ? shared[lane] : -INFINITY;
        w = warp_max(w);
        if (lane == 0) shared[0] = w;
    }
    __syncthreads();
    return shared[0];
}

__device__ __forceinline__ float sigmoid(float n) { return 1.0f / (1.0f + expf(-n)); }

// Mean and 1/sqrt(var + eps) of one row (two passes, as the CPU kernel).
__device__ void row_stats(const float *x, int len, float eps, double *shared, float *mean, float *rstd) {
    double s = 0.0;
    for (int i = threadIdx.x; i < len; i += blockDim.x) s += (double)x[i];
    const double m = block_sum(s, shared) / len;
    double q = 0.0;
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
        const double d = (double)x[i] - m;
        q += d * d;
    }
    const double var = block_sum(q, shared) / len;
    *mean = (float)m;
    *rstd = (float)(1.0 / sqrt(var + (double)eps));
}

// Row r holds channels (r % groups)·cpg … +cpg, each `chunk` consecutive elements
// (layer norm: groups = 1, chunk = 1).
extern "C" __global__ void pivot_norm_fwd(const float *x, float *y, int len, int groups, int cpg, int chunk,
                                          float eps, int silu, const float *weight, const float *bias) {
    __shared__ double shared[32];
    const long r = blockIdx.x;
    const float *xr = x + r * len;
    float *yr = y + r * len;
    float mean, rstd;
    row_stats(xr, len, eps, shared, &mean, &rstd);
    const int c0 = (int)(r % groups) * cpg;
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
        const int c = c0 + i / chunk;
        const float n = (xr[i] - mean) * rstd * weight[c] + bias[c];
        yr[i] = silu ? n * sigmoid(n) : n;
    }
}

// ∂x from x and ∂y: d = ∂y·(SiLU')·w; ∂x = rstd·(d − mean(d) − x̂·mean(d·x̂)).
extern "C" __global__ void pivot_norm_bwd(const float *x, const float *dy, float *dx, int len, int groups, int cpg,
                                          int chunk, float eps, int silu, const float *weight, const float *bias) {
    __shared__ double shared[32];
    const long r = blockIdx.x;
    const float *xr = x + r * len;
    const float *gr = dy + r * len;
    float *outr = dx + r * len;
    float mean, rstd;
    row_stats(xr, len, eps, shared, &mean, &rstd);
    const int c0 = (int)(r % groups) * cpg;
    double s1 = 0.0, s2 = 0.0;
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
        const int c = c0 + i / chunk;
        const float xhat = (xr[i] - mean) * rstd;
        float d = gr[i];
        if (silu) {
            const float n = xhat * weight[c] + bias[c];
            const float s = sigmoid(n);
            d = d * s * (1.0f + n * (1.0f - s));
        }
        d *= weight[c];
        outr[i] = d;
        s1 += (double)d;
        s2 += (double)(d * xhat);
    }
    const float m1 = (float)(block_sum(s1, shared) / len);
    const float m2 = (float)(block_sum(s2, shared) / len);
    // Each thread reads back only the elements it wrote above.
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
        const float xhat = (xr[i] - mean) * rstd;
        outr[i] = rstd * (outr[i] - m1 - xhat * m2);
    }
}

// y = softmax(scale·x) over rows of `len`.
extern "C" __global__ void pivot_softmax_fwd(const float *x, float *y, int len, float scale) {
    __shared__ float fshared[32];
    __shared__ double shared[32];
    const long r = blockIdx.x;
    const float *xr = x + r * len;
    float *yr = y + r * len;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < len; i += blockDim.x) m = fmaxf(m, xr[i]);
    const float shift = block_max(m, fshared) * scale;
    double s = 0.0;
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
        const float e = expf(xr[i] * scale - shift);
        yr[i] = e;
        s += (double)e;
    }
    const float inv = (float)(1.0 / block_sum(s, shared));
    for (int i = threadIdx.x; i < len; i += blockDim.x) yr[i] *= inv;
}

// ∂x = scale·y·(∂y − Σ ∂y·y).
extern "C" __global__ void pivot_softmax_bwd(const float *y, const float *dy, float *dx, int len, float scale) {
    __shared__ double shared[32];
    const long r = blockIdx.x;
    const float *yr = y + r * len;
    const float *gr = dy + r * len;
    float *outr = dx + r * len;
    double s = 0.0;
    for (int i = threadIdx.x; i < len; i += blockDim.x) s += (double)yr[i] * (double)gr[i];
    const float dot = (float)block_sum(s, shared);
    for (int i = threadIdx.x; i < len; i += blockDim.x) outr[i] = scale * yr[i] * (gr[i] - dot);
}

// Φ(g) through erfc, accurate far into the lower tail.
__device__ __forceinline__ float normal_cdf(float g) { return 0.5f * erfcf(-g * SQRT1_2); }

// Rows of x hold [a, gate] (2·half each); y = a·gelu(gate), `n` = rows·half outputs.
extern "C" __global__ void pivot_geglu_fwd(const float *x, float *y, long n, int half) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        const long r = i / half;
        const int j = (int)(i - r * half);
        const float a = x[r * 2 * half + j], g = x[r * 2 * half + half + j];
        y[i] = a * g * normal_cdf(g);
    }
}

// ∂a = ∂y·gelu(gate), ∂gate = ∂y·a·gelu'(gate); dx has x's shape.
extern "C" __global__ void pivot_geglu_bwd(const float *x, const float *dy, float *dx, long n, int half) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        const long r = i / half;
        const int j = (int)(i - r * half);
        const long ia = r * 2 * half + j, ig = ia + half;
        const float a = x[ia], g = x[ig], d = dy[i];
        const float cdf = normal_cdf(g);
        const float pdf = expf(-0.5f * g * g) * INV_SQRT_2PI;
        dx[ia] = d * g * cdf;
        dx[ig] = d * a * (cdf + g * pdf);
    }
}

// Inverse of im2col, summing overlaps: cols [B, C·k·k, ho·wo] (rows c·k·k + ky·k + kx) → x [B, C, h, w].
// Used for a conv's input gradient: cols = Wᵀ·∂y, then this.
extern "C" __global__ void pivot_col2im(const float *cols, float *x, long n, int c, int h, int w, int ho, int wo,
                                        int k, int stride, int pad) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        const int px = (int)(i % w), py = (int)((i / w) % h);
        const long bc = i / ((long)w * h);  // b·C + channel
        const float *base = cols + bc * k * k * (long)ho * wo;
        float acc = 0.0f;
        for (int ky = 0; ky < k; ++ky) {
            const int ty = py + pad - ky;
            if (ty < 0 || ty % stride != 0 || ty / stride >= ho) continue;
            for (int kx = 0; kx < k; ++kx) {
                const int tx = px + pad - kx;
                if (tx < 0 || tx % stride != 0 || tx / stride >= wo) continue;
                acc += base[(long)(ky * k + kx) * ho * wo + (ty / stride) * wo + tx / stride];
            }
        }
        x[i] = acc;
    }
}
