//! report.html: one self-contained page of a run for a reader on a laptop
//! or on paper (docs/report-html.md). The headline figures come from the
//! [`Summary`]; the rest is read back, streaming, from the CSV reports
//! just written ([`data`]). No scripts, fonts or links to anything outside
//! the file: inline CSS, charts as inline SVG ([`chart`]).
//!
//! Every value that comes from the inputs or the reports goes through
//! [`escape`]. Each headline figure carries a `data-figure` attribute
//! naming its summary.json key, so a test can compare the page with
//! summary.json.

mod chart;
mod data;

pub use data::{Bill, BillCells, BillDigest};

use std::fmt::Write as _;
use std::path::Path;

use rust_decimal::Decimal;

use super::summary::Summary;
use crate::error::AppError;
use crate::rules::Code;
use crate::time::Month;
use data::{Data, Listing, MonthRefunds};

/// The file name, in the `--out` folder.
pub const FILE: &str = "report.html";

/// Table cells longer than this many characters are cut (a rejected value
/// can be megabytes long); the reports keep the whole value.
const CELL_CHARS: usize = 160;

/// Writes `dir/report.html` from `summary` and the CSV reports in `dir`.
///
/// `bill`: what the bill's writer digested of monthly_bill.csv (a run);
/// None reads the file back (a merged folder).
pub fn write(dir: &Path, summary: &Summary, bill: Option<Bill>) -> Result<super::Done, AppError> {
    let _s = crate::trace::span("write report.html");
    let data = data::read(dir, summary.baseline.is_some(), bill)?;
    let page = render(summary, &data);
    let mut file = super::sink::Sink::create(&dir.join(FILE))?;
    file.put(page.as_bytes())?;
    file.finish(None)
}

/// Text for HTML: `& < > " '` as character references, so a value shows
/// as text in element content and in quoted attributes alike.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A decimal or a count with a `,` every three digits (`11504.66` →
/// `11,504.66`); anything else unchanged. Removing the commas gives the
/// report's text back.
pub fn group(s: &str) -> String {
    let (sign, rest) = s.strip_prefix('-').map_or(("", s), |r| ("-", r));
    let (int, frac) = rest.split_at(rest.find('.').unwrap_or(rest.len()));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac.get(1..).unwrap_or("")) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out.push_str(frac);
    out
}

/// At most [`CELL_CHARS`] characters of `s`, then how long it was.
fn clip(s: &str) -> String {
    match s.char_indices().nth(CELL_CHARS) {
        None => s.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes in the report)", &s[..cut], s.len()),
    }
}

/// A figure of summary.json: escaped, grouped, marked with its key.
fn figure(key: &str, value: &str) -> String {
    format!("<span data-figure=\"{}\">{}</span>", escape(key), escape(&group(value)))
}

/// An amount cell (exact, grouped, right-aligned).
fn num(v: &str) -> String {
    format!("<td class=\"num\">{}</td>", escape(&group(v)))
}

fn amount(v: Decimal) -> String {
    num(&data::unsigned_zero(v).to_string())
}

/// A figure of summary.json as the reports write it; `None` (shown as an
/// empty cell, never as 0) if it is not one.
fn parse(v: &str) -> Option<Decimal> {
    crate::money::parse_written(v).ok()
}

/// The whole page.
fn render(s: &Summary, d: &Data) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("Refund reconciliation · as of {}", s.as_of);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&title)
    );
    headline(&mut h, s, d);
    baseline(&mut h, s, d);
    months(&mut h, s, d);
    codes(&mut h, s, d);
    coverage(&mut h, s);
    largest(&mut h, d);
    quota(&mut h, d);
    rejects(&mut h, s, d);
    let _ = write!(
        h,
        "<footer>Written by refund-recon {} with the reports in this folder: the headline figures are summary.json's, \
         the rest is read from the CSV reports beside this file. Amounts are exact, in each currency's minor units.</footer>\n\
         </main>\n</body>\n</html>\n",
        escape(s.version)
    );
    h
}

/// Title, run facts, the headline cards, inputs and refund totals.
fn headline(h: &mut String, s: &Summary, d: &Data) {
    let _ = write!(
        h,
        "<header><h1>Refund reconciliation</h1><p class=\"meta\">as of {} · policy {} · refund-recon {}</p>",
        figure("as_of", &s.as_of),
        figure("policy.name", &s.policy.name),
        figure("version", s.version)
    );
    if !s.accounts.is_empty() {
        let shown: Vec<String> = s.accounts.iter().take(10).map(|a| escape(&clip(a))).collect();
        let more = s.accounts.len().saturating_sub(10);
        let _ = write!(
            h,
            "<p class=\"meta\">Only accounts {}{}</p>",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    h.push_str("</header>\n<section class=\"first\" id=\"headline\"><h2>Headline</h2><div class=\"cards\">");
    let sev = |k: &str| s.findings.by_severity.get(k).copied().unwrap_or(0).to_string();
    let _ = write!(
        h,
        "<div class=\"card\"><div class=\"label\">Findings</div><div class=\"big\">{}</div>\
         <div class=\"sub\"><span class=\"sev-error\">{} error</span> · <span class=\"sev-warning\">{} warning</span> · \
         <span class=\"sev-info\">{} info</span></div></div>",
        figure("findings.total", &s.findings.total.to_string()),
        figure("findings.by_severity.error", &sev("error")),
        figure("findings.by_severity.warning", &sev("warning")),
        figure("findings.by_severity.info", &sev("info")),
    );
    let read: u64 = s.inputs.iter().map(|i| i.rows_read).sum();
    let _ = write!(
        h,
        "<div class=\"card\"><div class=\"label\">Rows rejected at input</div><div class=\"big\">{}</div>\
         <div class=\"sub\">of {} rows read</div></div>",
        figure("rejects.rows", &d.rejects.total.to_string()),
        escape(&group(&read.to_string()))
    );
    match &s.baseline {
        Some(b) => {
            let _ = write!(
                h,
                "<div class=\"card\"><div class=\"label\">New errors since the baseline</div><div class=\"big\">{}</div>\
                 <div class=\"sub\">{} new · {} persisting · {} resolved</div></div>",
                figure("baseline.new_errors", &b.new_errors.to_string()),
                figure("baseline.new", &b.new.to_string()),
                figure("baseline.persisting", &b.persisting.to_string()),
                figure("baseline.resolved", &b.resolved.to_string())
            );
        }
        None => h.push_str(
            "<div class=\"card\"><div class=\"label\">Since the baseline</div><div class=\"big muted\">—</div>\
             <div class=\"sub\">no baseline (run with <code>--baseline</code>)</div></div>",
        ),
    }
    h.push_str("</div>\n<div class=\"two\">");
    inputs(h, s);
    totals(h, s);
    h.push_str("</div></section>\n");
}

/// The input files: rows read, accepted, rejected.
fn inputs(h: &mut String, s: &Summary) {
    h.push_str(
        "<div><h3>Inputs</h3><table><thead><tr><th>export</th><th>path</th><th class=\"num\">read</th>\
         <th class=\"num\">accepted</th><th class=\"num\">rejected</th></tr></thead><tbody>",
    );
    for i in &s.inputs {
        let key = |f: &str| format!("inputs.{}.{f}", i.file);
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"mono wrap\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&i.file),
            escape(&clip(&i.path)),
            figure(&key("rows_read"), &i.rows_read.to_string()),
            figure(&key("accepted"), &i.accepted.to_string()),
            figure(&key("rejected"), &i.rejected.to_string())
        );
    }
    h.push_str("</tbody></table></div>");
}

/// Expected against recorded refunds per currency (summary.json's
/// refund_totals) and their difference.
fn totals(h: &mut String, s: &Summary) {
    h.push_str("<div><h3>Refunds of completed unsubscriptions</h3>");
    if s.refund_totals.is_empty() {
        h.push_str("<p class=\"note\">No completed unsubscription with a known order.</p></div>");
        return;
    }
    h.push_str(
        "<table><thead><tr><th>currency</th><th class=\"num\">expected</th><th class=\"num\">recorded</th>\
         <th class=\"num\">recorded − expected</th></tr></thead><tbody>",
    );
    for (c, t) in &s.refund_totals {
        let diff = parse(&t.recorded_refunds)
            .zip(parse(&t.expected_refunds))
            .and_then(|(r, e)| r.checked_sub(e));
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>{}</tr>",
            escape(c),
            figure(&format!("refund_totals.{c}.expected_refunds"), &t.expected_refunds),
            figure(&format!("refund_totals.{c}.recorded_refunds"), &t.recorded_refunds),
            diff.map(diff_cell).unwrap_or_else(|| "<td></td>".to_string())
        );
    }
    h.push_str("</tbody></table></div>");
}

/// A difference cell, marked when not zero.
fn diff_cell(v: Decimal) -> String {
    let v = data::unsigned_zero(v);
    let class = if v.is_zero() { "num" } else { "num diff" };
    format!("<td class=\"{class}\">{}</td>", escape(&group(&v.to_string())))
}

/// A table of a listing's rows (every cell escaped and clipped).
fn listing(h: &mut String, l: &Listing, numeric: &[&str]) {
    h.push_str("<table><thead><tr>");
    for c in &l.header {
        let class = if numeric.contains(&c.as_str()) {
            " class=\"num\""
        } else {
            ""
        };
        let _ = write!(h, "<th{class}>{}</th>", escape(c));
    }
    h.push_str("</tr></thead><tbody>");
    for row in &l.rows {
        h.push_str("<tr>");
        for (c, v) in l.header.iter().zip(row) {
            let class = match c.as_str() {
                c if numeric.contains(&c) => "num",
                "severity" => match v.as_str() {
                    "error" => "sev-error",
                    "warning" => "sev-warning",
                    _ => "sev-info",
                },
                "message" | "reason" | "value" => "wrap",
                _ => "mono",
            };
            let _ = write!(h, "<td class=\"{class}\">{}</td>", escape(&clip(v)));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
}

/// "first 20 of 1,234" under a listing's heading.
fn first_of(l: &Listing) -> String {
    if l.rows.len() as u64 == l.total {
        format!("all {}", group(&l.total.to_string()))
    } else {
        format!("first {} of {}", l.rows.len(), group(&l.total.to_string()))
    }
}

/// New and resolved findings since `--baseline`, or how to get them.
fn baseline(h: &mut String, s: &Summary, d: &Data) {
    h.push_str("<section id=\"baseline\"><h2>Since the baseline</h2>");
    let Some(b) = &s.baseline else {
        h.push_str(
            "<p class=\"note\">No baseline. Run with <code>--baseline DIR</code>, DIR being an earlier run's reports \
             folder, to see which findings are new, which persist and which were resolved since.</p></section>\n",
        );
        return;
    };
    let _ = write!(
        h,
        "<p class=\"lead\">{}</p><p class=\"meta\">baseline {} · as of {}</p>",
        escape(&b.headline),
        escape(&clip(&b.path)),
        escape(&b.as_of)
    );
    match &d.status {
        Some(st) if st.new_rows.total > 0 => {
            let _ = write!(
                h,
                "<h3>New findings <span class=\"muted\">({}, errors first)</span></h3>",
                first_of(&st.new_rows)
            );
            listing(h, &st.new_rows, &["expected", "recorded"]);
        }
        Some(_) => h.push_str("<p class=\"note\">No new findings.</p>"),
        None => h.push_str("<p class=\"note\">discrepancies.csv has no status column.</p>"),
    }
    match &d.resolved {
        Some(r) if r.total > 0 => {
            let _ = write!(
                h,
                "<h3>Resolved findings <span class=\"muted\">({})</span></h3>",
                first_of(r)
            );
            listing(h, r, &[]);
        }
        Some(_) => h.push_str("<p class=\"note\">No finding of the baseline was resolved.</p>"),
        None => h.push_str("<p class=\"note\">No resolved.csv in this folder.</p>"),
    }
    h.push_str("</section>\n");
}

/// One chart and one table per currency: refunds per billing month.
fn months(h: &mut String, s: &Summary, d: &Data) {
    h.push_str(
        "<section id=\"months\"><h2>Refunds per billing month</h2><p class=\"note\">Expected refunds by the month \
         they should be billed in, recorded refunds by the billing_cycle recorded (monthly_bill.csv). Months \
         without any refund are left out of the table.</p>",
    );
    if d.months.is_empty() {
        h.push_str("<p class=\"note\">No refunds in monthly_bill.csv.</p></section>\n");
        return;
    }
    for (currency, list) in &d.months {
        let c = escape(currency);
        let full = continuous(list);
        let shown = &full[full.len().saturating_sub(chart::MAX_MONTHS)..];
        let _ = write!(h, "<h3>{c}</h3><div class=\"currency\"><div>");
        h.push_str(&chart::svg(shown, currency));
        if shown.len() < full.len() {
            let _ = write!(
                h,
                "<p class=\"note\">The chart shows the latest {} of {} months; the table lists every month with a refund.</p>",
                shown.len(),
                full.len()
            );
        }
        h.push_str("</div><div>");
        h.push_str(
            "<table class=\"compact\"><thead><tr><th>billing month</th><th class=\"num\">expected</th>\
             <th class=\"num\">recorded</th><th class=\"num\">recorded − expected</th></tr></thead><tbody>",
        );
        let (mut e, mut r) = (Some(Decimal::ZERO), Some(Decimal::ZERO));
        for m in list {
            e = e.and_then(|t| t.checked_add(m.expected));
            r = r.and_then(|t| t.checked_add(m.recorded));
            let _ = write!(
                h,
                "<tr><td class=\"mono\">{}</td>{}{}{}</tr>",
                escape(&m.month),
                amount(m.expected),
                amount(m.recorded),
                m.recorded.checked_sub(m.expected).map(diff_cell).unwrap_or_default()
            );
        }
        if let (Some(e), Some(r)) = (e, r) {
            let _ = write!(
                h,
                "</tbody><tfoot><tr><th>total</th><td class=\"num\">{}</td><td class=\"num\">{}</td>{}</tr></tfoot></table>",
                figure(&format!("monthly.{currency}.expected_refunds"), &data::unsigned_zero(e).to_string()),
                figure(&format!("monthly.{currency}.recorded_refunds"), &data::unsigned_zero(r).to_string()),
                r.checked_sub(e).map(diff_cell).unwrap_or_default()
            );
            let headline = s.refund_totals.get(currency).and_then(|t| parse(&t.recorded_refunds));
            if headline.is_some_and(|t| t != r) {
                h.push_str(
                    "<p class=\"note\">The recorded total here includes the refunds of ACCOUNT_MISMATCH \
                     unsubscriptions, which the headline's refund totals leave out.</p>",
                );
            }
        } else {
            h.push_str("</tbody></table>");
        }
        h.push_str("</div></div>");
    }
    h.push_str("</section>\n");
}

/// The months from first to last with the ones in between (at zero), when
/// every month is a plain `YYYY-MM` and the span is at most 50 years;
/// otherwise the months as they are.
fn continuous(months: &[MonthRefunds]) -> Vec<MonthRefunds> {
    let index = |m: &str| Month::parse(m).map(|m| i64::from(m.0));
    let idx: Option<Vec<i64>> = months.iter().map(|m| index(&m.month)).collect();
    let Some(idx) = idx.filter(|i| i.windows(2).all(|w| w[0] < w[1])) else {
        return months.to_vec();
    };
    let (Some(first), Some(last)) = (idx.first(), idx.last()) else {
        return Vec::new();
    };
    if last - first > 600 {
        return months.to_vec();
    }
    let mut out = Vec::new();
    let mut k = 0;
    for i in *first..=*last {
        if idx.get(k) == Some(&i) {
            out.push(months[k].clone());
            k += 1;
        } else {
            out.push(MonthRefunds {
                month: Month(i as i32).to_string(),
                ..MonthRefunds::default()
            });
        }
    }
    out
}

/// What the run could not check, or checked under a mapping's constants
/// (summary.json's coverage); nothing when everything was checked.
fn coverage(h: &mut String, s: &Summary) {
    use crate::mapping::coverage::Status;
    // In docs/rules.md's order (the JSON object sorts R10 before R2).
    let rows: Vec<(&str, &Status)> = crate::rules::declared::RULES
        .iter()
        .filter_map(|r| s.coverage.rules.get(r.id).map(|st| (r.id, st)))
        .filter(|(_, st)| **st != Status::Checked)
        .collect();
    if rows.is_empty() {
        return;
    }
    h.push_str(
        "<section id=\"coverage\"><h2>Coverage</h2><p class=\"note\">What these exports let refund-recon check. \
         A code not checked has no count: its findings were not looked for, not found absent.</p>\
         <table><thead><tr><th>rule</th><th>status</th><th>columns</th><th>codes not checked</th></tr></thead><tbody>",
    );
    for (rule, st) in rows {
        let columns = match st {
            Status::Assumed { columns } | Status::NotChecked { columns } => columns.join(", "),
            Status::Checked => String::new(),
        };
        let codes: Vec<&str> = crate::rules::declared::rule(rule)
            .into_iter()
            .flat_map(|r| r.codes.iter())
            .map(|c| c.as_str())
            .filter(|c| s.coverage.codes.get(c).is_some_and(|st| !st.is_checked()))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"mono wrap\">{}</td><td class=\"mono wrap\">{}</td></tr>",
            escape(rule),
            st.word(),
            escape(&columns),
            escape(&codes.join(", "))
        );
    }
    h.push_str("</tbody></table></section>\n");
}

/// Findings per code, as bars (with new/persisting after a baseline).
fn codes(h: &mut String, s: &Summary, d: &Data) {
    h.push_str("<section id=\"codes\"><h2>Findings by code</h2>");
    let mut list: Vec<(&str, u64)> = s
        .findings
        .by_code
        .iter()
        .filter_map(|(c, n)| n.filter(|&n| n > 0).map(|n| (*c, n)))
        .collect();
    if list.is_empty() {
        h.push_str("<p class=\"note\">No findings.</p></section>\n");
        return;
    }
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let max = list.first().map(|x| x.1).unwrap_or(1).max(1);
    let status = d.status.as_ref();
    let _ = write!(
        h,
        "<table class=\"codes\"><thead><tr><th>code</th><th>rule</th><th>severity</th><th class=\"num\">findings</th>{}<th class=\"barcell\"></th></tr></thead><tbody>",
        if status.is_some() {
            "<th class=\"num\">new</th><th class=\"num\">persisting</th>"
        } else {
            ""
        }
    );
    for (code, n) in list {
        let known = Code::parse(code);
        let sev = known.map(|c| c.severity().as_str()).unwrap_or("");
        let _ = write!(
            h,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td class=\"sev-{sev}\">{sev}</td><td class=\"num\">{}</td>",
            escape(code),
            escape(known.map(|c| c.rule()).unwrap_or("")),
            figure(&format!("findings.by_code.{code}"), &n.to_string())
        );
        if let Some(st) = status {
            let (new, old) = st.by_code.get(code).copied().unwrap_or_default();
            let _ = write!(h, "{}{}", num(&new.to_string()), num(&old.to_string()));
        }
        let pct = (n as f64 / max as f64 * 100.0).max(0.5);
        let _ = write!(
            h,
            "<td class=\"barcell\"><div class=\"hbar sev-bg-{sev}\" style=\"width:{pct:.1}%\"></div></td></tr>"
        );
    }
    h.push_str("</tbody></table></section>\n");
}

/// The accounts with the largest refund difference, per currency.
fn largest(h: &mut String, d: &Data) {
    let _ = write!(
        h,
        "<section id=\"largest\"><h2>Largest refund differences</h2><p class=\"note\">The {} accounts per currency \
         with the largest absolute Σ refund_difference (recorded − expected) over their billing months in \
         monthly_bill.csv; ties by account id.</p>",
        data::TOP
    );
    if d.top.is_empty() {
        h.push_str("<p class=\"note\">No account has a refund difference.</p></section>\n");
        return;
    }
    h.push_str("<div class=\"grid2\">");
    for (currency, list) in &d.top {
        let _ = write!(
            h,
            "<div><h3>{}</h3><table><thead><tr><th class=\"num\">#</th><th>account</th><th class=\"num\">expected</th>\
             <th class=\"num\">recorded</th><th class=\"num\">recorded − expected</th></tr></thead><tbody>",
            escape(currency)
        );
        for (i, a) in list.iter().enumerate() {
            let _ = write!(
                h,
                "<tr><td class=\"num\">{}</td><td class=\"mono\">{}</td>{}{}{}</tr>",
                i + 1,
                escape(&clip(&a.account)),
                amount(a.expected),
                amount(a.recorded),
                diff_cell(a.difference)
            );
        }
        h.push_str("</tbody></table></div>");
    }
    h.push_str("</div></section>\n");
}

/// quota_usage.csv per year, and the over-quota rows.
fn quota(h: &mut String, d: &Data) {
    let q = &d.quota;
    h.push_str("<section id=\"quota\"><h2>Unconditional refund quota</h2>");
    if q.years.is_empty() {
        h.push_str("<p class=\"note\">No account used the quota (quota_usage.csv is empty).</p></section>\n");
        return;
    }
    h.push_str(
        "<table><thead><tr><th>year</th><th class=\"num\">accounts</th><th class=\"num\">granted</th>\
         <th class=\"num\">denied by quota</th><th class=\"num\">recorded unconditional</th>\
         <th class=\"num\">accounts over quota</th></tr></thead><tbody>",
    );
    for (year, y) in &q.years {
        let _ = write!(
            h,
            "<tr><td class=\"mono\">{}</td>{}{}{}{}{}</tr>",
            escape(year),
            num(&y.accounts.to_string()),
            num(&y.granted.to_string()),
            num(&y.denied_by_quota.to_string()),
            num(&y.recorded_unconditional.to_string()),
            num(&y.over_quota.to_string())
        );
    }
    h.push_str("</tbody></table>");
    if q.over_rows.total == 0 {
        h.push_str("<p class=\"note\">No account recorded more unconditional refunds than allowed.</p></section>\n");
        return;
    }
    let _ = write!(
        h,
        "<h3>Over quota <span class=\"muted\">(accounts: {}; rows: {})</span></h3>",
        escape(&group(&q.accounts_over.to_string())),
        first_of(&q.over_rows)
    );
    listing(
        h,
        &q.over_rows,
        &["allowed", "granted", "denied_by_quota", "recorded_unconditional"],
    );
    h.push_str("</section>\n");
}

/// The rejected input rows: per file, then the first ones.
fn rejects(h: &mut String, s: &Summary, d: &Data) {
    h.push_str("<section id=\"rejects\"><h2>Rejected input rows</h2>");
    if d.rejects.total == 0 {
        h.push_str("<p class=\"note\">No input row was rejected.</p></section>\n");
        return;
    }
    let per_file: Vec<String> = s
        .inputs
        .iter()
        .map(|i| format!("{} {}", escape(&i.file), escape(&group(&i.rejected.to_string()))))
        .collect();
    let _ = write!(
        h,
        "<p class=\"note\">{} rows rejected ({}); rejects.csv says why. Rows shown: {}.</p>",
        escape(&group(&d.rejects.total.to_string())),
        per_file.join(", "),
        first_of(&d.rejects)
    );
    listing(h, &d.rejects, &["line"]);
    h.push_str("</section>\n");
}

/// The page's style sheet: system fonts, laptop width, print rules.
const STYLE: &str = r#"
:root{--ink:#1f2933;--muted:#616e7c;--line:#dde2e8;--bg:#f4f6f8;--exp:#3c5a99;--rec:#e08a2b;--err:#b42318;--warn:#b54708;--info:#2a6f8f}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans",sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 28px 40px}
header h1{margin:0 0 4px;font-size:24px;font-weight:650}
h2{font-size:17px;margin:0 0 10px;font-weight:650}
h3{font-size:14px;margin:16px 0 6px;font-weight:650}
.meta{margin:0;color:var(--muted)}
.lead{font-size:16px;font-weight:600;margin:0 0 4px}
.note{color:var(--muted);margin:4px 0 8px}
.muted{color:var(--muted);font-weight:400}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin-top:16px}
.cards{display:grid;grid-template-columns:repeat(3,1fr);gap:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 14px}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .big{font-size:30px;font-weight:650;font-variant-numeric:tabular-nums}
.card .sub{color:var(--muted)}
.two{display:grid;grid-template-columns:minmax(0,6fr) minmax(0,5fr);gap:24px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;white-space:nowrap}
tfoot th,tfoot td{border-top:2px solid var(--line);font-weight:600;color:var(--ink)}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12px}
.wrap{overflow-wrap:anywhere;max-width:460px}
.diff{color:var(--err)}
.sev-error{color:var(--err)}.sev-warning{color:var(--warn)}.sev-info{color:var(--info)}
.barcell{width:38%}
.hbar{height:11px;border-radius:2px;background:var(--exp);-webkit-print-color-adjust:exact;print-color-adjust:exact}
.sev-bg-error{background:var(--err)}.sev-bg-warning{background:var(--warn)}.sev-bg-info{background:var(--info)}
.grid2{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:8px 24px}
table.compact td,table.compact th{padding:2px 8px}
.currency{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:20px;align-items:start}
.chart{display:block;width:100%;height:auto;margin:4px 0 8px}
.chart text{fill:var(--muted);font-size:14px;font-family:inherit}
.chart .legend{fill:var(--ink)}
.chart .grid{stroke:#e6e9ed;stroke-width:1}
.chart .axis{stroke:#9aa5b1;stroke-width:1}
.bar-exp{fill:var(--exp)}.bar-rec{fill:var(--rec)}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;background:#eef1f4;padding:0 3px;border-radius:3px}
footer{color:var(--muted);font-size:12px;margin-top:16px}
@page{size:A4;margin:14mm}
@media print{
body{background:#fff;font-size:11px}
main{max-width:none;padding:0}
section{border:none;border-radius:0;padding:0;margin-top:0;break-before:page}
section.first,section#baseline{break-before:auto;margin-top:12px}
.cards{grid-template-columns:repeat(3,1fr)}
.two,.currency,.grid2{grid-template-columns:minmax(0,1fr)}
.card{border-color:#999}
th{white-space:normal}
h2,h3{break-after:avoid}
.wrap{max-width:none}
tr,.chart,.card{break-inside:avoid}
thead{display:table-header-group}
code{background:none}
}
"#;

#[cfg(test)]
mod tests;
