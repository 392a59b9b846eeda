//! Branch-free f32 elementary functions and a vectorisable bulk generator.
//!
//! libm's scalar `tanh`, `cos` and `log` were the bottleneck of the sampler (measured here:
//! an RFF task fell from about 10 ms to 0.5 ms with a range-reduced polynomial cosine).
//! Everything here is plain arithmetic on `f32` bit patterns with no data-dependent
//! branches, so LLVM vectorises the loops that call it. Rust never contracts `a * b + c`
//! into an FMA, so the AVX2 and AVX-512 builds of these loops return the same
//! bits as the baseline build; a test in `scm.rs` checks that (see [`simd_level`]).
//!
//! Accuracy (checked against libm in the tests below): absolute error below 2e-6 for
//! `ln`, `exp` (relative), `sin`/`cos` on |x| < 1e4, `tanh` and `sigmoid`.

use std::sync::atomic::{AtomicU8, Ordering};

const MAGIC_ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
const TWO_M24: f32 = 1.0 / 16_777_216.0;
const FRAC_2_PI: f32 = std::f32::consts::FRAC_2_PI;
// pi/2 split in three parts with trailing zero bits (Cody-Waite), so q * PIO2_1 is exact.
const PIO2_1: f32 = 1.570_312_5;
const PIO2_2: f32 = 4.837_513e-4;
const PIO2_3: f32 = 7.549_79e-8;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// Natural logarithm of a positive, normal `x`.
///
/// x = m 2^e with m in [sqrt(1/2), sqrt(2)), then ln(1 + f) for f = m - 1 by the degree-9
/// minimax polynomial of Cephes' `logf` (Moshier). No division: a vector divide costs as
/// much as the whole polynomial, and this is the inner loop of every normal draw.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits() as i32;
    let e = (bits - 0x3f35_04f3) >> 23;
    let f = f32::from_bits((bits - (e << 23)) as u32) - 1.0;
    let z = f * f;
    let p = 7.037_683_6e-2;
    let p = p * f - 1.151_461_0e-1;
    let p = p * f + 1.167_699_9e-1;
    let p = p * f - 1.242_014_1e-1;
    let p = p * f + 1.424_932_3e-1;
    let p = p * f - 1.666_805_8e-1;
    let p = p * f + 2.000_071_5e-1;
    let p = p * f - 2.499_999_4e-1;
    let p = p * f + 3.333_333_1e-1;
    let ef = e as f32;
    let y = (p * f) * z + ef * LN2_LO - 0.5 * z;
    (f + y) + ef * LN2_HI
}

/// e^x, saturating outside [-87, 88] (no infinities, no denormals).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + MAGIC_ROUND;
    let n = t.to_bits() as i32 - MAGIC_ROUND.to_bits() as i32;
    let q = t - MAGIC_ROUND;
    let r = (x - q * LN2_HI) - q * LN2_LO;
    // Taylor to degree 7 on |r| <= ln(2)/2: relative error < 2e-8.
    let p = 1.0 / 5040.0;
    let p = p * r + 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    p * f32::from_bits(((n + 127) << 23) as u32)
}

/// (sin r, cos r) for |r| <= pi/4 by Taylor polynomials (errors below 3e-8).
#[inline(always)]
fn sincos_octant(r: f32) -> (f32, f32) {
    let r2 = r * r;
    let s = 1.0 / 362_880.0;
    let s = s * r2 - 1.0 / 5040.0;
    let s = s * r2 + 1.0 / 120.0;
    let s = s * r2 - 1.0 / 6.0;
    let s = (s * r2) * r + r;
    let c = 1.0 / 40_320.0;
    let c = c * r2 - 1.0 / 720.0;
    let c = c * r2 + 1.0 / 24.0;
    let c = c * r2 - 0.5;
    let c = c * r2 + 1.0;
    (s, c)
}

/// Rotate (cos r, sin r) by `quadrant` quarter turns: returns (sin, cos) of r + quadrant*pi/2.
#[inline(always)]
fn rotate_quadrant(s: f32, c: f32, quadrant: u32) -> (f32, f32) {
    let swap = quadrant & 1 != 0;
    let (s1, c1) = if swap { (c, s) } else { (s, c) };
    // Sign flips: sin is negated in quadrants 2 and 3, cos in quadrants 1 and 2.
    let sin_sign = (quadrant & 2) << 30;
    let cos_sign = ((quadrant + 1) & 2) << 30;
    (
        f32::from_bits(s1.to_bits() ^ sin_sign),
        f32::from_bits(c1.to_bits() ^ cos_sign),
    )
}

/// (sin x, cos x) with Cody-Waite range reduction; accurate for |x| up to about 1e4.
#[inline(always)]
pub fn sincos_f32(x: f32) -> (f32, f32) {
    let t = x * FRAC_2_PI + MAGIC_ROUND;
    let quadrant = t.to_bits() & 3;
    let q = t - MAGIC_ROUND;
    let r = ((x - q * PIO2_1) - q * PIO2_2) - q * PIO2_3;
    let (s, c) = sincos_octant(r);
    rotate_quadrant(s, c, quadrant)
}

/// cos x alone, about twice as cheap as [`sincos_f32`] (the GP mechanism's hot loop):
/// reduce to r in [-pi, pi] by whole turns (Cody-Waite with the pi/2 split times 4, which
/// is exact), then cos r = 1 - 2 sin^2(r/2) with one odd polynomial on [-pi/2, pi/2].
/// Absolute error below 1e-6 for |x| up to about 1e4.
#[inline(always)]
pub fn cos_f32(x: f32) -> f32 {
    let t = x * (0.5 * std::f32::consts::FRAC_1_PI) + MAGIC_ROUND;
    let q = t - MAGIC_ROUND;
    let r = ((x - q * (4.0 * PIO2_1)) - q * (4.0 * PIO2_2)) - q * (4.0 * PIO2_3);
    let h = 0.5 * r;
    let h2 = h * h;
    // Taylor series of sin to degree 11: truncation error (pi/2)^13 / 13! = 6e-8.
    let p = -1.0 / 39_916_800.0;
    let p = p * h2 + 1.0 / 362_880.0;
    let p = p * h2 - 1.0 / 5040.0;
    let p = p * h2 + 1.0 / 120.0;
    let p = p * h2 - 1.0 / 6.0;
    let s = (p * h2) * h + h;
    1.0 - 2.0 * (s * s)
}

/// sin x; see [`sincos_f32`].
#[inline(always)]
pub fn sin_f32(x: f32) -> f32 {
    sincos_f32(x).0
}

/// tanh x = 1 - 2 / (e^{2x} + 1); absolute error below 1e-7.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    1.0 - 2.0 / (exp_f32(2.0 * x) + 1.0)
}

/// The logistic function 1 / (1 + e^{-x}).
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// softplus x = ln(1 + e^x), computed as max(x, 0) + ln(1 + e^{-|x|}) to avoid overflow.
#[inline(always)]
pub fn softplus_f32(x: f32) -> f32 {
    x.max(0.0) + ln_f32(1.0 + exp_f32(-x.abs()))
}

/// Number of independent xoshiro256++ lanes: 16 u64 lanes fill two AVX-512 registers (four
/// AVX2 ones). The count is fixed for every code path, so all paths draw the same stream.
pub const LANES: usize = 16;

/// Sixteen xoshiro256++ generators stepped together in structure-of-arrays form, so that
/// one step is a handful of vector instructions. Each step yields 32 normals or uniforms.
pub struct LaneRng {
    s: [[u64; LANES]; 4],
}

impl LaneRng {
    /// Seed all lanes from the scalar generator of the task: word w of lane l is
    /// splitmix64 of the scalar generator's (w * LANES + l)-th output. The serial draws
    /// come first and the independent mixing after, so that the mixing vectorises (and
    /// inlined into the SIMD builds, it does: a one-row sample spent a third of its time
    /// here).
    #[inline(always)]
    pub fn from_rng(rng: &mut crate::seed::Rng) -> Self {
        let mut s = [[0u64; LANES]; 4];
        for word in s.iter_mut() {
            for lane in word.iter_mut() {
                *lane = rng.next_u64();
            }
        }
        for word in s.iter_mut() {
            for lane in word.iter_mut() {
                *lane = crate::seed::splitmix64(lane);
            }
        }
        LaneRng { s }
    }

    #[inline(always)]
    fn step(&mut self) -> [u64; LANES] {
        let mut out = [0u64; LANES];
        let [s0, s1, s2, s3] = &mut self.s;
        for l in 0..LANES {
            out[l] = s0[l].wrapping_add(s3[l]).rotate_left(23).wrapping_add(s0[l]);
            let t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(45);
        }
        out
    }

    /// Split one step into two 24-bit halves per lane (as f32 counts 0 .. 2^24) plus the
    /// low 8 bits of each lane's second half, kept apart so that the f32 arithmetic that
    /// follows runs on full-width vectors.
    #[inline(always)]
    fn halves(&mut self) -> ([f32; LANES], [f32; LANES], [u32; LANES]) {
        let bits = self.step();
        let mut hi = [0f32; LANES];
        let mut lo = [0f32; LANES];
        let mut low8 = [0u32; LANES];
        for l in 0..LANES {
            let h = (bits[l] >> 32) as u32;
            let w = bits[l] as u32;
            hi[l] = (h >> 8) as i32 as f32;
            lo[l] = (w >> 8) as i32 as f32;
            low8[l] = w & 0xFF;
        }
        (hi, lo, low8)
    }

    /// 32 uniforms on the open interval (0, 1) with 24 random bits each.
    #[inline(always)]
    fn uniform_block(&mut self, out: &mut [f32; 2 * LANES]) {
        let (hi, lo, _) = self.halves();
        for l in 0..LANES {
            out[l] = (hi[l] + 0.5) * TWO_M24;
            out[LANES + l] = (lo[l] + 0.5) * TWO_M24;
        }
    }

    /// 32 standard normals by Box-Muller: radius from 24 bits, angle from 24 bits plus a
    /// 2-bit quadrant. The smallest radius draw bounds |z| by sqrt(2 ln 2^25) = 5.9, so
    /// tails beyond 5.9 sigma (probability 4e-9) are never drawn.
    #[inline(always)]
    fn normal_block(&mut self, out: &mut [f32; 2 * LANES]) {
        let (hi, lo, low8) = self.halves();
        for l in 0..LANES {
            let u1 = (hi[l] + 0.5) * TWO_M24;
            let f = (lo[l] * TWO_M24 - 0.5) * std::f32::consts::FRAC_PI_2;
            let r = (-2.0 * ln_f32(u1)).sqrt();
            let (s, c) = sincos_octant(f);
            let (s, c) = rotate_quadrant(s, c, low8[l] & 3);
            out[l] = r * c;
            out[LANES + l] = r * s;
        }
    }

    /// Fill `out` with standard normals.
    #[inline(always)]
    pub fn fill_normal(&mut self, out: &mut [f32]) {
        let mut block = [0f32; 2 * LANES];
        let mut chunks = out.chunks_exact_mut(2 * LANES);
        for chunk in &mut chunks {
            self.normal_block(chunk.try_into().expect("chunk of 2 * LANES"));
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            self.normal_block(&mut block);
            rest.copy_from_slice(&block[..rest.len()]);
        }
    }

    /// Fill `out` with uniforms on (0, 1).
    #[inline(always)]
    pub fn fill_uniform(&mut self, out: &mut [f32]) {
        let mut block = [0f32; 2 * LANES];
        let mut chunks = out.chunks_exact_mut(2 * LANES);
        for chunk in &mut chunks {
            self.uniform_block(chunk.try_into().expect("chunk of 2 * LANES"));
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            self.uniform_block(&mut block);
            rest.copy_from_slice(&block[..rest.len()]);
        }
    }
}

/// Which clone of the hot loops runs. Detected once at run time, so a wheel built on a
/// newer CPU still runs on an older one (the plain path needs only SSE2). All levels
/// return the same bytes: Rust never fuses multiply-adds, and the lane count is fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    Plain = 1,
    Avx2 = 2,
    Avx512 = 3,
}

/// Whether every value is finite (no infinity, no NaN): a bit test on all of them at the
/// widest level the CPU has (a task sampler checks every value it returns).
pub fn all_finite(xs: &[f32]) -> bool {
    match simd_level() {
        // SAFETY: simd_level() reports a level only when the CPU has its features.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => unsafe { all_finite_avx512(xs) },
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 => unsafe { all_finite_avx2(xs) },
        _ => all_finite_generic(xs),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512dq,avx512bw")]
unsafe fn all_finite_avx512(xs: &[f32]) -> bool {
    all_finite_generic(xs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn all_finite_avx2(xs: &[f32]) -> bool {
    all_finite_generic(xs)
}

/// An exponent of all ones is an infinity or a NaN; or-ing the tests of all values keeps
/// the loop free of branches, so it vectorises.
#[inline(always)]
fn all_finite_generic(xs: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    xs.iter().fold(0u32, |bad, x| bad | u32::from(x.to_bits() & EXPONENT == EXPONENT)) == 0
}

// 0 = not probed yet, else a SimdLevel.
static SIMD_STATE: AtomicU8 = AtomicU8::new(0);

/// The level in use.
pub fn simd_level() -> SimdLevel {
    match SIMD_STATE.load(Ordering::Relaxed) {
        0 => {
            let level = detect();
            SIMD_STATE.store(level as u8, Ordering::Relaxed);
            level
        }
        2 => SimdLevel::Avx2,
        3 => SimdLevel::Avx512,
        _ => SimdLevel::Plain,
    }
}

/// Force the plain path (`false`) or go back to the best the CPU has (`true`). For tests
/// and benchmarks that compare the paths.
pub fn set_simd(enabled: bool) {
    let level = if enabled { detect() } else { SimdLevel::Plain };
    SIMD_STATE.store(level as u8, Ordering::Relaxed);
}

/// Run at `level` if the CPU supports it (returns whether it does); for the tests that
/// check every level against the plain path.
pub fn force_level(level: SimdLevel) -> bool {
    if level > detect() {
        return false;
    }
    SIMD_STATE.store(level as u8, Ordering::Relaxed);
    true
}

fn detect() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512vl") && has!("avx512dq") && has!("avx512bw") {
            return SimdLevel::Avx512;
        }
        if has!("avx2") {
            return SimdLevel::Avx2;
        }
    }
    SimdLevel::Plain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Rng;

    fn grid(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f32 / n as f32)
    }

    #[test]
    fn ln_matches_libm() {
        for x in grid(1e-7, 1.0, 100_000).chain(grid(1.0, 1e6, 100_000)) {
            let err = (ln_f32(x) as f64 - (x as f64).ln()).abs();
            assert!(err < 2e-6, "ln({x}) err {err}");
        }
    }

    #[test]
    fn exp_matches_libm() {
        for x in grid(-80.0, 80.0, 200_000) {
            let want = (x as f64).exp();
            let rel = ((exp_f32(x) as f64 - want) / want).abs();
            assert!(rel < 2e-6, "exp({x}) rel err {rel}");
        }
        assert!(exp_f32(1000.0).is_finite() && exp_f32(-1000.0) > 0.0);
    }

    #[test]
    fn sincos_matches_libm() {
        for x in grid(-1e4, 1e4, 400_000) {
            let (s, c) = sincos_f32(x);
            let xd = x as f64;
            assert!((s as f64 - xd.sin()).abs() < 2e-6, "sin({x})");
            assert!((c as f64 - xd.cos()).abs() < 2e-6, "cos({x})");
        }
    }

    #[test]
    fn cos_matches_libm() {
        for x in grid(-1e4, 1e4, 400_000).chain(grid(-10.0, 10.0, 100_000)) {
            let err = (cos_f32(x) as f64 - (x as f64).cos()).abs();
            assert!(err < 1e-6, "cos({x}) err {err}");
        }
    }

    #[test]
    fn tanh_sigmoid_softplus_match_libm() {
        for x in grid(-50.0, 50.0, 200_000) {
            let xd = x as f64;
            assert!((tanh_f32(x) as f64 - xd.tanh()).abs() < 2e-7, "tanh({x})");
            assert!((sigmoid_f32(x) as f64 - 1.0 / (1.0 + (-xd).exp())).abs() < 2e-7);
            let sp = xd.max(0.0) + (-xd.abs()).exp().ln_1p();
            assert!((softplus_f32(x) as f64 - sp).abs() < 2e-6 * (1.0 + sp), "softplus({x})");
        }
    }

    fn moments(xs: &[f32]) -> [f64; 4] {
        let n = xs.len() as f64;
        let m = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
        let c = |k: i32| xs.iter().map(|&x| (x as f64 - m).powi(k)).sum::<f64>() / n;
        [m, c(2), c(3), c(4)]
    }

    #[test]
    fn lane_normals_have_normal_moments() {
        let mut rng = Rng::new(11);
        let mut lanes = LaneRng::from_rng(&mut rng);
        let mut xs = vec![0f32; 2_000_003];
        lanes.fill_normal(&mut xs);
        let [m, v, m3, m4] = moments(&xs);
        let n = xs.len() as f64;
        // Standard errors: mean 1/sqrt(n), variance sqrt(2/n), third sqrt(15/n), fourth sqrt(96/n).
        assert!(m.abs() < 5.0 / n.sqrt(), "mean {m}");
        assert!((v - 1.0).abs() < 5.0 * (2.0 / n).sqrt(), "var {v}");
        assert!(m3.abs() < 5.0 * (15.0 / n).sqrt(), "third {m3}");
        assert!((m4 - 3.0).abs() < 5.0 * (96.0 / n).sqrt(), "fourth {m4}");
        // P(|Z| > 2) = 0.0455.
        let tail = xs.iter().filter(|x| x.abs() > 2.0).count() as f64 / n;
        assert!((tail - 0.0455).abs() < 5.0 * (0.0455 * 0.9545 / n).sqrt(), "tail {tail}");
    }

    #[test]
    fn all_finite_agrees_with_is_finite_at_every_level() {
        let finite: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 6.8e35).collect();
        for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN] {
            for at in [0, 17, 999] {
                let mut xs = finite.clone();
                xs[at] = bad;
                for level in [SimdLevel::Plain, SimdLevel::Avx2, SimdLevel::Avx512] {
                    if force_level(level) {
                        assert!(all_finite(&finite) && !all_finite(&xs), "{level:?}, {bad} at {at}");
                    }
                }
                set_simd(true);
            }
        }
        assert!(all_finite(&[]) && all_finite(&[f32::MAX, f32::MIN, f32::MIN_POSITIVE / 2.0]));
    }

    #[test]
    fn lane_uniforms_are_uniform_and_open() {
        let mut rng = Rng::new(12);
        let mut lanes = LaneRng::from_rng(&mut rng);
        let mut xs = vec![0f32; 1_000_001];
        lanes.fill_uniform(&mut xs);
        assert!(xs.iter().all(|&x| x > 0.0 && x < 1.0));
        let [m, v, _, _] = moments(&xs);
        assert!((m - 0.5).abs() < 5.0 * (1.0 / 12.0 / xs.len() as f64).sqrt());
        assert!((v - 1.0 / 12.0).abs() < 1e-3);
    }
}
