//! SVG plots of the scale records (plotters), into `docs/`.
use super::report::Record;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use stormless_trees::workspace_root;

const VARIANTS: [(&str, RGBColor); 4] = [
    ("stock", RGBColor(200, 40, 40)),
    ("ours", RGBColor(40, 90, 200)),
    ("ours-tables", RGBColor(30, 150, 60)),
    ("floor", RGBColor(60, 60, 60)),
];

fn docs(name: &str) -> PathBuf {
    workspace_root().join("docs").join(name)
}

/// Every plot the records allow; returns the files written.
pub fn all(records: &[Record]) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut trees: Vec<(String, String)> = records.iter().map(|r| (r.musl.clone(), r.arch.clone())).collect();
    trees.sort();
    trees.dedup();
    for (m, a) in &trees {
        let of = |w: &str, fs: &str| -> Vec<&Record> {
            records.iter().filter(|r| r.workload == w && &r.musl == m && &r.arch == a && r.fs == fs).collect()
        };
        let store = of("store-n", "local");
        if !store.is_empty() {
            let path = docs(&format!("bench-store-n-musl{m}-{a}.svg"));
            let x = |r: &Record| r.n.unwrap_or(0) as f64;
            two_panels(
                &path,
                &format!("store-n, musl {m}, {a}: N libraries, each in its own directory"),
                ("N", false),
                [
                    ("loader's failed opens per start", &|r: &Record| Some(r.failed_opens as f64)),
                    ("CPU time per start (ms, median)", &|r: &Record| r.cpu_median_us.map(|u| u / 1e3)),
                ],
                &store,
                &x,
            )?;
            written.push(path);
        }
        for w in ["store-n", "pynamic", "python-imports"] {
            let net = of(w, "netfs");
            if net.is_empty() {
                continue;
            }
            let path = docs(&format!("bench-netfs-{w}-musl{m}-{a}.svg"));
            let x = |r: &Record| r.concurrency.unwrap_or(1) as f64;
            let largest = net.iter().map(|r| r.size.clone()).max_by_key(|s| s.len()).unwrap_or_default();
            let net: Vec<&Record> = net.into_iter().filter(|r| r.size == largest).collect();
            two_panels(
                &path,
                &format!("{w} {largest} through the network-filesystem model, musl {m}, {a}"),
                ("K processes started at once", true),
                [
                    ("server operations per start", &|r: &Record| r.server_ops_per_start),
                    ("makespan (ms, median)", &|r: &Record| r.makespan_ms),
                ],
                &net,
                &x,
            )?;
            written.push(path);
        }
    }
    let path = docs("bench-workloads.svg");
    if workloads_per_tree(&path, records)? {
        written.push(path);
    }
    Ok(written)
}

/// The real workloads (python-imports, pynamic; local), one panel each: every
/// variant's CPU time against stock musl, with its 95 % interval, per tree.
fn workloads_per_tree(path: &Path, records: &[Record]) -> Result<bool> {
    let workloads = ["python-imports", "pynamic"];
    let local: Vec<&Record> = records
        .iter()
        .filter(|r| r.fs == "local" && workloads.contains(&r.workload.as_str()) && r.cpu_ratio_ci.is_some())
        .collect();
    if local.is_empty() {
        return Ok(false);
    }
    let err = |e: &dyn std::fmt::Display| anyhow!("plotting {}: {e}", path.display());
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled("CPU time per start against stock musl (median, 95 % interval)", ("sans-serif", 18))
        .map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(500);
    for (area, workload) in [left, right].iter().zip(workloads) {
        let rows: Vec<&&Record> = local.iter().filter(|r| r.workload == workload).collect();
        let mut trees: Vec<String> = rows.iter().map(|r| format!("{} {}", r.arch, r.musl)).collect();
        trees.sort();
        trees.dedup();
        let top = rows.iter().filter_map(|r| r.cpu_ratio_ci.map(|c| c[2])).fold(1.2, f64::max) * 1.05;
        let labels = trees.clone();
        let mut chart = ChartBuilder::on(area)
            .caption(workload, ("sans-serif", 15))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.5..(trees.len().max(1) as f64 - 0.5), 0.0..top)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_labels(trees.len().max(1))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .disable_x_mesh()
            .y_desc("CPU time / stock's")
            .draw()
            .map_err(|e| err(&e))?;
        for (j, (variant, color)) in VARIANTS.iter().enumerate() {
            let offset = (j as f64 - 1.5) * 0.15;
            let points: Vec<(f64, [f64; 3])> = rows
                .iter()
                .filter(|r| r.variant == *variant)
                .filter_map(|r| {
                    let i = trees.iter().position(|t| *t == format!("{} {}", r.arch, r.musl))?;
                    Some((i as f64 + offset, r.cpu_ratio_ci?))
                })
                .collect();
            let c = *color;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(move |&(x, [_, lo, hi])| PathElement::new(vec![(x, lo), (x, hi)], c.stroke_width(2))),
                )
                .map_err(|e| err(&e))?;
            chart
                .draw_series(points.iter().map(|&(x, [r, _, _])| Circle::new((x, r), 4, c.filled())))
                .map_err(|e| err(&e))?
                .label(*variant)
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(true)
}

type Value<'a> = &'a dyn Fn(&Record) -> Option<f64>;

/// Two charts side by side, one line per variant over the same x.
fn two_panels(
    path: &Path,
    title: &str,
    (x_desc, log_x): (&str, bool),
    panels: [(&str, Value); 2],
    records: &[&Record],
    x: &dyn Fn(&Record) -> f64,
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("plotting {}: {e}", path.display());
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root.titled(title, ("sans-serif", 18)).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(500);
    for (area, (y_desc, value)) in [left, right].iter().zip(panels) {
        let xs: Vec<f64> = records.iter().map(|r| x(r)).collect();
        let (x0, x1) = (xs.iter().cloned().fold(f64::INFINITY, f64::min), xs.iter().cloned().fold(0.0, f64::max));
        let y1 = records.iter().filter_map(|r| value(r)).fold(0.0, f64::max).max(1e-9) * 1.1;
        let mut builder = ChartBuilder::on(area);
        builder.margin(12).x_label_area_size(36).y_label_area_size(60);
        let series = |variant: &str| -> Vec<(f64, f64)> {
            let mut pts: Vec<(f64, f64)> =
                records.iter().filter(|r| r.variant == variant).filter_map(|r| value(r).map(|v| (x(r), v))).collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            pts
        };
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(x_desc)
                    .y_desc(y_desc)
                    .light_line_style(WHITE)
                    .x_label_formatter(&|x| format!("{x:.0}"))
                    .y_label_formatter(&|y| if y.abs() >= 100.0 { format!("{y:.0}") } else { format!("{y:.1}") })
                    .draw()
                    .map_err(|e| err(&e))?;
                for (variant, color) in VARIANTS {
                    let pts = series(variant);
                    chart
                        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                        .map_err(|e| err(&e))?
                        .label(variant)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
                    chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| err(&e))?;
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperLeft)
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| err(&e))?;
            }};
        }
        if log_x {
            draw!(builder.build_cartesian_2d((x0.max(1.0)..x1.max(2.0)).log_scale(), 0.0..y1).map_err(|e| err(&e))?);
        } else {
            draw!(builder.build_cartesian_2d(0.0..x1 * 1.05, 0.0..y1).map_err(|e| err(&e))?);
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(variant: &str, n: usize, failed: u64, cpu_us: f64) -> Record {
        serde_json::from_value(serde_json::json!({
            "workload": "store-n", "arch": "x86_64", "musl": "1.2.3", "variant": variant, "size": format!("N={n}"),
            "n": n, "fs": "local", "concurrency": null, "latency_us": null, "opens": n as u64 + failed,
            "failed_opens": failed, "failed_opens_all": failed, "stats": 0, "stdout": "", "runs": 3,
            "median_us": cpu_us, "cpu_median_us": cpu_us, "cpu_ratio_ci": null, "cpu_ratio_floor_ci": null,
            "server_ops_per_start": null, "server_failed_lookups_per_start": null, "server_ops": null,
            "makespan_ms": null, "makespan_ratio": null, "measured": "now"
        }))
        .unwrap()
    }

    #[test]
    fn workload_ratios_are_drawn_per_tree() {
        let mut records = Vec::new();
        for (arch, workload) in [("x86_64", "pynamic"), ("aarch64", "pynamic"), ("x86_64", "python-imports")] {
            for (variant, ratio) in [("stock", 1.0), ("ours", 1.01), ("ours-tables", 0.5), ("floor", 0.49)] {
                let mut r = record(variant, 0, 0, 1.0);
                r.workload = workload.into();
                r.arch = arch.into();
                r.cpu_ratio_ci = Some([ratio, ratio - 0.02, ratio + 0.02]);
                records.push(r);
            }
        }
        let path = std::env::temp_dir().join(format!("stormless-plot-ratios-{}.svg", std::process::id()));
        assert!(workloads_per_tree(&path, &records).unwrap());
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let lines: Vec<&str> = svg.lines().map(str::trim).collect();
        for label in ["pynamic", "python-imports", "x86_64 1.2.3", "aarch64 1.2.3", "ours-tables"] {
            assert!(lines.contains(&label), "no {label}");
        }
        // Nothing to draw without local records of those workloads.
        assert!(!workloads_per_tree(&path, &records[..0]).unwrap());
    }

    #[test]
    fn two_panels_draw_every_variant() {
        let mut records = Vec::new();
        for n in [10, 40] {
            let storm = (n * (n - 1) / 2) as u64;
            records.push(record("stock", n, storm, 500.0 + n as f64));
            records.push(record("ours", n, storm, 490.0 + n as f64));
            records.push(record("ours-tables", n, 0, 300.0));
            records.push(record("floor", n, 0, 290.0));
        }
        let refs: Vec<&Record> = records.iter().collect();
        let path = std::env::temp_dir().join(format!("stormless-plot-test-{}.svg", std::process::id()));
        let x = |r: &Record| r.n.unwrap() as f64;
        two_panels(
            &path,
            "test",
            ("N", false),
            [("failed", &|r: &Record| Some(r.failed_opens as f64)), ("cpu", &|r: &Record| r.cpu_median_us)],
            &refs,
            &x,
        )
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        let lines: Vec<&str> = svg.lines().map(str::trim).collect();
        for (variant, color) in VARIANTS {
            assert!(lines.contains(&variant), "no legend entry {variant}");
            // Two panels: a line and a legend sample in each.
            let stroke = format!("stroke=\"#{:02X}{:02X}{:02X}\"", color.0, color.1, color.2);
            assert_eq!(svg.matches(&stroke).count(), 4, "{variant}'s {stroke}");
        }
    }
}
