//! What the task decides (PixelSSL's task interface): the activation, the supervised loss
//! and the label format for C(.). Metrics live in `metrics`.

use crate::config::TaskKind;
use crate::gct::losses::{cross_entropy_ignore, mse};
use crate::gct::targets::one_hot;
use burn::tensor::activation::softmax;
use burn::tensor::{Int, Tensor};

/// Labels of the labelled slice on the device.
#[derive(Debug, Clone)]
pub enum Labels {
    /// Class indices [N_L, H, W], 255 = ignore.
    Classes(Tensor<3, Int>),
    /// Clean images [N_L, 3, H, W].
    Clean(Tensor<4>),
}

#[derive(Debug, Clone, Copy)]
pub struct Task {
    pub kind: TaskKind,
    pub out_channels: usize,
}

impl Task {
    /// p = act(T(x)): softmax over classes, identity for restoration.
    pub fn activate(&self, out: Tensor<4>) -> Tensor<4> {
        match self.kind {
            TaskKind::Segmentation => softmax(out, 1),
            TaskKind::Denoising | TaskKind::Lowlight => out,
        }
    }

    /// L_sup on the raw network output of the labelled slice.
    pub fn supervised_loss(&self, out: Tensor<4>, labels: &Labels) -> Tensor<1> {
        match labels {
            Labels::Classes(y) => cross_entropy_ignore(out, y.clone()),
            Labels::Clean(y) => mse(out, y.clone()),
        }
    }

    /// Labels in prediction format for C(.): one-hot (ignore -> zero vector) or the clean image.
    pub fn label_as_pred(&self, labels: &Labels) -> Tensor<4> {
        match labels {
            Labels::Classes(y) => one_hot(y.clone(), self.out_channels),
            Labels::Clean(y) => y.clone(),
        }
    }
}
