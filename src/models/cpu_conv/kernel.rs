//! The CPU convolution itself, on plain `f32` slices in NCHW order: im2col + one gemm per
//! image for the forward pass, and the two gemms of the backward pass (weight gradient,
//! input gradient through col2im). Images run in parallel on rayon's pool, each with its
//! own column buffer; a single image lets gemm use the threads instead.
//!
//! Layouts: `x` [n, cin, h, w], `weight` [cout, cin, kh, kw] read as a [cout, K] matrix
//! with K = cin * kh * kw, columns [K, rows * ow] for a band of output rows (row (c, i, j)
//! holds the input pixel under kernel tap (i, j) of channel c for every output pixel of the
//! band), output [n, cout, oh, ow]. Bands keep the column buffer under [`CHUNK`] floats
//! whatever the image size (a whole 321-pixel crop's columns would be ~120 MB per thread).

use gemm::Parallelism;
use rayon::prelude::*;
use std::cell::RefCell;
use std::ops::Range;

/// Most floats in one band's column matrix (16 MiB), unless a single output row needs more.
/// A buffer of this size stays allocated on each thread between calls: a fresh zeroed one
/// per layer and image cost a tenth of an iteration in page faults and memsets.
const CHUNK: usize = 4 << 20;

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a buffer of `len` floats with unspecified contents (every user overwrites
/// it whole), this thread's kept buffer where it is free.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut kept) if len <= CHUNK => {
            if kept.len() < len {
                kept.resize(len, 0.0);
            }
            f(&mut kept[..len])
        }
        // A single output row wider than a band, or the buffer already in use further up this
        // thread's stack (rayon may run another image's work on a thread that waits inside a
        // parallel gemm).
        _ => f(&mut vec![0.0; len]),
    })
}

/// Shapes and options of one convolution (no groups; any stride, padding and dilation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    /// (begin, end) per spatial dimension: [(top, bottom), (left, right)].
    pub padding: [(usize, usize); 2],
    pub dilation: [usize; 2],
}

impl Geometry {
    pub fn out_h(&self) -> usize {
        (self.h + self.padding[0].0 + self.padding[0].1 - self.dilation[0] * (self.kh - 1) - 1) / self.stride[0] + 1
    }
    pub fn out_w(&self) -> usize {
        (self.w + self.padding[1].0 + self.padding[1].1 - self.dilation[1] * (self.kw - 1) - 1) / self.stride[1] + 1
    }
    /// Rows of the column matrix (the gemm's inner dimension).
    fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }
    /// Output pixels per image (columns of the column matrix).
    fn p(&self) -> usize {
        self.out_h() * self.out_w()
    }
    fn image_len(&self) -> usize {
        self.cin * self.h * self.w
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.cout * self.p()
    }
}

/// Output columns `[lo, hi)` whose input column `ox * stride + offset` (offset = tap
/// position minus padding) falls inside `0..len`.
fn valid_range(out: usize, stride: usize, offset: isize, len: usize) -> (usize, usize) {
    let (s, out) = (stride as isize, out as isize);
    // ox * s + offset >= 0  <=>  ox >= ceil(-offset / s)
    let lo = if offset >= 0 { 0 } else { (-offset + s - 1) / s }.min(out);
    // ox * s + offset <= len - 1  <=>  ox <= floor((len - 1 - offset) / s)
    let last = len as isize - 1 - offset;
    let hi = if last < 0 { 0 } else { last / s + 1 }.clamp(lo, out);
    (lo as usize, hi as usize)
}

/// Visits every (column-matrix row, output row of the band `rows`) pair with the input row
/// it reads, or None where the tap falls in the padding; `f(column entry index, input row
/// start, ox range, ix0)`. Shared by im2col and its adjoint so both walk the same geometry.
fn for_each_tap_row(g: &Geometry, rows: Range<usize>, mut f: impl FnMut(usize, Option<usize>, (usize, usize), isize)) {
    let ow = g.out_w();
    let band = rows.len() * ow;
    for c in 0..g.cin {
        for i in 0..g.kh {
            let dy = (i * g.dilation[0]) as isize - g.padding[0].0 as isize;
            for j in 0..g.kw {
                let dx = (j * g.dilation[1]) as isize - g.padding[1].0 as isize;
                let row = (c * g.kh + i) * g.kw + j;
                let range = valid_range(ow, g.stride[1], dx, g.w);
                for (r, oy) in rows.clone().enumerate() {
                    let iy = (oy * g.stride[0]) as isize + dy;
                    let src = (iy >= 0 && (iy as usize) < g.h).then(|| (c * g.h + iy as usize) * g.w);
                    f(row * band + r * ow, src, range, dx);
                }
            }
        }
    }
}

/// Fills `cols` [K, rows * ow] from one image, for the output rows `rows`.
fn im2col(x: &[f32], g: &Geometry, rows: Range<usize>, cols: &mut [f32]) {
    let ow = g.out_w();
    let sx = g.stride[1];
    for_each_tap_row(g, rows, |dst, src, (lo, hi), dx| {
        let out = &mut cols[dst..dst + ow];
        let Some(src) = src else {
            out.fill(0.0);
            return;
        };
        out[..lo].fill(0.0);
        out[hi..].fill(0.0);
        if lo >= hi {
            return;
        }
        let first = (lo * sx) as isize + dx;
        let input = &x[src + first as usize..];
        if sx == 1 {
            out[lo..hi].copy_from_slice(&input[..hi - lo]);
        } else {
            for (o, v) in out[lo..hi].iter_mut().zip(input.iter().step_by(sx)) {
                *o = *v;
            }
        }
    });
}

/// The adjoint of [`im2col`]: adds each column entry back onto the input pixel it came from.
fn col2im_add(cols: &[f32], g: &Geometry, rows: Range<usize>, x: &mut [f32]) {
    let sx = g.stride[1];
    for_each_tap_row(g, rows, |src_col, dst, (lo, hi), dx| {
        let Some(dst) = dst else { return };
        if lo >= hi {
            return;
        }
        let first = (lo * sx) as isize + dx;
        let input = &mut x[dst + first as usize..];
        let col = &cols[src_col + lo..src_col + hi];
        if sx == 1 {
            for (o, v) in input[..hi - lo].iter_mut().zip(col) {
                *o += *v;
            }
        } else {
            for (o, v) in input.iter_mut().step_by(sx).zip(col) {
                *o += *v;
            }
        }
    });
}

/// `dst[m, n] (+)= lhs[m, k] * rhs[k, n]`, every matrix given by (row stride, column stride).
#[allow(clippy::too_many_arguments)]
fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    dst_strides: (usize, usize),
    accumulate: bool,
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: &[f32],
    rhs_strides: (usize, usize),
    parallelism: Parallelism,
) {
    // Bounds: the last element each matrix is read or written at must lie in its slice, so
    // the unchecked gemm below stays inside the buffers.
    let last = |(rows, cols): (usize, usize), (rs, cs): (usize, usize)| (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs;
    assert!(m * n == 0 || last((m, n), dst_strides) < dst.len());
    assert!(m * k == 0 || last((m, k), lhs_strides) < lhs.len());
    assert!(k * n == 0 || last((k, n), rhs_strides) < rhs.len());
    // SAFETY: the asserts above keep every index gemm touches inside the three slices; `dst`
    // is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_strides.1 as isize,
            dst_strides.0 as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_strides.1 as isize,
            lhs_strides.0 as isize,
            rhs.as_ptr(),
            rhs_strides.1 as isize,
            rhs_strides.0 as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Images in parallel when there are enough of them to keep every thread busy; otherwise
/// one image at a time with a parallel gemm.
fn per_image_parallel(g: &Geometry) -> bool {
    g.batch >= rayon::current_num_threads()
}

fn gemm_parallelism(g: &Geometry) -> Parallelism {
    if per_image_parallel(g) { Parallelism::None } else { Parallelism::Rayon(0) }
}

/// The output rows in bands whose column matrix holds at most `chunk` floats (at least one
/// row per band).
fn bands(g: &Geometry, chunk: usize) -> impl Iterator<Item = Range<usize>> {
    let (oh, per_row) = (g.out_h(), g.k() * g.out_w());
    let rows = (chunk / per_row.max(1)).clamp(1, oh.max(1));
    (0..oh).step_by(rows).map(move |r| r..(r + rows).min(oh))
}

/// Forward pass: y = conv(x, weight) + bias, [n, cout, oh, ow].
pub fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    forward_in_bands(x, weight, bias, g, CHUNK)
}

fn forward_in_bands(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry, chunk: usize) -> Vec<f32> {
    assert_eq!(x.len(), g.batch * g.image_len());
    assert_eq!(weight.len(), g.cout * g.k());
    let (k, p) = (g.k(), g.p());
    let mut y = vec![0.0f32; g.output_len()];
    let par = gemm_parallelism(g);
    let ow = g.out_w();
    let one = |(xb, yb): (&[f32], &mut [f32])| {
        if let Some(bias) = bias {
            for (row, b) in yb.chunks_exact_mut(p).zip(bias) {
                row.fill(*b);
            }
        }
        for rows in bands(g, chunk) {
            let n = rows.len() * ow;
            with_scratch(k * n, |cols| {
                im2col(xb, g, rows.clone(), cols);
                matmul((g.cout, n, k), &mut yb[rows.start * ow..], (p, 1), bias.is_some(), weight, (k, 1), cols, (n, 1), par);
            })
        }
    };
    let (xs, ys) = (g.image_len(), g.cout * p);
    if per_image_parallel(g) {
        x.par_chunks_exact(xs).zip(y.par_chunks_exact_mut(ys)).for_each(one);
    } else {
        x.chunks_exact(xs).zip(y.chunks_exact_mut(ys)).for_each(one);
    }
    y
}

/// Gradient of the loss with respect to the weight, [cout, cin, kh, kw], from the input and
/// the output's gradient: sum over images of grad [cout, P] x cols^T [P, K].
pub fn weight_grad(x: &[f32], grad: &[f32], g: &Geometry) -> Vec<f32> {
    weight_grad_in_bands(x, grad, g, CHUNK)
}

fn weight_grad_in_bands(x: &[f32], grad: &[f32], g: &Geometry, chunk: usize) -> Vec<f32> {
    assert_eq!(x.len(), g.batch * g.image_len());
    assert_eq!(grad.len(), g.output_len());
    let (k, p) = (g.k(), g.p());
    let par = gemm_parallelism(g);
    let ow = g.out_w();
    let one = |acc: &mut Vec<f32>, (xb, gb): (&[f32], &[f32])| {
        for rows in bands(g, chunk) {
            let n = rows.len() * ow;
            with_scratch(k * n, |cols| {
                im2col(xb, g, rows.clone(), cols);
                matmul((g.cout, k, n), acc, (k, 1), true, &gb[rows.start * ow..], (p, 1), cols, (1, n), par);
            })
        }
    };
    let (xs, gs) = (g.image_len(), g.cout * p);
    if per_image_parallel(g) {
        x.par_chunks_exact(xs)
            .zip(grad.par_chunks_exact(gs))
            .fold(
                || vec![0.0f32; g.cout * k],
                |mut acc, pair| {
                    one(&mut acc, pair);
                    acc
                },
            )
            .reduce(
                || vec![0.0f32; g.cout * k],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(a, b)| *a += *b);
                    a
                },
            )
    } else {
        let mut acc = vec![0.0f32; g.cout * k];
        x.chunks_exact(xs).zip(grad.chunks_exact(gs)).for_each(|pair| one(&mut acc, pair));
        acc
    }
}

/// Gradient with respect to the input, [n, cin, h, w]: per image, cols = weight^T [K, cout] x
/// grad [cout, P], added back onto the pixels they were read from.
pub fn input_grad(weight: &[f32], grad: &[f32], g: &Geometry) -> Vec<f32> {
    input_grad_in_bands(weight, grad, g, CHUNK)
}

fn input_grad_in_bands(weight: &[f32], grad: &[f32], g: &Geometry, chunk: usize) -> Vec<f32> {
    assert_eq!(weight.len(), g.cout * g.k());
    assert_eq!(grad.len(), g.output_len());
    let (k, p) = (g.k(), g.p());
    let mut gx = vec![0.0f32; g.batch * g.image_len()];
    let par = gemm_parallelism(g);
    let ow = g.out_w();
    let one = |(gxb, gb): (&mut [f32], &[f32])| {
        for rows in bands(g, chunk) {
            let n = rows.len() * ow;
            with_scratch(k * n, |cols| {
                matmul((k, n, g.cout), cols, (n, 1), false, weight, (1, k), &gb[rows.start * ow..], (p, 1), par);
                col2im_add(cols, g, rows.clone(), gxb);
            })
        }
    };
    let (xs, gs) = (g.image_len(), g.cout * p);
    if per_image_parallel(g) {
        gx.par_chunks_exact_mut(xs).zip(grad.par_chunks_exact(gs)).for_each(one);
    } else {
        gx.chunks_exact_mut(xs).zip(grad.chunks_exact(gs)).for_each(one);
    }
    gx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one multiply-add at a time.
    fn naive(x: &[f32], w: &[f32], g: &Geometry) -> Vec<f32> {
        let (oh, ow) = (g.out_h(), g.out_w());
        let mut y = vec![0.0; g.output_len()];
        for b in 0..g.batch {
            for o in 0..g.cout {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = 0.0;
                        for c in 0..g.cin {
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    let iy = (oy * g.stride[0] + i * g.dilation[0]) as isize - g.padding[0].0 as isize;
                                    let ix = (ox * g.stride[1] + j * g.dilation[1]) as isize - g.padding[1].0 as isize;
                                    if iy < 0 || ix < 0 || iy as usize >= g.h || ix as usize >= g.w {
                                        continue;
                                    }
                                    s += x[((b * g.cin + c) * g.h + iy as usize) * g.w + ix as usize] * w[((o * g.cin + c) * g.kh + i) * g.kw + j];
                                }
                            }
                        }
                        y[((b * g.cout + o) * oh + oy) * ow + ox] = s;
                    }
                }
            }
        }
        y
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // A small deterministic sequence in [-1, 1): enough to tell wrong indices apart.
        (0..n).map(|i| (((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(40_503))) >> 8) as f32 / (1u32 << 23) as f32 - 1.0).collect()
    }

    fn geometries() -> Vec<Geometry> {
        let g = |batch, cin, h, w, cout, k, stride, padding, dilation| Geometry {
            batch,
            cin,
            h,
            w,
            cout,
            kh: k,
            kw: k,
            stride: [stride; 2],
            padding,
            dilation: [dilation; 2],
        };
        vec![
            g(3, 2, 7, 6, 3, 3, 1, [(1, 1), (1, 1)], 1),   // the UNet's 3x3 "same"
            g(1, 2, 7, 6, 3, 3, 1, [(1, 1), (1, 1)], 1),   // one image: the parallel-gemm branch
            g(2, 3, 9, 8, 2, 4, 2, [(1, 1), (1, 1)], 1),   // F's 4x4 stride-2 stages
            g(2, 3, 9, 8, 2, 4, 1, [(1, 2), (1, 2)], 1),   // F's asymmetric "same" 4x4
            g(2, 3, 9, 8, 2, 4, 1, [(1, 1), (1, 1)], 1),   // F's shrinking 4x4
            g(2, 4, 5, 5, 3, 1, 1, [(0, 0), (0, 0)], 1),   // 1x1 heads
            g(2, 2, 11, 10, 2, 3, 1, [(2, 2), (2, 2)], 2), // DeepLab's atrous branches
            g(2, 2, 8, 9, 2, 3, 3, [(0, 2), (1, 0)], 1),   // stride 3, lopsided padding
        ]
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "element {i}: {x} vs {y}");
        }
    }

    #[test]
    fn forward_matches_the_definition_with_bias() {
        for g in geometries() {
            let x = values(g.batch * g.image_len(), 1);
            let w = values(g.cout * g.k(), 2);
            let bias = values(g.cout, 3);
            let mut want = naive(&x, &w, &g);
            let p = g.p();
            for (i, v) in want.iter_mut().enumerate() {
                *v += bias[(i / p) % g.cout];
            }
            for chunk in [CHUNK, 1] {
                // CHUNK: one band per image here; 1: one output row per band.
                close(&forward_in_bands(&x, &w, Some(&bias), &g, chunk), &want);
                close(&forward_in_bands(&x, &w, None, &g, chunk), &naive(&x, &w, &g));
            }
        }
    }

    /// Both gradients against the adjoint identity <conv(x, w), r> = <x, conv_x^T(r)> =
    /// <w, conv_w^T(r)>: the convolution is linear in each argument, so the gradient of
    /// <conv(x, w), r> with respect to x is input_grad(w, r), and with respect to w is
    /// weight_grad(x, r). Checked element by element through basis vectors on the naive form.
    #[test]
    fn gradients_are_the_adjoints_of_the_definition() {
        for g in geometries() {
            let x = values(g.batch * g.image_len(), 4);
            let w = values(g.cout * g.k(), 5);
            let r = values(g.output_len(), 6);
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f32>();
            let gx = input_grad(&w, &r, &g);
            let gw = weight_grad(&x, &r, &g);
            // In one-row bands: the same sums, in another order.
            close(&input_grad_in_bands(&w, &r, &g, 1), &gx);
            close(&weight_grad_in_bands(&x, &r, &g, 1), &gw);
            let mut e = vec![0.0; x.len()];
            for i in 0..x.len() {
                e[i] = 1.0;
                let want = dot(&naive(&e, &w, &g), &r);
                assert!((gx[i] - want).abs() <= 1e-4 * (1.0 + want.abs()), "{g:?}: dx[{i}] {} vs {want}", gx[i]);
                e[i] = 0.0;
            }
            let mut e = vec![0.0; w.len()];
            for i in 0..w.len() {
                e[i] = 1.0;
                let want = dot(&naive(&x, &e, &g), &r);
                assert!((gw[i] - want).abs() <= 1e-4 * (1.0 + want.abs()), "{g:?}: dw[{i}] {} vs {want}", gw[i]);
                e[i] = 0.0;
            }
        }
    }
}
