//! Time-series chart: plotters drawing on a `<canvas>` (plotters-canvas), with a legend,
//! threshold lines, a hover read-out, units, and empty/error states in words.
//!
//! Large series stay fast because every series is reduced to min/max per pixel column before
//! drawing (see [`decimate`]); the hover read-out searches the reduced points by bisection.
//!
//! Drawn at the screen's resolution: the canvas holds `devicePixelRatio` device pixels per CSS
//! pixel, lengths (margins, fonts, line widths) are scaled by that ratio, and grid and axis lines
//! stay one device pixel wide on a whole pixel (plotters-canvas moves straight lines by half a
//! pixel), so they are sharp at every ratio.

pub mod decimate;

use leptos::html::{Canvas, Div};
use leptos::prelude::*;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use triage_shared::prom::Series;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

pub use crate::format::units::Unit;

use crate::format::time::{self, LocalTime};
use crate::format::units;
use crate::theme::Theme;

/// A horizontal line at `value`, e.g. an alert threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub value: f64,
    pub label: String,
}

/// What the chart shows.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartState {
    Loading,
    Error(String),
    Ready(Vec<Series>),
}

const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

fn css_color(i: usize) -> String {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    format!("rgb({r},{g},{b})")
}

/// Legend labels: only the labels whose values differ between series (all of them for one).
pub fn compact_labels(series: &[Series]) -> Vec<String> {
    if series.len() <= 1 {
        // An aggregate without labels prints as `{}`; call it what it is.
        return series
            .iter()
            .map(|s| if s.labels.is_empty() { "result".to_owned() } else { s.display_name() })
            .collect();
    }
    let varying: Vec<&String> = series[0]
        .labels
        .keys()
        .chain(series.iter().flat_map(|s| s.labels.keys()))
        .filter(|k| {
            let first = series[0].labels.get(*k);
            series.iter().any(|s| s.labels.get(*k) != first)
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    series
        .iter()
        .map(|s| {
            let parts: Vec<String> =
                varying.iter().filter_map(|k| s.labels.get(*k).map(|v| format!("{k}={v}"))).collect();
            if parts.is_empty() { s.display_name() } else { parts.join(", ") }
        })
        .collect()
}

/// What hover needs from the last drawing.
#[derive(Debug, Clone, Default)]
struct Geometry {
    /// The plot area's left and right edges in CSS pixels (as the pointer's `offsetX` counts).
    x_px: (i32, i32),
    t: (f64, f64),
    series: Vec<Vec<[f64; 2]>>,
    labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Hover {
    left: i32,
    time: String,
    rows: Vec<(String, String, String)>,
}

/// Leaves a `triage:first-chart` performance mark when the page's first chart with data is drawn
/// (on its canvas; the first-load benchmark then times the next animation frame, once painted).
fn mark_first_chart() {
    if let Some(p) = web_sys::window().and_then(|w| w.performance())
        && p.get_entries_by_name("triage:first-chart").length() == 0
    {
        let _ = p.mark("triage:first-chart");
    }
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Device pixels per CSS pixel, within the range a screen has (1 when unknown).
pub fn pixel_ratio() -> f64 {
    let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    if ratio.is_finite() { ratio.clamp(1.0, 4.0) } else { 1.0 }
}

/// `css` CSS pixels in device pixels at `ratio`, rounded to whole pixels.
pub fn device_px(css: f64, ratio: f64) -> u32 {
    (css * ratio).round().max(0.0) as u32
}

#[allow(clippy::too_many_arguments)]
fn draw(
    canvas: &web_sys::HtmlCanvasElement,
    width: u32,
    height: u32,
    ratio: f64,
    series: &[Series],
    unit: Unit,
    thresholds: &[Threshold],
    dark: bool,
) -> Result<Geometry, String> {
    let px = |css: u32| device_px(f64::from(css), ratio);
    // The backing store at device resolution; the stylesheet shows it at the layout's size.
    canvas.set_width(px(width));
    canvas.set_height(px(height));
    let backend = CanvasBackend::with_canvas_object(canvas.clone()).ok_or("the canvas has no 2D context")?;
    let root = backend.into_drawing_area();
    let (bg, fg, grid) = if dark {
        (RGBColor(26, 31, 37), RGBColor(200, 205, 212), RGBColor(44, 51, 59))
    } else {
        (RGBColor(255, 255, 255), RGBColor(80, 88, 100), RGBColor(232, 235, 239))
    };
    root.fill(&bg).map_err(|e| e.to_string())?;

    let (mut t0, mut t1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for s in series {
        // Points are in time order: the time range is the ends; the values need the scan.
        if let (Some(first), Some(last)) = (s.points.first(), s.points.last()) {
            t0 = t0.min(first[0]);
            t1 = t1.max(last[0]);
        }
        for p in &s.points {
            y0 = y0.min(p[1]);
            y1 = y1.max(p[1]);
        }
    }
    for th in thresholds {
        y0 = y0.min(th.value);
        y1 = y1.max(th.value);
    }
    if t0 >= t1 {
        t0 -= 30.0;
        t1 += 30.0;
    }
    if y0 >= 0.0 && y0 < (y1 - y0) * 0.5 {
        y0 = 0.0; // start non-negative quantities at zero unless that squashes the line
    }
    if y0 >= y1 {
        y0 -= 1.0;
        y1 += 1.0;
    }
    let pad = (y1 - y0) * 0.06;
    let (y0, y1) = (if y0 == 0.0 { 0.0 } else { y0 - pad }, y1 + pad);
    let columns = px(width).saturating_sub(px(80)) as usize;
    let reduced: Vec<Vec<[f64; 2]>> =
        series.iter().map(|s| decimate::min_max_per_column(&s.points, columns.max(1))).collect();

    let span = t1 - t0;
    let font = ("sans-serif", f64::from(px(12))).into_font().color(&fg);
    let mut chart = ChartBuilder::on(&root)
        .margin(px(8))
        .margin_right(px(18))
        .x_label_area_size(px(22))
        .y_label_area_size(px(66))
        .build_cartesian_2d(t0..t1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&|t| time::label(LocalTime::of_unix(*t), span))
        .y_label_formatter(&|v| units::value(*v, unit))
        .label_style(font.clone())
        .axis_style(fg.mix(0.6))
        .bold_line_style(grid)
        .light_line_style(bg)
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, points) in reduced.iter().enumerate() {
        chart
            .draw_series(LineSeries::new(points.iter().map(|p| (p[0], p[1])), color(i).stroke_width(px(2))))
            .map_err(|e| e.to_string())?;
        // A line needs two points; show sparse series (a fresh scrape, a short range) as dots.
        if points.len() < 8 {
            chart
                .draw_series(points.iter().map(|p| Circle::new((p[0], p[1]), px(3), color(i).filled())))
                .map_err(|e| e.to_string())?;
        }
    }
    let crit = RGBColor(201, 42, 42);
    for th in thresholds {
        chart
            .draw_series(DashedLineSeries::new(
                [(t0, th.value), (t1, th.value)],
                px(6),
                px(4),
                crit.stroke_width(px(1)),
            ))
            .map_err(|e| e.to_string())?;
        let text = format!("{} {}", th.label, units::value(th.value, unit));
        chart
            .draw_series(std::iter::once(Text::new(
                text,
                (t0, th.value),
                ("sans-serif", f64::from(px(11))).into_font().color(&crit),
            )))
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    let (xr, _) = chart.plotting_area().get_pixel_range();
    let css = |device: i32| (f64::from(device) / ratio).round() as i32;
    Ok(Geometry {
        x_px: (css(xr.start), css(xr.end)),
        t: (t0, t1),
        series: reduced,
        labels: compact_labels(series),
    })
}

/// Times the chart's redraw with new data, the exact code path of [`Chart`] (at the screen's
/// pixel ratio, legend and axes included), for the chart benchmark (`/bench/chart`): drawn once
/// with `data[0]`, then `runs` redraws alternating `data[1]` and `data[0]`, each timed until the
/// canvas has its pixels (a 1-pixel `getImageData` makes the browser finish drawing), in ms.
#[cfg(feature = "bench")]
pub fn time_redraws(
    canvas: &web_sys::HtmlCanvasElement,
    width: u32,
    height: u32,
    data: [&[Series]; 2],
    runs: usize,
) -> Vec<f64> {
    use wasm_bindgen::JsCast as _;
    let ratio = pixel_ratio();
    let context = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok());
    let painted = || {
        if let Some(context) = &context {
            let _ = context.get_image_data(0.0, 0.0, 1.0, 1.0);
        }
    };
    let _ = draw(canvas, width, height, ratio, data[0], Unit::Plain, &[], false);
    painted();
    (0..runs)
        .map(|run| {
            let started = now_ms();
            let _ = draw(canvas, width, height, ratio, data[(run + 1) % 2], Unit::Plain, &[], false);
            painted();
            now_ms() - started
        })
        .collect()
}

#[component]
pub fn Chart(
    #[prop(into)] state: Signal<ChartState>,
    #[prop(optional)] unit: Unit,
    #[prop(optional)] thresholds: Vec<Threshold>,
    #[prop(default = 240)] height: u32,
    #[prop(optional, into)] testid: String,
) -> impl IntoView {
    let canvas_ref = NodeRef::<Canvas>::new();
    let wrap_ref = NodeRef::<Div>::new();
    let width = RwSignal::new(0u32);
    let geometry = StoredValue::new(Geometry::default());
    let hover = RwSignal::new(None::<Hover>);
    let drawn = RwSignal::new(false);
    let render_ms = RwSignal::new(0.0f64);
    let theme = use_context::<RwSignal<Theme>>();

    // Follow the layout: redraw when the container's width changes.
    Effect::new(move |_| {
        let Some(wrap) = wrap_ref.get() else { return };
        width.set(wrap.client_width().max(0) as u32);
        let callback = Closure::<dyn FnMut(js_sys::Array)>::new(move |_entries: js_sys::Array| {
            if let Some(w) = wrap_ref.get_untracked() {
                width.set(w.client_width().max(0) as u32);
            }
        });
        if let Ok(observer) = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()) {
            observer.observe(&wrap);
            // The observer lives as long as the page; its callback must too.
            callback.forget();
        }
    });

    let thresholds_for_draw = thresholds.clone();
    Effect::new(move |_| {
        let dark = theme.map(|t| t.get() == Theme::Dark).unwrap_or(false);
        let w = width.get();
        let current = state.get();
        let Some(canvas) = canvas_ref.get() else { return };
        hover.set(None);
        let ChartState::Ready(series) = current else {
            drawn.set(false);
            return;
        };
        if w == 0 || series.iter().all(|s| s.points.is_empty()) {
            drawn.set(false);
            return;
        }
        let started = now_ms();
        match draw(&canvas, w, height, pixel_ratio(), &series, unit, &thresholds_for_draw, dark) {
            Ok(g) => {
                geometry.set_value(g);
                drawn.set(true);
                render_ms.set(now_ms() - started);
                mark_first_chart();
            }
            Err(e) => {
                leptos::logging::warn!("chart drawing failed: {e}");
                drawn.set(false);
            }
        }
    });

    let on_move = move |ev: leptos::ev::MouseEvent| {
        if !drawn.get_untracked() {
            return;
        }
        let x = ev.offset_x();
        let g = geometry.get_value();
        if x < g.x_px.0 || x > g.x_px.1 || g.x_px.1 <= g.x_px.0 {
            hover.set(None);
            return;
        }
        let frac = f64::from(x - g.x_px.0) / f64::from(g.x_px.1 - g.x_px.0);
        let t = g.t.0 + frac * (g.t.1 - g.t.0);
        let rows = g
            .series
            .iter()
            .enumerate()
            .filter_map(|(i, pts)| {
                decimate::nearest(pts, t).map(|j| {
                    (
                        css_color(i),
                        g.labels.get(i).cloned().unwrap_or_default(),
                        units::value(pts[j][1], unit),
                    )
                })
            })
            .take(12)
            .collect();
        let time = time::clock(LocalTime::of_unix(t));
        hover.set(Some(Hover { left: x, time, rows }));
    };

    let legend = move || match state.get() {
        ChartState::Ready(series) if !series.is_empty() => {
            let labels = compact_labels(&series);
            let items = series
                .iter()
                .zip(labels)
                .enumerate()
                .map(|(i, (s, label))| {
                    let last =
                        s.points.last().map(|p| units::value(p[1], unit)).unwrap_or_else(|| "—".to_owned());
                    view! {
                        <li data-testid="legend-item" title=s.display_name()>
                            <span class="swatch" style=format!("background:{}", css_color(i))></span>
                            <span class="legend-label">{label}</span>
                            <span class="legend-value">{last}</span>
                        </li>
                    }
                })
                .collect_view();
            Some(view! { <ul class="legend" data-testid="chart-legend">{items}</ul> })
        }
        _ => None,
    };

    let overlay = move || {
        match state.get() {
        ChartState::Loading => Some(view! { <div class="chart-msg" data-testid="chart-loading"><span class="spinner"></span>"Loading…"</div> }.into_any()),
        ChartState::Error(message) => Some(
            view! { <div class="chart-msg error" role="alert" data-testid="chart-error">{message}</div> }.into_any(),
        ),
        ChartState::Ready(series) if series.iter().all(|s| s.points.is_empty()) => Some(
            view! { <div class="chart-msg muted" data-testid="chart-empty">"No data for this query in the selected range."</div> }
                .into_any(),
        ),
        ChartState::Ready(_) => None,
    }
    };

    view! {
        <div class="chart" data-testid=testid data-drawn=move || drawn.get().to_string()
            data-render-ms=move || format!("{:.2}", render_ms.get())>
            <div class="chart-canvas" node_ref=wrap_ref style=format!("height:{height}px")>
                <canvas node_ref=canvas_ref on:mousemove=on_move on:mouseleave=move |_| hover.set(None)></canvas>
                {overlay}
                {move || hover.get().map(|h| view! {
                    <div class="crosshair" style=format!("left:{}px", h.left)></div>
                    <div class="tooltip" data-testid="chart-tooltip" style=format!("left:{}px", h.left + 12)>
                        <div class="muted">{h.time}</div>
                        {h.rows.into_iter().map(|(c, label, v)| view! {
                            <div><span class="swatch" style=format!("background:{c}")></span>{label}": "<b>{v}</b></div>
                        }).collect_view()}
                    </div>
                })}
            </div>
            {legend}
        </div>
    }
}
