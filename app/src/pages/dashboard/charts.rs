//! Charts drawn as SVG on the server: readable without JavaScript, each with a title and a
//! description for screen readers and its numbers in a table beside it. Every bar carries
//! its value (`data-value`, and a `<title>` the browser shows on hover).

use leptos::prelude::*;

/// Colours of the series, in order (Tailwind's 600s, distinct for common colour blindness).
const COLOURS: [&str; 6] = [
    "#2563eb", "#d97706", "#059669", "#9333ea", "#dc2626", "#0891b2",
];

/// A stacked bar chart: one bar per label, one segment per series.
#[derive(Debug, Clone, Default)]
pub struct Bars {
    /// The chart's id, unique on the page (its title and description hang off it).
    pub id: String,
    pub title: String,
    /// What a screen reader hears instead of the picture.
    pub description: String,
    /// One per bar: `2026-12-01`, `14:00`.
    pub labels: Vec<String>,
    pub series: Vec<String>,
    /// `values[bar][series]`.
    pub values: Vec<Vec<i64>>,
}

/// A round number at or above `n` (1, 2 or 5 times a power of ten), and its tick step.
fn axis_top(n: i64) -> (i64, i64) {
    let n = n.max(1);
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            let s = step * m;
            if s * 4 >= n {
                return ((n + s - 1) / s * s, s);
            }
        }
        step *= 10;
    }
}

/// `1234567` as `1,234,567`.
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 8.0;

#[component]
pub fn StackedBars(chart: Bars) -> AnyView {
    let Bars {
        id,
        title,
        description,
        labels,
        series,
        values,
    } = chart;
    let totals: Vec<i64> = values.iter().map(|v| v.iter().sum()).collect();
    let (top, step) = axis_top(totals.iter().copied().max().unwrap_or(0));
    let plot_h = HEIGHT - TOP - BOTTOM;
    let band = (WIDTH - LEFT) / labels.len().max(1) as f64;
    let y = move |v: i64| TOP + plot_h - plot_h * v as f64 / top as f64;
    let ticks: Vec<i64> = (0..=top / step).map(|i| i * step).collect();
    let label_every = labels.len().div_ceil(8).max(1);
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let labelled_by = format!("{title_id} {desc_id}");
    let mut segments = Vec::new();
    for (b, row) in values.iter().enumerate() {
        let mut base = 0;
        for (s, v) in row.iter().enumerate() {
            if *v == 0 {
                continue;
            }
            let (y0, y1) = (y(base), y(base + v));
            base += v;
            segments.push(view! {
                <rect
                    x=format!("{:.1}", LEFT + band * b as f64 + band * 0.15)
                    y=format!("{y1:.1}")
                    width=format!("{:.1}", band * 0.7)
                    height=format!("{:.1}", (y0 - y1).max(0.5))
                    fill=COLOURS[s % COLOURS.len()]
                    data-label=labels[b].clone()
                    data-series=series[s].clone()
                    data-value=v.to_string()
                >
                    <title>{format!("{} · {}: {}", labels[b], series[s], grouped(*v))}</title>
                </rect>
            });
        }
    }
    let legend = series
        .iter()
        .enumerate()
        .map(|(s, name)| {
            view! {
                <li class="flex items-center gap-1">
                    <span class="inline-block h-3 w-3 rounded-sm" style=format!("background:{}", COLOURS[s % COLOURS.len()])></span>
                    {name.clone()}
                </li>
            }
        })
        .collect_view();
    view! {
        <figure class="mt-4 rounded-xl bg-white p-4 ring-1 ring-zinc-200" data-chart=id.clone()>
            <figcaption class="text-sm font-medium">{title.clone()}</figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") class="mt-2 w-full" role="img" aria-labelledby=labelled_by>
                <title id=title_id>{title.clone()}</title>
                <desc id=desc_id>{description}</desc>
                {ticks.into_iter().map(|t| view! {
                    <line x1=LEFT x2=WIDTH y1=format!("{:.1}", y(t)) y2=format!("{:.1}", y(t)) stroke="#e4e4e7"/>
                    <text x=LEFT - 6.0 y=format!("{:.1}", y(t) + 4.0) text-anchor="end" font-size="11" fill="#52525b">{grouped(t)}</text>
                }).collect_view()}
                {segments}
                {labels.iter().enumerate().filter(|(i, _)| i % label_every == 0).map(|(i, l)| view! {
                    <text x=format!("{:.1}", LEFT + band * (i as f64 + 0.5)) y=HEIGHT - 6.0 text-anchor="middle" font-size="11" fill="#52525b">{l.clone()}</text>
                }).collect_view()}
            </svg>
            <ul class="mt-2 flex flex-wrap gap-4 text-xs text-zinc-700">{legend}</ul>
            <details class="mt-2 text-sm">
                <summary class="cursor-pointer text-zinc-700">"The numbers"</summary>
                <div class="mt-2 overflow-x-auto" tabindex="0" role="region" aria-label=format!("{title}: the numbers")>
                    <table class="min-w-full text-left text-xs">
                        <thead><tr>
                            <th scope="col" class="px-2 py-1">""</th>
                            {series.iter().map(|s| view! { <th scope="col" class="px-2 py-1">{s.clone()}</th> }).collect_view()}
                            <th scope="col" class="px-2 py-1">"Total"</th>
                        </tr></thead>
                        <tbody>
                            {labels.iter().zip(&values).zip(&totals).map(|((l, row), total)| view! {
                                <tr class="border-t border-zinc-100">
                                    <th scope="row" class="px-2 py-1 font-normal">{l.clone()}</th>
                                    {row.iter().map(|v| view! { <td class="px-2 py-1">{grouped(*v)}</td> }).collect_view()}
                                    <td class="px-2 py-1">{grouped(*total)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </details>
        </figure>
    }
    .into_any()
}

/// One row of a horizontal bar chart: a label, a count, and the text shown after it.
#[derive(Debug, Clone)]
pub struct Level {
    pub label: String,
    pub value: i64,
    /// Shown after the bar: `1,234 (56.7%)`.
    pub text: String,
}

/// Horizontal bars, one per level, scaled to the largest (the funnel, the tries).
#[component]
pub fn Levels(id: String, title: String, description: String, levels: Vec<Level>) -> AnyView {
    let most = levels.iter().map(|l| l.value).max().unwrap_or(0).max(1);
    let row_h = 28.0;
    let height = row_h * levels.len() as f64 + 4.0;
    let (label_w, bar_w) = (170.0, 380.0);
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let labelled_by = format!("{title_id} {desc_id}");
    view! {
        <figure class="mt-4 rounded-xl bg-white p-4 ring-1 ring-zinc-200" data-chart=id>
            <figcaption class="text-sm font-medium">{title.clone()}</figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {height}") class="mt-2 w-full" role="img" aria-labelledby=labelled_by>
                <title id=title_id>{title}</title>
                <desc id=desc_id>{description}</desc>
                {levels.into_iter().enumerate().map(|(i, l)| {
                    let y = row_h * i as f64 + 2.0;
                    let w = (bar_w * l.value as f64 / most as f64).max(if l.value > 0 { 1.0 } else { 0.0 });
                    view! {
                        <text x=label_w - 8.0 y=y + 17.0 text-anchor="end" font-size="12" fill="#3f3f46">{l.label.clone()}</text>
                        <rect x=label_w y=y + 4.0 width=format!("{w:.1}") height=row_h - 8.0 rx="3" fill=COLOURS[0] data-label=l.label.clone() data-value=l.value.to_string()>
                            <title>{format!("{}: {}", l.label, l.text)}</title>
                        </rect>
                        <text x=label_w + w + 8.0 y=y + 17.0 font-size="12" fill="#3f3f46">{l.text}</text>
                    }
                }).collect_view()}
            </svg>
        </figure>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(axis_top(0), (1, 1));
        assert_eq!(axis_top(7), (8, 2));
        assert_eq!(axis_top(37), (40, 10));
        assert_eq!(axis_top(1234), (1500, 500));
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(-1_234_567), "-1,234,567");
    }
}
