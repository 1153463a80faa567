//! Panel groups compared: whether the groups' scores of a theme differ (Mann–Whitney U for two
//! groups, Kruskal–Wallis H for three or more, both two-sided as scipy computes them), and which
//! groups' figures may be shown beside the whole panel's without letting a group below k be
//! worked out by subtraction.

use serde::Serialize;

use super::stats::{average_ranks, chi2_upper_tail, normal_upper_tail};

/// Which test compared the groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum TestKind {
    #[serde(rename = "mann-whitney")]
    MannWhitney,
    #[serde(rename = "kruskal-wallis")]
    KruskalWallis,
}

impl TestKind {
    pub fn key(self) -> &'static str {
        match self {
            TestKind::MannWhitney => "mann-whitney",
            TestKind::KruskalWallis => "kruskal-wallis",
        }
    }
}

/// The result of comparing the groups' scores of one theme.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupComparison {
    pub test: TestKind,
    /// U of the first group compared (Mann–Whitney) or the tie-corrected H (Kruskal–Wallis).
    pub statistic: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Whether `p` is exact (Mann–Whitney without ties and a group of at most eight) or from
    /// the normal (Mann–Whitney) or chi-square (Kruskal–Wallis) approximation.
    pub exact: bool,
    /// Degrees of freedom of the chi-square approximation (Kruskal–Wallis).
    pub df: Option<usize>,
}

/// Compares two or more groups' scores: Mann–Whitney U for two, Kruskal–Wallis H for more.
/// None for fewer than two non-empty groups, or when every score is the same.
pub fn compare(groups: &[Vec<i32>]) -> Option<GroupComparison> {
    let groups: Vec<Vec<f64>> = groups
        .iter()
        .filter(|g| !g.is_empty())
        .map(|g| g.iter().map(|&s| f64::from(s)).collect())
        .collect();
    match groups.len() {
        0 | 1 => None,
        2 => mann_whitney(&groups[0], &groups[1]),
        _ => kruskal_wallis(&groups),
    }
}

/// Mann–Whitney U, two-sided, as `scipy.stats.mannwhitneyu(x, y, method="auto")`: exact when a
/// sample has at most eight values and there are no ties, otherwise the normal approximation
/// with tie correction and continuity correction. The statistic is U of `x`.
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Option<GroupComparison> {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let (ranks, ties) = average_ranks(&all);
    if ties == (all.len().pow(3) - all.len()) as f64 {
        return None; // every score the same: nothing to compare
    }
    let r1: f64 = ranks[..n1].iter().sum();
    let (f1, f2) = (n1 as f64, n2 as f64);
    let u1 = r1 - f1 * (f1 + 1.0) / 2.0;
    let u = u1.max(f1 * f2 - u1);
    let exact = (n1 <= 8 || n2 <= 8) && ties == 0.0;
    let p = if exact {
        2.0 * exact_u_upper_tail(u.round() as usize, n1, n2)
    } else {
        let n = f1 + f2;
        let sd = (f1 * f2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)))).sqrt();
        let z = (u - f1 * f2 / 2.0 - 0.5) / sd;
        2.0 * normal_upper_tail(z)
    };
    Some(GroupComparison {
        test: TestKind::MannWhitney,
        statistic: u1,
        p: p.clamp(0.0, 1.0),
        exact,
        df: None,
    })
}

/// P(U ≥ u) for samples of `m` and `n` values without ties: the number of arrangements giving
/// each U are the coefficients of the Gaussian binomial [m + n choose m] in q, built by
/// multiplying by (1 − q^(n+i)) and dividing by (1 − q^i) for i = 1..=min(m, n).
fn exact_u_upper_tail(u: usize, m: usize, n: usize) -> f64 {
    let (small, large) = (m.min(n), m.max(n));
    let top = small * large;
    let mut c = vec![0f64; top + 1];
    c[0] = 1.0;
    for i in 1..=small {
        // × (1 − q^(large + i)), highest powers first so each term is used once.
        let shift = large + i;
        for d in (shift..=top).rev() {
            c[d] -= c[d - shift];
        }
        // ÷ (1 − q^i): a running sum with stride i.
        for d in i..=top {
            c[d] += c[d - i];
        }
    }
    let all: f64 = c.iter().sum();
    if u > top {
        return 0.0;
    }
    c[u..].iter().sum::<f64>() / all
}

/// Kruskal–Wallis H with tie correction, p from chi-square on groups − 1 degrees of freedom,
/// as `scipy.stats.kruskal`.
pub fn kruskal_wallis(groups: &[Vec<f64>]) -> Option<GroupComparison> {
    let all: Vec<f64> = groups.iter().flatten().copied().collect();
    let n = all.len() as f64;
    if groups.len() < 2 || groups.iter().any(Vec::is_empty) {
        return None;
    }
    let (ranks, ties) = average_ranks(&all);
    let correction = 1.0 - ties / (n * n * n - n);
    if correction <= 0.0 {
        return None; // every score the same
    }
    let mut start = 0;
    let mut sum = 0.0;
    for g in groups {
        let r: f64 = ranks[start..start + g.len()].iter().sum();
        sum += r * r / g.len() as f64;
        start += g.len();
    }
    let h = (12.0 / (n * (n + 1.0)) * sum - 3.0 * (n + 1.0)) / correction;
    let df = groups.len() - 1;
    Some(GroupComparison {
        test: TestKind::KruskalWallis,
        statistic: h,
        p: chi2_upper_tail(h, df as f64),
        exact: false,
        df: Some(df),
    })
}

/// Which groups' figures may be shown beside the whole panel's figure of `whole` answers, when
/// the groups hold `sizes` of them (answers of people in no group count in the whole only).
/// A group below `k` is hidden; and since the whole minus the groups shown gives the hidden rest,
/// that rest must be none or at least `k`: while it is not, the smallest group still shown is
/// hidden too.
pub fn shown_groups(whole: usize, sizes: &[usize], k: usize) -> Vec<bool> {
    let k = k.max(1);
    let mut shown: Vec<bool> = sizes.iter().map(|&n| n >= k).collect();
    loop {
        let visible: usize = sizes
            .iter()
            .zip(&shown)
            .filter(|(_, s)| **s)
            .map(|(n, _)| n)
            .sum();
        let rest = whole.saturating_sub(visible);
        if rest == 0 || rest >= k {
            return shown;
        }
        let Some(smallest) = (0..sizes.len())
            .filter(|&i| shown[i])
            .min_by_key(|&i| (sizes[i], i))
        else {
            return shown;
        };
        shown[smallest] = false;
    }
}

#[cfg(test)]
mod tests {
    //! Expected values were computed with scipy 1.17 (`scipy.stats.mannwhitneyu(x, y,
    //! method="auto")` and `scipy.stats.kruskal`), stored here as numbers.

    use super::*;

    fn f(v: &[i32]) -> Vec<f64> {
        v.iter().map(|&x| f64::from(x)).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1e-3)
    }

    #[test]
    fn mann_whitney_matches_scipy() {
        for (x, y, u, p, exact) in MW_CASES {
            let r = mann_whitney(&f(x), &f(y)).unwrap();
            assert!(
                close(r.statistic, *u),
                "U {x:?} {y:?}: {} ≠ {u}",
                r.statistic
            );
            assert!(close(r.p, *p), "p {x:?} {y:?}: {} ≠ {p}", r.p);
            assert_eq!(r.exact, *exact, "{x:?} {y:?}");
        }
        assert!(mann_whitney(&f(&[3, 3]), &f(&[3, 3, 3])).is_none());
    }

    #[test]
    fn kruskal_wallis_matches_scipy() {
        for (groups, h, p) in KW_CASES {
            let g: Vec<Vec<f64>> = groups.iter().map(|g| f(g)).collect();
            let r = kruskal_wallis(&g).unwrap();
            assert!(
                close(r.statistic, *h),
                "H {groups:?}: {} ≠ {h}",
                r.statistic
            );
            assert!(close(r.p, *p), "p {groups:?}: {} ≠ {p}", r.p);
            assert_eq!(r.df, Some(groups.len() - 1));
        }
        let same = [vec![2.0, 2.0], vec![2.0], vec![2.0, 2.0]];
        assert!(kruskal_wallis(&same).is_none());
    }

    #[test]
    fn compare_chooses_the_test_by_the_number_of_groups() {
        let two = compare(&[vec![1, 2, 3], vec![4, 5, 6], vec![]]).unwrap();
        assert_eq!(two.test, TestKind::MannWhitney);
        let three = compare(&[vec![1, 2], vec![3, 4], vec![4, 4]]).unwrap();
        assert_eq!(three.test, TestKind::KruskalWallis);
        assert!(compare(&[vec![1, 2, 3]]).is_none());
    }

    #[test]
    fn no_hidden_group_can_be_worked_out_by_subtraction() {
        // A group below k is hidden; the other group would give it away, so it goes too.
        assert_eq!(shown_groups(7, &[5, 2], 3), [false, false]);
        // Three groups: the two large ones stay if the hidden rest reaches k with the smallest.
        assert_eq!(shown_groups(12, &[6, 4, 2], 3), [true, false, false]);
        // Rest of at least k (several small groups together, or people in no group).
        assert_eq!(
            shown_groups(10, &[5, 1, 1, 1], 3),
            [true, false, false, false]
        );
        assert_eq!(shown_groups(9, &[3, 3], 3), [true, true], "3 in no group");
        // One in no group: one group goes with them, so the rest is four.
        assert_eq!(shown_groups(7, &[3, 3], 3), [false, true], "1 in no group");
        // Every group at least k and nobody outside them: all shown.
        assert_eq!(shown_groups(9, &[3, 6], 3), [true, true]);
        assert_eq!(shown_groups(0, &[0, 0], 3), [false, false]);
    }

    type MwCase = (&'static [i32], &'static [i32], f64, f64, bool);
    const MW_CASES: &[MwCase] = &[
        // Small, no ties: exact.
        (&[1, 4, 7], &[2, 3, 5, 6, 8], 6.0, 0.7857142857142857, true),
        (&[9, 8, 7, 6], &[1, 2, 3], 12.0, 0.05714285714285714, true),
        // Ties: normal approximation with tie and continuity correction.
        (
            &[4, 4, 3, 4, 3],
            &[2, 3, 1, 2],
            19.0,
            0.030400749685896046,
            false,
        ),
        (
            &[0, 1, 1, 2, 4, 4],
            &[3, 3, 2, 4, 1],
            11.5,
            0.5750621301739497,
            false,
        ),
        // Large, no ties: the normal approximation.
        (
            &[1, 3, 5, 7, 9, 11, 13, 15, 17],
            &[2, 4, 6, 8, 10, 12, 14, 16, 18, 20],
            36.0,
            0.48766835345893045,
            false,
        ),
        // One small group against a large one without ties: exact.
        (
            &[30, 31, 32],
            &[
                1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
            ],
            60.0,
            0.001129305477131564,
            true,
        ),
    ];

    type KwCase = (&'static [&'static [i32]], f64, f64);
    const KW_CASES: &[KwCase] = &[
        (
            &[&[4, 4, 3, 4], &[2, 3, 3], &[1, 0, 2, 1, 1]],
            9.298290598290603,
            0.00956977773332093,
        ),
        (
            &[&[1, 5, 9], &[2, 6], &[3, 7, 8], &[4]],
            0.8000000000000007,
            0.8494670333918254,
        ),
    ];
}
