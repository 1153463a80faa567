//! A study's settings: language, rating scale, consensus rule, group-size and priority
//! thresholds, reminder schedule and retention. Parsed from requests into values that are valid
//! by construction.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Invalid, text};
use crate::i18n::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Da,
    En,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::Da => "da",
            Language::En => "en",
        }
    }

    pub fn parse(field: &str, value: &str) -> Result<Language, Invalid> {
        match value {
            "da" => Ok(Language::Da),
            "en" => Ok(Language::En),
            other => Err(Invalid::one(
                field,
                format!("must be \"da\" or \"en\", not {other:?}"),
            )),
        }
    }

    /// For values already stored (and so once validated).
    pub fn from_stored(value: &str) -> Language {
        if value == "en" {
            Language::En
        } else {
            Language::Da
        }
    }
}

/// The rating scale: integer points from `min` to `max`, labelled at both ends, with an optional
/// "don't know" that is excluded from every statistic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Scale {
    pub min: i32,
    pub max: i32,
    pub low_label: String,
    pub high_label: String,
    pub dont_know: bool,
}

impl Scale {
    pub fn default_for(language: Language) -> Scale {
        let (low, high) = match language {
            Language::Da => ("Mindst relevant", "Meget relevant"),
            Language::En => ("Least relevant", "Very relevant"),
        };
        Scale {
            min: 0,
            max: 4,
            low_label: low.into(),
            high_label: high.into(),
            dont_know: true,
        }
    }

    pub fn points(&self) -> usize {
        // In i64: a scale sent with extreme ends must fail validation, not overflow.
        (i64::from(self.max) - i64::from(self.min) + 1).max(0) as usize
    }

    pub fn contains(&self, score: i32) -> bool {
        (self.min..=self.max).contains(&score)
    }

    fn validate(self) -> Result<Scale, Invalid> {
        let mut errors = Invalid::new();
        if self.min < 0 || self.min > 10 {
            errors.add("scale.min", "must be between 0 and 10");
        }
        if self.max <= self.min {
            errors.add("scale.max", "must be greater than scale.min");
        } else if !(3..=11).contains(&self.points()) {
            errors.add("scale.max", "the scale must have between 3 and 11 points");
        }
        let low = errors.take(text::line("scale.low_label", &self.low_label, 80));
        let high = errors.take(text::line("scale.high_label", &self.high_label, 80));
        errors.into_result(())?;
        Ok(Scale {
            low_label: low.unwrap_or_default(),
            high_label: high.unwrap_or_default(),
            ..self
        })
    }
}

/// When a theme counts as agreed on: at least `share_percent` % of the valid scores in the
/// `points` highest (high priority) or lowest (low priority) scale points, and an IQR of at most
/// `max_iqr`. PRODUCT.md's default is 70 %, two points, IQR ≤ 1, "don't know" left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsensusRule {
    pub share_percent: f64,
    pub points: i32,
    pub max_iqr: f64,
    /// How "don't know" counts in the shares: left out (`excluded`, the default) or counted
    /// among the answers that do not agree (`not_agreeing`). The IQR is always of the scores.
    #[serde(default)]
    pub dont_know: DontKnow,
}

/// How a consensus rule counts "don't know".
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DontKnow {
    /// Left out: the shares are of the valid scores.
    #[default]
    Excluded,
    /// Counted as not agreeing: the shares are of the valid scores and the don't-knows.
    NotAgreeing,
}

impl DontKnow {
    pub fn key(self) -> &'static str {
        match self {
            DontKnow::Excluded => "excluded",
            DontKnow::NotAgreeing => "not_agreeing",
        }
    }
}

impl Default for ConsensusRule {
    fn default() -> Self {
        ConsensusRule {
            share_percent: 70.0,
            points: 2,
            max_iqr: 1.0,
            dont_know: DontKnow::Excluded,
        }
    }
}

impl ConsensusRule {
    /// Checks the rule against the scale it judges.
    pub fn validate_on(self, scale: &Scale) -> Result<ConsensusRule, Invalid> {
        let mut errors = Invalid::new();
        if !(self.share_percent > 50.0 && self.share_percent <= 100.0) {
            errors.add(
                "consensus.share_percent",
                "must be above 50 and at most 100, so high and low consensus cannot both hold",
            );
        }
        if self.points < 1 || self.points as usize * 2 > scale.points() {
            errors.add(
                "consensus.points",
                format!(
                    "must be between 1 and {} for a scale of {} points",
                    scale.points() / 2,
                    scale.points()
                ),
            );
        }
        if !(self.max_iqr >= 0.0 && self.max_iqr <= (scale.max - scale.min) as f64) {
            errors.add(
                "consensus.max_iqr",
                "must be between 0 and the width of the scale",
            );
        }
        errors.into_result(self)
    }
}

/// Everything a researcher sets on a study, valid as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct StudySettings {
    pub title: String,
    pub purpose: String,
    pub funder: String,
    pub contact: String,
    pub language: Language,
    pub scale: Scale,
    pub consensus: ConsensusRule,
    pub min_group_size: i32,
    pub small_cell_threshold: i32,
    pub priority_threshold: f64,
    pub reminder_days: Vec<i32>,
    pub no_reply_after_days: i32,
    pub link_grace_days: i32,
    pub retention_until: Option<NaiveDate>,
    /// The study's clock: every time a person reads or types is on it.
    pub time_zone: Tz,
    /// The key of the stratum whose values are the panel groups, if the study has groups.
    pub groups_by: Option<String>,
    /// What only the researchers can say, for the reporting checklist: why a Delphi study, why
    /// a panel of this size, the study's limitations, its funding and conflicts of interest.
    pub rationale: String,
    pub panel_size_rationale: String,
    pub limitations: String,
    pub funding_and_interests: String,
    /// Whether and how the panel discusses the themes of an open round.
    pub discussion: Discussion,
}

/// How the panel's anonymous discussion of a round's themes is moderated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Discussion {
    /// Posts wait for a researcher's approval before the panel sees them.
    #[default]
    Moderated,
    /// Posts appear at once; researchers may hide one afterwards.
    Open,
    /// No discussion.
    Off,
}

impl Discussion {
    pub fn as_str(self) -> &'static str {
        match self {
            Discussion::Moderated => "moderated",
            Discussion::Open => "open",
            Discussion::Off => "off",
        }
    }

    pub fn from_stored(s: &str) -> Discussion {
        [Discussion::Moderated, Discussion::Open, Discussion::Off]
            .into_iter()
            .find(|d| d.as_str() == s)
            .unwrap_or_default()
    }
}

/// The fields of a create or update request; absent fields keep their current (or default) value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StudyInput {
    pub title: Option<String>,
    pub purpose: Option<String>,
    pub funder: Option<String>,
    /// How experts reach the researchers (shown on their pages and in e-mails).
    pub contact: Option<String>,
    /// `da` or `en`.
    pub language: Option<String>,
    pub scale: Option<Scale>,
    pub consensus: Option<ConsensusRule>,
    /// Group feedback is shown only for items answered by at least this many panellists.
    pub min_group_size: Option<i32>,
    /// Composition-table cells below this count are suppressed in funder outputs.
    pub small_cell_threshold: Option<i32>,
    /// A theme meets the priority threshold when its mean is at least this.
    pub priority_threshold: Option<f64>,
    /// Days after an invitation on which reminders go to those who have not answered.
    pub reminder_days: Option<Vec<i32>>,
    /// Days after the last reminder after which a silent candidate is marked "no reply".
    pub no_reply_after_days: Option<i32>,
    /// Days after a round's deadline that personal links keep working (read-only).
    pub link_grace_days: Option<i32>,
    /// After this date identities and transcripts are deleted. `null` clears it.
    #[serde(default, deserialize_with = "deserialize_some")]
    #[schema(value_type = Option<String>, format = Date)]
    pub retention_until: Option<Option<NaiveDate>>,
    /// The study's time zone, an IANA name (`Europe/Copenhagen`, `America/New_York`): pages,
    /// e-mails and the report show times on its clock. A new study takes the server's
    /// `server.time_zone`.
    #[schema(example = "Europe/Copenhagen")]
    pub time_zone: Option<String>,
    /// The key of the stratum whose values are the study's panel groups (`side`: employer /
    /// employee): the report compares them and feedback rounds can show them. `null` clears it.
    /// Locked, like the consensus rule, when the first rating round opens.
    #[serde(default, deserialize_with = "deserialize_some")]
    #[schema(value_type = Option<String>, example = "side")]
    pub groups_by: Option<Option<String>>,
    /// Why the study uses a Delphi panel (for the report's reporting checklist).
    pub rationale: Option<String>,
    /// Why the panel has the size it has.
    pub panel_size_rationale: Option<String>,
    /// The study's limitations, as the researchers see them.
    pub limitations: Option<String>,
    /// Who funds the study, and the researchers' conflicts of interest.
    pub funding_and_interests: Option<String>,
    /// The panel's discussion of an open round's themes: `moderated` (posts wait for a
    /// researcher's approval; the default), `open` (posts appear at once) or `off`.
    pub discussion: Option<Discussion>,
}

/// Tells "absent" (outer None) from "null" (Some(None)).
fn deserialize_some<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    T::deserialize(d).map(Some)
}

impl StudySettings {
    /// The settings of a new study: the input over the defaults of its language, on the
    /// server's clock `zone` unless the input names another.
    pub fn create(input: StudyInput, zone: Tz) -> Result<StudySettings, Invalid> {
        let language = match &input.language {
            Some(l) => Language::parse("language", l)?,
            None => Language::Da,
        };
        if input.title.is_none() {
            return Err(Invalid::one("title", "is required"));
        }
        let base = StudySettings {
            title: String::new(),
            purpose: String::new(),
            funder: String::new(),
            contact: String::new(),
            language,
            scale: Scale::default_for(language),
            consensus: ConsensusRule::default(),
            min_group_size: 3,
            small_cell_threshold: 3,
            priority_threshold: 3.0,
            reminder_days: vec![5, 10],
            no_reply_after_days: 5,
            link_grace_days: 7,
            retention_until: None,
            time_zone: zone,
            groups_by: None,
            rationale: String::new(),
            panel_size_rationale: String::new(),
            limitations: String::new(),
            funding_and_interests: String::new(),
            discussion: Discussion::default(),
        };
        base.apply(input, None)
    }

    /// These settings changed by `input`. `consensus_locked` refuses a different consensus rule
    /// or panel groups. Whether `groups_by` names one of the study's strata is checked where the
    /// strata are known.
    pub fn apply(
        &self,
        input: StudyInput,
        consensus_locked: Option<&str>,
    ) -> Result<StudySettings, Invalid> {
        let mut e = Invalid::new();
        let mut s = self.clone();
        if let Some(t) = &input.title {
            s.title = e.take(text::line("title", t, 200)).unwrap_or_default();
        }
        if let Some(t) = &input.purpose {
            s.purpose = e.take(text::block("purpose", t, 5000)).unwrap_or_default();
        }
        if let Some(t) = &input.funder {
            s.funder = e.take(text::block("funder", t, 200)).unwrap_or_default();
        }
        if let Some(t) = &input.contact {
            s.contact = e.take(text::block("contact", t, 1000)).unwrap_or_default();
        }
        for (field, value, into) in [
            ("rationale", &input.rationale, &mut s.rationale),
            (
                "panel_size_rationale",
                &input.panel_size_rationale,
                &mut s.panel_size_rationale,
            ),
            ("limitations", &input.limitations, &mut s.limitations),
            (
                "funding_and_interests",
                &input.funding_and_interests,
                &mut s.funding_and_interests,
            ),
        ] {
            if let Some(t) = value {
                *into = e.take(text::block(field, t, 5000)).unwrap_or_default();
            }
        }
        if let Some(d) = input.discussion {
            s.discussion = d;
        }
        if let Some(l) = &input.language
            && let Some(l) = e.take(Language::parse("language", l))
        {
            // Labels left at the old language's defaults are the product's words, not the
            // researcher's: they follow the study into its new language.
            let (was, now) = (Scale::default_for(s.language), Scale::default_for(l));
            if s.scale.low_label == was.low_label && s.scale.high_label == was.high_label {
                s.scale.low_label = now.low_label;
                s.scale.high_label = now.high_label;
            }
            s.language = l;
        }
        if let Some(scale) = input.scale
            && let Some(scale) = e.take(scale.validate())
        {
            s.scale = scale;
        }
        if let Some(rule) = input.consensus {
            if let Some(locked_at) = consensus_locked
                && rule != self.consensus
            {
                e.add(
                    "consensus",
                    format!(
                        "the consensus rule was locked at {locked_at}, when the first rating round opened, and can no longer change"
                    ),
                );
            } else {
                s.consensus = rule;
            }
        }
        if let Some(by) = input.groups_by {
            let by = by.map(|b| b.trim().to_string()).filter(|b| !b.is_empty());
            if let Some(locked_at) = consensus_locked
                && by != self.groups_by
            {
                e.add(
                    "groups_by",
                    format!(
                        "the panel groups were locked at {locked_at}, when the first rating round opened, and can no longer change"
                    ),
                );
            } else {
                s.groups_by = by;
            }
        }
        if let Some(n) = input.min_group_size {
            if !(1..=100).contains(&n) {
                e.add("min_group_size", "must be between 1 and 100");
            }
            s.min_group_size = n;
        }
        if let Some(n) = input.small_cell_threshold {
            if !(1..=100).contains(&n) {
                e.add("small_cell_threshold", "must be between 1 and 100");
            }
            s.small_cell_threshold = n;
        }
        if let Some(p) = input.priority_threshold {
            s.priority_threshold = p;
        }
        if let Some(days) = input.reminder_days {
            let mut sorted = days.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if days.len() > 10 || days.iter().any(|d| !(1..=365).contains(d)) {
                e.add(
                    "reminder_days",
                    "must be at most 10 distinct days between 1 and 365",
                );
            } else if sorted != days {
                e.add("reminder_days", "must be distinct and in increasing order");
            }
            s.reminder_days = days;
        }
        if let Some(n) = input.no_reply_after_days {
            if !(0..=365).contains(&n) {
                e.add("no_reply_after_days", "must be between 0 and 365");
            }
            s.no_reply_after_days = n;
        }
        if let Some(n) = input.link_grace_days {
            if !(0..=365).contains(&n) {
                e.add("link_grace_days", "must be between 0 and 365");
            }
            s.link_grace_days = n;
        }
        if let Some(r) = input.retention_until {
            s.retention_until = r;
        }
        if let Some(name) = &input.time_zone {
            match crate::i18n::zone::parse(name) {
                Some(tz) => s.time_zone = tz,
                None => e.add(
                    "time_zone",
                    "must be a time zone of the IANA database, such as Europe/Copenhagen",
                ),
            }
        }
        // Checks that depend on several fields run on the combined result.
        if let Err(inner) = s.consensus.clone().validate_on(&s.scale) {
            e.0.extend(inner.0);
        }
        if !(s.priority_threshold.is_finite()
            && s.priority_threshold >= s.scale.min as f64
            && s.priority_threshold <= s.scale.max as f64)
        {
            e.add(
                "priority_threshold",
                format!(
                    "must lie on the scale, between {} and {}",
                    s.scale.min, s.scale.max
                ),
            );
        }
        e.into_result(s)
    }
}

#[cfg(test)]
mod tests {
    fn create(input: StudyInput) -> Result<StudySettings, Invalid> {
        StudySettings::create(input, crate::i18n::zone::DEFAULT)
    }

    use super::*;

    fn input(json: serde_json::Value) -> StudyInput {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_title_alone_gives_the_documented_defaults() {
        let s = create(input(serde_json::json!({"title": "Norliv"}))).unwrap();
        assert_eq!(s.language, Language::Da);
        assert_eq!((s.scale.min, s.scale.max), (0, 4));
        assert!(s.scale.dont_know);
        assert_eq!(s.consensus, ConsensusRule::default());
        assert_eq!(s.min_group_size, 3);
        assert_eq!(s.priority_threshold, 3.0);
    }

    #[test]
    fn default_scale_labels_follow_the_language_and_typed_ones_stay() {
        let s = create(input(serde_json::json!({"title": "Norliv"}))).unwrap();
        let en = s
            .apply(input(serde_json::json!({"language": "en"})), None)
            .unwrap();
        assert_eq!(en.scale, Scale::default_for(Language::En));
        let typed = create(input(serde_json::json!({
            "title": "x",
            "scale": {"min": 1, "max": 5, "low_label": "Uvigtigt", "high_label": "Afgørende", "dont_know": false}
        })))
        .unwrap();
        let en = typed
            .apply(input(serde_json::json!({"language": "en"})), None)
            .unwrap();
        assert_eq!(
            (en.scale.low_label.as_str(), en.scale.high_label.as_str()),
            ("Uvigtigt", "Afgørende")
        );
        // Both in one change: the scale sent wins.
        let both = s
            .apply(
                input(
                    serde_json::json!({"language": "en", "scale": {"min": 0, "max": 4,
                    "low_label": "Low", "high_label": "High", "dont_know": true}}),
                ),
                None,
            )
            .unwrap();
        assert_eq!(both.scale.low_label, "Low");
    }

    #[test]
    fn a_scale_with_extreme_ends_is_refused_not_overflowed() {
        let err = create(input(serde_json::json!({
            "title": "x",
            "scale": {"min": i32::MIN, "max": i32::MAX, "low_label": "a", "high_label": "b", "dont_know": false}
        })))
        .unwrap_err();
        assert!(err.0.iter().any(|e| e.field == "scale.min"), "{err:?}");
    }

    #[test]
    fn errors_name_their_fields() {
        let err = create(input(serde_json::json!({
            "title": " ", "language": "de",
            "scale": {"min": 0, "max": 0, "low_label": "a", "high_label": "b", "dont_know": false},
            "min_group_size": 0
        })))
        .unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"language"), "{fields:?}");
        let err = create(input(serde_json::json!({
            "title": " ",
            "scale": {"min": 0, "max": 0, "low_label": "a", "high_label": "b", "dont_know": false},
            "min_group_size": 0, "priority_threshold": 9.0
        })))
        .unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        for f in ["title", "scale.max", "min_group_size"] {
            assert!(fields.contains(&f), "{f} missing in {fields:?}");
        }
    }

    #[test]
    fn consensus_must_fit_the_scale() {
        let err = create(input(serde_json::json!({
            "title": "x", "consensus": {"share_percent": 40, "points": 3, "max_iqr": 1}
        })))
        .unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["consensus.share_percent", "consensus.points"]);
    }

    #[test]
    fn a_locked_rule_cannot_change_but_may_be_restated() {
        let s = create(input(serde_json::json!({"title": "x"}))).unwrap();
        let same = input(
            serde_json::json!({"consensus": {"share_percent": 70, "points": 2, "max_iqr": 1}}),
        );
        assert!(s.apply(same, Some("2026-11-26T10:00:00Z")).is_ok());
        let other = input(
            serde_json::json!({"consensus": {"share_percent": 80, "points": 2, "max_iqr": 1}}),
        );
        let err = s.apply(other, Some("2026-11-26T10:00:00Z")).unwrap_err();
        assert_eq!(err.0[0].field, "consensus");
        assert!(err.0[0].message.contains("locked"));
    }

    #[test]
    fn retention_can_be_set_and_cleared() {
        let s = create(input(
            serde_json::json!({"title": "x", "retention_until": "2030-01-31"}),
        ))
        .unwrap();
        assert!(s.retention_until.is_some());
        let cleared = s
            .apply(input(serde_json::json!({"retention_until": null})), None)
            .unwrap();
        assert_eq!(cleared.retention_until, None);
        let kept = s
            .apply(input(serde_json::json!({"title": "y"})), None)
            .unwrap();
        assert!(kept.retention_until.is_some());
    }

    #[test]
    fn reminder_days_must_increase() {
        let s = create(input(serde_json::json!({"title": "x"}))).unwrap();
        assert!(
            s.apply(input(serde_json::json!({"reminder_days": [10, 5]})), None)
                .is_err()
        );
        assert!(
            s.apply(input(serde_json::json!({"reminder_days": []})), None)
                .is_ok()
        );
    }
}

/// A researcher's role in a study. Owners also manage membership.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Researcher,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Researcher => "researcher",
        }
    }

    pub fn parse(field: &str, value: &str) -> Result<Role, Invalid> {
        match value {
            "owner" => Ok(Role::Owner),
            "researcher" => Ok(Role::Researcher),
            _ => Err(Invalid::one(field, "must be \"owner\" or \"researcher\"")),
        }
    }

    pub fn from_stored(value: &str) -> Option<Role> {
        match value {
            "owner" => Some(Role::Owner),
            "researcher" => Some(Role::Researcher),
            _ => None,
        }
    }
}
