//! The statistics against independently computed figures: `tests/data/demo-ratings.csv` (a
//! 9 × 13 score matrix shaped like the reference study) and `tests/data/demo-expected.csv`,
//! with Kendall's W = 0.337665, χ² = 36.4678 on 12 df, p = 0.000272.

use orakel::domain::stats::{ItemStats, kendall_w, wilcoxon_signed_rank};
use orakel::domain::{ConsensusRule, Scale};

fn scale() -> Scale {
    Scale {
        min: 0,
        max: 4,
        low_label: "l".into(),
        high_label: "h".into(),
        dont_know: true,
    }
}

/// theme number → the nine experts' scores.
fn ratings() -> Vec<(usize, Vec<i32>)> {
    include_str!("data/demo-ratings.csv")
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1..].iter().map(|x| x.parse().unwrap()).collect(),
            )
        })
        .collect()
}

#[test]
fn every_theme_matches_the_expected_figures() {
    let expected: Vec<Vec<String>> = include_str!("data/demo-expected.csv")
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let ratings = ratings();
    assert_eq!(expected.len(), 13);
    for e in &expected {
        let theme: usize = e[0].parse().unwrap();
        let scores = &ratings.iter().find(|(t, _)| *t == theme).unwrap().1;
        let s = ItemStats::of(scores, 0, &scale());
        let num = |i: usize| e[i].parse::<f64>().unwrap();
        let close = |got: Option<f64>, want: f64, what: &str| {
            let got = got.unwrap_or_else(|| panic!("theme {theme} {what} missing"));
            assert!(
                (got - want).abs() < 1e-4,
                "theme {theme} {what}: {got} != {want}"
            );
        };
        assert_eq!(s.n, e[1].parse::<usize>().unwrap());
        close(s.mean, num(2), "mean");
        assert_eq!(
            s.mean_display("en").unwrap(),
            e[3],
            "theme {theme} mean to one decimal"
        );
        close(s.median, num(4), "median");
        close(s.q1, num(5), "q1");
        close(s.q3, num(6), "q3");
        close(s.iqr, num(7), "iqr");
        close(s.sd, num(8), "sd");
        let counts: Vec<usize> = (9..14).map(|i| e[i].parse().unwrap()).collect();
        assert_eq!(s.counts, counts, "theme {theme} counts");
        close(s.pct_top2, num(14), "pct_top2");
        close(s.pct_bottom2, num(15), "pct_bottom2");
    }
}

#[test]
fn table_3_of_the_reference_study() {
    let table3 = [
        "3,8", "3,6", "3,0", "3,1", "1,9", "2,8", "2,1", "2,8", "3,2", "2,1", "3,0", "2,3", "2,1",
    ];
    for (theme, scores) in ratings() {
        let s = ItemStats::of(&scores, 0, &scale());
        assert_eq!(
            s.mean_display("da").unwrap(),
            table3[theme - 1],
            "theme {theme}"
        );
    }
    // The report's sentences: high agreement on 1, 2, 3, 4 and 9; none on a low priority; six
    // themes at a mean of 3 or more (1, 2, 3, 4, 9, 11). Theme 10 does not agree, whatever the
    // hand-written report said.
    let rule = ConsensusRule::default();
    let mut high = Vec::new();
    let mut priority = Vec::new();
    for (theme, scores) in ratings() {
        let s = ItemStats::of(&scores, 0, &scale());
        match s.verdict(&rule) {
            orakel::domain::stats::Verdict::High => high.push(theme),
            orakel::domain::stats::Verdict::Low => panic!("theme {theme} agrees on a low priority"),
            orakel::domain::stats::Verdict::None => {}
        }
        if s.mean.unwrap() >= 3.0 {
            priority.push(theme);
        }
    }
    assert_eq!(high, [1, 2, 3, 4, 9]);
    assert_eq!(priority, [1, 2, 3, 4, 9, 11]);
}

#[test]
fn kendalls_w_of_the_panel() {
    let ratings = ratings();
    // Experts are the raters (rows), themes the objects (columns).
    let matrix: Vec<Vec<Option<i32>>> = (0..9)
        .map(|expert| ratings.iter().map(|(_, s)| Some(s[expert])).collect())
        .collect();
    let k = kendall_w(&matrix).unwrap();
    assert_eq!((k.raters, k.objects, k.df), (9, 13, 12));
    assert!((k.w - 0.337665).abs() < 1e-6, "W = {}", k.w);
    assert!((k.chi2 - 36.4678).abs() < 1e-4, "χ² = {}", k.chi2);
    assert!((k.p - 0.000272).abs() < 1e-6, "p = {}", k.p);
    // The order of the experts changes nothing.
    let mut reversed = matrix.clone();
    reversed.reverse();
    assert!((kendall_w(&reversed).unwrap().w - k.w).abs() < 1e-12);
}

#[test]
fn wilcoxon_against_a_published_example() {
    // The worked example of the signed-rank test on Wikipedia (10 pairs, one zero difference):
    // W+ = 18 (of W = 9 usable pairs, T− = 27), two-sided exact p = 0.6328.
    let before = [125, 115, 130, 140, 140, 115, 140, 125, 140, 135];
    let after = [110, 122, 125, 120, 140, 124, 123, 137, 135, 145];
    let pairs: Vec<(i32, i32)> = before
        .iter()
        .zip(after.iter())
        .map(|(a, b)| (*b, *a))
        .collect();
    let w = wilcoxon_signed_rank(&pairs).unwrap();
    assert_eq!(w.n, 9);
    assert!(w.exact);
    assert!((w.p - 0.6328).abs() < 1e-3, "p = {}", w.p);
}

/// A small deterministic generator, so the properties below are checked over many matrices
/// and a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn properties_hold_over_random_panels() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for case in 0..2000 {
        let n = 1 + rng.below(15) as usize;
        let scores: Vec<i32> = (0..n).map(|_| rng.below(5) as i32).collect();
        let dk = rng.below(3) as usize;
        let s = ItemStats::of(&scores, dk, &scale());
        // Bounds.
        let (lo, hi) = (
            *scores.iter().min().unwrap() as f64,
            *scores.iter().max().unwrap() as f64,
        );
        let mean = s.mean.unwrap();
        assert!(lo <= mean && mean <= hi, "case {case}");
        let (q1, med, q3) = (s.q1.unwrap(), s.median.unwrap(), s.q3.unwrap());
        assert!(
            lo <= q1 && q1 <= med && med <= q3 && q3 <= hi,
            "case {case}: {q1} {med} {q3}"
        );
        assert!(s.iqr.unwrap() >= 0.0);
        assert!(s.sd.is_none_or(|sd| sd >= 0.0));
        for p in [s.pct_top2.unwrap(), s.pct_bottom2.unwrap()] {
            assert!((0.0..=100.0).contains(&p));
        }
        assert_eq!(s.counts.iter().sum::<usize>(), n);
        assert_eq!(s.dont_know, dk);
        // The order of the experts changes nothing.
        let mut shuffled = scores.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }
        assert_eq!(ItemStats::of(&shuffled, dk, &scale()), s, "case {case}");
        // All equal: no spread; the verdict follows the point.
        let same = ItemStats::of(&vec![scores[0]; n], 0, &scale());
        assert_eq!((same.iqr, same.sd.unwrap_or(0.0)), (Some(0.0), 0.0));
        // Kendall's W lies in [0, 1] and does not depend on the order of raters.
        let raters = 2 + rng.below(8) as usize;
        let objects = 2 + rng.below(10) as usize;
        let m: Vec<Vec<Option<i32>>> = (0..raters)
            .map(|_| (0..objects).map(|_| Some(rng.below(5) as i32)).collect())
            .collect();
        if let Some(k) = kendall_w(&m) {
            assert!(
                (-1e-12..=1.0 + 1e-12).contains(&k.w),
                "case {case}: W = {}",
                k.w
            );
            assert!((0.0..=1.0).contains(&k.p));
            let mut rev = m.clone();
            rev.reverse();
            assert!((kendall_w(&rev).unwrap().w - k.w).abs() < 1e-12);
        }
    }
    // Only don't-knows: nothing to compute, and no verdict.
    let none = ItemStats::of(&[], 5, &scale());
    assert_eq!((none.n, none.mean, none.median), (0, None, None));
    assert_eq!(
        none.verdict(&ConsensusRule::default()),
        orakel::domain::stats::Verdict::None
    );
}
