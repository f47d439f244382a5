//! `flawmap bench --ops`: milliseconds of single layers at the bench config's shapes
//! (batch 8, 64x64 crops, UNet width 16, F ndf 32), forward alone and forward + backward,
//! on the CPU, through burn's convolutions, `models::matmul_conv` and `models::cpu_conv`.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
use burn::tensor::{Device, Distribution, Tensor};
use flawmap::host::to_f32;
use flawmap::models::{cpu_conv, matmul_conv};
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

/// Which computation a row times.
#[derive(Clone, Copy)]
enum Form {
    Burn,
    Matmul,
    Kernel,
}

/// Forward and forward + backward ms of a layer through each form that computes it
/// (`fwd(form)` returns None where a form does not apply), whose weight is `weight`.
fn layer_row(n: usize, fwd: impl Fn(Form) -> Option<Tensor<4>>, weight: Tensor<4>) -> String {
    let mut out = String::new();
    for form in [Form::Burn, Form::Matmul, Form::Kernel] {
        if fwd(form).is_none() {
            out += &format!(" {:>9} {:>9}", "-", "-");
            continue;
        }
        let f = time(n, || fwd(form).expect("applies").detach().sum());
        let fb = time(n, || {
            let g = fwd(form).expect("applies").sum().backward();
            weight.grad(&g).expect("the weight has a gradient").sum()
        });
        out += &format!(" {f:>9.1} {fb:>9.1}");
    }
    out
}

pub fn run(n: usize) -> Result<(), String> {
    let dev = Device::flex().autodiff();
    println!("{:<36} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}", "layer (batch 8), ms", "burn fwd", "burn f+b", "mm fwd", "mm f+b", "kern fwd", "kern f+b");
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
        let row = layer_row(
            n,
            |form| match form {
                Form::Burn => Some(conv.forward(x.clone())),
                Form::Matmul => matmul_conv::supports(&conv).then(|| matmul_conv::conv2d(&conv, x.clone())),
                Form::Kernel => Some(cpu_conv::conv2d(&conv, x.clone())),
            },
            conv.weight.val(),
        );
        println!("{label:<36}{row}");
    }
    for (label, cin, cout, side) in [("UNet up 2x2/2 32->16 @32", 32, 16, 32), ("UNet up 2x2/2 64->32 @16", 64, 32, 16)] {
        let up = ConvTranspose2dConfig::new([cin, cout], [2, 2]).with_stride([2, 2]).init(&dev);
        let x = Tensor::<4>::random([8, cin, side, side], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let row = layer_row(
            n,
            |form| match form {
                Form::Burn => Some(up.forward(x.clone())),
                // The kernel path computes transposed convolutions through the matmul form.
                Form::Matmul | Form::Kernel => Some(matmul_conv::conv_transpose2d(&up, x.clone())),
            },
            up.weight.val(),
        );
        println!("{label:<36}{row}");
    }
    Ok(())
}
