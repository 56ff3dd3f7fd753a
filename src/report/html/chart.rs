//! The inline SVG charts of report.html: expected against recorded refunds
//! per billing month, as grouped bars. Amounts stay exact (axis labels and
//! tooltips are decimals); f64 is used for pixel coordinates only.

use std::fmt::Write as _;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::data::MonthRefunds;
use super::{escape, group};

/// The chart's size in SVG units (it scales to the page width).
pub const WIDTH: f64 = 680.0;
pub const HEIGHT: f64 = 260.0;
/// Room for the amount labels (left), the legend (top) and the month
/// labels (bottom).
const LEFT: f64 = 84.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 40.0;
/// At most this many months are drawn (the latest); the table lists all.
pub const MAX_MONTHS: usize = 60;
/// The least room for one month label (every k-th month gets one).
const LABEL_ROOM: f64 = 64.0;

/// One bar: which month and series, its value, its rectangle.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub month: String,
    pub recorded: bool,
    pub value: Decimal,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// Where everything of one chart goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Axis ticks: exact value and y coordinate, from 0 up.
    pub ticks: Vec<(Decimal, f64)>,
    pub bars: Vec<Bar>,
    /// Month labels: text and x coordinate (centre of the group).
    pub labels: Vec<(String, f64)>,
}

/// The y axis: 0 up to the smallest tick at or above `max`, in steps of
/// 1, 2 or 5 × 10ⁿ, about four steps. Exact decimals.
pub fn ticks(max: Decimal) -> Vec<Decimal> {
    if max <= Decimal::ZERO {
        return vec![Decimal::ZERO, Decimal::ONE];
    }
    let raw = max.to_f64().unwrap_or(1.0) / 4.0;
    let exp = raw.log10().floor() as i32;
    let norm = raw / 10f64.powi(exp);
    let mantissa = [1i64, 2, 5, 10].into_iter().find(|&m| m as f64 >= norm).unwrap_or(10);
    let step = pow10(exp).and_then(|p| p.checked_mul(Decimal::from(mantissa)));
    let Some(step) = step.filter(|s| *s > Decimal::ZERO) else {
        return vec![Decimal::ZERO, max];
    };
    let mut out = vec![Decimal::ZERO];
    let mut v = Decimal::ZERO;
    while v < max && out.len() < 12 {
        match v.checked_add(step) {
            Some(n) => v = n,
            None => break,
        }
        out.push(v.normalize());
    }
    if out.last().is_some_and(|t| *t < max) {
        out.push(max);
    }
    out
}

/// 10^exp as a decimal (None when out of range).
fn pow10(exp: i32) -> Option<Decimal> {
    if exp >= 0 {
        let mut v = Decimal::ONE;
        for _ in 0..exp {
            v = v.checked_mul(Decimal::TEN)?;
        }
        Some(v)
    } else {
        let scale = u32::try_from(-exp).ok().filter(|s| *s <= 28)?;
        Some(Decimal::new(1, scale))
    }
}

/// The bars and axes for these months (already cut to [`MAX_MONTHS`]).
pub fn layout(months: &[MonthRefunds]) -> Layout {
    let max = months
        .iter()
        .flat_map(|m| [m.expected, m.recorded])
        .max()
        .unwrap_or_default();
    let ticks = ticks(max);
    let top = ticks.last().copied().unwrap_or(Decimal::ONE).to_f64().unwrap_or(1.0);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y_of = |v: Decimal| {
        let f = v.to_f64().unwrap_or(0.0).max(0.0);
        let frac = if top > 0.0 { (f / top).min(1.0) } else { 0.0 };
        TOP + plot_h * (1.0 - frac)
    };
    let n = months.len().max(1) as f64;
    let group_w = (WIDTH - LEFT - RIGHT) / n;
    let bar_w = (group_w * 0.36).min(28.0);
    let every = (LABEL_ROOM / group_w).ceil().max(1.0) as usize;
    let mut bars = Vec::with_capacity(months.len() * 2);
    let mut labels = Vec::new();
    for (i, m) in months.iter().enumerate() {
        let centre = LEFT + group_w * (i as f64 + 0.5);
        for (k, (value, recorded)) in [(m.expected, false), (m.recorded, true)].into_iter().enumerate() {
            let y = y_of(value);
            bars.push(Bar {
                month: m.month.clone(),
                recorded,
                value,
                x: centre - bar_w - 1.0 + k as f64 * (bar_w + 2.0),
                y,
                w: bar_w,
                h: TOP + plot_h - y,
            });
        }
        if i % every == 0 {
            labels.push((m.month.clone(), centre));
        }
    }
    Layout {
        ticks: ticks.into_iter().map(|t| (t, y_of(t))).collect(),
        bars,
        labels,
    }
}

/// The chart as inline SVG: gridlines with exact amount labels, a legend,
/// and a `<title>` tooltip on every bar.
pub fn svg(months: &[MonthRefunds], currency: &str) -> String {
    let l = layout(months);
    let cur = escape(currency);
    let mut s = String::with_capacity(4096 + months.len() * 600);
    let _ = write!(
        s,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"Expected and recorded refunds per billing month, {cur}\">"
    );
    for (v, y) in &l.ticks {
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 8.0,
            y + 4.0,
            escape(&group(&v.to_string()))
        );
    }
    for b in &l.bars {
        let (class, series) = if b.recorded {
            ("bar-rec", "recorded")
        } else {
            ("bar-exp", "expected")
        };
        let _ = write!(
            s,
            "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{} {series}: {} {cur}</title></rect>",
            b.x,
            b.y,
            b.w,
            b.h,
            escape(&b.month),
            escape(&group(&b.value.to_string()))
        );
    }
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        s,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{base}\" y2=\"{base}\"/>",
        WIDTH - RIGHT
    );
    for (text, x) in &l.labels {
        let _ = write!(
            s,
            "<text class=\"month\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            base + 18.0,
            escape(text)
        );
    }
    let lx = WIDTH - RIGHT - 236.0;
    let _ = write!(
        s,
        "<rect class=\"bar-exp\" x=\"{lx:.1}\" y=\"8\" width=\"12\" height=\"12\"/><text class=\"legend\" x=\"{:.1}\" y=\"18\">expected</text>\
         <rect class=\"bar-rec\" x=\"{:.1}\" y=\"8\" width=\"12\" height=\"12\"/><text class=\"legend\" x=\"{:.1}\" y=\"18\">recorded</text>\
         <text class=\"legend unit\" x=\"{:.1}\" y=\"18\" text-anchor=\"end\">{cur}</text></svg>",
        lx + 18.0,
        lx + 86.0,
        lx + 104.0,
        WIDTH - RIGHT
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn month(m: &str, e: &str, r: &str) -> MonthRefunds {
        MonthRefunds {
            month: m.to_string(),
            expected: d(e),
            recorded: d(r),
        }
    }

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(ticks(d("1775.34")), ["0", "500", "1000", "1500", "2000"].map(d));
        assert_eq!(ticks(d("0.03")), ["0", "0.01", "0.02", "0.03"].map(d));
        assert_eq!(ticks(d("100")), ["0", "50", "100"].map(d));
        assert_eq!(ticks(Decimal::ZERO), [Decimal::ZERO, Decimal::ONE]);
        let huge = d("79228162514264337593543950335");
        let t = ticks(huge);
        assert!(t.last().is_some_and(|x| *x >= huge), "{t:?}");
    }

    #[test]
    fn bars_scale_to_the_top_tick_and_stay_in_the_plot() {
        let months = [month("2021-09", "1000", "500"), month("2021-10", "0", "2000")];
        let l = layout(&months);
        assert_eq!(l.bars.len(), 4);
        let top_y = l.ticks.last().unwrap().1;
        let base = HEIGHT - BOTTOM;
        assert!((l.ticks[0].1 - base).abs() < 1e-9, "0 is on the axis");
        // 2000 is the top tick: the bar reaches it; 1000 is half as high.
        let rec_oct = &l.bars[3];
        assert!(rec_oct.recorded && (rec_oct.y - top_y).abs() < 1e-9);
        let exp_sep = &l.bars[0];
        assert!((exp_sep.h * 2.0 - rec_oct.h).abs() < 1e-9);
        // A zero bar has no height; every bar lies inside the plot area.
        assert_eq!(l.bars[2].h, 0.0);
        for b in &l.bars {
            assert!(b.x >= LEFT && b.x + b.w <= WIDTH - RIGHT && b.y >= TOP - 1e-9 && b.y + b.h <= base + 1e-9);
        }
        // Expected left of recorded within a month, months left to right.
        assert!(l.bars[0].x < l.bars[1].x && l.bars[1].x < l.bars[2].x);
    }

    #[test]
    fn many_months_get_thinned_labels_and_no_chart_panics_when_empty() {
        let months: Vec<MonthRefunds> = (0..MAX_MONTHS).map(|i| month(&format!("m{i:02}"), "1", "2")).collect();
        let l = layout(&months);
        let gaps: Vec<f64> = l.labels.windows(2).map(|w| w[1].1 - w[0].1).collect();
        assert!(gaps.iter().all(|g| *g >= LABEL_ROOM), "{gaps:?}");
        assert!(l.labels.len() >= 4, "{:?}", l.labels);
        let empty = svg(&[], "USD");
        assert!(empty.starts_with("<svg") && empty.ends_with("</svg>"));
    }

    #[test]
    fn tooltips_are_exact_and_escaped() {
        let s = svg(&[month("<b>", "1775.34", "1000.10")], "U&D");
        assert!(s.contains("<title>&lt;b&gt; expected: 1,775.34 U&amp;D</title>"), "{s}");
        assert!(s.contains("<title>&lt;b&gt; recorded: 1,000.10 U&amp;D</title>"), "{s}");
        assert!(!s.contains("<b>"));
    }
}
