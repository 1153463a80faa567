//! Agreement between coders: texts cut into units (sentences), Cohen's kappa for two coders'
//! coded/not-coded decisions per unit, and Krippendorff's alpha (nominal) for any number of
//! coders with missing values.

use std::collections::BTreeMap;

/// A unit of a text: `[start, end)` in characters, without surrounding white space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    pub start: usize,
    pub end: usize,
}

/// Sentences: a unit ends after `.`, `!` or `?` followed by white space, and at every line
/// break. Units are trimmed of white space; empty ones are dropped.
pub fn sentences(text: &str) -> Vec<Unit> {
    let chars: Vec<char> = text.chars().collect();
    let mut units = Vec::new();
    let mut start = 0;
    let push = |s: usize, e: usize, units: &mut Vec<Unit>| {
        let (mut s, mut e) = (s, e);
        while s < e && chars[s].is_whitespace() {
            s += 1;
        }
        while e > s && chars[e - 1].is_whitespace() {
            e -= 1;
        }
        if e > s {
            units.push(Unit { start: s, end: e });
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            push(start, i, &mut units);
            start = i + 1;
        } else if matches!(c, '.' | '!' | '?')
            && chars.get(i + 1).is_some_and(|n| n.is_whitespace())
        {
            push(start, i + 1, &mut units);
            start = i + 1;
        }
        i += 1;
    }
    push(start, chars.len(), &mut units);
    units
}

/// Whether a selection `[start, end)` touches the unit.
pub fn overlaps(u: Unit, start: usize, end: usize) -> bool {
    start < u.end && end > u.start
}

/// Cohen's kappa of two coders' yes/no decisions on the same units. None when chance agreement
/// is total (both coders said the same thing of every unit, so kappa is undefined).
pub fn cohen_kappa(pairs: &[(bool, bool)]) -> Option<f64> {
    let n = pairs.len() as f64;
    if pairs.is_empty() {
        return None;
    }
    let agree = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n;
    let a_yes = pairs.iter().filter(|(a, _)| *a).count() as f64 / n;
    let b_yes = pairs.iter().filter(|(_, b)| *b).count() as f64 / n;
    let chance = a_yes * b_yes + (1.0 - a_yes) * (1.0 - b_yes);
    if (1.0 - chance).abs() < 1e-12 {
        return None;
    }
    Some((agree - chance) / (1.0 - chance))
}

/// Krippendorff's alpha for nominal data. `units[u][c]` is coder c's value for unit u, or None.
/// Units with fewer than two values are not pairable and are left out. None when there is no
/// variation at all (alpha undefined).
pub fn krippendorff_alpha_nominal<V: Ord + Clone>(units: &[Vec<Option<V>>]) -> Option<f64> {
    // The coincidence matrix.
    let mut o: BTreeMap<(V, V), f64> = BTreeMap::new();
    for unit in units {
        let values: Vec<&V> = unit.iter().flatten().collect();
        let m = values.len();
        if m < 2 {
            continue;
        }
        for (i, a) in values.iter().enumerate() {
            for (j, b) in values.iter().enumerate() {
                if i != j {
                    *o.entry(((*a).clone(), (*b).clone())).or_default() += 1.0 / (m as f64 - 1.0);
                }
            }
        }
    }
    let mut n_c: BTreeMap<V, f64> = BTreeMap::new();
    for ((c, _), v) in &o {
        *n_c.entry(c.clone()).or_default() += v;
    }
    let n: f64 = n_c.values().sum();
    if n <= 1.0 {
        return None;
    }
    let observed: f64 = o.iter().filter(|((c, k), _)| c != k).map(|(_, v)| v).sum();
    let mut expected = 0.0;
    for (c, nc) in &n_c {
        for (k, nk) in &n_c {
            if c != k {
                expected += nc * nk;
            }
        }
    }
    if expected == 0.0 {
        return None;
    }
    Some(1.0 - (n - 1.0) * observed / expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_cut_into_sentences() {
        let t = "Vi starter tidligt. Er det nok?\nJa!  Måske ikke.";
        let units: Vec<String> = sentences(t)
            .iter()
            .map(|u| t.chars().skip(u.start).take(u.end - u.start).collect())
            .collect();
        assert_eq!(
            units,
            ["Vi starter tidligt.", "Er det nok?", "Ja!", "Måske ikke."]
        );
        assert!(sentences("  \n ").is_empty());
        assert_eq!(
            sentences("3.5 er et tal").len(),
            1,
            "a point inside a number ends nothing"
        );
    }

    #[test]
    fn kappa_of_the_textbook_example() {
        // 50 decisions: both yes 20, only A 5, only B 10, both no 15 → p_o 0.7, p_e 0.5, κ 0.4.
        let mut pairs = Vec::new();
        pairs.extend(std::iter::repeat_n((true, true), 20));
        pairs.extend(std::iter::repeat_n((true, false), 5));
        pairs.extend(std::iter::repeat_n((false, true), 10));
        pairs.extend(std::iter::repeat_n((false, false), 15));
        assert!((cohen_kappa(&pairs).unwrap() - 0.4).abs() < 1e-12);
        assert_eq!(cohen_kappa(&[(true, true), (true, true)]), None);
    }

    #[test]
    fn alpha_of_krippendorffs_published_example() {
        // Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers, 12
        // units, values 1-5 with missing data; nominal alpha = 0.743.
        let a = [
            Some(1),
            Some(2),
            Some(3),
            Some(3),
            Some(2),
            Some(1),
            Some(4),
            Some(1),
            Some(2),
            None,
            None,
            None,
        ];
        let b = [
            Some(1),
            Some(2),
            Some(3),
            Some(3),
            Some(2),
            Some(2),
            Some(4),
            Some(1),
            Some(2),
            Some(5),
            None,
            Some(3),
        ];
        let c = [
            None,
            Some(3),
            Some(3),
            Some(3),
            Some(2),
            Some(3),
            Some(4),
            Some(2),
            Some(2),
            Some(5),
            Some(1),
            None,
        ];
        let d = [
            Some(1),
            Some(2),
            Some(3),
            Some(3),
            Some(2),
            Some(4),
            Some(4),
            Some(1),
            Some(2),
            Some(5),
            Some(1),
            None,
        ];
        let units: Vec<Vec<Option<i32>>> = (0..12).map(|u| vec![a[u], b[u], c[u], d[u]]).collect();
        let alpha = krippendorff_alpha_nominal(&units).unwrap();
        assert!((alpha - 0.743).abs() < 5e-4, "alpha = {alpha}");
        // Perfect agreement is 1.
        let same: Vec<Vec<Option<bool>>> =
            vec![vec![Some(true), Some(true)], vec![Some(false), Some(false)]];
        assert!((krippendorff_alpha_nominal(&same).unwrap() - 1.0).abs() < 1e-12);
    }
}
