//! Round 1's material coded into themes: transcripts under pseudonyms, passages coded with the
//! coder recorded, statements linked to their evidence, the overview and two coders' agreement.

mod agreement;
mod evidence;
mod transcript;

pub use agreement::*;
pub use evidence::*;
pub use transcript::*;

use crate::db::models::Theme;

/// Colours for themes, told apart on screen and in print (paired with the theme number).
pub const PALETTE: [&str; 12] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#3b4cc0", "#b40426",
];

pub fn theme_colour(t: &Theme) -> String {
    if t.colour.starts_with('#') {
        t.colour.clone()
    } else {
        PALETTE[((t.number.max(1) - 1) as usize) % PALETTE.len()].to_string()
    }
}
