//! Convolutions computed as matrix products, on the weights of burn's own `Conv2d` and
//! `ConvTranspose2d` modules (same parameters, same initialisation, same checkpoints).
//!
//! Why: burn-flex 0.22 (the CPU backend) runs a 2-D convolution through a generic 3-D
//! im2col path with scalar loops, and burn's default backward computes a convolution's
//! weight gradient as another convolution whose kernel is the whole image, and its input
//! gradient as a transposed convolution with a scalar col2im. As matmuls, the forward and
//! backward are gemms plus copies. Measured per layer (`flawmap bench --ops`), that wins
//! for 1x1 convolutions and for the UNet's 2x2 stride-2 transposed convolutions, and loses
//! for k x k ones (see [`faster_as_matmul`]), so only the former take this path. Every form
//! here computes burn's function to float rounding (tested, values and gradients).
//!
//! The trick for a stride-1 k x k convolution with dilation d: pad the image, flatten each
//! channel's padded rows (width R = W + left + right) into one line, and take the k*k
//! shifted windows of that line (offset d*(dh*R + dw), length H_out*R); stacked on the
//! channel axis they are the im2col matrix. The R - W_out extra columns of each output row
//! are garbage computed across the row ends, cropped from the output.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::Tensor;
use burn::tensor::ops::PadMode;

/// Padding as (top, left, bottom, right), where the layer's config fixes it.
pub(crate) fn explicit_padding(conv: &Conv2d) -> Option<[usize; 4]> {
    let [_, _, kh, kw] = conv.weight.dims();
    match conv.padding {
        PaddingConfig2d::Explicit(t, l, b, r) => Some([t, l, b, r]),
        PaddingConfig2d::Valid => Some([0; 4]),
        PaddingConfig2d::Same if kh % 2 == 1 && kw % 2 == 1 => {
            let (ph, pw) = (conv.dilation[0] * (kh - 1) / 2, conv.dilation[1] * (kw - 1) / 2);
            Some([ph, pw, ph, pw])
        }
        PaddingConfig2d::Same => None,
    }
}

/// Whether [`conv2d`] can compute this convolution: square kernel, no groups, and either
/// stride 1 (any dilation, any explicit padding) or stride s dividing the kernel without
/// dilation (F's 4x4 stride-2 convolutions).
pub fn supports(conv: &Conv2d) -> bool {
    let [_, _, kh, kw] = conv.weight.dims();
    let [sh, sw] = conv.stride;
    let strided_ok = sh == 1 || (kh % sh == 0 && conv.dilation == [1, 1]);
    kh == kw && sh == sw && strided_ok && conv.dilation[0] == conv.dilation[1] && conv.groups == 1 && explicit_padding(conv).is_some()
}

/// Whether the matmul form is the faster one for this layer on flex, as measured by
/// `flawmap bench --ops` (docs/measurements.md, "Training speed"): 1x1 convolutions (burn computes their
/// weight gradient as a convolution with an image-sized kernel: 11.7 ms forward + backward
/// for the UNet head against 1.5 ms). Not k x k ones: their windows are strided views, and
/// flex 0.22 copies strided views element by element (stacking the nine windows of a
/// 16-channel 64 x 64 batch takes 77 ms, burn's whole convolution 21 ms).
pub fn faster_as_matmul(conv: &Conv2d) -> bool {
    let [_, _, k, _] = conv.weight.dims();
    k == 1 && conv.stride == [1, 1] && explicit_padding(conv) == Some([0; 4]) && conv.groups == 1
}

/// `conv.forward(x)` for a convolution [`supports`] accepts.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let padding = explicit_padding(conv).expect("conv2d: supported padding");
    let stride = conv.stride[0];
    let bias = conv.bias.as_ref().map(|b| b.val());
    if stride == 1 {
        return stride_one(x, conv.weight.val(), bias, conv.dilation[0], padding);
    }
    // Stride s with a kernel of k = m*s: pad, then fold each s x s block of pixels into
    // channels ("space to depth"); the convolution becomes a stride-1 m x m one on s*s times
    // the channels, with the kernel folded the same way.
    let [b, cin, h, w] = x.dims();
    let [cout, _, k, _] = conv.weight.dims();
    let [top, left, bottom, right] = padding;
    let (hp, wp) = (h + top + bottom, w + left + right);
    let (h_out, w_out) = ((hp - k) / stride + 1, (wp - k) / stride + 1);
    let (hs, ws) = (hp.div_ceil(stride), wp.div_ceil(stride));
    let x = x.pad((left, right + ws * stride - wp, top, bottom + hs * stride - hp), PadMode::Constant(0.0));
    let folded = x.reshape([b * cin, hs, stride, ws, stride]).permute([0, 2, 4, 1, 3]).reshape([b, cin * stride * stride, hs, ws]);
    let m = k / stride;
    let wf = conv.weight.val().reshape([cout * cin, m, stride, m, stride]).permute([0, 2, 4, 1, 3]).reshape([cout, cin * stride * stride, m, m]);
    stride_one(folded, wf, bias, 1, [0; 4]).narrow(2, 0, h_out).narrow(3, 0, w_out)
}

/// A stride-1 k x k convolution with dilation `d` and padding (top, left, bottom, right), as
/// one batched matmul.
fn stride_one(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, d: usize, padding: [usize; 4]) -> Tensor<4> {
    let [b, cin, h, w] = x.dims();
    let [cout, _, k, _] = weight.dims();
    let [top, left, bottom, right] = padding;
    let y = if k == 1 && padding == [0; 4] {
        // A 1x1 convolution is a matmul as it is.
        let wm = weight.reshape([1, cout, cin]);
        wm.matmul(x.reshape([b, cin, h * w])).reshape([b, cout, h, w])
    } else {
        let extent = d * (k - 1) + 1;
        let row = w + left + right;
        let (h_out, w_out) = (h + top + bottom + 1 - extent, row + 1 - extent);
        // One extra row at the bottom, so the last window's tail stays inside the line.
        let line = x.pad((left, right, top, bottom + 1), PadMode::Constant(0.0)).reshape([b, cin, (h + top + bottom + 1) * row]);
        let len = h_out * row;
        let mut windows = Vec::with_capacity(k * k);
        for dh in 0..k {
            for dw in 0..k {
                windows.push(line.clone().narrow(2, dh * d * row + dw * d, len));
            }
        }
        // [b, cin, k*k, len] -> [b, cin*k*k, len]: the weight's own [cin, kh, kw] order.
        let cols = Tensor::stack::<4>(windows, 2).reshape([b, cin * k * k, len]);
        let wm = weight.reshape([1, cout, cin * k * k]);
        wm.matmul(cols).reshape([b, cout, h_out, row]).narrow(3, 0, w_out)
    };
    match bias {
        Some(bias) => y + bias.reshape([1, cout, 1, 1]),
        None => y,
    }
}

/// Whether [`conv_transpose2d`] can compute this transposed convolution: kernel equal to the
/// stride (each input pixel paints its own output block), no padding, dilation or groups.
pub fn supports_transpose(conv: &ConvTranspose2d) -> bool {
    let [_, _, kh, kw] = conv.weight.dims();
    conv.stride == [kh, kw] && conv.padding == [0, 0] && conv.padding_out == [0, 0] && conv.dilation == [1, 1] && conv.groups == 1
}

/// `conv.forward(x)` for a transposed convolution [`supports_transpose`] accepts: one matmul
/// gives every output block's values, a reshape and permute lays the blocks out ("pixel
/// shuffle").
pub fn conv_transpose2d(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let [b, cin, h, w] = x.dims();
    // burn (as PyTorch) stores a transposed convolution's weight as [cin, cout, kh, kw].
    let [_, cout, kh, kw] = conv.weight.dims();
    let wm = conv.weight.val().reshape([cin, cout * kh * kw]).transpose().reshape([1, cout * kh * kw, cin]);
    let blocks = wm.matmul(x.reshape([b, cin, h * w]));
    let y = blocks.reshape([b * cout, kh, kw, h, w]).permute([0, 3, 1, 4, 2]).reshape([b, cout, h * kh, w * kw]);
    match &conv.bias {
        Some(bias) => y + bias.val().reshape([1, cout, 1, 1]),
        None => y,
    }
}
