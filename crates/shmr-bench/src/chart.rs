//! Charts of a report, as SVG: speedup against workers, and time against
//! size with the crossover marked.

use crate::report::{Report, Row};
use crate::workloads::Workload;
use plotters::prelude::*;
use std::path::Path;

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

type Res = Result<(), Box<dyn std::error::Error>>;

/// The legend, the same on every chart: upper left, on a pale background.
fn draw_legend<'a, DB, X, Y>(chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>) -> Res
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

/// A line of the size chart: its label, colour, and which time it plots.
type Series = (&'static str, RGBColor, fn(&Row) -> f64);

/// Speedup over the single-process loop against the number of workers, for
/// each job: shmr (solid, dots) and rayon (thin), with the ideal line.
pub fn speedup(report: &Report, path: &Path) -> Res {
    let big = report.largest_f64();
    let rows: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| r.dtype == "f64" && r.len == big)
        .collect();
    let max_w = rows.iter().map(|r| r.workers).max().unwrap_or(1).max(2);
    let max_s = rows
        .iter()
        .map(|r| r.speedup.max(r.baseline_ms / r.rayon_ms))
        .fold(max_w as f64, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Speedup over a single-process loop, {big} f64"),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.8f64..max_w as f64 + 0.2, 0f64..max_s)?;
    chart
        .configure_mesh()
        .x_desc("workers (processes for shmr, threads for rayon)")
        .y_desc("speedup (x)")
        .x_labels(max_w)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            (1..=max_w).map(|w| (w as f64, w as f64)),
            BLACK.mix(0.3),
        ))?
        .label("ideal")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.3)));
    for (i, job) in Workload::ALL.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let mut pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.job == *job)
            .map(|r| (r.workers as f64, r.speedup))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut ray: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.job == *job)
            .map(|r| (r.workers as f64, r.baseline_ms / r.rayon_ms))
            .collect();
        ray.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(3)))?
            .label(format!("{} (shmr)", job.name()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
        chart
            .draw_series(LineSeries::new(ray, c.mix(0.5).stroke_width(1)))?
            .label(format!("{} (rayon)", job.name()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.mix(0.5)));
    }
    draw_legend(&mut chart)?;
    root.present()?;
    Ok(())
}

/// Time against array size (log-log) per job: baseline, rayon and shmr,
/// with a vertical line at the crossover.
pub fn size(report: &Report, path: &Path) -> Res {
    let root = SVGBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 2));
    for (job, area) in Workload::ALL.iter().zip(panels.iter()) {
        let mut rows: Vec<&Row> = report.sweep.iter().filter(|r| r.job == *job).collect();
        rows.sort_by_key(|r| r.len);
        if rows.is_empty() {
            continue;
        }
        let (lo_n, hi_n) = (rows[0].len as f64, rows[rows.len() - 1].len as f64);
        let times = rows
            .iter()
            .flat_map(|r| [r.baseline_ms, r.rayon_ms, r.shmr_ms]);
        let (lo_t, hi_t) = times.fold((f64::INFINITY, 0f64), |(a, b), t| (a.min(t), b.max(t)));
        let workers = rows[0].workers;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{} ({} workers)", job.name(), workers),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(
                (lo_n * 0.8..hi_n * 1.25).log_scale(),
                (lo_t * 0.5..hi_t * 2.0).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc("elements")
            .y_desc("ms")
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .draw()?;
        let series: [Series; 3] = [
            ("loop", RGBColor(60, 60, 60), |r| r.baseline_ms),
            ("rayon", COLORS[0], |r| r.rayon_ms),
            ("shmr", COLORS[1], |r| r.shmr_ms),
        ];
        for (name, c, f) in series {
            chart
                .draw_series(LineSeries::new(
                    rows.iter().map(|r| (r.len as f64, f(r))),
                    c.stroke_width(2),
                ))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        if let Some(n) = report
            .crossover
            .iter()
            .find(|c| c.job == *job)
            .and_then(|c| c.len)
        {
            let n = n as f64;
            // Dashed and orange, so it is not mistaken for a grid line.
            let orange = RGBColor(255, 127, 14);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(n, lo_t * 0.5), (n, hi_t * 2.0)],
                    6,
                    4,
                    orange.stroke_width(2),
                ))?
                .label(format!("crossover {n:.0e}"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], orange.stroke_width(2))
                });
        }
        draw_legend(&mut chart)?;
    }
    root.present()?;
    Ok(())
}
