//! The panel composition table (like the reference study's Table 1) with the small-cell policy:
//! counts below the study's threshold are hidden from funders, together with as many further
//! cells and row totals as it takes so that no hidden count can be worked out from the totals
//! shown; a researcher may release a cell, which is logged.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::domain::candidate::Stratum;

/// One cell: the count (none when hidden from this reader) and why it is hidden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Cell {
    /// `row label|column value`, the key a release names.
    pub key: String,
    pub count: Option<usize>,
    /// Below the threshold (primary) or hidden so another cannot be recovered (secondary).
    pub suppressed: Option<Suppression>,
    /// A researcher released it for the report.
    pub released: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Suppression {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Row {
    /// The attribute the row belongs to, e.g. `gender`, and its name.
    pub attribute: String,
    pub attribute_label: String,
    pub label: String,
    pub cells: Vec<Cell>,
    /// The row's total, none when hidden from this reader.
    pub total: Option<usize>,
    /// Why the row's total is hidden, if it is.
    pub total_suppressed: Option<Suppression>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Composition {
    /// The key releases use: `composition:COLUMN:ROWS`.
    pub table_key: String,
    pub column_attribute: String,
    pub column_label: String,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    /// The panel's size.
    pub total: usize,
    pub threshold: usize,
    /// Whether any cell is hidden.
    pub any_suppressed: bool,
}

// Cells are addressed by (row, column) throughout, so index loops read best here.
#[allow(clippy::needless_range_loop)]
/// Builds the table from the panellists' attribute values. `reveal` keeps the counts of hidden
/// cells (for researchers, who see them marked); funders get none.
///
/// Each row's total is treated as one more column: within an attribute the row totals add up to
/// the panel's size, and within a row the cells add up to its total, so a hidden count that is
/// the only hidden one of its row, or of its column within an attribute, would give itself
/// away; another (the smallest, non-zero first) is hidden with it until none is alone.
pub fn build(
    people: &[BTreeMap<String, String>],
    strata: &[Stratum],
    column: &str,
    rows: &[String],
    threshold: usize,
    released: &HashSet<String>,
    reveal: bool,
) -> Option<Composition> {
    let col = strata.iter().find(|s| s.key == column)?;
    let table_key = format!("composition:{}:{}", column, rows.join(","));
    let mut columns = col.values.clone();
    let unknown = "—".to_string();
    if people.iter().any(|p| !p.contains_key(column)) {
        columns.push(unknown.clone());
    }
    let value_of = |p: &BTreeMap<String, String>, key: &str| {
        p.get(key).cloned().unwrap_or_else(|| unknown.clone())
    };
    // Counts per row (attribute value) and column, the row's total last.
    let mut grid: Vec<(String, String, Vec<usize>)> = Vec::new();
    for attr in rows {
        let Some(s) = strata.iter().find(|s| &s.key == attr && s.key != column) else {
            continue;
        };
        let mut values = s.values.clone();
        if people.iter().any(|p| !p.contains_key(attr)) {
            values.push(unknown.clone());
        }
        for v in values {
            let mut counts: Vec<usize> = columns
                .iter()
                .map(|c| {
                    people
                        .iter()
                        .filter(|p| value_of(p, attr) == v && &value_of(p, column) == c)
                        .count()
                })
                .collect();
            let total = counts.iter().sum::<usize>();
            counts.push(total);
            if total > 0 || v != unknown {
                grid.push((attr.clone(), v, counts));
            }
        }
    }
    let n_cols = columns.len();
    let width = n_cols + 1;
    let key_of = |r: usize, c: usize| {
        if c == n_cols {
            format!("{}|*", grid[r].1)
        } else {
            format!("{}|{}", grid[r].1, columns[c])
        }
    };
    let mut hidden: Vec<Vec<Option<Suppression>>> = (0..grid.len())
        .map(|r| {
            (0..width)
                .map(|c| {
                    let n = grid[r].2[c];
                    (n > 0 && n < threshold && !released.contains(&key_of(r, c)))
                        .then_some(Suppression::Primary)
                })
                .collect()
        })
        .collect();
    // A column of fewer people than the threshold is itself a small group: its zeros would tell
    // who the few are, so they are hidden too (unless its people were all released).
    for c in 0..n_cols {
        let col_total = people
            .iter()
            .filter(|p| value_of(p, column) == columns[c])
            .count();
        let unreleased =
            (0..grid.len()).any(|r| grid[r].2[c] > 0 && !released.contains(&key_of(r, c)));
        if col_total > 0 && col_total < threshold && unreleased {
            for row in hidden.iter_mut() {
                row[c].get_or_insert(Suppression::Primary);
            }
        }
    }
    let count_hidden = |hidden: &Vec<Vec<Option<Suppression>>>| {
        hidden.iter().flatten().filter(|h| h.is_some()).count()
    };
    let attrs: Vec<String> = grid
        .iter()
        .map(|g| g.0.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    loop {
        let before = count_hidden(&hidden);
        for r in 0..grid.len() {
            if (0..width).filter(|c| hidden[r][*c].is_some()).count() == 1
                && let Some(c) = (0..width)
                    .filter(|c| hidden[r][*c].is_none())
                    .min_by_key(|c| (grid[r].2[*c] == 0, grid[r].2[*c]))
            {
                hidden[r][c] = Some(Suppression::Secondary);
            }
        }
        for attr in &attrs {
            let rows_of: Vec<usize> = (0..grid.len()).filter(|r| &grid[*r].0 == attr).collect();
            for c in 0..width {
                if rows_of.iter().filter(|r| hidden[**r][c].is_some()).count() == 1
                    && let Some(r) = rows_of
                        .iter()
                        .copied()
                        .filter(|r| hidden[*r][c].is_none())
                        .min_by_key(|r| (grid[*r].2[c] == 0, grid[*r].2[c]))
                {
                    hidden[r][c] = Some(Suppression::Secondary);
                }
            }
        }
        if count_hidden(&hidden) == before {
            break;
        }
    }
    let out_rows: Vec<Row> = grid
        .iter()
        .zip(&hidden)
        .map(|((attr, v, counts), hide)| {
            let cells: Vec<Cell> = counts[..n_cols]
                .iter()
                .zip(&hide[..n_cols])
                .zip(&columns)
                .map(|((c, h), col)| {
                    let key = format!("{v}|{col}");
                    Cell {
                        count: if h.is_none() || reveal {
                            Some(*c)
                        } else {
                            None
                        },
                        suppressed: *h,
                        released: released.contains(&key),
                        key,
                    }
                })
                .collect();
            let total_hidden = hide[n_cols];
            Row {
                attribute_label: strata
                    .iter()
                    .find(|s| &s.key == attr)
                    .map(|s| s.label.clone())
                    .unwrap_or_default(),
                attribute: attr.clone(),
                label: v.clone(),
                total: if total_hidden.is_some() && !reveal {
                    None
                } else {
                    Some(counts[n_cols])
                },
                total_suppressed: total_hidden,
                cells,
            }
        })
        .collect();
    let any_suppressed = hidden.iter().flatten().any(|h| h.is_some());
    Some(Composition {
        table_key,
        column_attribute: column.to_string(),
        column_label: col.label.clone(),
        columns,
        rows: out_rows,
        total: people.len(),
        threshold,
        any_suppressed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strata() -> Vec<Stratum> {
        vec![
            Stratum {
                key: "org".into(),
                label: "Organisation".into(),
                values: vec!["Sector org".into(), "Company".into(), "Municipality".into()],
            },
            Stratum {
                key: "gender".into(),
                label: "Gender".into(),
                values: vec!["Woman".into(), "Man".into()],
            },
        ]
    }

    /// The reference study's panel: 9 in sector organisations (2 women), 2 in companies (1
    /// woman), 1 man in a municipality.
    fn panel() -> Vec<BTreeMap<String, String>> {
        let mut v = Vec::new();
        let mut add = |org: &str, g: &str, n: usize| {
            for _ in 0..n {
                v.push(
                    [
                        ("org".to_string(), org.to_string()),
                        ("gender".to_string(), g.to_string()),
                    ]
                    .into(),
                );
            }
        };
        add("Sector org", "Woman", 2);
        add("Sector org", "Man", 7);
        add("Company", "Woman", 1);
        add("Company", "Man", 1);
        add("Municipality", "Man", 1);
        v
    }

    fn counts(t: &Composition) -> Vec<Vec<Option<usize>>> {
        t.rows
            .iter()
            .map(|r| r.cells.iter().map(|c| c.count).collect())
            .collect()
    }

    #[test]
    fn without_a_threshold_everything_shows() {
        let t = build(
            &panel(),
            &strata(),
            "org",
            &["gender".into()],
            1,
            &HashSet::new(),
            false,
        )
        .unwrap();
        assert_eq!(
            counts(&t),
            [
                vec![Some(2), Some(1), Some(0)],
                vec![Some(7), Some(1), Some(1)]
            ]
        );
        assert!(!t.any_suppressed);
        assert_eq!(t.total, 12);
    }

    #[test]
    fn small_cells_are_hidden_and_cannot_be_recovered() {
        let t = build(
            &panel(),
            &strata(),
            "org",
            &["gender".into()],
            2,
            &HashSet::new(),
            false,
        )
        .unwrap();
        // The ones are hidden, and the municipality column (one person) entirely.
        let c = counts(&t);
        assert_eq!(c, [vec![Some(2), None, None], vec![Some(7), None, None]]);
        for row in &t.rows {
            let hidden = row.cells.iter().filter(|c| c.count.is_none()).count();
            assert_ne!(
                hidden, 1,
                "a lone hidden cell in a row could be recovered from the total"
            );
        }
        for col in 0..t.columns.len() {
            let hidden = t
                .rows
                .iter()
                .filter(|r| r.cells[col].count.is_none())
                .count();
            assert_ne!(
                hidden, 1,
                "a lone hidden cell in a column could be recovered"
            );
        }
        // Researchers see the counts, marked.
        let r = build(
            &panel(),
            &strata(),
            "org",
            &["gender".into()],
            2,
            &HashSet::new(),
            true,
        )
        .unwrap();
        assert_eq!(r.rows[0].cells[1].count, Some(1));
        assert_eq!(r.rows[0].cells[1].suppressed, Some(Suppression::Primary));
    }

    /// What a funder reads of a row or a cell: a number, or hidden.
    fn shown(t: &Composition) -> Vec<(Vec<Option<usize>>, Option<usize>)> {
        t.rows
            .iter()
            .map(|r| (r.cells.iter().map(|c| c.count).collect(), r.total))
            .collect()
    }

    #[test]
    fn no_hidden_total_follows_from_the_panel_size() {
        // Seven panellists: three women, three men, one of another gender. Shown as 3, 3, "<3"
        // beside a total of 7, the hidden total would be 1.
        let strata = vec![
            Stratum {
                key: "side".into(),
                label: "Side".into(),
                values: vec!["Employer".into(), "Employee".into()],
            },
            Stratum {
                key: "gender".into(),
                label: "Gender".into(),
                values: vec!["Woman".into(), "Man".into(), "Other".into()],
            },
        ];
        let mut people = Vec::new();
        for (g, side, n) in [
            ("Woman", "Employer", 1),
            ("Woman", "Employee", 2),
            ("Man", "Employer", 2),
            ("Man", "Employee", 1),
            ("Other", "Employee", 1),
        ] {
            for _ in 0..n {
                people.push(BTreeMap::from([
                    ("side".to_string(), side.to_string()),
                    ("gender".to_string(), g.to_string()),
                ]));
            }
        }
        let t = build(
            &people,
            &strata,
            "side",
            &["gender".into()],
            3,
            &HashSet::new(),
            false,
        )
        .unwrap();
        assert_eq!(t.total, 7);
        let rows = shown(&t);
        let hidden_totals = rows.iter().filter(|(_, total)| total.is_none()).count();
        assert!(hidden_totals >= 2, "{rows:?}");
        for (cells, total) in &rows {
            let hidden =
                cells.iter().filter(|c| c.is_none()).count() + usize::from(total.is_none());
            assert_ne!(hidden, 1, "a lone hidden number in a row: {rows:?}");
        }
        for c in 0..t.columns.len() {
            let hidden = rows.iter().filter(|(cells, _)| cells[c].is_none()).count();
            assert_ne!(hidden, 1, "a lone hidden number in a column: {rows:?}");
        }
        assert_eq!(t.rows[2].total_suppressed, Some(Suppression::Primary));
    }

    #[test]
    fn a_released_cell_shows() {
        let released: HashSet<String> = [
            "Man|Municipality".to_string(),
            "Woman|Company".to_string(),
            "Man|Company".to_string(),
        ]
        .into();
        let t = build(
            &panel(),
            &strata(),
            "org",
            &["gender".into()],
            2,
            &released,
            false,
        )
        .unwrap();
        assert_eq!(
            counts(&t),
            [
                vec![Some(2), Some(1), Some(0)],
                vec![Some(7), Some(1), Some(1)]
            ]
        );
        assert!(t.rows[1].cells[2].released);
    }
}
