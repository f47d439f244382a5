//! Moving data between the host and the device. Every read is a sync point on GPUs, so the
//! training loop reads back only what it reports.

use burn::tensor::{Device, Int, Tensor, TensorData};

/// Read a float tensor back as f32 (whatever its on-device dtype).
pub fn to_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().expect("float tensor reads back as f32")
}

/// Read an int tensor back as i64 (flex and wgpu store i32, others i64).
pub fn to_i64<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data().try_into_vec_as::<i64>().expect("int tensor reads back as i64")
}

pub fn f32_tensor<const D: usize>(v: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v, shape), device)
}

pub fn i32_tensor<const D: usize>(v: Vec<i32>, shape: [usize; D], device: &Device) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(v, shape), device)
}
