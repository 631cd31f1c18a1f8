//! Figures: CA(e) line charts as PNG and SVG, rendered in memory with an embedded font
//! (DejaVu Sans, see `assets/DejaVuSans-LICENSE.txt`) so that no system font is needed
//! and the same inputs give the same bytes.

use std::sync::Once;

use anyhow::{Context, Result, anyhow};
use nncert::attack::Strategy;
use nncert::experiment::Experiment;
use nncert::{Certification, Curve, Method};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

const WIDTH: u32 = 900;
const HEIGHT: u32 = 560;
static FONT: Once = Once::new();

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    /// (e, CA(e)) at the points where the step function changes, and its ends.
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub dashed: bool,
}

/// One chart.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File stem under `figures/`.
    pub name: String,
    pub title: String,
    pub series: Vec<Series>,
    pub x_max: f64,
    pub y_label: &'static str,
    /// Legend in the lower left instead of the upper right.
    pub legend_low: bool,
}

const CA_LABEL: &str = "certified accuracy CA(e)";

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The vertices of a CA(e) step function: first and last point and both ends of every drop.
///
/// Only the stored counts, the first `e` after them and the last `e` can be vertices: past
/// the stored counts every value is 0 (see `Curve`), so a curve with a large `max_e` costs
/// no more than a short one.
fn step_points(curve: &Curve, x_max: u64) -> Vec<(f64, f64)> {
    let last = x_max.min(curve.max_e);
    let stored = curve.certified.len() as u64;
    let candidates = (0..stored.min(last + 1))
        .chain([stored, last])
        .filter(|&e| e <= last);
    let mut points: Vec<(f64, f64)> = Vec::new();
    let mut previous = None;
    for e in candidates {
        if previous.is_some_and(|p| p >= e) {
            continue;
        }
        previous = Some(e);
        let changes = e == 0 || e == last || curve.certified_at(e) != curve.certified_at(e - 1);
        if changes {
            if e > 0 && points.last().is_some_and(|&(x, _)| x < (e - 1) as f64) {
                points.push(((e - 1) as f64, curve.accuracy(e - 1)));
            }
            points.push((e as f64, curve.accuracy(e)));
        }
    }
    // Curves that reached 0 early stay at 0 to the right edge.
    if last < x_max {
        points.push((x_max as f64, curve.accuracy(last)));
    }
    points
}

fn label(c: &Curve) -> String {
    let p = &c.classifier;
    let setting = match c.method() {
        Method::Knn => format!("kNN, k = {p}"),
        Method::Rnn => format!("rNN, r = {p}"),
        Method::Dpa => format!("DPA, ζ = {p}"),
        Method::Bagging => format!("bagging, ξ = {p}"),
        Method::Fa => format!("FA, {p}"),
        Method::RoeDpa => format!("ROE (DPA), {p}"),
        Method::RoeFa => format!("ROE (FA), {p}"),
    };
    match c.certification {
        Certification::Individual => format!("{setting}, individual"),
        Certification::Island => format!("{setting}, joint (ISLAND)"),
        Certification::Rd => format!("{setting}, joint (RD)"),
        Certification::IslandLabel => format!("{setting}, joint (ISLAND, one label)"),
        Certification::RdLabel => format!("{setting}, joint (RD, one label)"),
        Certification::Polish => format!("{setting}, joint (POLISH)"),
        Certification::PolishLabel => format!("{setting}, joint (POLISH, one label)"),
        Certification::Cluster => format!("{setting}, joint (CLUSTER)"),
        Certification::ClusterLabel => format!("{setting}, joint (CLUSTER, one label)"),
        Certification::Lp => format!("{setting}, joint (LP)"),
        Certification::LpLabel => format!("{setting}, joint (LP, one label)"),
        Certification::SearchLabel => format!("{setting}, joint (SEARCH, one label)"),
        Certification::Best => format!("{setting}, best bound"),
    }
}

/// The paper's figures for one experiment: impact of k, impact of r, individual vs joint
/// for every r, and an overview of the best bound of every setting.
pub fn experiment_figures(exp: &Experiment, dataset: &str) -> Vec<Figure> {
    let x_max = exp.max_e().max(1);
    let curves = exp.curves();
    let figure = |name: String, title: String, selected: Vec<&Curve>| Figure {
        name,
        title: format!("{dataset}: {title}"),
        series: selected
            .into_iter()
            .enumerate()
            .map(|(i, c)| Series {
                label: label(c),
                points: step_points(c, x_max),
                color: PALETTE[i % PALETTE.len()],
                dashed: matches!(c.certification, Certification::Rd | Certification::RdLabel),
            })
            .collect(),
        x_max: x_max as f64,
        y_label: CA_LABEL,
        legend_low: false,
    };
    let mut figures = Vec::new();
    let knn: Vec<&Curve> = curves
        .iter()
        .filter(|c| c.method() == Method::Knn)
        .collect();
    if !knn.is_empty() {
        let title = "kNN, impact of k (individual certification)";
        figures.push(figure("knn_impact_of_k".into(), title.into(), knn));
    }
    let rnn_params = rnn_classifiers(&curves);
    for r in &rnn_params {
        figures.push(figure(
            format!("rnn_r{r}_individual_vs_joint"),
            format!("rNN, r = {r}: individual vs joint certification"),
            individual_vs_joint(&curves, r),
        ));
    }
    if !rnn_params.is_empty() {
        let title = "rNN, impact of r";
        figures.push(figure(
            "rnn_impact_of_r".into(),
            title.into(),
            impact_of_r(&curves),
        ));
    }
    figures.push(figure(
        "overview".into(),
        "certified accuracy, best bound of every setting".into(),
        best_of_each_setting(&curves),
    ));
    figures
}

/// The rNN settings of `curves`, in order.
fn rnn_classifiers(curves: &[Curve]) -> Vec<nncert::Classifier> {
    let mut p: Vec<nncert::Classifier> = curves
        .iter()
        .filter(|c| c.method() == Method::Rnn)
        .map(|c| c.classifier.clone())
        .collect();
    p.dedup();
    p
}

/// Every curve of the rNN setting `r` but the best bound.
fn individual_vs_joint<'a>(curves: &'a [Curve], r: &nncert::Classifier) -> Vec<&'a Curve> {
    curves
        .iter()
        .filter(|c| {
            c.method() == Method::Rnn
                && c.classifier == *r
                && c.certification != Certification::Best
        })
        .collect()
}

/// Impact of r: per rNN setting, the default joint bound (ISLAND) if computed, else
/// individual.
fn impact_of_r(curves: &[Curve]) -> Vec<&Curve> {
    let preferred = |c: &&Curve| {
        let has_island = curves
            .iter()
            .any(|o| o.classifier == c.classifier && o.certification == Certification::Island);
        c.method() == Method::Rnn
            && if has_island {
                c.certification == Certification::Island
            } else {
                c.certification == Certification::Individual
            }
    };
    curves.iter().filter(preferred).collect()
}

/// Overview: kNN and the baselines (individual) and each rNN setting's best joint bound.
fn best_of_each_setting(curves: &[Curve]) -> Vec<&Curve> {
    curves
        .iter()
        .filter(|c| match c.method() {
            Method::Knn
            | Method::Dpa
            | Method::Bagging
            | Method::Fa
            | Method::RoeDpa
            | Method::RoeFa => true,
            Method::Rnn => {
                let order = [
                    Certification::Best,
                    Certification::SearchLabel,
                    Certification::LpLabel,
                    Certification::ClusterLabel,
                    Certification::PolishLabel,
                    Certification::IslandLabel,
                    Certification::Lp,
                    Certification::Cluster,
                    Certification::Polish,
                    Certification::Island,
                    Certification::RdLabel,
                    Certification::Rd,
                    Certification::Individual,
                ];
                let best_available = order.iter().find(|cert| {
                    curves
                        .iter()
                        .any(|o| o.classifier == c.classifier && o.certification == **cert)
                });
                best_available == Some(&c.certification)
            }
        })
        .collect()
}

/// The top of the y axis: the highest CA rounded up to a tenth (at most 1), so that curves
/// of a hard dataset (CIFAR-10 stays below 50 %) are not squeezed into the bottom.
fn y_max(fig: &Figure) -> f64 {
    let top = fig
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    ((top * 10.0 + 0.5).ceil() / 10.0).clamp(0.1, 1.0)
}

/// Certified curves (lines) and the accuracy real attacks leave (points joined by lines)
/// for one attacked classifier.
pub fn attack_figure(
    dataset: &str,
    certified: &[Curve],
    report: &nncert::attack::AttackReport,
) -> Figure {
    let x_max = report.rows.iter().map(|r| r.e).max().unwrap_or(1).max(1);
    let mut series: Vec<Series> = certified
        .iter()
        .enumerate()
        .map(|(i, c)| Series {
            label: format!("certified (lower bound): {}", label(c)),
            points: step_points(c, x_max),
            color: PALETTE[i % PALETTE.len()],
            dashed: false,
        })
        .collect();
    for (j, strategy) in Strategy::ALL.into_iter().enumerate() {
        let mut pts: Vec<(f64, f64)> = report
            .rows
            .iter()
            .filter(|r| r.strategy == strategy)
            .map(|r| (r.e as f64, r.attacked_correct as f64 / r.n_test as f64))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let what = match strategy {
            Strategy::Individual => "attacked, one poisoned set per input",
            Strategy::Budget => "attacked, merged individual sets (upper bound)",
            Strategy::Greedy => "attacked, greedy shared set (upper bound)",
        };
        series.push(Series {
            label: what.to_string(),
            points: pts,
            color: PALETTE[(certified.len() + j) % PALETTE.len()],
            dashed: true,
        });
    }
    let first = &report.rows[0];
    let c = &first.classifier;
    let setting = match c.method() {
        Method::Knn => format!("kNN, k = {c}"),
        _ => format!("rNN, r = {c}"),
    };
    Figure {
        name: format!("attack_{}{c}", c.method()),
        title: format!("{dataset}: {setting}: certified vs attacked accuracy"),
        series,
        x_max: x_max as f64,
        y_label: "accuracy under poisoning of size e",
        legend_low: true,
    }
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing {}: {e:?}", fig.name);
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(root)
        .caption(&fig.title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..fig.x_max, 0f64..y_max(fig))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("poisoning size e")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(fig.y_label)
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    for s in &fig.series {
        let style = ShapeStyle::from(&s.color).stroke_width(2);
        // Markers first, so that the legend entry belongs to the line drawn last.
        if s.dashed && s.points.len() <= 64 {
            chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|&p| Circle::new(p, 4, s.color.filled())),
                )
                .map_err(err)?;
        }
        let anno = if s.dashed {
            chart
                .draw_series(DashedLineSeries::new(s.points.iter().copied(), 8, 5, style))
                .map_err(err)?
        } else {
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), style))
                .map_err(err)?
        };
        let color = s.color;
        anno.label(s.label.clone()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
        });
    }
    chart
        .configure_series_labels()
        .position(if fig.legend_low {
            SeriesLabelPosition::LowerLeft
        } else {
            SeriesLabelPosition::UpperRight
        })
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn register() {
    FONT.call_once(|| {
        // The font is compiled in; a failure here is a build defect, not a user error.
        register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../assets/DejaVuSans.ttf"),
        )
        .unwrap_or_else(|_| panic!("the embedded DejaVu Sans font is invalid"));
    });
}

/// The figure as PNG bytes.
pub fn render_png(fig: &Figure) -> Result<Vec<u8>> {
    register();
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, fig)?;
    }
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().context("encoding PNG")?;
        writer.write_image_data(&rgb).context("encoding PNG")?;
    }
    Ok(png_bytes)
}

/// The figure as SVG text.
pub fn render_svg(fig: &Figure) -> Result<String> {
    register();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, fig)?;
    }
    Ok(svg)
}
