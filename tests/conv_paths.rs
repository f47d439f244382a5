//! The CPU forms of the convolutions compute what burn's `Conv2d` / `ConvTranspose2d`
//! compute, values and gradients (input, weight, bias), for every layer shape the networks
//! use: 3x3 (dilated too), 1x1, the ASPP's dilated 3x3 with bias, F's 4x4 (stride 2, and
//! stride 1 with both paddings), DeepLab's strided 3x3, and the UNet's 2x2 stride-2
//! transposed convolution. The matmul forms (`models::matmul_conv`) on flex and on wgpu
//! (lavapipe); the im2col kernel (`models::cpu_conv`, flex only) with and without autodiff,
//! for one image (parallel gemm) and several (images in parallel).

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::tensor::{Device, Distribution, Tensor};
use flawmap::host::to_f32;
use flawmap::models::conv::{self, ConvPath};
use flawmap::models::{cpu_conv, matmul_conv};

fn max_diff(a: Tensor<4>, b: Tensor<4>) -> (f32, f32) {
    let (a, b) = (to_f32(a.reshape([-1])), to_f32(b.reshape([-1])));
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    (a.iter().zip(&b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale, scale)
}

fn devices() -> Vec<(&'static str, Device)> {
    let mut out = vec![("flex", Device::flex())];
    let wgpu = flawmap::device::acquire(flawmap::device::DeviceChoice::Wgpu).expect("a wgpu adapter (lavapipe in CI)");
    out.push(("wgpu", wgpu.device));
    out
}

/// Forward and backward of `ours` and `theirs` on the same input and upstream gradient;
/// compares the outputs and the gradients of the input and of every parameter.
fn check<M: Module + Clone>(
    name: &str,
    module: M,
    x: Tensor<4>,
    ours: impl Fn(&M, Tensor<4>) -> Tensor<4>,
    theirs: impl Fn(&M, Tensor<4>) -> Tensor<4>,
    params: impl Fn(&M) -> (Tensor<4>, Option<Tensor<1>>),
) {
    let device = x.device();
    let x = x.require_grad();
    // One graph at a time: forward and backward of ours, then of burn's.
    let ya = ours(&module, x.clone());
    let up = Tensor::<4>::random(ya.dims(), Distribution::Normal(0.0, 1.0), &device);
    let ga = (ya.clone() * up.clone()).sum().backward();
    let yb = theirs(&module, x.clone());
    assert_eq!(ya.dims(), yb.dims(), "{name}: output shape");
    let gb = (yb.clone() * up).sum().backward();
    let (d, _) = max_diff(ya.detach(), yb.detach());
    assert!(d < 1e-4, "{name}: outputs differ by {d} (relative)");
    let (gxa, gxb) = (x.grad(&ga).expect("input grad"), x.grad(&gb).expect("input grad"));
    let (d, _) = max_diff(gxa, gxb);
    assert!(d < 1e-4, "{name}: input gradients differ by {d}");
    let (weight, bias) = params(&module);
    let (d, _) = max_diff(weight.grad(&ga).expect("weight grad"), weight.grad(&gb).expect("weight grad"));
    assert!(d < 1e-4, "{name}: weight gradients differ by {d}");
    if let Some(b) = bias {
        let as4 = |t: Tensor<1>| t.reshape([1, 1, 1, -1]);
        let (d, _) = max_diff(as4(b.grad(&ga).expect("bias grad")), as4(b.grad(&gb).expect("bias grad")));
        assert!(d < 1e-4, "{name}: bias gradients differ by {d}");
    }
}

fn conv_params(c: &Conv2d) -> (Tensor<4>, Option<Tensor<1>>) {
    (c.weight.val(), c.bias.as_ref().map(|b| b.val()))
}

#[test]
fn matmul_convolutions_match_burns_values_and_gradients() {
    for (dev_name, base) in devices() {
        let device = base.autodiff();
        let same = |p| PaddingConfig2d::Explicit(p, p, p, p);
        // (cin, cout, kernel, dilation, padding, bias, h, w): the UNet's and DeepLab's 3x3, the
        // ASPP's dilated 3x3 with bias, the 1x1 head, F's stride-1 4x4 ('shrink' with padding
        // 1, 'same' with 1 before and 2 after), a 3x3 without padding.
        for (cin, cout, k, d, stride, pad, bias, h, w) in [
            (3, 8, 3, 1, same(1), false, 16, 12),
            (8, 16, 3, 1, same(1), false, 9, 7),
            (6, 4, 3, 2, same(2), true, 11, 13),
            (8, 5, 1, 1, PaddingConfig2d::Valid, true, 10, 6),
            (7, 6, 4, 1, same(1), true, 9, 8),
            (7, 6, 4, 1, PaddingConfig2d::Explicit(1, 1, 2, 2), true, 6, 5),
            (4, 3, 3, 1, PaddingConfig2d::Valid, false, 7, 9),
        ]
        .into_iter()
        .map(|(cin, cout, k, d, pad, bias, h, w)| (cin, cout, k, d, 1, pad, bias, h, w))
        // F's 4x4 stride-2 convolutions with padding 1, on even and odd sides.
        .chain([(7, 6, 4, 1, 2, same(1), true, 16, 12), (5, 8, 4, 1, 2, same(1), true, 9, 7)])
        {
            let conv = Conv2dConfig::new([cin, cout], [k, k])
                .with_dilation([d, d])
                .with_stride([stride, stride])
                .with_padding(pad.clone())
                .with_bias(bias)
                .init(&device);
            assert!(matmul_conv::supports(&conv));
            let x = Tensor::<4>::random([2, cin, h, w], Distribution::Normal(0.0, 1.0), &device);
            let name = format!("{dev_name} conv {cin}->{cout} k{k} d{d} s{stride} {pad:?} bias {bias} {h}x{w}");
            check(&name, conv, x, matmul_conv::conv2d, |c, x| c.forward(x), conv_params);
        }
        for (cin, cout, h, w) in [(16, 8, 5, 7), (4, 3, 8, 8)] {
            let up = ConvTranspose2dConfig::new([cin, cout], [2, 2]).with_stride([2, 2]).init(&device);
            assert!(matmul_conv::supports_transpose(&up));
            let x = Tensor::<4>::random([3, cin, h, w], Distribution::Normal(0.0, 1.0), &device);
            let name = format!("{dev_name} transposed conv {cin}->{cout} {h}x{w}");
            let params = |c: &ConvTranspose2d| (c.weight.val(), c.bias.as_ref().map(|b| b.val()));
            check(&name, up, x, matmul_conv::conv_transpose2d, |c, x| c.forward(x), params);
        }
    }
}

#[test]
fn other_convolutions_fall_back_to_burn() {
    let d = Device::flex();
    // A stride that does not divide the kernel (DeepLab's 3x3 stride-2 stages), a dilated
    // strided one: burn computes them.
    let strided = Conv2dConfig::new([3, 4], [3, 3]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(&d);
    let dilated_strided = Conv2dConfig::new([3, 4], [4, 4]).with_stride([2, 2]).with_dilation([2, 2]).init(&d);
    let same_even = Conv2dConfig::new([3, 4], [4, 4]).with_padding(PaddingConfig2d::Same).init(&d);
    assert!(!matmul_conv::supports(&same_even));
    for c in [strided, dilated_strided] {
        assert!(!matmul_conv::supports(&c));
        // and the dispatcher still computes them, through burn
        let x = Tensor::<4>::random([1, 3, 8, 8], Distribution::Default, &d);
        assert_eq!(conv::forward(&c, x.clone()).dims(), c.forward(x).dims());
    }
    let padded = ConvTranspose2dConfig::new([4, 4], [3, 3]).with_stride([2, 2]).with_padding([1, 1]).init(&d);
    assert!(!matmul_conv::supports_transpose(&padded));
    if std::env::var("FLAWMAP_CONV").is_err() {
        assert_eq!(conv::path_on(&Device::flex()), ConvPath::Kernel);
        assert_eq!(conv::path_on(&Device::flex().autodiff()), ConvPath::Kernel);
    }
}

#[test]
fn cpu_kernel_matches_burns_values_and_gradients() {
    let device = Device::flex().autodiff();
    let same = |p| PaddingConfig2d::Explicit(p, p, p, p);
    // (cin, cout, kernel, dilation, stride, padding, bias, h, w)
    let layers = [
        (3, 8, 3, 1, 1, same(1), false, 16, 12),
        (8, 16, 3, 1, 1, same(1), false, 9, 7),
        (6, 4, 3, 2, 1, same(2), true, 11, 13),
        (8, 5, 1, 1, 1, PaddingConfig2d::Valid, true, 10, 6),
        (7, 6, 4, 1, 1, same(1), true, 9, 8),
        (7, 6, 4, 1, 1, PaddingConfig2d::Explicit(1, 1, 2, 2), true, 6, 5),
        (7, 6, 4, 1, 2, same(1), true, 16, 12),
        (5, 8, 4, 1, 2, same(1), true, 9, 7),
        (4, 6, 3, 1, 2, same(1), false, 13, 10),
        (3, 4, 4, 2, 2, PaddingConfig2d::Valid, true, 12, 11),
    ];
    for (cin, cout, k, d, stride, pad, bias, h, w) in layers {
        let conv =
            Conv2dConfig::new([cin, cout], [k, k]).with_dilation([d, d]).with_stride([stride, stride]).with_padding(pad.clone()).with_bias(bias).init(&device);
        assert!(cpu_conv::supports(&conv));
        for batch in [1, 3] {
            let x = Tensor::<4>::random([batch, cin, h, w], Distribution::Normal(0.0, 1.0), &device);
            let name = format!("kernel conv {cin}->{cout} k{k} d{d} s{stride} {pad:?} bias {bias} {h}x{w} batch {batch}");
            check(&name, conv.clone(), x.clone(), cpu_conv::conv2d, |c, x| c.forward(x), conv_params);
            // Without autodiff (evaluation): the same values.
            let plain = conv.valid();
            let xp = x.without_autodiff();
            let (d, _) = max_diff(cpu_conv::conv2d(&plain, xp.clone()), plain.forward(xp));
            assert!(d < 1e-4, "{name}: inference outputs differ by {d}");
        }
    }
}
