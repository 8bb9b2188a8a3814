//! Snapshots of both loss views at the pane's usual and smallest sizes.

use super::*;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;
use ratatui::widgets::Widget;
use ratatui::Terminal;

const N: usize = 10;
const T: usize = 50;
const EPSILON: f64 = 1e-5;

/// Distinct colours so the role grid below tells the parts apart.
const STYLE: LossStyle = LossStyle {
    loss: Color::Cyan,
    threshold: Color::Yellow,
    muted: Color::DarkGray,
    fg: Color::White,
    warning: Color::Red,
};

/// A run 38 timesteps in (step 37 running, 3 inner iterations so far): each timestep starts
/// lower than the last and its loss falls by 0.7 per inner iteration until it drops under the
/// threshold; early (noisy) timesteps use all N, later ones stop early.
fn synthetic_run() -> (Vec<Vec<f32>>, Vec<usize>) {
    let mut losses = Vec::new();
    let mut iterations = Vec::new();
    for i in 0..38 {
        let threshold = EPSILON + 2e-5 * i as f64;
        let start = 3e-3 * 0.985f64.powi(i);
        let mut step = Vec::new();
        for j in 0..N {
            let loss = start * 0.7f64.powi(j as i32);
            step.push(loss as f32);
            if loss < threshold || (i == 37 && j == 2) {
                break;
            }
        }
        if i < 37 {
            iterations.push(step.len());
        }
        losses.push(step);
    }
    (losses, iterations)
}

/// The same run as loaded from an inversion file (each step padded to N with NaN), with the
/// losses of step 12 unknown (all NaN, as after a resume), a NaN inside step 20, and a 0 and an
/// infinity that a log axis cannot show.
fn run_with_nans() -> (Vec<Vec<f32>>, Vec<usize>) {
    let (mut losses, iterations) = synthetic_run();
    for step in &mut losses {
        step.resize(N, f32::NAN);
    }
    losses[12] = vec![f32::NAN; N];
    losses[20][1] = f32::NAN;
    losses[21][0] = 0.0;
    losses[22][0] = f32::INFINITY;
    (losses, iterations)
}

fn data<'a>(losses: &'a [Vec<f32>], iterations: &'a [usize]) -> LossData<'a> {
    LossData { losses, steps: T, iterations, inner: N, epsilon: EPSILON }
}

fn draw(widget: impl Widget, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| frame.render_widget(widget, frame.area())).unwrap();
    terminal.backend().buffer().clone()
}

/// The symbols (each row closed by '|' so trailing blanks show), then one letter per cell for
/// its foreground: L loss, T threshold, m muted, f fg, w warning, '.' default; lower case when
/// the cell is reversed.
fn describe(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let row: String = (0..area.width).map(|x| buf[(x, y)].symbol().to_string()).collect();
        out.push_str(&format!("{row}|\n"));
    }
    out.push('\n');
    for y in 0..area.height {
        let row: String = (0..area.width)
            .map(|x| {
                let cell = &buf[(x, y)];
                let role = match cell.fg {
                    c if c == STYLE.loss => 'L',
                    c if c == STYLE.threshold => 'T',
                    c if c == STYLE.muted => 'm',
                    c if c == STYLE.fg => 'f',
                    c if c == STYLE.warning => 'w',
                    Color::Reset => '.',
                    _ => '?',
                };
                if cell.modifier.contains(Modifier::REVERSED) {
                    role.to_ascii_lowercase()
                } else {
                    role
                }
            })
            .collect();
        out.push_str(&format!("{row}|\n"));
    }
    out
}

fn step_view(data: &LossData<'_>, step: usize, log: bool, width: u16, height: u16) -> String {
    describe(&draw(StepLosses { data, style: STYLE, step, log }, width, height))
}

fn run_view(data: &LossData<'_>, selected: Option<usize>, log: bool, width: u16, height: u16) -> String {
    describe(&draw(RunLosses { data, style: STYLE, log, selected }, width, height))
}

#[test]
fn synthetic_run_has_capped_and_early_stopped_steps() {
    let (losses, iterations) = synthetic_run();
    assert_eq!(iterations.len(), 37);
    assert_eq!(iterations[0], N);
    assert!(iterations[36] < N);
    assert_eq!(losses[37].len(), 3);
}

#[test]
fn step_losses_snapshots() {
    let (losses, iterations) = synthetic_run();
    let data = data(&losses, &iterations);
    insta::assert_snapshot!("step_log_60x12", step_view(&data, 5, true, 60, 12));
    insta::assert_snapshot!("step_log_30x6", step_view(&data, 5, true, 30, 6));
    insta::assert_snapshot!("step_linear_60x12", step_view(&data, 5, false, 60, 12));
    insta::assert_snapshot!("step_running_60x12", step_view(&data, 37, true, 60, 12));
    insta::assert_snapshot!("step_not_run_30x6", step_view(&data, 45, true, 30, 6));
    insta::assert_snapshot!("step_compact_14x2", step_view(&data, 5, true, 14, 2));
}

#[test]
fn run_losses_snapshots() {
    let (losses, iterations) = synthetic_run();
    let data = data(&losses, &iterations);
    insta::assert_snapshot!("run_log_60x12", run_view(&data, Some(20), true, 60, 12));
    insta::assert_snapshot!("run_log_30x6", run_view(&data, Some(20), true, 30, 6));
    insta::assert_snapshot!("run_linear_60x12", run_view(&data, None, false, 60, 12));
    insta::assert_snapshot!("run_compact_14x3", run_view(&data, Some(20), true, 14, 3));
}

#[test]
fn empty_run_snapshots() {
    let data = data(&[], &[]);
    let both = format!(
        "{}\n{}\n{}",
        step_view(&data, 0, true, 60, 3),
        run_view(&data, Some(0), true, 30, 2),
        run_view(&data, None, false, 1, 1),
    );
    insta::assert_snapshot!("empty_run", both);
}

#[test]
fn nan_run_snapshots() {
    let (losses, iterations) = run_with_nans();
    let data = data(&losses, &iterations);
    insta::assert_snapshot!("nan_step_20_60x12", step_view(&data, 20, true, 60, 12));
    insta::assert_snapshot!("nan_step_12_30x6", step_view(&data, 12, true, 30, 6));
    insta::assert_snapshot!("nan_run_60x12", run_view(&data, Some(12), true, 60, 12));
    insta::assert_snapshot!("nan_run_linear_30x6", run_view(&data, Some(12), false, 30, 6));
}

/// Columns of `row` whose cell satisfies `pick`.
fn columns_where(buf: &Buffer, row: u16, pick: impl Fn(&ratatui::buffer::Cell) -> bool) -> Vec<u16> {
    (0..buf.area.width).filter(|&x| pick(&buf[(x, row)])).collect()
}

#[test]
fn selected_marker_lands_on_the_selected_column() {
    let (losses, iterations) = synthetic_run();
    let data = data(&losses, &iterations);
    let reversed = |c: &ratatui::buffer::Cell| c.modifier.contains(Modifier::REVERSED);

    // 56 wide: labels "1e-k" + " ┤" take 6 columns, then one column per timestep.
    for selected in [0, 20, 37, 49] {
        let buf = draw(RunLosses { data: &data, style: STYLE, log: true, selected: Some(selected) }, 56, 12);
        let column = 6 + selected as u16;
        assert_eq!(columns_where(&buf, 10, reversed), [column], "strip, selected {selected}");
        assert_eq!(columns_where(&buf, 11, |c| c.symbol() == "▲"), [column], "marker, selected {selected}");
    }

    // 30 wide: 24 plot columns for 50 timesteps, so two (sometimes three) per column.
    let buf = draw(RunLosses { data: &data, style: STYLE, log: true, selected: Some(20) }, 30, 6);
    assert_eq!(columns_where(&buf, 5, reversed), [6 + 9]);
    let buf = draw(RunLosses { data: &data, style: STYLE, log: true, selected: Some(49) }, 30, 6);
    assert_eq!(columns_where(&buf, 5, reversed), [29]);

    // 160 wide: 154 plot columns shared out, three or four per timestep, marked and filled as one.
    let block = |step: u16| (6 + step * 154 / 50)..(6 + (step + 1) * 154 / 50);
    for selected in [0, 20, 49] {
        let buf = draw(RunLosses { data: &data, style: STYLE, log: true, selected: Some(selected) }, 160, 12);
        let cols: Vec<u16> = block(selected as u16).collect();
        assert!((3..=4).contains(&cols.len()));
        assert_eq!(columns_where(&buf, 10, reversed), cols, "strip, selected {selected}");
        assert_eq!(columns_where(&buf, 11, |c| c.symbol() == "▲"), [cols[(cols.len() - 1) / 2]], "marker, selected {selected}");
    }
    let buf = draw(RunLosses { data: &data, style: STYLE, log: true, selected: None }, 160, 12);
    let strip = columns_where(&buf, 10, |c| "▁▂▃▄▅▆▇█".contains(c.symbol()));
    assert_eq!((strip.first(), strip.last()), (Some(&6), Some(&(block(37).end - 1))), "38 timesteps with losses fill their columns");
    assert_eq!(columns_where(&buf, 11, |c| c.symbol() == "5"), [160 - 2], "the last timestep's label ends the plot");

    // Out of range: nothing marked.
    let buf = draw(RunLosses { data: &data, style: STYLE, log: true, selected: Some(50) }, 60, 12);
    assert!(columns_where(&buf, 10, reversed).is_empty());
}

#[test]
fn no_size_or_data_panics() {
    let (losses, iterations) = run_with_nans();
    let full = data(&losses, &iterations);
    let odd = LossData { losses: &losses, steps: 0, iterations: &[], inner: 0, epsilon: -1.0 };
    for data in [&full, &odd] {
        for (w, h) in [(0, 0), (1, 1), (3, 9), (15, 3), (16, 4), (17, 5), (200, 3), (9, 40)] {
            for log in [true, false] {
                draw(StepLosses { data, style: STYLE, step: 3, log }, w.max(1), h.max(1));
                draw(RunLosses { data, style: STYLE, log, selected: Some(3) }, w.max(1), h.max(1));
                let mut buf = Buffer::empty(Rect::new(0, 0, 4, 4));
                StepLosses { data, style: STYLE, step: 99, log }.render(Rect::new(2, 2, w, h), &mut buf);
                RunLosses { data, style: STYLE, log, selected: None }.render(Rect::new(0, 0, w, h), &mut buf);
            }
        }
    }
}
