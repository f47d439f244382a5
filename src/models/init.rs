//! Deterministic initialisation and parameter ids.
//!
//! burn seeds its random initialisers through a process-wide generator, so two runs
//! training side by side in one server would perturb each other's initialisation. Here
//! every weight is drawn on the host from a per-model ChaCha stream instead (same values on
//! every backend), and each parameter's id is a hash of the model's role and the parameter
//! path. Optimiser state is keyed by parameter id, so a model rebuilt from a checkpoint
//! finds its momentum buffers again.

use crate::rng::{stable_hash, standard_normal, stream};
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::tensor::{Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

struct Initialiser {
    role: String,
    path: Vec<String>,
    rng: ChaCha8Rng,
    /// Weights under these path prefixes are drawn with their He std times the factor.
    scaled: Vec<(String, f64)>,
}

impl ModuleMapper for Initialiser {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.join(".");
        let id = param_id(&self.role, &path);
        let (_, tensor, mapper) = param.consume();
        // A fresh tensor is not tracked by autodiff: keep the parameter's require-grad flag.
        let require_grad = tensor.is_require_grad();
        let leaf = self.path.last().map(String::as_str).unwrap_or("");
        let shape = tensor.dims();
        let tensor = match (D, leaf) {
            // He (Kaiming) normal, fan-in: the usual choice for ReLU nets with BatchNorm.
            (4, "weight") => {
                let fan_in = shape[1] * shape[2] * shape[3];
                let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}."));
                let factor = self.scaled.iter().find(|(prefix, _)| under(prefix)).map_or(1.0, |(_, factor)| *factor);
                let std = factor * (2.0 / fan_in as f64).sqrt();
                let n: usize = shape.iter().product();
                let values: Vec<f32> = (0..n).map(|_| (standard_normal(&mut self.rng) * std) as f32).collect();
                Tensor::<D>::from_data(TensorData::new(values, shape), &tensor.device())
            }
            (1, "bias") => tensor.zeros_like(),
            // BatchNorm gamma/beta and running statistics keep their constant initial values.
            _ => tensor,
        };
        Param::from_mapped_value(id, tensor.set_require_grad(require_grad), mapper)
    }
}

/// Gives every parameter of a module that holds several roles as top-level fields (`t1`,
/// `t2`, `f`: the checkpointed `Nets`) the id [`initialise`] gave it, without touching
/// values. Loading weights may bring other ids (burn persists the ids of the module that
/// was saved), and optimiser state is keyed by id.
pub fn assign_role_ids<M: Module>(module: M) -> M {
    struct Ids {
        path: Vec<String>,
    }
    impl ModuleMapper for Ids {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let role = self.path.first().cloned().unwrap_or_default();
            let rest = self.path[1..].join(".");
            let (_, tensor, mapper) = param.consume();
            Param::from_mapped_value(param_id(&role, &rest), tensor, mapper)
        }
    }
    module.map(&mut Ids { path: Vec::new() })
}

fn param_id(role: &str, path: &str) -> ParamId {
    ParamId::from(stable_hash(&[role.as_bytes(), path.as_bytes()]))
}

/// Re-initialise every weight of `module` from `seed` and give its parameters ids derived
/// from `role` (t1, t2, f) and their paths.
pub fn initialise<M: Module>(module: M, role: &str, seed: u64) -> M {
    initialise_scaled(module, role, seed, &[])
}

/// As [`initialise`], but the weights under each path prefix of `scaled` are drawn with
/// their He std times its factor (a residual model's head: see `TaskNet::new`). Every
/// value is still drawn, so the other parameters get the same values whatever is scaled.
pub fn initialise_scaled<M: Module>(module: M, role: &str, seed: u64, scaled: &[(&str, f64)]) -> M {
    let scaled = scaled.iter().map(|&(prefix, factor)| (prefix.to_string(), factor)).collect();
    module.map(&mut Initialiser { role: role.to_string(), path: Vec::new(), rng: stream(seed, &[role.as_bytes()]), scaled })
}
