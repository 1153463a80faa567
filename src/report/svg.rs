//! The report's figures as SVG, used as they are in the HTML report and the PDF: the participant
//! flow, and each theme's score distribution as a horizontal stacked bar.

use super::Report;
use crate::domain::Language;

use crate::i18n::escape as esc;

/// A colour per scale point: warm for low, grey in the middle, blue for high (colour-blind safe).
pub fn point_colour(i: usize, points: usize) -> &'static str {
    const FIVE: [&str; 5] = ["#b2182b", "#ef8a62", "#bdbdbd", "#67a9cf", "#2166ac"];
    const SEVEN: [&str; 7] = [
        "#b2182b", "#d6604d", "#f4a582", "#bdbdbd", "#92c5de", "#4393c3", "#2166ac",
    ];
    const ELEVEN: [&str; 11] = [
        "#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#bdbdbd", "#d1e5f0", "#92c5de",
        "#4393c3", "#2166ac", "#053061",
    ];
    match points {
        0..=5 => {
            FIVE[(i * 4)
                .checked_div(points.saturating_sub(1))
                .unwrap_or(0)
                .min(4)]
        }
        6..=7 => SEVEN[(i * 6) / (points - 1)],
        _ => ELEVEN[(i * 10) / (points - 1)],
    }
}

/// Dark text on the light colours, white on the dark ones.
fn text_colour(fill: &str) -> &'static str {
    const LIGHT: [&str; 8] = [
        "#bdbdbd", "#ef8a62", "#67a9cf", "#f4a582", "#92c5de", "#fddbc7", "#d1e5f0", "#d6604d",
    ];
    if LIGHT.contains(&fill) {
        "#1b1f24"
    } else {
        "#ffffff"
    }
}

/// A theme's distribution: one bar, a segment per scale point in proportion to its count.
pub fn distribution(counts: &[usize], scale_min: i32, label: &str) -> String {
    let (w, h) = (240.0, 18.0);
    let n: usize = counts.iter().sum();
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{}"><rect x="0" y="0" width="{w}" height="{h}" fill="#f3f5f8"/>"##,
        esc(label)
    );
    if n > 0 {
        let mut x = 0.0;
        for (i, c) in counts.iter().enumerate() {
            if *c == 0 {
                continue;
            }
            let width = w * *c as f64 / n as f64;
            out.push_str(&format!(
                r##"<rect x="{x:.2}" y="0" width="{width:.2}" height="{h}" fill="{}"><title>{}: {c}</title></rect>"##,
                point_colour(i, counts.len()),
                scale_min + i as i32
            ));
            if width >= 14.0 {
                let fill = text_colour(point_colour(i, counts.len()));
                out.push_str(&format!(
                    r##"<text x="{:.2}" y="13" font-family="Helvetica, Arial, sans-serif" font-size="11" text-anchor="middle" fill="{fill}">{c}</text>"##,
                    x + width / 2.0
                ));
            }
            x += width;
        }
    }
    out.push_str("</svg>");
    out
}

/// The legend of the distribution colours.
pub fn legend(points: usize, scale_min: i32, low: &str, high: &str) -> String {
    // With a viewBox the legend shrinks to a narrow phone instead of widening the page.
    let w = 60 + points * 34 + 160;
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" viewBox="0 0 {w} 20" role="img" aria-label="{} – {}">"##,
        esc(low),
        esc(high)
    );
    for i in 0..points {
        let x = i * 34;
        out.push_str(&format!(
            r##"<rect x="{x}" y="2" width="16" height="14" fill="{}"/><text x="{}" y="14" font-family="Helvetica, Arial, sans-serif" font-size="12">{}</text>"##,
            point_colour(i, points),
            x + 19,
            scale_min + i as i32
        ));
    }
    out.push_str(&format!(
        r##"<text x="{}" y="14" font-family="Helvetica, Arial, sans-serif" font-size="12">({} – {})</text></svg>"##,
        points * 34 + 4,
        esc(low),
        esc(high)
    ));
    out
}

/// The participant flow: identified → invited → accepted → responded, with the declines and
/// silences beside.
pub fn flow(r: &Report) -> String {
    let da = r.language == Language::Da;
    let t = |d: &str, e: &str| if da { d.to_string() } else { e.to_string() };
    let f = &r.flow;
    let boxes = [
        (t("Fundet", "Identified"), f.identified),
        (t("Inviteret", "Invited"), f.invited),
        (t("Takket ja", "Accepted"), f.accepted),
        (
            format!(
                "{} {}",
                t("Svarede i runde", "Responded, round"),
                r.round.number
            ),
            f.responded,
        ),
    ];
    let (bw, bh, gap) = (150.0, 56.0, 36.0);
    let width = 4.0 * bw + 3.0 * gap + 2.0;
    let height = if r.flow.waiting > 0 { 222.0 } else { 190.0 };
    let font = r##"font-family="Helvetica, Arial, sans-serif""##;
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{}">"##,
        esc(&boxes
            .iter()
            .map(|(l, n)| format!("{l}: {n}"))
            .collect::<Vec<_>>()
            .join(", "))
    );
    out.push_str(r##"<defs><marker id="arrow" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="#4a5360"/></marker></defs>"##);
    for (i, (label, n)) in boxes.iter().enumerate() {
        let x = 1.0 + i as f64 * (bw + gap);
        out.push_str(&format!(
            r##"<rect x="{x}" y="1" width="{bw}" height="{bh}" rx="6" fill="#eaf1fb" stroke="#1d4f91" stroke-width="1.5"/><text x="{}" y="24" {font} font-size="13" text-anchor="middle" fill="#1b1f24">{}</text><text x="{}" y="46" {font} font-size="18" font-weight="bold" text-anchor="middle" fill="#1b1f24">{n}</text>"##,
            x + bw / 2.0,
            esc(label),
            x + bw / 2.0
        ));
        if i > 0 {
            out.push_str(&format!(
                r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#4a5360" stroke-width="1.5" marker-end="url(#arrow)"/>"##,
                x - gap + 2.0,
                1.0 + bh / 2.0,
                x - 3.0,
                1.0 + bh / 2.0
            ));
        }
    }
    // Beside the invited box: who did not join.
    // Everyone invited appears once: on the panel, or in one of these.
    let mut side = vec![
        (t("Takket nej", "Declined"), f.declined),
        (t("Intet svar", "No reply"), f.no_reply),
        (t("Trukket sig", "Withdrawn"), f.withdrawn),
    ];
    if f.waiting > 0 {
        side.push((t("Venter på svar", "Awaiting an answer"), f.waiting));
    }
    let x = 1.0 + bw + gap;
    out.push_str(&format!(
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#4a5360" stroke-width="1.5" marker-end="url(#arrow)"/>"##,
        x + bw / 2.0,
        1.0 + bh,
        x + bw / 2.0,
        bh + 30.0
    ));
    for (i, (label, n)) in side.iter().enumerate() {
        let y = bh + 34.0 + i as f64 * 32.0;
        out.push_str(&format!(
            r##"<rect x="{x}" y="{y}" width="{bw}" height="28" rx="4" fill="#f3f5f8" stroke="#c9ced6"/><text x="{}" y="{}" {font} font-size="13" fill="#1b1f24">{}: {n}</text>"##,
            x + 10.0,
            y + 19.0,
            esc(label)
        ));
    }
    out.push_str("</svg>");
    out
}

/// The flow of items: the themes found in the interviews, then each rating round with the
/// themes rated and what changed in the codebook before it, and the verdicts of the report's
/// round.
pub fn item_flow(r: &Report) -> String {
    use crate::i18n::{text as t, text_with as tw};
    let l = r.language.code();
    let steps = &r.item_flow;
    let (bw, bh, gap) = (170.0, 62.0, 30.0);
    let width = steps.len().max(1) as f64 * (bw + gap) - gap + 2.0;
    let height = bh + 96.0;
    let font = r##"font-family="Helvetica, Arial, sans-serif""##;
    let mut label = Vec::new();
    let mut body = String::new();
    for (i, s) in steps.iter().enumerate() {
        let x = 1.0 + i as f64 * (bw + gap);
        let round = tw(l, "report.round_n", &[("n", s.round.to_string())]);
        let (what, n) = match (s.found, s.rated) {
            (Some(found), _) => (t(l, "report.flow_found"), found),
            (_, Some(rated)) => (t(l, "report.flow_rated"), rated),
            _ => continue,
        };
        label.push(format!("{round}: {what} {n}"));
        body.push_str(&format!(
            r##"<rect x="{x}" y="1" width="{bw}" height="{bh}" rx="6" fill="#eaf1fb" stroke="#1d4f91" stroke-width="1.5"/><text x="{cx}" y="20" {font} font-size="12" text-anchor="middle" fill="#1b1f24">{}</text><text x="{cx}" y="36" {font} font-size="12" text-anchor="middle" fill="#1b1f24">{}</text><text x="{cx}" y="56" {font} font-size="17" font-weight="bold" text-anchor="middle" fill="#1b1f24">{n}</text>"##,
            esc(&round),
            esc(&what),
            cx = x + bw / 2.0
        ));
        if i > 0 {
            body.push_str(&format!(
                r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#4a5360" stroke-width="1.5" marker-end="url(#arrow)"/>"##,
                x - gap + 2.0,
                x - 3.0,
                y = 1.0 + bh / 2.0
            ));
        }
        // Under the box: what changed before the round, or the round's verdicts.
        let mut notes: Vec<String> = [
            ("change.reworded", s.reworded),
            ("report.flow_merged", s.merged),
            ("change.split", s.split),
            ("change.dropped", s.dropped),
            ("report.flow_added", s.added),
        ]
        .iter()
        .filter_map(|(key, n)| n.filter(|n| *n > 0).map(|n| format!("{} {n}", t(l, key))))
        .collect();
        if let Some(v) = &s.verdicts {
            for key in ["high", "low", "none"] {
                notes.push(format!(
                    "{} {}",
                    t(l, &format!("report.flow_verdict_{key}")),
                    v.get(key).copied().unwrap_or(0)
                ));
            }
        }
        if !notes.is_empty() {
            label.push(notes.join(", "));
        }
        for (j, note) in notes.iter().enumerate() {
            body.push_str(&format!(
                r##"<text x="{}" y="{}" {font} font-size="12" fill="#1b1f24">{}</text>"##,
                x + 6.0,
                bh + 20.0 + j as f64 * 16.0,
                esc(note)
            ));
        }
    }
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{}">"##,
        esc(&label.join("; "))
    );
    out.push_str(r##"<defs><marker id="arrow-items" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="#4a5360"/></marker></defs>"##);
    out.push_str(&body.replace("url(#arrow)", "url(#arrow-items)"));
    out.push_str("</svg>");
    out
}
