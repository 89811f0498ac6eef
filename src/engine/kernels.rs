//! The inner loops of the conv and dense layers, written for the hardware they run on.
//!
//! Every conv product is a sum of `weight × input cell` over taps, so two kernel shapes cover
//! all three of them (forward z, ∂L/∂w and the δ columns):
//!
//! - [`gather_gemm`]: `out[m, cell] = init[m] + Σ_t a[t·lda + m] · src[tap[t] + cell]`. With the
//!   taps at the offsets of the kernel taps in the (padded) input this is the forward pass read
//!   straight from the input, with no im2col copy; with the taps at the rows of δz it is
//!   Wᵀ·δz.
//! - [`dot_gemm`]: `out[k, r] = Σ_cells a[k·lda + cell] · src[tap[r] + cell]`, the correlation of
//!   δz with the input that gives ∂L/∂w.
//!
//! Output cells come in [`Chunk`]s of up to 8 consecutive cells of one output row, so that one
//! 512-bit register holds one chunk; the last chunk of a row is masked. On the
//! [`KernelPath::Avx512`] path the products run in register tiles of up to 8×24 (gather) or 4×4
//! (dot) accumulators; on the [`KernelPath::Portable`] path (any CPU, and every layer below
//! [`FAST_MIN_MACS`]) the callers use ndarray's `general_mat_mul` (matrixmultiply) instead.
//!
//! The order of the additions depends only on the shapes, never on the data or on the
//! alignment of the buffers, so the same step computed twice gives the same bits.

use std::sync::OnceLock;

/// Up to 8 consecutive output cells: `src` is the offset added to every tap, `dst` the offset
/// of the first cell in the output, `lanes` how many cells (1..=8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub src: usize,
    pub dst: usize,
    pub lanes: u8,
}

/// Chunks covering `rows` rows of `cols` cells; row `i` starts at `i·src_row` in the source
/// and at `i·dst_row` in the output.
pub fn row_chunks(rows: usize, cols: usize, src_row: usize, dst_row: usize) -> Vec<Chunk> {
    let mut out = Vec::with_capacity(rows * cols.div_ceil(8));
    for i in 0..rows {
        for j in (0..cols).step_by(8) {
            out.push(Chunk {
                src: i * src_row + j,
                dst: i * dst_row + j,
                lanes: (cols - j).min(8) as u8,
            });
        }
    }
    out
}

/// Layers with fewer multiply-adds than this (K·C·kh·kw·Ho·Wo for conv, outputs·inputs for
/// dense) take the portable path even where a faster one exists: at that size the kernels gain
/// little, and the small bundled scenarios keep the numbers they always had, to the last bit.
pub const FAST_MIN_MACS: usize = 16_384;

/// The code a conv or dense layer's products run on. Every path gives the same numbers to
/// rounding; a given path gives the same bits every time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelPath {
    /// im2col and ndarray's `general_mat_mul` (matrixmultiply): every CPU.
    Portable,
    /// The AVX-512 kernels of this module, and the sparse backward pass after max pooling.
    Avx512,
}

impl KernelPath {
    pub const ALL: [KernelPath; 2] = [KernelPath::Portable, KernelPath::Avx512];

    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Portable => "portable",
            KernelPath::Avx512 => "avx512",
        }
    }

    /// The CPU feature the path needs, for messages.
    pub fn needs(self) -> &'static str {
        match self {
            KernelPath::Portable => "nothing",
            KernelPath::Avx512 => "avx512f",
        }
    }

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        match self {
            KernelPath::Portable => true,
            KernelPath::Avx512 => avx512_available(),
        }
    }

    /// The fastest path this process takes for large layers: AVX-512 where the CPU has it,
    /// unless `DELTASCOPE_PORTABLE=1` asks for the portable one (e.g. to compare the two).
    pub fn fastest() -> KernelPath {
        static FASTEST: OnceLock<KernelPath> = OnceLock::new();
        *FASTEST.get_or_init(|| {
            let asked = std::env::var_os("DELTASCOPE_PORTABLE");
            fastest_of(asked.as_deref(), KernelPath::Avx512.supported())
        })
    }
}

/// The fastest path, given `DELTASCOPE_PORTABLE` (set and neither empty nor "0" asks for the
/// portable path) and whether the CPU has AVX-512.
fn fastest_of(portable: Option<&std::ffi::OsStr>, avx512: bool) -> KernelPath {
    let portable = portable.is_some_and(|v| !v.is_empty() && v != "0");
    if !portable && avx512 {
        KernelPath::Avx512
    } else {
        KernelPath::Portable
    }
}

/// How a network's layers pick their [`KernelPath`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PathChoice {
    /// [`KernelPath::fastest`] for layers of at least [`FAST_MIN_MACS`] multiply-adds, the
    /// portable path for smaller ones: what every command uses.
    #[default]
    BySize,
    /// This path for every layer, whatever its size (tests and benchmarks). Panics when the
    /// CPU cannot run it: ask [`KernelPath::supported`] first.
    Force(KernelPath),
}

impl PathChoice {
    /// The path of a layer of `macs` multiply-adds.
    pub fn path_for(self, macs: usize) -> KernelPath {
        match self {
            PathChoice::BySize if macs >= FAST_MIN_MACS => KernelPath::fastest(),
            PathChoice::BySize => KernelPath::Portable,
            PathChoice::Force(path) => {
                assert!(
                    path.supported(),
                    "the {} path needs {}, which this CPU lacks",
                    path.name(),
                    path.needs()
                );
                path
            }
        }
    }
}

/// The paths a test named `test` can run here. Each path this CPU cannot run is reported on
/// stderr (written past the test harness's capture, so `cargo test` shows it) rather than
/// passed in silence; a path named in `DELTASCOPE_REQUIRE_PATHS` (comma-separated, or `all`)
/// fails the test instead.
pub fn paths_under_test(test: &str) -> Vec<KernelPath> {
    use std::io::Write;
    let required = std::env::var("DELTASCOPE_REQUIRE_PATHS").unwrap_or_default();
    let mut paths = Vec::new();
    for path in KernelPath::ALL {
        if path.supported() {
            paths.push(path);
            continue;
        }
        assert!(
            !is_required(&required, path),
            "{test}: the {} path is required (DELTASCOPE_REQUIRE_PATHS) but this CPU lacks {}",
            path.name(),
            path.needs()
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: the {} path (this CPU lacks {})",
            path.name(),
            path.needs()
        );
    }
    paths
}

/// Whether `required` (the value of `DELTASCOPE_REQUIRE_PATHS`: path names separated by
/// commas, or `all`) names `path`.
fn is_required(required: &str, path: KernelPath) -> bool {
    required
        .split(',')
        .any(|r| r.trim() == path.name() || r.trim() == "all")
}

fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn max_reach(taps: &[usize], chunks: &[Chunk]) -> usize {
    let tap = taps.iter().copied().max().unwrap_or(0);
    let cell = chunks
        .iter()
        .map(|c| c.src + c.lanes as usize)
        .max()
        .unwrap_or(0);
    tap + cell
}

/// `out[m·ldo + chunk.dst + l] = init[m] + Σ_t a[t·lda + m] · src[taps[t] + chunk.src + l]`
/// for m < rows, every chunk and lane l (init 0 when None). Needs [`KernelPath::Avx512`].
#[allow(clippy::too_many_arguments)]
pub fn gather_gemm(
    rows: usize,
    a: &[f64],
    lda: usize,
    src: &[f64],
    taps: &[usize],
    chunks: &[Chunk],
    init: Option<&[f64]>,
    out: &mut [f64],
    ldo: usize,
) {
    assert!(KernelPath::Avx512.supported(), "gather_gemm needs AVX-512");
    if rows == 0 || chunks.is_empty() {
        return;
    }
    assert!(taps.is_empty() || (taps.len() - 1) * lda + rows <= a.len());
    assert!(taps.is_empty() || max_reach(taps, chunks) <= src.len());
    let last_dst = chunks
        .iter()
        .map(|c| c.dst + c.lanes as usize)
        .max()
        .unwrap_or(0);
    assert!((rows - 1) * ldo + last_dst <= out.len());
    assert!(init.is_none_or(|b| b.len() >= rows));
    assert!(chunks.iter().all(|c| (1..=8).contains(&c.lanes)));
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX-512F is present (asserted above) and every index stays within the slices
    // checked above.
    unsafe {
        avx512::gather_gemm(rows, a, lda, src, taps, chunks, init, out, ldo)
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("AVX-512 is not supported off x86_64")
}

/// `out[k·ldo + r] = Σ_chunk Σ_l a[k·lda + chunk.dst + l] · src[taps[r] + chunk.src + l]` for
/// k < rows and r < taps.len(). Needs [`KernelPath::Avx512`].
#[allow(clippy::too_many_arguments)]
pub fn dot_gemm(
    rows: usize,
    a: &[f64],
    lda: usize,
    src: &[f64],
    taps: &[usize],
    chunks: &[Chunk],
    out: &mut [f64],
    ldo: usize,
) {
    assert!(KernelPath::Avx512.supported(), "dot_gemm needs AVX-512");
    if rows == 0 || taps.is_empty() {
        return;
    }
    let last_dst = chunks
        .iter()
        .map(|c| c.dst + c.lanes as usize)
        .max()
        .unwrap_or(0);
    assert!((rows - 1) * lda + last_dst <= a.len());
    assert!(max_reach(taps, chunks) <= src.len());
    assert!((rows - 1) * ldo + taps.len() <= out.len());
    assert!(chunks.iter().all(|c| (1..=8).contains(&c.lanes)));
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as for gather_gemm.
    unsafe {
        avx512::dot_gemm(rows, a, lda, src, taps, chunks, out, ldo)
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("AVX-512 is not supported off x86_64")
}

/// Σ a[i]·b[i]. Eight partial sums, added in a fixed order.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if KernelPath::Avx512.supported() {
        // SAFETY: AVX-512F is present; the lengths are equal.
        return unsafe { avx512::dot(a, b) };
    }
    dot_portable(a, b)
}

/// [`dot`] on CPUs without AVX-512 (a function of its own, so that it is tested on every CPU).
fn dot_portable(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let chunks = a.len() / 8 * 8;
    for (x, y) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in a[chunks..].iter().zip(&b[chunks..]).enumerate() {
        acc[l] += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// y[i] += alpha · x[i]
pub fn axpy(y: &mut [f64], alpha: f64, x: &[f64]) {
    assert_eq!(x.len(), y.len());
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Chunk;
    use std::arch::x86_64::*;

    #[inline(always)]
    fn mask(lanes: u8) -> __mmask8 {
        (((1u16) << lanes) - 1) as u8
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn gather_tile<const MR: usize, const NV: usize>(
        a: *const f64,
        lda: usize,
        src: *const f64,
        taps: &[usize],
        chunks: &[Chunk],
        init: Option<*const f64>,
        out: *mut f64,
        ldo: usize,
    ) {
        let mut acc = [[_mm512_setzero_pd(); NV]; MR];
        if let Some(b) = init {
            for (m, row) in acc.iter_mut().enumerate() {
                // SAFETY: the caller checked init has `rows` entries.
                let v = _mm512_set1_pd(unsafe { *b.add(m) });
                for cell in row.iter_mut() {
                    *cell = v;
                }
            }
        }
        let mut masks = [0u8; NV];
        let mut bases = [src; NV];
        for n in 0..NV {
            masks[n] = mask(chunks[n].lanes);
            // SAFETY: within src (checked by the caller through max_reach).
            bases[n] = unsafe { src.add(chunks[n].src) };
        }
        for (t, &tap) in taps.iter().enumerate() {
            let mut b = [_mm512_setzero_pd(); NV];
            for n in 0..NV {
                // SAFETY: tap + chunk.src + lanes ≤ src.len(); masked lanes are not read.
                b[n] = unsafe { _mm512_maskz_loadu_pd(masks[n], bases[n].add(tap)) };
            }
            // SAFETY: t·lda + m < a.len() (checked by the caller).
            let arow = unsafe { a.add(t * lda) };
            for (m, row) in acc.iter_mut().enumerate() {
                let w = _mm512_set1_pd(unsafe { *arow.add(m) });
                for n in 0..NV {
                    row[n] = _mm512_fmadd_pd(w, b[n], row[n]);
                }
            }
        }
        for (m, row) in acc.iter().enumerate() {
            for n in 0..NV {
                // SAFETY: m·ldo + dst + lanes ≤ out.len() (checked by the caller).
                unsafe {
                    _mm512_mask_storeu_pd(out.add(m * ldo + chunks[n].dst), masks[n], row[n])
                };
            }
        }
    }

    const GATHER_MR: usize = 8;
    const GATHER_NV: usize = 3;

    macro_rules! gather_dispatch {
        ($mr:expr, $nv:expr, $($args:expr),*) => {
            match ($mr, $nv) {
                (1, 1) => gather_tile::<1, 1>($($args),*),
                (1, 2) => gather_tile::<1, 2>($($args),*),
                (1, 3) => gather_tile::<1, 3>($($args),*),
                (2, 1) => gather_tile::<2, 1>($($args),*),
                (2, 2) => gather_tile::<2, 2>($($args),*),
                (2, 3) => gather_tile::<2, 3>($($args),*),
                (3, 1) => gather_tile::<3, 1>($($args),*),
                (3, 2) => gather_tile::<3, 2>($($args),*),
                (3, 3) => gather_tile::<3, 3>($($args),*),
                (4, 1) => gather_tile::<4, 1>($($args),*),
                (4, 2) => gather_tile::<4, 2>($($args),*),
                (4, 3) => gather_tile::<4, 3>($($args),*),
                (5, 1) => gather_tile::<5, 1>($($args),*),
                (5, 2) => gather_tile::<5, 2>($($args),*),
                (5, 3) => gather_tile::<5, 3>($($args),*),
                (6, 1) => gather_tile::<6, 1>($($args),*),
                (6, 2) => gather_tile::<6, 2>($($args),*),
                (6, 3) => gather_tile::<6, 3>($($args),*),
                (7, 1) => gather_tile::<7, 1>($($args),*),
                (7, 2) => gather_tile::<7, 2>($($args),*),
                (7, 3) => gather_tile::<7, 3>($($args),*),
                (8, 1) => gather_tile::<8, 1>($($args),*),
                (8, 2) => gather_tile::<8, 2>($($args),*),
                (8, 3) => gather_tile::<8, 3>($($args),*),
                _ => unreachable!("tile sizes are bounded"),
            }
        };
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gather_gemm(
        rows: usize,
        a: &[f64],
        lda: usize,
        src: &[f64],
        taps: &[usize],
        chunks: &[Chunk],
        init: Option<&[f64]>,
        out: &mut [f64],
        ldo: usize,
    ) {
        let (a, src, out) = (a.as_ptr(), src.as_ptr(), out.as_mut_ptr());
        let mut m0 = 0;
        while m0 < rows {
            let mr = (rows - m0).min(GATHER_MR);
            // SAFETY: m0 < rows, so these offsets stay inside the checked slices.
            let (a_m, out_m) = unsafe { (a.add(m0), out.add(m0 * ldo)) };
            let init_m = init.map(|b| b[m0..].as_ptr());
            for group in chunks.chunks(GATHER_NV) {
                // SAFETY: forwarded from the caller's checks.
                unsafe {
                    gather_dispatch!(
                        mr,
                        group.len(),
                        a_m,
                        lda,
                        src,
                        taps,
                        group,
                        init_m,
                        out_m,
                        ldo
                    )
                };
            }
            m0 += mr;
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn dot_tile<const MK: usize, const MR: usize>(
        a: *const f64,
        lda: usize,
        src: *const f64,
        taps: &[usize],
        chunks: &[Chunk],
        out: *mut f64,
        ldo: usize,
    ) {
        let mut acc = [[_mm512_setzero_pd(); MR]; MK];
        let mut bases = [src; MR];
        for r in 0..MR {
            // SAFETY: within src (checked by the caller through max_reach).
            bases[r] = unsafe { src.add(taps[r]) };
        }
        for chunk in chunks {
            let m = mask(chunk.lanes);
            let mut av = [_mm512_setzero_pd(); MK];
            for (k, v) in av.iter_mut().enumerate() {
                // SAFETY: k·lda + dst + lanes ≤ a.len() (checked by the caller).
                *v = unsafe { _mm512_maskz_loadu_pd(m, a.add(k * lda + chunk.dst)) };
            }
            for r in 0..MR {
                // SAFETY: tap + src + lanes ≤ src.len().
                let b = unsafe { _mm512_maskz_loadu_pd(m, bases[r].add(chunk.src)) };
                for k in 0..MK {
                    acc[k][r] = _mm512_fmadd_pd(av[k], b, acc[k][r]);
                }
            }
        }
        for (k, row) in acc.iter().enumerate() {
            for (r, v) in row.iter().enumerate() {
                // SAFETY: k·ldo + r < out.len() (checked by the caller).
                unsafe { *out.add(k * ldo + r) = _mm512_reduce_add_pd(*v) };
            }
        }
    }

    const DOT_MK: usize = 4;
    const DOT_MR: usize = 4;

    macro_rules! dot_dispatch {
        ($mk:expr, $mr:expr, $($args:expr),*) => {
            match ($mk, $mr) {
                (1, 1) => dot_tile::<1, 1>($($args),*),
                (1, 2) => dot_tile::<1, 2>($($args),*),
                (1, 3) => dot_tile::<1, 3>($($args),*),
                (1, 4) => dot_tile::<1, 4>($($args),*),
                (2, 1) => dot_tile::<2, 1>($($args),*),
                (2, 2) => dot_tile::<2, 2>($($args),*),
                (2, 3) => dot_tile::<2, 3>($($args),*),
                (2, 4) => dot_tile::<2, 4>($($args),*),
                (3, 1) => dot_tile::<3, 1>($($args),*),
                (3, 2) => dot_tile::<3, 2>($($args),*),
                (3, 3) => dot_tile::<3, 3>($($args),*),
                (3, 4) => dot_tile::<3, 4>($($args),*),
                (4, 1) => dot_tile::<4, 1>($($args),*),
                (4, 2) => dot_tile::<4, 2>($($args),*),
                (4, 3) => dot_tile::<4, 3>($($args),*),
                (4, 4) => dot_tile::<4, 4>($($args),*),
                _ => unreachable!("tile sizes are bounded"),
            }
        };
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dot_gemm(
        rows: usize,
        a: &[f64],
        lda: usize,
        src: &[f64],
        taps: &[usize],
        chunks: &[Chunk],
        out: &mut [f64],
        ldo: usize,
    ) {
        let (a, src, out) = (a.as_ptr(), src.as_ptr(), out.as_mut_ptr());
        let mut k0 = 0;
        while k0 < rows {
            let mk = (rows - k0).min(DOT_MK);
            let mut r0 = 0;
            while r0 < taps.len() {
                let mr = (taps.len() - r0).min(DOT_MR);
                // SAFETY: k0 < rows and r0 < taps.len(): inside the checked slices.
                unsafe {
                    let (a_k, out_kr) = (a.add(k0 * lda), out.add(k0 * ldo + r0));
                    dot_dispatch!(
                        mk,
                        mr,
                        a_k,
                        lda,
                        src,
                        &taps[r0..r0 + mr],
                        chunks,
                        out_kr,
                        ldo
                    )
                };
                r0 += mr;
            }
            k0 += mk;
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dot(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_pd(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (q, v) in acc.iter_mut().enumerate() {
                // SAFETY: i + 32 ≤ n.
                let (x, y) = unsafe {
                    (
                        _mm512_loadu_pd(pa.add(i + 8 * q)),
                        _mm512_loadu_pd(pb.add(i + 8 * q)),
                    )
                };
                *v = _mm512_fmadd_pd(x, y, *v);
            }
            i += 32;
        }
        while i < n {
            let lanes = (n - i).min(8) as u8;
            let m = mask(lanes);
            // SAFETY: masked to the lanes that remain.
            let (x, y) = unsafe {
                (
                    _mm512_maskz_loadu_pd(m, pa.add(i)),
                    _mm512_maskz_loadu_pd(m, pb.add(i)),
                )
            };
            acc[0] = _mm512_fmadd_pd(x, y, acc[0]);
            i += lanes as usize;
        }
        let s = _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3]));
        _mm512_reduce_add_pd(s)
    }
}

/// Reproducible numbers in [−0.5, 0.5) for the engine's unit tests (a 64-bit LCG).
#[cfg(test)]
pub(crate) fn test_random(seed: &mut u64) -> f64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn paths_have_the_names_users_write() {
        assert_eq!(KernelPath::Portable.name(), "portable");
        assert_eq!(KernelPath::Avx512.name(), "avx512");
        // The feature named in skip messages is the one the path is detected by.
        assert_eq!(KernelPath::Avx512.needs(), "avx512f");
        assert_eq!(KernelPath::Portable.needs(), "nothing");
        assert!(KernelPath::Portable.supported());
    }

    #[test]
    fn deltascope_portable_asks_for_the_portable_path_unless_empty_or_0() {
        use KernelPath::{Avx512, Portable};
        assert_eq!(fastest_of(None, true), Avx512);
        assert_eq!(fastest_of(None, false), Portable);
        for asked in ["1", "yes", "00"] {
            assert_eq!(
                fastest_of(Some(OsStr::new(asked)), true),
                Portable,
                "{asked}"
            );
        }
        for ignored in ["", "0"] {
            assert_eq!(
                fastest_of(Some(OsStr::new(ignored)), true),
                Avx512,
                "{ignored:?}"
            );
            assert_eq!(fastest_of(Some(OsStr::new(ignored)), false), Portable);
        }
    }

    #[test]
    fn deltascope_require_paths_names_paths_or_all() {
        use KernelPath::{Avx512, Portable};
        assert!(is_required("avx512", Avx512) && !is_required("avx512", Portable));
        assert!(is_required("portable, avx512", Avx512));
        assert!(is_required(" avx512 ,portable", Portable));
        assert!(is_required("all", Avx512) && is_required("all", Portable));
        assert!(!is_required("", Avx512) && !is_required("avx2", Avx512));
        assert!(
            !is_required("avx512f", Avx512),
            "the path's name, not the feature's"
        );
    }

    /// The portable dot product against a plain sum, for every length up to five whole
    /// blocks of eight (each remainder, and the blocks' order of addition).
    #[test]
    fn the_portable_dot_product_is_the_sum_of_products() {
        let mut seed = 3;
        for n in 0..=40 {
            let a: Vec<f64> = (0..n).map(|_| test_random(&mut seed)).collect();
            let b: Vec<f64> = (0..n).map(|_| test_random(&mut seed)).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let got = dot_portable(&a, &b);
            assert!((got - plain).abs() <= 1e-14, "n={n}: {got} against {plain}");
            assert!(
                (dot(&a, &b) - plain).abs() <= 1e-14,
                "n={n}: dot on this CPU"
            );
        }
        // The stated order: lanes l and l+4 first, then pairs, then the halves.
        let ones = [1.0; 8];
        let lanes = [1e16, 1.0, -1e16, 1.0, 1.0, 0.0, 0.0, 0.0];
        let order = ((1e16 + 1.0) + (1.0 + 0.0)) + ((-1e16 + 0.0) + (1.0 + 0.0));
        assert_eq!(dot_portable(&lanes, &ones).to_bits(), f64::to_bits(order));
    }

    #[test]
    fn kernels_with_no_rows_write_nothing() {
        if !paths_under_test("kernels_with_no_rows_write_nothing").contains(&KernelPath::Avx512) {
            return;
        }
        let chunks = row_chunks(1, 4, 4, 4);
        let mut out = [7.0; 4];
        gather_gemm(0, &[], 1, &[1.0; 8], &[0], &chunks, None, &mut out, 4);
        dot_gemm(0, &[], 1, &[1.0; 8], &[0], &chunks, &mut out, 4);
        assert_eq!(out, [7.0; 4]);
    }

    /// The bounds asserted before the unsafe kernels run: a source too short for the last
    /// tap's reach is refused, not read past its end.
    #[test]
    fn a_source_shorter_than_the_reach_is_refused() {
        let test = "a_source_shorter_than_the_reach_is_refused";
        if !paths_under_test(test).contains(&KernelPath::Avx512) {
            return;
        }
        let chunks = row_chunks(1, 4, 4, 4);
        // Tap 3 + 4 lanes reaches cell 7: a source of 6 cells is short, one of 7 is not.
        let run = |src_len: usize| {
            std::panic::catch_unwind(|| {
                let mut out = [0.0; 4];
                let src = vec![1.0; src_len];
                gather_gemm(1, &[1.0, 1.0], 1, &src, &[0, 3], &chunks, None, &mut out, 4);
                out
            })
        };
        assert!(run(6).is_err());
        assert_eq!(run(7).unwrap(), [2.0; 4]);
    }

    #[test]
    fn gather_and_dot_match_plain_loops_for_every_tile_remainder() {
        let test = "gather_and_dot_match_plain_loops_for_every_tile_remainder";
        if !paths_under_test(test).contains(&KernelPath::Avx512) {
            return;
        }
        let mut seed = 7;
        for rows in [1, 3, 8, 9, 17] {
            for (out_rows, out_cols) in [(1, 1), (2, 7), (3, 8), (2, 13), (5, 24), (1, 40)] {
                let ntaps = 11;
                let src_row = out_cols + 3;
                let src: Vec<f64> = (0..ntaps * 2 + (out_rows + 2) * src_row + 8)
                    .map(|_| test_random(&mut seed))
                    .collect();
                let taps: Vec<usize> = (0..ntaps).map(|t| t * 2 + t % 3).collect();
                let chunks = row_chunks(out_rows, out_cols, src_row, out_cols);
                let a: Vec<f64> = (0..ntaps * rows).map(|_| test_random(&mut seed)).collect();
                let init: Vec<f64> = (0..rows).map(|_| test_random(&mut seed)).collect();
                let cells = out_rows * out_cols;
                let mut out = vec![0.0; rows * cells];
                gather_gemm(
                    rows,
                    &a,
                    rows,
                    &src,
                    &taps,
                    &chunks,
                    Some(&init),
                    &mut out,
                    cells,
                );
                for m in 0..rows {
                    for i in 0..out_rows {
                        for j in 0..out_cols {
                            let mut s = init[m];
                            for (t, tap) in taps.iter().enumerate() {
                                s += a[t * rows + m] * src[tap + i * src_row + j];
                            }
                            let got = out[m * cells + i * out_cols + j];
                            assert!(
                                (got - s).abs() < 1e-12,
                                "gather {rows} {out_rows}x{out_cols}"
                            );
                        }
                    }
                }
                // dot: a as [rows][cells], out [rows][taps]
                let a: Vec<f64> = (0..rows * cells).map(|_| test_random(&mut seed)).collect();
                let mut out = vec![0.0; rows * ntaps];
                dot_gemm(rows, &a, cells, &src, &taps, &chunks, &mut out, ntaps);
                for k in 0..rows {
                    for (r, tap) in taps.iter().enumerate() {
                        let mut s = 0.0;
                        for i in 0..out_rows {
                            for j in 0..out_cols {
                                s += a[k * cells + i * out_cols + j] * src[tap + i * src_row + j];
                            }
                        }
                        let got = out[k * ntaps + r];
                        assert!((got - s).abs() < 1e-12, "dot {rows} {out_rows}x{out_cols}");
                    }
                }
            }
        }
    }

    #[test]
    fn dot_matches_the_plain_sum() {
        let mut seed = 3;
        for n in [0, 1, 7, 8, 9, 31, 32, 33, 100] {
            let a: Vec<f64> = (0..n).map(|_| test_random(&mut seed)).collect();
            let b: Vec<f64> = (0..n).map(|_| test_random(&mut seed)).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-12);
        }
    }
}
