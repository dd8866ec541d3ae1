//! The dashboard's chart of the last twelve months, drawn as SVG for the statistics page.

use crate::dashboard::MonthRow;

/// The months as grouped bars (views, downloads, launches), drawn as SVG with a title, a
/// description and a legend; labels are digits and fixed words only.
pub fn chart(months: &[MonthRow], words: &[&str; 3]) -> String {
    let (w, h, left, bottom, top) = (720.0, 260.0, 48.0, 28.0, 24.0);
    // Four gridlines at whole numbers: the axis ends at 4 × a whole step.
    let highest = months
        .iter()
        .flat_map(|m| [m.views, m.downloads, m.launches])
        .max()
        .unwrap_or(0)
        .max(1);
    let step = (highest + 3) / 4;
    let max = (step * 4) as f64;
    let plot_h = h - bottom - top;
    let slot = (w - left - 8.0) / months.len().max(1) as f64;
    let bar = slot / 4.0;
    let colours = ["#0b57a4", "#1d6b2f", "#b35c00"];
    let esc = super::web::escape_html;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-labelledby="chart-title chart-desc"><title id="chart-title">{}</title><desc id="chart-desc">{}</desc>"#,
        esc(&words.join(" / ")),
        esc(&months
            .iter()
            .map(|m| format!(
                "{}: {} {}, {} {}, {} {}",
                m.month, m.views, words[0], m.downloads, words[1], m.launches, words[2]
            ))
            .collect::<Vec<_>>()
            .join("; "))
    );
    for i in 0..=4 {
        let v = step * i;
        let y = top + plot_h - plot_h * i as f64 / 4.0;
        svg.push_str(&format!(
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#d0d0d0"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end" fill="#555">{}</text>"##,
            w - 8.0,
            left - 4.0,
            y + 3.0,
            v
        ));
    }
    for (i, m) in months.iter().enumerate() {
        let x0 = left + slot * i as f64 + bar / 2.0;
        for (j, v) in [m.views, m.downloads, m.launches].iter().enumerate() {
            let bh = plot_h * *v as f64 / max;
            svg.push_str(&format!(
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                x0 + bar * j as f64,
                top + plot_h - bh,
                bar - 1.0,
                bh,
                colours[j],
                esc(&m.month),
                esc(words[j]),
                v
            ));
        }
        svg.push_str(&format!(
            r##"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle" fill="#333">{}</text>"##,
            x0 + bar * 1.5,
            h - 10.0,
            esc(&m.month[2..])
        ));
    }
    for (j, word) in words.iter().enumerate() {
        svg.push_str(&format!(
            r##"<rect x="{}" y="6" width="10" height="10" fill="{}"/><text x="{}" y="15" font-size="11" fill="#1a1a1a">{}</text>"##,
            left + 120.0 * j as f64,
            colours[j],
            left + 14.0 + 120.0 * j as f64,
            esc(word)
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_svg_with_escaped_words() {
        let months = vec![
            MonthRow {
                month: "2026-10".into(),
                views: 10,
                downloads: 4,
                launches: 1,
            },
            MonthRow {
                month: "2026-11".into(),
                ..Default::default()
            },
        ];
        let svg = chart(&months, &["<views>", "downloads", "launches"]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;views&gt;") && !svg.contains("<views>"));
        assert_eq!(svg.matches("<rect").count(), 6 + 3);
    }
}
