//! Spec section 4/6 schedules: the sigmoid ramp-up of lambda_dc and poly learning-rate decay,
//! and a linear learning-rate warm-up (a deviation, off by default).

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

/// Linear warm-up factor of iteration `step` (0-based) over `warm` iterations: (step + 1) /
/// warm, then 1; 1 throughout when `warm` is 0 (`train.lr_warmup_fraction`).
pub fn warmup(step: usize, warm: usize) -> f64 {
    if warm == 0 { 1.0 } else { ((step + 1) as f64 / warm as f64).min(1.0) }
}

#[cfg(test)]
mod tests {
    use super::warmup;

    #[test]
    fn warmup_rises_linearly_then_stays_at_one() {
        assert_eq!(warmup(0, 0), 1.0);
        assert_eq!(warmup(0, 4), 0.25);
        assert_eq!(warmup(1, 4), 0.5);
        assert_eq!(warmup(3, 4), 1.0);
        assert_eq!(warmup(100, 4), 1.0);
    }
}
