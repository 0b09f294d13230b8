//! A chart of a run over virtual time: frames per second delivered and dropped on
//! each port (summed per switch, or over all ports, when there are more than a
//! reader can tell apart), and the size of the FDB. A broadcast storm shows as every port's
//! delivered line climbing together; a MAC flooding attack as the FDB line
//! hitting its capacity while unknown-unicast floods rise on every port.
//!
//! Counts go into buckets of virtual time, kept sparse so a replay of captures
//! years apart costs memory per frame, not per bucket. The output is an SVG
//! drawn by plotters with its built-in font metrics: the same timeline always
//! gives the same bytes.
//!
//! ```no_run
//! use std::path::Path;
//! use vswitch_sim::plot::{render_svg, Timeline};
//! let mut t = Timeline::new(10_000_000, vec!["h1".into(), "h2".into()]);
//! t.record_delivered(1_000, 1);
//! t.record_dropped(2_000, 0);
//! t.record_fdb_size(2_000, 2);
//! render_svg(&t, Path::new("run.svg"))?;
//! # Ok::<(), vswitch_sim::plot::PlotError>(())
//! ```

use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Most points a line gets; longer timelines are drawn with wider buckets.
const MAX_POINTS: u64 = 2000;
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 800;
const NANOS_PER_SEC: f64 = 1e9;

/// Counts of one bucket of time.
#[derive(Clone, Debug, Default)]
struct Bucket {
    delivered: Vec<u64>,
    dropped: Vec<u64>,
    /// The last FDB size recorded in the bucket.
    fdb: Option<u64>,
}

/// Frames delivered and dropped per port, and FDB size, over virtual time.
#[derive(Clone, Debug)]
pub struct Timeline {
    bucket_ns: u64,
    port_names: Vec<String>,
    /// Time of the first record; bucket 0 starts here.
    origin: Option<u64>,
    buckets: BTreeMap<u64, Bucket>,
    /// The ports drawn each on its own line, when chosen.
    shown: Option<Vec<usize>>,
}

impl Timeline {
    /// An empty timeline with buckets of `bucket_ns` nanoseconds (at least 1)
    /// and one line pair per port, port `i` named `port_names[i]`.
    pub fn new(bucket_ns: u64, port_names: Vec<String>) -> Timeline {
        Timeline {
            bucket_ns: bucket_ns.max(1),
            port_names,
            origin: None,
            buckets: BTreeMap::new(),
            shown: None,
        }
    }

    /// Draws only `ports` (numbers into the port names), each on its own
    /// line, at most the six a reader tells apart; the rest are left out.
    pub fn show_only(&mut self, mut ports: Vec<usize>) {
        ports.retain(|&p| p < self.port_names.len());
        ports.truncate(MAX_GROUPS);
        self.shown = Some(ports);
    }

    /// The ports' names.
    pub fn port_names(&self) -> &[String] {
        &self.port_names
    }

    /// The bucket width in nanoseconds.
    pub fn bucket_ns(&self) -> u64 {
        self.bucket_ns
    }

    /// Counts a frame that left on `port` at `t_ns`. Unknown ports are ignored.
    pub fn record_delivered(&mut self, t_ns: u64, port: usize) {
        let ports = self.port_names.len();
        if port < ports {
            let b = self.bucket(t_ns);
            b.delivered.resize(ports, 0);
            b.delivered[port] += 1;
        }
    }

    /// Counts a frame dropped on `port` at `t_ns`. Unknown ports are ignored.
    pub fn record_dropped(&mut self, t_ns: u64, port: usize) {
        let ports = self.port_names.len();
        if port < ports {
            let b = self.bucket(t_ns);
            b.dropped.resize(ports, 0);
            b.dropped[port] += 1;
        }
    }

    /// Records the number of FDB entries at `t_ns`.
    pub fn record_fdb_size(&mut self, t_ns: u64, size: u64) {
        self.bucket(t_ns).fdb = Some(size);
    }

    /// Times before the first record count in the first bucket.
    fn bucket(&mut self, t_ns: u64) -> &mut Bucket {
        let origin = *self.origin.get_or_insert(t_ns);
        let index = t_ns.saturating_sub(origin) / self.bucket_ns;
        self.buckets.entry(index).or_default()
    }

    /// The lines to draw: per port delivered and dropped rates (frames per
    /// second), and FDB size, each as (seconds since the first record, value),
    /// over buckets widened so that no line has more than `MAX_POINTS` points.
    fn series(&self) -> Series {
        let ports = self.port_names.len();
        let last = self.buckets.keys().next_back().copied().unwrap_or(0);
        let group = (last / MAX_POINTS) + 1;
        let width_ns = self.bucket_ns.saturating_mul(group);
        let width_s = width_ns as f64 / NANOS_PER_SEC;
        let points = last / group + 1;
        let mut delivered = vec![vec![0u64; points as usize]; ports];
        let mut dropped = vec![vec![0u64; points as usize]; ports];
        let mut fdb: Vec<Option<u64>> = vec![None; points as usize];
        for (&index, b) in &self.buckets {
            let at = (index / group) as usize;
            for (port, n) in b.delivered.iter().enumerate() {
                delivered[port][at] += n;
            }
            for (port, n) in b.dropped.iter().enumerate() {
                dropped[port][at] += n;
            }
            if b.fdb.is_some() {
                fdb[at] = b.fdb;
            }
        }
        let x = |i: usize| i as f64 * width_s;
        let rate = |v: &Vec<u64>| -> Vec<(f64, f64)> {
            v.iter()
                .enumerate()
                .map(|(i, &n)| (x(i), n as f64 / width_s))
                .collect()
        };
        // The FDB size holds between records.
        let mut size = 0;
        let fdb = fdb
            .iter()
            .enumerate()
            .map(|(i, s)| {
                size = s.unwrap_or(size);
                (x(i), size as f64)
            })
            .collect();
        Series {
            span_s: x(points as usize),
            delivered: delivered.iter().map(rate).collect(),
            dropped: dropped.iter().map(rate).collect(),
            fdb,
        }
    }
}

struct Series {
    span_s: f64,
    delivered: Vec<Vec<(f64, f64)>>,
    dropped: Vec<Vec<(f64, f64)>>,
    fdb: Vec<(f64, f64)>,
}

/// A chart that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the plot {path:?}: {reason}")]
pub struct PlotError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// Draws `timeline` as an SVG file at `path`: frames per second per port on
/// top, FDB entries below, both over virtual seconds since the first record.
pub fn render_svg(timeline: &Timeline, path: &Path) -> Result<(), PlotError> {
    let err = |e: &dyn std::fmt::Display| PlotError {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    draw(timeline, path).map_err(|e| err(&e))?;
    // plotters reports some write failures only by printing; check the file.
    match std::fs::metadata(path) {
        Ok(m) if m.len() > 0 => Ok(()),
        Ok(_) => Err(err(&"the file is empty after drawing")),
        Err(e) => Err(err(&e)),
    }
}

/// Most line pairs a chart gets: more ports are summed per switch (or all
/// together), since a reader cannot tell apart more colours than this.
const MAX_GROUPS: usize = 6;
/// Width of the legend, right of the charts.
const LEGEND_WIDTH: u32 = 260;
/// Colours told apart also by colour-blind readers (Okabe and Ito).
const COLOURS: [RGBColor; MAX_GROUPS] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

/// The lines drawn: each a set of ports summed, with its label; and what the
/// lines are, for the caption.
fn groups(names: &[String]) -> (Vec<(String, Vec<usize>)>, &'static str) {
    if names.len() <= MAX_GROUPS {
        let each = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), vec![i]))
            .collect();
        return (each, "by port");
    }
    // Simulator ports are named `switch:port`: one line per switch.
    let mut by_switch: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let switch = name.split_once(':').map_or("", |(s, _)| s);
        match by_switch.iter_mut().find(|(s, _)| s == switch) {
            Some((_, ports)) => ports.push(i),
            None => by_switch.push((switch.to_string(), vec![i])),
        }
    }
    if by_switch.len() <= MAX_GROUPS && by_switch.iter().all(|(s, _)| !s.is_empty()) {
        for (label, ports) in &mut by_switch {
            *label = format!("{label} ({} ports)", ports.len());
        }
        return (by_switch, "summed per switch");
    }
    (
        vec![(
            format!("all {} ports", names.len()),
            (0..names.len()).collect(),
        )],
        "summed over all ports",
    )
}

/// Points (seconds, value) of one line.
type Line = Vec<(f64, f64)>;

/// The sum of the `ports`' lines (all of one length).
fn sum_lines(lines: &[Line], ports: &[usize]) -> Line {
    let mut sum = lines.get(ports[0]).cloned().unwrap_or_default();
    for &p in &ports[1..] {
        for (total, point) in sum.iter_mut().zip(&lines[p]) {
            total.1 += point.1;
        }
    }
    sum
}

fn draw(timeline: &Timeline, path: &Path) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let s = timeline.series();
    let x_max = s.span_s.max(f64::MIN_POSITIVE);
    let root = SVGBackend::new(path, (WIDTH + LEGEND_WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (charts, legend) = root.split_horizontally(WIDTH);
    let (top, bottom) = charts.split_vertically(HEIGHT * 2 / 3);

    let (groups, how) = match &timeline.shown {
        Some(ports) => (
            ports
                .iter()
                .map(|&p| (timeline.port_names[p].clone(), vec![p]))
                .collect(),
            "by port, chosen ports",
        ),
        None => groups(&timeline.port_names),
    };
    // Per group: (delivered, dropped).
    let lines: Vec<(Line, Line)> = groups
        .iter()
        .map(|(_, ports)| (sum_lines(&s.delivered, ports), sum_lines(&s.dropped, ports)))
        .collect();
    let rate_max = lines
        .iter()
        .flat_map(|(d, x)| d.iter().chain(x))
        .map(|p| p.1)
        .fold(1.0, f64::max)
        * 1.1;
    let mut rates = ChartBuilder::on(&top)
        .caption(
            format!("frames per second {how} (solid: delivered, dashed: dropped)"),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..rate_max)?;
    rates
        .configure_mesh()
        .x_desc("virtual time (s)")
        .y_desc("frames/s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    // The legend stands beside the charts, where it hides no line.
    let font = ("sans-serif", 15).into_font();
    legend.draw(&Text::new(
        "lines",
        (10, 40),
        font.clone().style(FontStyle::Bold),
    ))?;
    for (i, ((label, _), (delivered, dropped))) in groups.iter().zip(&lines).enumerate() {
        let color = COLOURS[i % COLOURS.len()];
        rates.draw_series(LineSeries::new(
            delivered.iter().copied(),
            color.stroke_width(2),
        ))?;
        rates.draw_series(DashedLineSeries::new(
            dropped.iter().copied(),
            6,
            4,
            color.stroke_width(1),
        ))?;
        let y = 70 + 48 * i as i32;
        legend.draw(&PathElement::new(
            vec![(10, y), (40, y)],
            color.stroke_width(3),
        ))?;
        legend.draw(&Text::new(
            format!("{label} delivered"),
            (48, y - 8),
            font.clone(),
        ))?;
        for x in [10, 23] {
            legend.draw(&PathElement::new(
                vec![(x, y + 20), (x + 8, y + 20)],
                color.stroke_width(1),
            ))?;
        }
        legend.draw(&Text::new("dropped", (48, y + 12), font.clone()))?;
    }

    let fdb_max = s.fdb.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let mut fdb = ChartBuilder::on(&bottom)
        .caption("FDB entries", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..fdb_max)?;
    fdb.configure_mesh()
        .x_desc("virtual time (s)")
        .y_desc("entries")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    fdb.draw_series(LineSeries::new(
        s.fdb.iter().copied(),
        BLACK.stroke_width(2),
    ))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    fn storm() -> Timeline {
        let mut t = Timeline::new(100_000_000, vec!["alpha".into(), "beta".into()]);
        for i in 0..1000u64 {
            let now = 5_000_000_000 + i * 1_000_000;
            t.record_delivered(now, (i % 2) as usize);
            if i % 10 == 0 {
                t.record_dropped(now, 1);
            }
            t.record_fdb_size(now, i / 100);
        }
        t.record_delivered(0, 7); // unknown port: ignored
        t
    }

    #[test]
    fn renders_svg_with_port_names() {
        let dir = crate::TestDir::new("plot-port-names");
        let path = dir.join("storm.svg");
        render_svg(&storm(), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(100)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for text in [
            "alpha delivered",
            "beta delivered",
            "dropped",
            "FDB entries",
            "virtual time (s)",
        ] {
            assert!(svg.contains(text), "no {text:?} in the SVG");
        }
        // Deterministic.
        let again = dir.join("storm2.svg");
        render_svg(&storm(), &again).unwrap();
        assert_eq!(std::fs::read(&again).unwrap(), svg.as_bytes());
    }

    #[test]
    fn rates_and_wide_spans() {
        let s = storm().series();
        // 1000 frames over 1 s, half on each port, in 100 ms buckets: 500 frames/s each.
        assert_eq!(s.delivered[0].len(), 10);
        assert!(
            (s.delivered[0][3].1 - 500.0).abs() < 1e-6,
            "{:?}",
            s.delivered[0]
        );
        assert!((s.dropped[1][0].1 - 100.0).abs() < 1e-6);
        assert_eq!(s.fdb.last().unwrap().1, 9.0);

        // Ten years of 1 ms buckets: drawn with at most MAX_POINTS points.
        let mut t = Timeline::new(1_000_000, vec!["p".into()]);
        t.record_delivered(0, 0);
        t.record_delivered(10 * 365 * 86_400 * 1_000_000_000, 0);
        let s = t.series();
        assert!(s.delivered[0].len() as u64 <= MAX_POINTS + 1);
        let total: f64 = s.delivered[0].iter().map(|p| p.1).sum();
        assert!(total > 0.0);
        let dir = crate::TestDir::new("plot-wide-spans");
        render_svg(&t, &dir.join("wide.svg")).unwrap();
        render_svg(&Timeline::new(1, Vec::new()), &dir.join("empty.svg")).unwrap();
    }

    #[test]
    fn many_ports_are_summed_per_switch_or_all_together() {
        let names = |n: usize, sw: usize| -> Vec<String> {
            (0..n).map(|i| format!("s{}:p{i}", i % sw)).collect()
        };
        let (g, how) = groups(&names(4, 2));
        assert_eq!((g.len(), how), (4, "by port"));
        let (g, how) = groups(&names(15, 3));
        assert_eq!(how, "summed per switch");
        let labels: Vec<&str> = g.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["s0 (5 ports)", "s1 (5 ports)", "s2 (5 ports)"]);
        assert_eq!(g[1].1, [1, 4, 7, 10, 13]);
        // Too many switches, or ports of a replay (no switch in the name).
        let (g, how) = groups(&names(16, 8));
        assert_eq!((g.len(), how), (1, "summed over all ports"));
        assert_eq!(g[0].0, "all 16 ports");
        let replay: Vec<String> = (0..7).map(|i| format!("port{i}")).collect();
        assert_eq!(groups(&replay).0.len(), 1);
        // The sums are the sums.
        let lines = vec![vec![(0.0, 1.0), (1.0, 2.0)], vec![(0.0, 10.0), (1.0, 20.0)]];
        assert_eq!(sum_lines(&lines, &[0, 1]), [(0.0, 11.0), (1.0, 22.0)]);
        assert_eq!(sum_lines(&lines, &[1]), lines[1]);
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let e = render_svg(&storm(), Path::new("/nonexistent-dir/x.svg")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/x.svg"), "{e}");
    }
}
