//! How firm a theme's figures are: the bootstrap confidence interval of its mean, the RAND/UCLA
//! disagreement test on a 1–9 scale, and the neighbouring consensus rules the sensitivity table
//! tries beside the locked one.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::stats::quantile;
use super::{ConsensusRule, DontKnow, Scale};

/// Resamples of the percentile bootstrap.
pub const RESAMPLES: usize = 10_000;

/// The seed of a theme's bootstrap: from the study, round and theme ids alone, so the same data
/// gives the same interval on every machine and backend.
pub fn seed(study_id: &str, round_id: &str, theme_id: &str) -> u64 {
    let digest = Sha256::digest(format!("{study_id}\n{round_id}\n{theme_id}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// SplitMix64: small, fast, and the same sequence everywhere.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (multiply-shift; the bias is below 2⁻³²).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// The 95 % percentile-bootstrap interval of the mean of `scores`: `resamples` resamples with
/// replacement, and the 2.5th and 97.5th percentiles (linear interpolation) of their means.
/// None below two scores.
pub fn bootstrap_ci(scores: &[i32], seed: u64, resamples: usize) -> Option<(f64, f64)> {
    let n = scores.len();
    if n < 2 || resamples == 0 {
        return None;
    }
    let mut rng = SplitMix(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let sum: i64 = (0..n).map(|_| i64::from(scores[rng.below(n)])).sum();
            sum as f64 / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    Some((quantile(&means, 0.025)?, quantile(&means, 0.975)?))
}

/// The RAND/UCLA appropriateness method's test of disagreement (Fitch et al. 2001).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RandUcla {
    /// The interpercentile range: 70th minus 30th percentile (linear interpolation).
    pub ipr: f64,
    /// The IPR adjusted for symmetry: 2.35 + 1.5 × |5 − the IPR's central point|.
    pub ipras: f64,
    /// IPR > IPRAS.
    pub disagreement: bool,
}

/// Whether the RAND/UCLA test applies: a scale from 1 to 9.
pub fn rand_ucla_applies(scale: &Scale) -> bool {
    scale.min == 1 && scale.max == 9
}

/// The RAND/UCLA test of the valid scores (on a 1–9 scale); None without scores.
pub fn rand_ucla(scores: &[i32]) -> Option<RandUcla> {
    let mut v: Vec<f64> = scores.iter().map(|&s| f64::from(s)).collect();
    v.sort_by(f64::total_cmp);
    let (p30, p70) = (quantile(&v, 0.3)?, quantile(&v, 0.7)?);
    let ipr = p70 - p30;
    let ipras = 2.35 + 1.5 * (5.0 - (p30 + p70) / 2.0).abs();
    Some(RandUcla {
        ipr,
        ipras,
        disagreement: ipr > ipras + 1e-9,
    })
}

/// A consensus rule as the sensitivity table tries it: `max_iqr` none is no IQR condition.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RuleVariant {
    pub share_percent: f64,
    pub points: i32,
    pub max_iqr: Option<f64>,
    pub dont_know: DontKnow,
}

impl RuleVariant {
    pub fn of(rule: &ConsensusRule) -> RuleVariant {
        RuleVariant {
            share_percent: rule.share_percent,
            points: rule.points,
            max_iqr: Some(rule.max_iqr),
            dont_know: rule.dont_know,
        }
    }

    /// The rule's shares and points, to judge a theme by with [`Self::max_iqr`].
    pub fn shares(&self) -> ConsensusRule {
        ConsensusRule {
            share_percent: self.share_percent,
            points: self.points,
            max_iqr: self.max_iqr.unwrap_or(f64::INFINITY),
            dont_know: self.dont_know,
        }
    }
}

/// The locked rule first, then its neighbours: shares of 60, 70 and 80 %, IQR ≤ 1 or no IQR
/// condition, "don't know" left out or counted as not agreeing, each with the locked rule's
/// points. A neighbour equal to the locked rule is not repeated.
pub fn neighbouring_rules(locked: &ConsensusRule) -> Vec<RuleVariant> {
    let first = RuleVariant::of(locked);
    let mut out = vec![first.clone()];
    for share in [60.0, 70.0, 80.0] {
        for max_iqr in [Some(1.0), None] {
            for dont_know in [DontKnow::Excluded, DontKnow::NotAgreeing] {
                let v = RuleVariant {
                    share_percent: share,
                    points: locked.points,
                    max_iqr,
                    dont_know,
                };
                if v != first {
                    out.push(v);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    //! Reference values from numpy 2 and scipy 1.17, stored as numbers.

    use super::*;

    #[test]
    fn the_bootstrap_is_the_same_for_the_same_ids_and_close_to_scipy() {
        let scores = [4, 3, 4, 4, 4, 4, 4, 4, 3, 2, 1, 4];
        let s = seed("study", "round", "theme");
        let a = bootstrap_ci(&scores, s, RESAMPLES).unwrap();
        assert_eq!(a, bootstrap_ci(&scores, s, RESAMPLES).unwrap());
        assert_ne!(
            s,
            seed("study", "round", "other"),
            "another theme, other resamples"
        );
        // scipy.stats.bootstrap((scores,), np.mean, method="percentile", n_resamples=1_000_000):
        // within one step of the means' lattice (1/12) of a million resamples' interval.
        let (lo, hi) = BOOT_REFERENCE;
        assert!((a.0 - lo).abs() <= 1.0 / 12.0, "{a:?}");
        assert!((a.1 - hi).abs() <= 1.0 / 12.0, "{a:?}");
        assert!(a.0 < 3.4166 && 3.4167 < a.1, "the mean lies inside");
        assert_eq!(bootstrap_ci(&[3], s, RESAMPLES), None);
        // The seed is fixed by the ids: a change here changes every stored interval.
        assert_eq!(seed("s", "r", "t"), SEED_REFERENCE);
    }

    #[test]
    fn rand_ucla_matches_its_definition() {
        for (scores, ipr, ipras, disagreement) in RAND_CASES {
            let r = rand_ucla(scores).unwrap();
            assert!((r.ipr - ipr).abs() < 1e-9, "{scores:?}: {r:?}");
            assert!((r.ipras - ipras).abs() < 1e-9, "{scores:?}: {r:?}");
            assert_eq!(r.disagreement, *disagreement, "{scores:?}");
        }
        assert!(rand_ucla(&[]).is_none());
    }

    #[test]
    fn neighbouring_rules_start_with_the_locked_one_and_do_not_repeat_it() {
        let rules = neighbouring_rules(&ConsensusRule::default());
        assert_eq!(rules.len(), 12);
        assert_eq!(rules[0], RuleVariant::of(&ConsensusRule::default()));
        let odd = ConsensusRule {
            share_percent: 75.0,
            ..Default::default()
        };
        assert_eq!(neighbouring_rules(&odd).len(), 13);
    }

    const BOOT_REFERENCE: (f64, f64) = (2.8333333333333335, 3.9166666666666665);
    const SEED_REFERENCE: u64 = 16_243_750_495_871_737_756;
    type RandCase = (&'static [i32], f64, f64, bool);
    const RAND_CASES: &[RandCase] = &[
        (&[1, 2, 3, 4, 5, 6, 7, 8, 9], 3.2, 2.35, true),
        (&[7, 8, 8, 9, 9, 9, 8, 7, 8], 0.6, 7.3, false),
        (&[1, 1, 2, 9, 9, 9, 1, 9, 2, 8], 7.3, 2.875, true),
        (&[5, 5, 5, 4, 6, 5, 5], 0.0, 2.35, false),
        (&[1, 9, 1, 9, 1, 9], 8.0, 2.35, true),
    ];
}
