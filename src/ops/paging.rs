//! Pages of long lists (candidates, a round's panellists and comments, the outbox, the audit
//! log): where a list starts and how much of it one answer holds, read the same way everywhere.

use crate::domain::Invalid;

/// The most rows one page or API answer holds, and how many it holds unless asked.
pub const MAX_PAGE: usize = 1000;
pub const DEFAULT_PAGE: usize = 100;

/// Reads a list's query: empty values mean "any", `limit` and `offset` go to `paging` (a wrong
/// value into `e`), and the other pairs come back, their values trimmed, for the list's own
/// filters.
pub fn read<'a>(
    pairs: &'a [(String, String)],
    paging: &mut Paging,
    e: &mut Invalid,
) -> Vec<(&'a str, &'a str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.trim()))
        .filter(|(k, v)| !v.is_empty() && !paging.read(k, v, e))
        .collect()
}

/// A word of a query (`not_started`, `added`) as the value it names, by its serde name.
pub fn word<T: serde::de::DeserializeOwned>(v: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(v.into())).ok()
}

/// Where a page starts in the matching rows and how many it holds at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub offset: usize,
    pub limit: usize,
    /// The largest `limit` a caller may ask for.
    pub max: usize,
}

impl Default for Paging {
    /// The first page of [`DEFAULT_PAGE`] rows, up to [`MAX_PAGE`] when asked.
    fn default() -> Self {
        Paging::first(DEFAULT_PAGE, MAX_PAGE)
    }
}

impl Paging {
    /// The first page of `limit` rows, where a caller may ask for up to `max`.
    pub fn first(limit: usize, max: usize) -> Self {
        Paging {
            offset: 0,
            limit,
            max,
        }
    }

    /// Reads `limit` or `offset` if `key` is one of them (a wrong value goes into `e`); says
    /// whether the pair was about paging.
    pub fn read(&mut self, key: &str, value: &str, e: &mut Invalid) -> bool {
        match key {
            "limit" => match value.trim().parse::<usize>() {
                Ok(n) if (1..=self.max).contains(&n) => self.limit = n,
                _ => e.add("limit", format!("must be a number from 1 to {}", self.max)),
            },
            "offset" => match value.trim().parse::<usize>() {
                Ok(n) => self.offset = n,
                Err(_) => e.add("offset", "must be a whole number of at least 0"),
            },
            _ => return false,
        }
        true
    }

    /// Page `number` (from 1) of pages of `limit` rows, as the pages' `?page=` asks.
    pub fn page_number(mut self, number: usize) -> Self {
        self.offset = number.saturating_sub(1) * self.limit;
        self
    }

    /// The rows of this page out of all the matching ones.
    pub fn take<T>(&self, all: impl IntoIterator<Item = T>) -> Vec<T> {
        all.into_iter().skip(self.offset).take(self.limit).collect()
    }

    /// `offset` and `limit` as SQL takes them.
    pub fn sql(&self) -> (i64, i64) {
        (
            i64::try_from(self.offset).unwrap_or(i64::MAX),
            i64::try_from(self.limit).unwrap_or(i64::MAX),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_offsets_are_read_and_checked() {
        let mut p = Paging::first(100, 1000);
        let mut e = Invalid::new();
        assert!(p.read("limit", "50", &mut e));
        assert!(p.read("offset", "20", &mut e));
        assert!(!p.read("q", "x", &mut e));
        assert!(e.is_empty());
        assert_eq!((p.offset, p.limit), (20, 50));
        assert_eq!(p.take(0..100), (20..70).collect::<Vec<_>>());
        for bad in ["0", "1001", "-1", "ten"] {
            let mut e = Invalid::new();
            p.read("limit", bad, &mut e);
            assert!(!e.is_empty(), "{bad}");
        }
        let mut e = Invalid::new();
        p.read("offset", "-3", &mut e);
        assert!(!e.is_empty());
        assert_eq!(Paging::first(100, 1000).page_number(3).offset, 200);
        assert_eq!(Paging::first(100, 1000).page_number(0).offset, 0);
    }
}
