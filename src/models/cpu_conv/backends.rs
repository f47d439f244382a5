//! The extension trait and its two implementations: burn-flex runs [`super::kernel`];
//! autodiff records the operation and, on the way back, asks the inner backend for the two
//! gradients through the same trait (so flex's backward is the kernel's too).

use super::kernel::{self, Geometry};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, TensorData};
use burn_autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_autodiff::{Autodiff, NodeId};
use burn_flex::FlexTensor;

/// A convolution without bias, and its two gradients. The default bodies are burn's own
/// operations (what any backend without an override computes); flex overrides all three.
/// Only flex and autodiff are routed: flawmap calls this on the CPU only.
#[backend_extension(Flex: cfg(all()), Autodiff: cfg(all()))]
pub trait CpuConv: Backend {
    fn cpu_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    fn cpu_conv2d_input_grad(x: FloatTensor<Self>, weight: FloatTensor<Self>, output_grad: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, output_grad, options)
    }

    fn cpu_conv2d_weight_grad(x: FloatTensor<Self>, weight: FloatTensor<Self>, output_grad: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, output_grad, options)
    }
}

/// The kernel's geometry, or None where the kernel does not apply (not f32, groups, no
/// output) and burn's own operation runs instead.
fn geometry(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Option<Geometry> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 || options.groups != 1 {
        return None;
    }
    let [batch, cin, h, w] = x.layout().shape().dims::<4>();
    let [cout, wcin, kh, kw] = weight.layout().shape().dims::<4>();
    // An input smaller than the dilated kernel has no output; burn's operation says so.
    let reaches = |n: usize, (a, b): (usize, usize), d: usize, k: usize| k >= 1 && n + a + b > d * (k - 1);
    let fits = reaches(h, options.padding[0], options.dilation[0], kh) && reaches(w, options.padding[1], options.dilation[1], kw);
    (wcin == cin && fits).then_some(Geometry { batch, cin, h, w, cout, kh, kw, stride: options.stride, padding: options.padding, dilation: options.dilation })
}

fn tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl CpuConv for Flex {
    fn cpu_conv2d(x: FlexTensor, weight: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else { return Flex::conv2d(x, weight, None, options) };
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let y = kernel::forward(x.as_slice().expect("contiguous"), weight.as_slice().expect("contiguous"), None, &g);
        tensor(y, [g.batch, g.cout, g.out_h(), g.out_w()])
    }

    fn cpu_conv2d_input_grad(x: FlexTensor, weight: FlexTensor, output_grad: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else { return Flex::conv2d_x_backward(x, weight, output_grad, options) };
        let (weight, grad) = (weight.to_contiguous(), output_grad.to_contiguous());
        let gx = kernel::input_grad(weight.as_slice().expect("contiguous"), grad.as_slice().expect("contiguous"), &g);
        tensor(gx, [g.batch, g.cin, g.h, g.w])
    }

    fn cpu_conv2d_weight_grad(x: FlexTensor, weight: FlexTensor, output_grad: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else { return Flex::conv2d_weight_backward(x, weight, output_grad, options) };
        let (x, grad) = (x.to_contiguous(), output_grad.to_contiguous());
        let gw = kernel::weight_grad(x.as_slice().expect("contiguous"), grad.as_slice().expect("contiguous"), &g);
        tensor(gw, [g.cout, g.cin, g.kh, g.kw])
    }
}

/// The backward step autodiff runs for [`CpuConv::cpu_conv2d`]: each gradient only where
/// its input needs one (a frozen flaw detector asks for the input's alone).
#[derive(Debug)]
struct CpuConvBackward;

impl<B: Backend + CpuConv> Backward<B, 2> for CpuConvBackward {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, options) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
        if let Some(node) = node_weight {
            grads.register::<B>(node.id, B::cpu_conv2d_weight_grad(x.clone(), weight.clone(), grad.clone(), options.clone()));
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::cpu_conv2d_input_grad(x, weight, grad, options));
        }
    }
}

/// Second derivatives are not needed (GCT differentiates once) and fall back to the default
/// bodies, i.e. burn's own differentiable operations.
impl<B: Backend + CpuConv, C: CheckpointStrategy> CpuConv for Autodiff<B, C> {
    fn cpu_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        match CpuConvBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let y = B::cpu_conv2d(x.into_primitive(), weight.into_primitive(), options.clone());
                prep.finish((x_state, weight_state, options), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cpu_conv2d(x.into_primitive(), weight.into_primitive(), options)),
        }
    }
}
