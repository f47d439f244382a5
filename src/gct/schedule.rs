//! Spec section 4/6 schedules: the sigmoid ramp-up of lambda_dc and poly learning-rate decay.

/// r(t) = exp(-5 (1 - min(t, T)/T)^2); r = 1 when T = 0.
pub fn rampup(step: usize, total: usize) -> f64 {
    if total == 0 {
        return 1.0;
    }
    let phase = 1.0 - step.min(total) as f64 / total as f64;
    (-5.0 * phase * phase).exp()
}

/// lr = base (1 - it / max_it)^power.
pub fn poly_lr(base: f64, it: usize, max_it: usize, power: f64) -> f64 {
    if max_it == 0 {
        return base;
    }
    base * (1.0 - it.min(max_it) as f64 / max_it as f64).powf(power)
}
