//! The dashboard's charts, drawn on the server by `plotters` into SVG that is
//! placed in the page as it is: no script, no `style=` attribute (plotters'
//! SVG backend writes presentation attributes only), so the strict CSP holds.
//! Nothing is told by colour alone: bars carry their value and their name,
//! the two lines differ in dash and marker and are named at their end. Each
//! chart has a `<title>` and `<desc>`; the page adds the numbers as a table.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::AppError;
use crate::services::dashboard::{Bar, Hour};

const FONT: &str = "sans-serif";
/// Dark enough on white for text and lines (WCAG AA).
const INK: RGBColor = RGBColor(33, 37, 41);
const SUCCESS: RGBColor = RGBColor(25, 100, 60);
const FAILURE: RGBColor = RGBColor(170, 40, 30);
const BAR: RGBColor = RGBColor(45, 90, 150);

/// What a chart is, in words: the SVG's `<title>` and `<desc>`.
pub struct Words<'a> {
    /// A prefix for the ids that tie the title and description to the SVG.
    pub id: &'a str,
    pub title: &'a str,
    pub desc: String,
}

fn failed<E: std::fmt::Debug>(e: E) -> AppError {
    AppError::Internal(format!("drawing a chart failed: {e:?}"))
}

/// Bars with their value above them and their name (`name(bar)`) under them.
pub fn bars(words: &Words<'_>, bars: &[Bar], name: &dyn Fn(&Bar) -> String) -> Result<String, AppError> {
    // One drawing width for every card, so their text has one size once the
    // page scales the SVG to its card (about 480 px); more bars than fit at
    // 60 px each widen it. A name longer than its bar is cut (the table
    // under the chart has it whole): names are about 12 px (plotters writes
    // font-size as size / 1.24), some 7 px a character.
    let count = u32::try_from(bars.len()).unwrap_or(u32::MAX).max(1);
    let width = count.saturating_mul(60).saturating_add(72).clamp(480, 900);
    let fits = usize::try_from((width - 72) / count / 7).unwrap_or(1).max(1);
    let names: Vec<String> = bars.iter().map(|b| short(&name(b), fits)).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let top = bars.iter().map(|b| b.count).max().unwrap_or(0).max(1);
        // room above the tallest bar for its value
        let y_max = top + top / 6 + 1;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(48)
            // a segment per bar: the range's ends are both segments
            .build_cartesian_2d((0..count - 1).into_segmented(), 0..y_max)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(INK.mix(0.15))
            .light_line_style(TRANSPARENT)
            .axis_style(INK)
            .label_style((FONT, 15).into_font().color(&INK))
            .x_labels(bars.len().max(1))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| names.get(i))
                    .cloned()
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .y_label_formatter(&|v| v.to_string())
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(bars.iter().zip(0..).map(|(b, i)| {
                let mut r = Rectangle::new(
                    [(SegmentValue::Exact(i), 0), (SegmentValue::Exact(i + 1), b.count)],
                    BAR.filled(),
                );
                r.set_margin(0, 0, 10, 10);
                r
            }))
            .map_err(failed)?;
        let value_style = TextStyle::from((FONT, 15).into_font())
            .color(&INK)
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series(bars.iter().zip(0..).map(|(b, i)| {
                Text::new(
                    b.count.to_string(),
                    (SegmentValue::CenterOf(i), b.count),
                    value_style.clone(),
                )
            }))
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(finish(svg, words))
}

/// Sign-ins (solid, circles) and failures (dashed, triangles) per hour.
pub fn sign_ins(words: &Words<'_>, hours: &[Hour], hour_label: &dyn Fn(i64) -> String) -> Result<String, AppError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let last = i64::try_from(hours.len()).unwrap_or(0).max(1);
        let top = hours
            .iter()
            .map(|h| h.successes.max(h.failures))
            .max()
            .unwrap_or(0)
            .max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(90)
            .x_label_area_size(34)
            .y_label_area_size(48)
            .build_cartesian_2d(0..last, 0..top + top / 8 + 1)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .bold_line_style(INK.mix(0.15))
            .light_line_style(TRANSPARENT)
            .axis_style(INK)
            .label_style((FONT, 13).into_font().color(&INK))
            .x_labels(8)
            .x_label_formatter(&|i| hour_label(*i))
            .y_label_formatter(&|v| v.to_string())
            .draw()
            .map_err(failed)?;
        let at = |i: usize| i64::try_from(i).unwrap_or(0);
        let successes: Vec<(i64, i64)> = hours.iter().enumerate().map(|(i, h)| (at(i), h.successes)).collect();
        let failures: Vec<(i64, i64)> = hours.iter().enumerate().map(|(i, h)| (at(i), h.failures)).collect();
        chart
            .draw_series(LineSeries::new(successes.iter().copied(), SUCCESS.stroke_width(2)))
            .map_err(failed)?;
        chart
            .draw_series(DashedLineSeries::new(
                failures.iter().copied(),
                6,
                4,
                FAILURE.stroke_width(2),
            ))
            .map_err(failed)?;
        // markers only where something happened: 168 markers on a zero line tell nothing
        chart
            .draw_series(
                successes
                    .iter()
                    .filter(|p| p.1 > 0)
                    .map(|p| Circle::new(*p, 3, SUCCESS.filled())),
            )
            .map_err(failed)?;
        chart
            .draw_series(
                failures
                    .iter()
                    .filter(|p| p.1 > 0)
                    .map(|p| TriangleMarker::new(*p, 5, FAILURE.filled())),
            )
            .map_err(failed)?;
        // each line named at its end, with its total: no legend to decode
        let end = last - 1;
        let total = |v: &[(i64, i64)]| v.iter().map(|p| p.1).sum::<i64>();
        let name_style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        let s_end = successes.last().map_or(0, |p| p.1);
        let f_end = failures.last().map_or(0, |p| p.1);
        // keep the two names apart when the lines end close together
        let gap = (top / 10).max(1);
        let (s_y, f_y) = if (s_end - f_end).abs() < gap {
            (s_end.max(f_end) + gap, s_end.min(f_end))
        } else {
            (s_end, f_end)
        };
        chart
            .draw_series([
                Text::new(
                    format!(" ● Sign-ins {}", total(&successes)),
                    (end, s_y),
                    name_style.color(&SUCCESS),
                ),
                Text::new(
                    format!(" ▲ Failures {}", total(&failures)),
                    (end, f_y),
                    name_style.color(&FAILURE),
                ),
            ])
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(finish(svg, words))
}

/// A name of at most `max` characters, cut with "…".
fn short(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let cut: String = label.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// Name the SVG for assistive technology and let CSS size it: plotters writes
/// `<svg width height viewBox xmlns>`; the title and description go first
/// inside it.
fn finish(svg: String, words: &Words<'_>) -> String {
    let id = words.id;
    let open_end = svg.find('>').map_or(0, |i| i + 1);
    let (open, rest) = svg.split_at(open_end);
    let open = open.replacen(
        "<svg ",
        &format!("<svg class=\"chart\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" "),
        1,
    );
    format!(
        "{open}<title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>{rest}",
        super::escape(words.title),
        super::escape(&words.desc)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of every `<text>` element, trimmed.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim().to_owned()))
            .collect()
    }

    fn bar(label: &str, count: i64) -> Bar {
        Bar {
            label: label.into(),
            count,
            href: String::new(),
        }
    }

    #[test]
    fn bars_are_named_valued_and_free_of_style_and_script() {
        let words = Words {
            id: "t",
            title: "Users <by> status",
            desc: "a & b".into(),
        };
        let svg = bars(
            &words,
            &[bar("Active", 42), bar("Locked", 7), bar("<b>x</b>", 0)],
            &|b| b.label.clone(),
        )
        .unwrap();
        assert!(svg.starts_with("<svg class=\"chart\" role=\"img\" aria-labelledby=\"t-title t-desc\" "));
        assert!(svg.contains("<title id=\"t-title\">Users &lt;by&gt; status</title>"));
        assert!(svg.contains("<desc id=\"t-desc\">a &amp; b</desc>"));
        let texts = texts(&svg);
        for t in ["42", "7", "0", "Active", "Locked"] {
            assert!(texts.iter().any(|x| x == t), "{t} in {texts:?}");
        }
        // one bar per value, a zero too
        assert_eq!(svg.matches("fill=\"#2D5A96\"").count(), 3, "{svg}");
        assert!(svg.contains("&lt;b&gt;x&lt;/b&gt;"), "names are escaped");
        assert!(!svg.contains("style="), "{svg}");
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn sign_ins_name_both_lines_with_totals() {
        let hours: Vec<Hour> = (0..24)
            .map(|i| Hour {
                start: i,
                successes: i % 3,
                failures: i % 2,
                lockouts: 0,
            })
            .collect();
        let words = Words {
            id: "s",
            title: "Sign-ins",
            desc: String::new(),
        };
        let svg = sign_ins(&words, &hours, &|i| format!("h{i}")).unwrap();
        let texts = texts(&svg);
        assert!(texts.iter().any(|t| t == "● Sign-ins 24"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "▲ Failures 12"), "{texts:?}");
        let strokes = |c: RGBColor| {
            svg.matches(&format!(
                "<polyline fill=\"none\" opacity=\"1\" stroke=\"#{:02X}{:02X}{:02X}\"",
                c.0, c.1, c.2
            ))
            .count()
        };
        assert_eq!(strokes(SUCCESS), 1, "one solid line");
        assert!(strokes(FAILURE) > 5, "a dashed line is many segments");
        assert!(!svg.contains("style="));
    }
}
