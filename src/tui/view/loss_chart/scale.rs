//! The y axis of the loss plots: value → height, and the tick labels.
//!
//! Losses span decades, so the log axis has whole-decade bounds and `1e-k` labels; values that
//! cannot sit on it (≤ 0, NaN, ±inf) have no position and are simply not drawn.

/// A fitted y axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum YScale {
    /// log10 axis from decade `lo` to decade `hi`, labelled every `stride` decades.
    Log { lo: i32, hi: i32, stride: i32 },
    /// Linear axis from `lo` to `hi`.
    Linear { lo: f64, hi: f64 },
}

/// Where the axis sits when there is nothing to fit (the usual loss range of an inversion).
const DEFAULT_DECADES: (i32, i32) = (-5, -2);

impl YScale {
    /// An axis covering `values` for a plot `rows` cells tall, with at most one label every
    /// other row so labels never touch.
    pub fn fit(values: impl IntoIterator<Item = f64>, log: bool, rows: u16) -> Self {
        let max_ticks = ((i32::from(rows) + 1) / 2).max(2);
        if log {
            let logs: Vec<f64> = values.into_iter().filter_map(log10_of).collect();
            let (mut lo, mut hi) = match min_max(&logs) {
                // A value a hair off a decade (log10 rounding) belongs to that decade.
                Some((min, max)) => ((min + 1e-9).floor() as i32, (max - 1e-9).ceil() as i32),
                None => DEFAULT_DECADES,
            };
            if hi <= lo {
                hi = lo + 1;
            }
            // Whole-decade labels at an even stride: widen the bottom so the stride divides the span.
            let stride = (hi - lo + max_ticks - 2) / (max_ticks - 1);
            let intervals = (hi - lo + stride - 1) / stride;
            lo = hi - stride * intervals;
            YScale::Log { lo, hi, stride }
        } else {
            let finite: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
            let (min, max) = min_max(&finite).unwrap_or((0.0, 1.0));
            let lo = min.min(0.0);
            let mut hi = nice_ceil(max);
            if hi <= lo {
                hi = lo + 1.0;
            }
            YScale::Linear { lo, hi }
        }
    }

    /// Height of `value` on the axis, 0 = bottom, 1 = top; `None` when it cannot be drawn.
    pub fn position(&self, value: f64) -> Option<f64> {
        let (v, lo, hi) = match *self {
            YScale::Log { lo, hi, .. } => (log10_of(value)?, f64::from(lo), f64::from(hi)),
            YScale::Linear { lo, hi } => (value.is_finite().then_some(value)?, lo, hi),
        };
        Some(((v - lo) / (hi - lo)).clamp(0.0, 1.0))
    }

    /// The labelled values, bottom first, as (position, label).
    pub fn ticks(&self, rows: u16) -> Vec<(f64, String)> {
        match *self {
            YScale::Log { lo, hi, stride } => (lo..=hi)
                .step_by(stride.max(1) as usize)
                .map(|k| (f64::from(k - lo) / f64::from(hi - lo), decade_label(k)))
                .collect(),
            YScale::Linear { lo, hi } => {
                let mut values = vec![lo, hi];
                if rows >= 5 {
                    values.insert(1, (lo + hi) / 2.0);
                }
                values.into_iter().map(|v| ((v - lo) / (hi - lo), compact_number(v))).collect()
            }
        }
    }
}

/// log10 of a value that can sit on a log axis.
pub fn log10_of(value: f64) -> Option<f64> {
    (value.is_finite() && value > 0.0).then(|| value.log10())
}

/// The label of decade `k`: `1e-3`, `1e0`, `1e2`.
pub fn decade_label(k: i32) -> String {
    format!("1e{k}")
}

/// A loss as a short label: `0`, `5e-3`, `3.2e-5`, `NaN`.
pub fn compact_number(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    if !value.is_finite() {
        return format!("{value}");
    }
    let short = format!("{value:.0e}");
    let exact = short.parse::<f64>().is_ok_and(|s| ((s - value) / value).abs() < 1e-9);
    if exact {
        short
    } else {
        format!("{value:.1e}")
    }
}

/// The smallest 1, 2 or 5 × 10^k that is ≥ `value` (for a tidy top label).
fn nice_ceil(value: f64) -> f64 {
    if !(value.is_finite() && value > 0.0) {
        return 1.0;
    }
    let decade = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|&v| v >= value * (1.0 - 1e-12))
        .unwrap_or(10.0 * decade)
}

fn min_max(values: &[f64]) -> Option<(f64, f64)> {
    let min = values.iter().copied().reduce(f64::min)?;
    let max = values.iter().copied().reduce(f64::max)?;
    Some((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decade_labels() {
        assert_eq!(decade_label(-3), "1e-3");
        assert_eq!(decade_label(-5), "1e-5");
        assert_eq!(decade_label(0), "1e0");
        assert_eq!(decade_label(2), "1e2");
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact_number(0.0), "0");
        assert_eq!(compact_number(3.2e-5), "3.2e-5");
        assert_eq!(compact_number(5e-3), "5e-3");
        assert_eq!(compact_number(4.7e-5), "4.7e-5");
        assert_eq!(compact_number(f64::NAN), "NaN");
    }

    #[test]
    fn log_axis_spans_whole_decades() {
        let scale = YScale::fit([2e-5, 3e-3], true, 10);
        assert_eq!(scale, YScale::Log { lo: -5, hi: -2, stride: 1 });
        let pos = |v: f64| scale.position(v).unwrap();
        assert!((pos(1e-5) - 0.0).abs() < 1e-12);
        assert!((pos(1e-4) - 1.0 / 3.0).abs() < 1e-12);
        assert!((pos(1e-3) - 2.0 / 3.0).abs() < 1e-12);
        assert!((pos(1e-2) - 1.0).abs() < 1e-12);
        let labels: Vec<String> = scale.ticks(10).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["1e-5", "1e-4", "1e-3", "1e-2"]);
    }

    #[test]
    fn log_axis_skips_unplottable_values() {
        let scale = YScale::fit([f64::NAN, 0.0, -1.0, f64::INFINITY, 1e-4], true, 6);
        assert_eq!(scale, YScale::Log { lo: -4, hi: -3, stride: 1 });
        for bad in [f64::NAN, 0.0, -1e-3, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(scale.position(bad), None, "{bad}");
        }
        // Nothing plottable at all: a default range, still finite.
        let empty = YScale::fit([f64::NAN], true, 8);
        assert_eq!(empty, YScale::Log { lo: -5, hi: -2, stride: 1 });
    }

    #[test]
    fn short_log_axis_thins_labels_at_an_even_stride() {
        // 5 decades on a 4-row plot: at most 2 labels, so one interval of 5 decades.
        let scale = YScale::fit([1e-7, 0.5e-2], true, 4);
        assert_eq!(scale, YScale::Log { lo: -7, hi: -2, stride: 5 });
        let labels: Vec<String> = scale.ticks(4).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["1e-7", "1e-2"]);
        // 5 decades on 6 rows: 3 labels allowed → stride 3, bottom widened to 1e-8.
        let scale = YScale::fit([1e-7, 0.5e-2], true, 6);
        assert_eq!(scale, YScale::Log { lo: -8, hi: -2, stride: 3 });
    }

    #[test]
    fn linear_axis_starts_at_zero_with_a_tidy_top() {
        let scale = YScale::fit([3.2e-5, 4.1e-3, f64::NAN], false, 6);
        assert_eq!(scale, YScale::Linear { lo: 0.0, hi: 5e-3 });
        assert_eq!(scale.position(2.5e-3), Some(0.5));
        let labels: Vec<String> = scale.ticks(6).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["0", "2.5e-3", "5e-3"]);
    }
}
