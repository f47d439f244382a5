//! UNet: per level two 3x3 conv + BN + ReLU, max-pool down, 2x2 transposed conv up,
//! skip concatenation, 1x1 head. `depth` counts resolution levels (3: S, S/2, S/4).

use super::TaskNetSpec;
use super::blocks::ConvBnRelu;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::{Device, Tensor};

#[derive(Module, Debug)]
pub struct DoubleConv {
    pub a: ConvBnRelu,
    pub b: ConvBnRelu,
}

impl DoubleConv {
    fn new(cin: usize, cout: usize, device: &Device) -> Self {
        Self { a: ConvBnRelu::new(cin, cout, 1, 1, device), b: ConvBnRelu::new(cout, cout, 1, 1, device) }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.b.forward(self.a.forward(x))
    }
}

#[derive(Module, Debug)]
pub struct Unet {
    pub down: Vec<DoubleConv>,
    pub up: Vec<ConvTranspose2d>,
    pub merge: Vec<DoubleConv>,
    pub pool: MaxPool2d,
    pub head: Conv2d,
    pub residual: bool,
}

impl Unet {
    pub fn new(width: usize, depth: usize, spec: TaskNetSpec, device: &Device) -> Self {
        let ch = |level: usize| width << level;
        let down = (0..depth).map(|l| DoubleConv::new(if l == 0 { spec.in_channels } else { ch(l - 1) }, ch(l), device)).collect();
        // up[i] / merge[i] bring level i+1 back to level i.
        let up = (0..depth - 1).map(|l| ConvTranspose2dConfig::new([ch(l + 1), ch(l)], [2, 2]).with_stride([2, 2]).init(device)).collect();
        let merge = (0..depth - 1).map(|l| DoubleConv::new(2 * ch(l), ch(l), device)).collect();
        Self {
            down,
            up,
            merge,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            head: Conv2dConfig::new([width, spec.out_channels], [1, 1]).init(device),
            residual: spec.residual,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let input = x.clone();
        let mut skips = Vec::with_capacity(self.down.len());
        let mut h = x;
        for (l, block) in self.down.iter().enumerate() {
            if l > 0 {
                h = self.pool.forward(h);
            }
            h = block.forward(h);
            skips.push(h.clone());
        }
        skips.pop();
        for l in (0..self.up.len()).rev() {
            let skip = skips.pop().expect("one skip per level");
            let up = super::conv::forward_transpose(&self.up[l], h);
            h = self.merge[l].forward(Tensor::cat(vec![skip, up], 1));
        }
        let out = super::conv::forward(&self.head, h);
        if self.residual { out + input } else { out }
    }
}
