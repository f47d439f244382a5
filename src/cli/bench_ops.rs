//! `flawmap bench --ops`: milliseconds of single layers at the bench config's shapes
//! (batch 8, 64x64 crops, UNet width 16, F ndf 32), forward alone and forward + backward,
//! on the CPU, through burn's convolutions and through `models::matmul_conv`.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
use burn::tensor::{Device, Distribution, Tensor};
use flawmap::host::to_f32;
use flawmap::models::matmul_conv;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median ms of `f` over `n` runs after one warm-up; each run ends with a read-back.
fn time(n: usize, mut f: impl FnMut() -> Tensor<1>) -> f64 {
    let _ = to_f32(f());
    median(
        (0..n)
            .map(|_| {
                let t0 = Instant::now();
                let _ = to_f32(f());
                t0.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

/// [burn forward, burn forward + backward, matmul forward, matmul forward + backward] of a
/// layer whose forward is `fwd(use_matmul)` and whose weight is `weight`.
fn layer_row(n: usize, fwd: impl Fn(bool) -> Tensor<4>, weight: Tensor<4>) -> [f64; 4] {
    let mut out = [0.0; 4];
    for (i, mm) in [false, true].into_iter().enumerate() {
        out[2 * i] = time(n, || fwd(mm).detach().sum());
        out[2 * i + 1] = time(n, || {
            let g = fwd(mm).sum().backward();
            weight.grad(&g).expect("the weight has a gradient").sum()
        });
    }
    out
}

pub fn run(n: usize) -> Result<(), String> {
    let dev = Device::flex().autodiff();
    println!("{:<44} {:>9} {:>9} {:>11} {:>11}", "layer (batch 8)", "burn fwd", "burn f+b", "matmul fwd", "matmul f+b");
    let same = |p| PaddingConfig2d::Explicit(p, p, p, p);
    // (label, cin, cout, kernel, stride, padding, side)
    let convs = [
        ("UNet 3x3 3->16 @64", 3, 16, 3, 1, same(1), 64),
        ("UNet 3x3 16->16 @64", 16, 16, 3, 1, same(1), 64),
        ("UNet 3x3 32->32 @32", 32, 32, 3, 1, same(1), 32),
        ("UNet 3x3 64->64 @16", 64, 64, 3, 1, same(1), 16),
        ("UNet 3x3 32->16 @64 (merge)", 32, 16, 3, 1, same(1), 64),
        ("UNet head 1x1 16->4 @64", 16, 4, 1, 1, PaddingConfig2d::Valid, 64),
        ("F conv1 4x4/2 7->32 @64", 7, 32, 4, 2, same(1), 64),
        ("F conv2 4x4/2 32->64 @32", 32, 64, 4, 2, same(1), 32),
        ("F conv2_1 4x4 64->64 @16", 64, 64, 4, 1, same(1), 16),
        ("F conv3 4x4/2 64->128 @15", 64, 128, 4, 2, same(1), 15),
    ];
    for (label, cin, cout, k, stride, pad, side) in convs {
        let conv = Conv2dConfig::new([cin, cout], [k, k]).with_stride([stride, stride]).with_padding(pad).init(&dev);
        let x = Tensor::<4>::random([8, cin, side, side], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let row = layer_row(n, |mm| if mm { matmul_conv::conv2d(&conv, x.clone()) } else { conv.forward(x.clone()) }, conv.weight.val());
        println!("{label:<44} {:>9.1} {:>9.1} {:>11.1} {:>11.1}", row[0], row[1], row[2], row[3]);
    }
    for (label, cin, cout, side) in [("UNet up 2x2/2 32->16 @32", 32, 16, 32), ("UNet up 2x2/2 64->32 @16", 64, 32, 16)] {
        let up = ConvTranspose2dConfig::new([cin, cout], [2, 2]).with_stride([2, 2]).init(&dev);
        let x = Tensor::<4>::random([8, cin, side, side], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let row = layer_row(n, |mm| if mm { matmul_conv::conv_transpose2d(&up, x.clone()) } else { up.forward(x.clone()) }, up.weight.val());
        println!("{label:<44} {:>9.1} {:>9.1} {:>11.1} {:>11.1}", row[0], row[1], row[2], row[3]);
    }
    // The pieces of the matmul form of the widest 3x3 layer, to see where its time goes.
    let x = Tensor::<4>::random([8, 16, 64, 64], Distribution::Normal(0.0, 1.0), &dev);
    let pad = time(n, || x.clone().pad((1, 1, 1, 2), burn::tensor::ops::PadMode::Constant(0.0)).sum());
    let line = x.clone().pad((1, 1, 1, 2), burn::tensor::ops::PadMode::Constant(0.0)).reshape([8, 16, 67 * 66]);
    let stack = time(n, || {
        let w: Vec<Tensor<3>> = (0..9).map(|i| line.clone().narrow(2, (i / 3) * 66 + i % 3, 64 * 66)).collect();
        Tensor::stack::<4>(w, 2).reshape([8, 144, 64 * 66]).sum()
    });
    let cols = Tensor::<3>::random([8, 144, 64 * 66], Distribution::Default, &dev);
    let wm = Tensor::<3>::random([1, 16, 144], Distribution::Default, &dev);
    let mm = time(n, || wm.clone().matmul(cols.clone()).sum());
    let wm8 = Tensor::<3>::random([8, 16, 144], Distribution::Default, &dev);
    let mm8 = time(n, || wm8.clone().matmul(cols.clone()).sum());
    let w2 = Tensor::<2>::random([16, 144], Distribution::Default, &dev);
    let cols2 = Tensor::<2>::random([144, 8 * 64 * 66], Distribution::Default, &dev);
    let mm2 = time(n, || w2.clone().matmul(cols2.clone()).sum());
    let s = time(n, || cols.clone().sum());
    println!(
        "\nmatmul form of 3x3 16->16 @64, its pieces (ms): pad {pad:.1}; the 9 shifted windows (strided views) \
         stacked {stack:.1}; [1,16,144]x[8,144,N] {mm:.1}; [8,16,144]x[8,144,N] {mm8:.1}; [16,144]x[144,8N] {mm2:.1}; \
         a contiguous sum over the same data {s:.1}"
    );
    Ok(())
}
