//! The codebook: categories (a code letter and a title) holding numbered themes, each with
//! lettered statements (a, b, c, …). Themes keep their history: every change is a revision with
//! a snapshot of the theme as it then was.

use serde::{Deserialize, Serialize};

use super::{Invalid, text};

/// The letter of the n-th statement (0 → a, 25 → z, 26 → aa).
pub fn letter(n: usize) -> String {
    let mut n = n;
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).expect("ascii")
}

/// What changed in a revision of a theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Created,
    /// Title or description reworded.
    Reworded,
    /// Moved to another category or renumbered.
    Moved,
    /// A statement added, reworded or removed.
    Statements,
    /// Merged into another theme (this one ends).
    Merged,
    /// Made from merging others.
    MergedFrom,
    /// Split into others (this one ends).
    Split,
    /// Made from splitting another.
    SplitFrom,
    Dropped,
    Restored,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Reworded => "reworded",
            Change::Moved => "moved",
            Change::Statements => "statements",
            Change::Merged => "merged",
            Change::MergedFrom => "merged_from",
            Change::Split => "split",
            Change::SplitFrom => "split_from",
            Change::Dropped => "dropped",
            Change::Restored => "restored",
        }
    }
}

/// A theme as it was at one version, or as a round published it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ThemeSnapshot {
    pub category_code: String,
    pub category_title: String,
    pub number: i32,
    pub title: String,
    pub description: String,
    pub statements: Vec<StatementSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatementSnapshot {
    pub letter: String,
    pub text: String,
}

pub fn category_code(field: &str, code: &str) -> Result<String, Invalid> {
    let c = code.trim();
    if c.is_empty()
        || c.chars().count() > 10
        || c.chars().any(|ch| ch.is_whitespace() || ch.is_control())
    {
        return Err(Invalid::one(
            field,
            "must be 1-10 characters without spaces, such as A",
        ));
    }
    Ok(c.to_string())
}

pub fn category_title(field: &str, title: &str) -> Result<String, Invalid> {
    text::line(field, title, 200)
}

pub fn theme_number(field: &str, n: i32) -> Result<i32, Invalid> {
    if !(1..=9999).contains(&n) {
        return Err(Invalid::one(field, "must be between 1 and 9999"));
    }
    Ok(n)
}

pub fn theme_title(field: &str, title: &str) -> Result<String, Invalid> {
    text::line(field, title, 300)
}

pub fn theme_description(field: &str, d: &str) -> Result<String, Invalid> {
    text::block(field, d, 5000)
}

pub fn statement_text(field: &str, t: &str) -> Result<String, Invalid> {
    let t = text::block(field, t, 2000)?;
    if t.is_empty() {
        return Err(Invalid::one(field, "must not be empty"));
    }
    Ok(t)
}

pub fn statement_letter(field: &str, l: &str) -> Result<String, Invalid> {
    let l = l.trim().to_lowercase();
    if l.is_empty() || l.len() > 3 || !l.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(Invalid::one(
            field,
            "must be one to three letters, such as a",
        ));
    }
    Ok(l)
}

pub fn reason(field: &str, r: &str) -> Result<String, Invalid> {
    text::block(field, r, 2000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_run_a_to_z_then_aa() {
        assert_eq!(letter(0), "a");
        assert_eq!(letter(8), "i");
        assert_eq!(letter(25), "z");
        assert_eq!(letter(26), "aa");
        assert_eq!(letter(27), "ab");
        assert_eq!(letter(51), "az");
        assert_eq!(letter(52), "ba");
    }

    #[test]
    fn fields_are_checked() {
        assert!(category_code("code", "A").is_ok());
        assert!(category_code("code", "A B").is_err());
        assert!(theme_number("number", 0).is_err());
        assert!(statement_letter("letter", "B").unwrap() == "b");
        assert!(statement_letter("letter", "1").is_err());
        assert!(statement_text("text", "  ").is_err());
    }
}

/// A theme as a round published it: frozen at opening.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublishedTheme {
    pub theme_id: String,
    pub position: i32,
    pub theme_version: i32,
    #[serde(flatten)]
    pub snapshot: ThemeSnapshot,
}
