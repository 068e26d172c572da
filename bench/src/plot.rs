//! PNG plots with plotters: latency CDF, throughput vs clients (kraftd vs etcd).
//! Text needs a TrueType font; DejaVu Sans is used when installed, otherwise plots are
//! skipped with a notice (the JSON holds the same numbers).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::driver::Row;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a font for plot text; false when none is found.
pub fn init_font() -> bool {
    for p in FONT_PATHS {
        if let Ok(bytes) = std::fs::read(p) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
    }
    false
}

const COLORS: &[RGBColor] = &[
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("plot: {e}")
}

/// Latency CDF, one line per row (x: latency ms, log scale; y: fraction).
pub fn latency_cdf(path: &Path, title: &str, rows: &[Row]) -> Result<()> {
    let max = rows
        .iter()
        .flat_map(|r| r.cdf.iter().map(|(ms, _)| *ms))
        .fold(1.0f64, f64::max);
    let min = rows
        .iter()
        .flat_map(|r| r.cdf.iter().map(|(ms, _)| *ms))
        .filter(|v| *v > 0.0)
        .fold(max, f64::min)
        .max(0.01);
    let root = BitMapBackend::new(path, (1000, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((min * 0.8..max * 1.2).log_scale(), 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log)")
        .y_desc("fraction of operations")
        .draw()
        .map_err(err)?;
    for (i, r) in rows.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                r.cdf.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("{} {} x{}", r.system, r.op, r.clients))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Throughput vs clients, one line per (system, op).
pub fn throughput(path: &Path, title: &str, rows: &[Row]) -> Result<()> {
    let mut series: Vec<(String, Vec<(usize, f64)>)> = Vec::new();
    for r in rows {
        let key = format!("{} {}", r.system, r.op);
        match series.iter_mut().find(|(k, _)| *k == key) {
            Some((_, pts)) => pts.push((r.clients, r.ops_per_sec)),
            None => series.push((key, vec![(r.clients, r.ops_per_sec)])),
        }
    }
    let max_c = rows.iter().map(|r| r.clients).max().unwrap_or(1).max(2) as f64;
    let max_y = rows.iter().map(|r| r.ops_per_sec).fold(1.0, f64::max);
    let root = BitMapBackend::new(path, (1000, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((1.0..max_c * 1.3).log_scale(), 0.0..max_y * 1.15)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("concurrent clients (log)")
        .y_desc("acknowledged writes / s")
        .draw()
        .map_err(err)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = pts.iter().map(|(c, y)| (*c as f64, *y)).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
