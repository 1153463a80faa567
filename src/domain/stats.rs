//! The statistics of PRODUCT.md, one definition each: per item n, mean (exact, shown rounded half
//! up to one decimal), median and quartiles by linear interpolation (R type 7), IQR, SD (n − 1),
//! counts per scale point, shares in the top and bottom two points and the consensus verdict;
//! for the panel Kendall's W with tie correction; between rounds the Wilcoxon signed-rank test.

use serde::Serialize;

use super::{ConsensusRule, DontKnow, Scale};

/// The consensus verdict of one item under the study's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Agreement on a high score.
    High,
    /// Agreement on a low score.
    Low,
    /// No agreement by the rule.
    None,
}

impl Verdict {
    /// The verdict's code, as the JSON and the machine CSV have it and texts are keyed by.
    pub fn key(self) -> &'static str {
        match self {
            Verdict::High => "high",
            Verdict::Low => "low",
            Verdict::None => "none",
        }
    }
}

/// The statistics of one item (a theme in a round).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemStats {
    /// Valid scores (don't-know and missing excluded).
    pub n: usize,
    pub dont_know: usize,
    /// The sum of the valid scores: with `n`, the exact mean.
    pub sum: i64,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub q1: Option<f64>,
    pub q3: Option<f64>,
    pub iqr: Option<f64>,
    /// Sample standard deviation (n − 1); none below two scores.
    pub sd: Option<f64>,
    /// Scores per scale point, lowest first.
    pub counts: Vec<usize>,
    pub pct_top2: Option<f64>,
    pub pct_bottom2: Option<f64>,
}

/// Type-7 quantile (linear interpolation between order statistics) of sorted values.
pub fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

impl ItemStats {
    /// Statistics of the valid scores (each on the scale) and the count of don't-knows.
    pub fn of(scores: &[i32], dont_know: usize, scale: &Scale) -> ItemStats {
        let points = scale.points();
        let mut counts = vec![0usize; points];
        let mut values: Vec<f64> = Vec::with_capacity(scores.len());
        let mut sum = 0i64;
        for &s in scores {
            if scale.contains(s) {
                counts[(s - scale.min) as usize] += 1;
                values.push(s as f64);
                sum += s as i64;
            }
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let mean = (n > 0).then(|| sum as f64 / n as f64);
        let sd = (n > 1).then(|| {
            let m = mean.unwrap_or(0.0);
            (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        });
        let q1 = quantile(&values, 0.25);
        let q3 = quantile(&values, 0.75);
        let edge = 2.min(points);
        let share = |c: usize| (n > 0).then(|| 100.0 * c as f64 / n as f64);
        ItemStats {
            n,
            dont_know,
            sum,
            mean,
            median: quantile(&values, 0.5),
            q1,
            q3,
            iqr: q1.zip(q3).map(|(a, b)| b - a),
            sd,
            pct_top2: share(counts[points - edge..].iter().sum()),
            pct_bottom2: share(counts[..edge].iter().sum()),
            counts,
        }
    }

    /// The share of valid scores in the `k` highest (or lowest) points; with `dont_know` counted
    /// as not agreeing, of the valid scores and the don't-knows.
    fn share(&self, k: usize, top: bool, dont_know: DontKnow) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let k = k.min(self.counts.len());
        let c: usize = if top {
            self.counts[self.counts.len() - k..].iter().sum()
        } else {
            self.counts[..k].iter().sum()
        };
        let of = match dont_know {
            DontKnow::Excluded => self.n,
            DontKnow::NotAgreeing => self.n + self.dont_know,
        };
        Some(100.0 * c as f64 / of as f64)
    }

    /// The verdict by the rule: enough scores in the top (or bottom) points and a small IQR.
    /// Shares are compared with a tolerance so 70 % of 10 counts as 70 %.
    pub fn verdict(&self, rule: &ConsensusRule) -> Verdict {
        self.verdict_within(rule, Some(rule.max_iqr))
    }

    /// The verdict by the rule's shares with `max_iqr` as the IQR condition (none: no IQR
    /// condition), for the sensitivity table's neighbouring rules.
    pub fn verdict_within(&self, rule: &ConsensusRule, max_iqr: Option<f64>) -> Verdict {
        let (Some(iqr), true) = (self.iqr, self.n > 0) else {
            return Verdict::None;
        };
        let k = rule.points.max(1) as usize;
        let eps = 1e-9;
        if max_iqr.is_none_or(|m| iqr <= m + eps) {
            if self
                .share(k, true, rule.dont_know)
                .is_some_and(|s| s + eps >= rule.share_percent)
            {
                return Verdict::High;
            }
            if self
                .share(k, false, rule.dont_know)
                .is_some_and(|s| s + eps >= rule.share_percent)
            {
                return Verdict::Low;
            }
        }
        Verdict::None
    }

    /// The mean to one decimal, rounded half up from the exact fraction, with the language's
    /// decimal mark: 34/9 → "3,8", 9/4 → "2,3".
    pub fn mean_display(&self, lang: &str) -> Option<String> {
        (self.n > 0).then(|| crate::i18n::tenths(self.sum, self.n as i64, lang))
    }
}

/// Average ranks (1-based) of values, ties sharing the mean of their positions; also Σ(t³ − t).
pub fn average_ranks(values: &[f64]) -> (Vec<f64>, f64) {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut ties = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && values[idx[j + 1]] == values[idx[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in &idx[i..=j] {
            ranks[*k] = rank;
        }
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    (ranks, ties)
}

/// Kendall's coefficient of concordance.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KendallW {
    /// Experts whose scores were used (those who scored every object).
    pub raters: usize,
    /// Experts left out because they did not score every object.
    pub raters_excluded: usize,
    pub objects: usize,
    pub w: f64,
    pub chi2: f64,
    pub df: usize,
    pub p: f64,
}

/// W over raters × objects; a rater with any missing score is left out. None when fewer than
/// two raters or objects remain, or when every rater tied everything.
pub fn kendall_w(matrix: &[Vec<Option<i32>>]) -> Option<KendallW> {
    let complete: Vec<Vec<f64>> = matrix
        .iter()
        .filter(|row| !row.is_empty() && row.iter().all(Option::is_some))
        .map(|row| row.iter().map(|v| v.unwrap_or(0) as f64).collect())
        .collect();
    let m = complete.len();
    let n = complete.first().map_or(0, Vec::len);
    if m < 2 || n < 2 || complete.iter().any(|r| r.len() != n) {
        return None;
    }
    let mut rank_sums = vec![0.0; n];
    let mut ties = 0.0;
    for row in &complete {
        let (ranks, t) = average_ranks(row);
        for (i, r) in ranks.iter().enumerate() {
            rank_sums[i] += r;
        }
        ties += t;
    }
    let (mf, nf) = (m as f64, n as f64);
    let mean = rank_sums.iter().sum::<f64>() / nf;
    let s: f64 = rank_sums.iter().map(|r| (r - mean).powi(2)).sum();
    let denominator = mf * mf * (nf * nf * nf - nf) - mf * ties;
    if denominator <= 0.0 {
        return None;
    }
    let w = 12.0 * s / denominator;
    let chi2 = mf * (nf - 1.0) * w;
    let df = n - 1;
    Some(KendallW {
        raters: m,
        raters_excluded: matrix.len() - m,
        objects: n,
        w,
        chi2,
        df,
        p: chi2_upper_tail(chi2, df as f64),
    })
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised upper incomplete gamma function Q(a, x).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let gln = ln_gamma(a);
    if x < a + 1.0 {
        // Series for P, then Q = 1 − P.
        let mut sum = 1.0 / a;
        let mut term = sum;
        let mut ap = a;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        1.0 - sum * (-x + a * x.ln() - gln).exp()
    } else {
        // Continued fraction (modified Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (-x + a * x.ln() - gln).exp() * h
    }
}

/// P(χ² ≥ x) on `df` degrees of freedom.
pub fn chi2_upper_tail(x: f64, df: f64) -> f64 {
    gamma_q(df / 2.0, x / 2.0).clamp(0.0, 1.0)
}

/// The standard normal upper tail P(Z ≥ z), via the complementary error function.
pub fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    // erfc(x) = Q(1/2, x²) for x ≥ 0.
    if x >= 0.0 {
        gamma_q(0.5, x * x)
    } else {
        2.0 - gamma_q(0.5, x * x)
    }
}

/// The Wilcoxon signed-rank test of paired scores (before, after).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Wilcoxon {
    /// Pairs with a difference (zero differences are dropped).
    pub n: usize,
    /// The sum of the ranks of the positive differences.
    pub w_plus: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Whether `p` is exact (the permutation distribution, with the ties as observed) or from
    /// the normal approximation (over 50 pairs).
    pub exact: bool,
}

pub fn wilcoxon_signed_rank(pairs: &[(i32, i32)]) -> Option<Wilcoxon> {
    let diffs: Vec<f64> = pairs
        .iter()
        .map(|(a, b)| (*b - *a) as f64)
        .filter(|d| *d != 0.0)
        .collect();
    let n = diffs.len();
    if n == 0 {
        return None;
    }
    let abs: Vec<f64> = diffs.iter().map(|d| d.abs()).collect();
    let (ranks, ties) = average_ranks(&abs);
    let w_plus: f64 = diffs
        .iter()
        .zip(&ranks)
        .filter(|(d, _)| **d > 0.0)
        .map(|(_, r)| r)
        .sum();
    if n <= 50 {
        // Ranks doubled are integers; count sign assignments by the sum they give.
        let doubled: Vec<usize> = ranks.iter().map(|r| (r * 2.0).round() as usize).collect();
        let total: usize = doubled.iter().sum();
        let mut ways = vec![0f64; total + 1];
        ways[0] = 1.0;
        for &r in &doubled {
            for s in (r..=total).rev() {
                ways[s] += ways[s - r];
            }
        }
        let all: f64 = ways.iter().sum();
        let observed = (w_plus * 2.0).round() as usize;
        let lower: f64 = ways[..=observed].iter().sum::<f64>() / all;
        let upper: f64 = ways[observed..].iter().sum::<f64>() / all;
        let p = (2.0 * lower.min(upper)).min(1.0);
        return Some(Wilcoxon {
            n,
            w_plus,
            p,
            exact: true,
        });
    }
    let nf = n as f64;
    let mean = nf * (nf + 1.0) / 4.0;
    let var = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - ties / 48.0;
    let z = ((w_plus - mean).abs() - 0.5).max(0.0) / var.sqrt();
    Some(Wilcoxon {
        n,
        w_plus,
        p: (2.0 * normal_upper_tail(z)).min(1.0),
        exact: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale() -> Scale {
        Scale {
            min: 0,
            max: 4,
            low_label: "low".into(),
            high_label: "high".into(),
            dont_know: true,
        }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn mean_display_rounds_half_up_from_the_exact_fraction() {
        assert_eq!(crate::i18n::tenths(34, 9, "da"), "3,8");
        assert_eq!(crate::i18n::tenths(9, 4, "da"), "2,3");
        assert_eq!(crate::i18n::tenths(9, 4, "en"), "2.3");
        assert_eq!(crate::i18n::tenths(1, 20, "en"), "0.1", "0.05 rounds up");
        assert_eq!(crate::i18n::tenths(0, 3, "en"), "0.0");
        assert_eq!(crate::i18n::tenths(4, 1, "da"), "4,0");
        assert_eq!(
            crate::i18n::tenths(-9, 4, "en"),
            "-2.2",
            "half up, towards +∞"
        );
    }

    #[test]
    fn quantiles_are_type_7() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.25), Some(1.75));
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&v, 0.75), Some(3.25));
        assert_eq!(quantile(&[7.0], 0.25), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn an_item_like_theme_1() {
        let s = ItemStats::of(&[4, 3, 4, 4, 4, 4, 4, 4, 3], 0, &scale());
        assert_eq!(s.n, 9);
        assert!(close(s.mean.unwrap(), 3.777778, 1e-6));
        assert_eq!(s.mean_display("da").unwrap(), "3,8");
        assert_eq!(
            (s.median, s.q1, s.q3, s.iqr),
            (Some(4.0), Some(4.0), Some(4.0), Some(0.0))
        );
        assert!(close(s.sd.unwrap(), 0.440959, 1e-6));
        assert_eq!(s.counts, [0, 0, 0, 2, 7]);
        assert_eq!(s.pct_top2, Some(100.0));
        assert_eq!(s.verdict(&ConsensusRule::default()), Verdict::High);
    }

    #[test]
    fn edge_cases() {
        let none = ItemStats::of(&[], 3, &scale());
        assert_eq!(
            (none.n, none.dont_know, none.mean, none.sd),
            (0, 3, None, None)
        );
        assert_eq!(none.verdict(&ConsensusRule::default()), Verdict::None);
        assert_eq!(none.mean_display("da"), None);
        let one = ItemStats::of(&[2], 0, &scale());
        assert_eq!(
            (one.mean, one.median, one.iqr, one.sd),
            (Some(2.0), Some(2.0), Some(0.0), None)
        );
        let low = ItemStats::of(&[0, 0, 1, 1, 0, 1, 2], 0, &scale());
        assert_eq!(low.verdict(&ConsensusRule::default()), Verdict::Low);
        let spread = ItemStats::of(&[0, 4, 0, 4], 0, &scale());
        assert_eq!(spread.verdict(&ConsensusRule::default()), Verdict::None);
        // Exactly 70 % in the top two with IQR 1 reaches consensus.
        let edge = ItemStats::of(&[4, 4, 3, 3, 3, 3, 3, 2, 2, 2], 0, &scale());
        assert_eq!(edge.pct_top2, Some(70.0));
        assert_eq!(edge.verdict(&ConsensusRule::default()), Verdict::High);
    }

    #[test]
    fn statistics_do_not_depend_on_the_order_of_experts() {
        let a = ItemStats::of(&[1, 4, 2, 3, 3, 0, 4], 1, &scale());
        let b = ItemStats::of(&[4, 3, 0, 3, 2, 1, 4], 1, &scale());
        assert_eq!(a, b);
    }

    #[test]
    fn ranks_average_ties() {
        let (r, t) = average_ranks(&[3.0, 1.0, 3.0, 2.0]);
        assert_eq!(r, [3.5, 1.0, 3.5, 2.0]);
        assert_eq!(t, 6.0);
    }

    #[test]
    fn chi_square_tail() {
        // Known values: P(χ²₁ ≥ 3.841459) = 0.05, P(χ²₁₂ ≥ 21.02607) = 0.05.
        assert!(close(chi2_upper_tail(3.841459, 1.0), 0.05, 1e-6));
        assert!(close(chi2_upper_tail(21.02607, 12.0), 0.05, 1e-6));
        assert!(close(chi2_upper_tail(0.0, 3.0), 1.0, 1e-12));
        assert!(close(normal_upper_tail(1.959964), 0.025, 1e-6));
    }

    #[test]
    fn kendall_w_of_perfect_and_no_agreement() {
        let perfect = vec![
            vec![Some(1), Some(2), Some(3)],
            vec![Some(1), Some(2), Some(3)],
            vec![Some(1), Some(2), Some(3)],
        ];
        assert!(close(kendall_w(&perfect).unwrap().w, 1.0, 1e-12));
        let opposite = vec![
            vec![Some(1), Some(2), Some(3)],
            vec![Some(3), Some(2), Some(1)],
        ];
        assert!(close(kendall_w(&opposite).unwrap().w, 0.0, 1e-12));
        let missing = vec![
            vec![Some(1), Some(2), Some(3)],
            vec![Some(1), None, Some(3)],
            vec![Some(1), Some(2), Some(3)],
        ];
        let k = kendall_w(&missing).unwrap();
        assert_eq!((k.raters, k.raters_excluded), (2, 1));
        assert!(
            kendall_w(&[vec![Some(1), Some(1)], vec![Some(2), Some(2)]]).is_none(),
            "all tied"
        );
    }

    #[test]
    fn wilcoxon_exact_small_sample() {
        // All 6 differences positive, no ties: p = 2 / 2^6 = 0.03125.
        let pairs: Vec<(i32, i32)> = (1..=6).map(|d| (0, d)).collect();
        let w = wilcoxon_signed_rank(&pairs).unwrap();
        assert_eq!(w.w_plus, 21.0);
        assert!(w.exact);
        assert!(close(w.p, 0.03125, 1e-12));
        // Zero differences are dropped; no change at all gives no test.
        assert!(wilcoxon_signed_rank(&[(3, 3), (2, 2)]).is_none());
        // A symmetric sample has p = 1.
        let sym = wilcoxon_signed_rank(&[(0, 1), (1, 0)]).unwrap();
        assert!(close(sym.p, 1.0, 1e-12));
    }
}
