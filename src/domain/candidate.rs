//! Candidates for the panel: their status and its allowed changes, the panel attributes
//! (strata) they are described by, and what makes a candidate record valid.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Invalid, text};

/// Where a candidate stands in recruitment.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Found, not yet invited.
    Identified,
    /// Invitation sent, no answer yet.
    Invited,
    /// Gave written consent; a panellist with a pseudonym.
    Accepted,
    /// Said no (with a reason, if they gave one).
    Declined,
    /// Did not answer the invitation and its reminders.
    NoReply,
    /// Left the study after accepting (or was taken out by the researchers).
    Withdrawn,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Identified,
        Status::Invited,
        Status::Accepted,
        Status::Declined,
        Status::NoReply,
        Status::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Identified => "identified",
            Status::Invited => "invited",
            Status::Accepted => "accepted",
            Status::Declined => "declined",
            Status::NoReply => "no_reply",
            Status::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(value: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Whether recruitment may move a candidate from `self` to `to`.
    pub fn can_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Identified, Invited)
                | (Invited, Accepted)
                | (Invited, Declined)
                | (Invited, NoReply)
                // A late answer after the reminders still counts.
                | (NoReply, Accepted)
                | (NoReply, Declined)
                // The researchers may invite again someone who did not answer or said no.
                | (NoReply, Invited)
                | (Declined, Invited)
                | (Identified, Withdrawn)
                | (Invited, Withdrawn)
                | (Accepted, Withdrawn)
                | (NoReply, Withdrawn)
        )
    }
}

/// Why someone declined, in the few words a funder may see (their own words stay with the
/// researchers). Someone who never answered is counted as `no_reply` beside these.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeclineCategory {
    /// No time for it now.
    Busy,
    /// Outside their expertise.
    NotMyField,
    Other,
}

impl DeclineCategory {
    pub const ALL: [DeclineCategory; 3] = [
        DeclineCategory::Busy,
        DeclineCategory::NotMyField,
        DeclineCategory::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeclineCategory::Busy => "busy",
            DeclineCategory::NotMyField => "not_my_field",
            DeclineCategory::Other => "other",
        }
    }

    pub fn parse(value: &str) -> Option<DeclineCategory> {
        DeclineCategory::ALL
            .into_iter()
            .find(|c| c.as_str() == value)
    }

    /// A stored value; anything unknown (or none) counts as `other`.
    pub fn from_stored(value: Option<&str>) -> DeclineCategory {
        DeclineCategory::ALL
            .into_iter()
            .find(|c| Some(c.as_str()) == value)
            .unwrap_or(DeclineCategory::Other)
    }
}

/// A panel attribute such as sector or gender, with the values a candidate may have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stratum {
    /// A short name used in the API and in CSV headers: lower-case letters, digits, `_`.
    pub key: String,
    /// The name shown to people.
    pub label: String,
    pub values: Vec<String>,
}

/// Checks a whole set of strata (replacing the study's previous set).
pub fn validate_strata(strata: Vec<Stratum>) -> Result<Vec<Stratum>, Invalid> {
    let mut e = Invalid::new();
    if strata.len() > 20 {
        e.add("strata", "at most 20 attributes");
    }
    let mut keys = Vec::new();
    let mut out = Vec::new();
    for (i, s) in strata.into_iter().enumerate() {
        let f = |name: &str| format!("strata[{i}].{name}");
        let key = s.key.trim().to_string();
        if key.is_empty()
            || key.len() > 40
            || !key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            e.add(
                f("key"),
                "must be 1-40 lower-case letters, digits or underscores",
            );
        } else if keys.contains(&key) {
            e.add(f("key"), format!("{key:?} appears twice"));
        } else if matches!(
            key.as_str(),
            "name" | "email" | "organisation" | "source" | "referred_by" | "notes"
        ) {
            e.add(
                f("key"),
                format!("{key:?} is a candidate field, not an attribute"),
            );
        }
        keys.push(key.clone());
        let label = e
            .take(text::line(&f("label"), &s.label, 80))
            .unwrap_or_default();
        let mut values: Vec<String> = Vec::new();
        if s.values.is_empty() || s.values.len() > 50 {
            e.add(f("values"), "must list between 1 and 50 values");
        }
        for v in &s.values {
            if let Some(v) = e.take(text::line(&f("values"), v, 100)) {
                if values.iter().any(|x| x.to_lowercase() == v.to_lowercase()) {
                    e.add(f("values"), format!("{v:?} appears twice"));
                }
                values.push(v);
            }
        }
        out.push(Stratum { key, label, values });
    }
    e.into_result(out)
}

/// The stored spelling of `value` for `stratum`, matched without regard to case, or an error.
pub fn stratum_value(field: &str, stratum: &Stratum, value: &str) -> Result<String, Invalid> {
    let v = value.trim();
    stratum
        .values
        .iter()
        .find(|x| x.to_lowercase() == v.to_lowercase())
        .cloned()
        .ok_or_else(|| {
            Invalid::one(
                field,
                format!(
                    "{v:?} is not a value of {}; use one of: {}",
                    stratum.label,
                    stratum.values.join(", ")
                ),
            )
        })
}

/// A candidate as typed in or imported, before it is checked.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateInput {
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub organisation: String,
    /// Attribute values by stratum key, e.g. `{"sector": "retail"}`.
    #[serde(default)]
    pub strata: BTreeMap<String, String>,
    /// Where the candidate came from: a network, an organisation, a referral.
    #[serde(default)]
    pub source: String,
    /// The id of the candidate who suggested this one.
    #[serde(default)]
    pub referred_by: Option<String>,
    #[serde(default)]
    pub notes: String,
}

/// A checked candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateData {
    pub name: String,
    pub email: String,
    pub organisation: String,
    pub strata: BTreeMap<String, String>,
    pub source: String,
    pub referred_by: Option<String>,
    pub notes: String,
}

impl CandidateInput {
    /// Checks the fields; `prefix` names them in errors (`rows[3].email`, or nothing for the API).
    pub fn validate(self, strata: &[Stratum], prefix: &str) -> Result<CandidateData, Invalid> {
        let f = |name: &str| format!("{prefix}{name}");
        let mut e = Invalid::new();
        let name = e.take(text::line(&f("name"), &self.name, 120));
        let email = e.take(text::email(&f("email"), &self.email));
        let organisation = if self.organisation.trim().is_empty() {
            Some(String::new())
        } else {
            e.take(text::line(&f("organisation"), &self.organisation, 200))
        };
        let source = if self.source.trim().is_empty() {
            Some(String::new())
        } else {
            e.take(text::line(&f("source"), &self.source, 200))
        };
        let notes = e.take(text::block(&f("notes"), &self.notes, 2000));
        let mut values = BTreeMap::new();
        for (key, value) in &self.strata {
            let field = f(&format!("strata.{key}"));
            match strata.iter().find(|s| &s.key == key) {
                None => e.add(field, format!("the study has no attribute {key:?}")),
                Some(_) if value.trim().is_empty() => {}
                Some(s) => {
                    if let Some(v) = e.take(stratum_value(&field, s, value)) {
                        values.insert(key.clone(), v);
                    }
                }
            }
        }
        let referred_by = self
            .referred_by
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        e.into_result(())?;
        Ok(CandidateData {
            name: name.unwrap_or_default(),
            email: email.unwrap_or_default(),
            organisation: organisation.unwrap_or_default(),
            strata: values,
            source: source.unwrap_or_default(),
            referred_by,
            notes: notes.unwrap_or_default(),
        })
    }
}

/// The pseudonym shown for panellist number `n`: `E07`, or `E123` in panels over 99.
pub fn pseudonym(n: usize) -> String {
    format!("E{n:02}")
}

/// The source Orakel writes for a candidate an expert named; other sources are the
/// researchers' own words.
pub const REFERRAL_SOURCE: &str = "referral";

/// A source as a person reads it: the referral code in `lang`, anything else as typed.
pub fn source_label(lang: &str, source: &str) -> String {
    if source == REFERRAL_SOURCE {
        crate::i18n::text(lang, "candidate.source_referral")
    } else {
        source.to_string()
    }
}

/// A source as a form sends it back: the referral label, in either language, is the code again.
pub fn source_from_label(typed: &str) -> String {
    let typed = typed.trim();
    let is_label = ["da", "en"]
        .iter()
        .any(|l| crate::i18n::text(l, "candidate.source_referral") == typed);
    if is_label { REFERRAL_SOURCE } else { typed }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sector() -> Stratum {
        Stratum {
            key: "sector".into(),
            label: "Sector".into(),
            values: vec!["Transport".into(), "Retail".into()],
        }
    }

    #[test]
    fn statuses_move_only_forward_or_as_researchers_allow() {
        use Status::*;
        assert!(Identified.can_become(Invited));
        assert!(Invited.can_become(Accepted));
        assert!(
            !Identified.can_become(Accepted),
            "no consent without an invitation"
        );
        assert!(!Accepted.can_become(Declined));
        assert!(!Withdrawn.can_become(Accepted));
        assert!(Accepted.can_become(Withdrawn));
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn strata_values_are_checked_and_normalised() {
        let ok = CandidateInput {
            name: "Åse Ørsted".into(),
            email: "aase@firma.dk".into(),
            strata: [("sector".to_string(), "retail".to_string())].into(),
            ..Default::default()
        }
        .validate(&[sector()], "")
        .unwrap();
        assert_eq!(ok.strata["sector"], "Retail");
        let err = CandidateInput {
            name: "X".into(),
            email: "bad".into(),
            strata: [
                ("sector".to_string(), "Finance".to_string()),
                ("colour".to_string(), "red".to_string()),
            ]
            .into(),
            ..Default::default()
        }
        .validate(&[sector()], "rows[2].")
        .unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "rows[2].email",
                "rows[2].strata.colour",
                "rows[2].strata.sector"
            ]
        );
    }

    #[test]
    fn strata_definitions_are_validated() {
        assert!(validate_strata(vec![sector()]).is_ok());
        let err = validate_strata(vec![
            sector(),
            Stratum {
                key: "sector".into(),
                label: "Again".into(),
                values: vec!["a".into()],
            },
            Stratum {
                key: "Bad Key".into(),
                label: "x".into(),
                values: vec![],
            },
        ])
        .unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
    }

    #[test]
    fn pseudonyms() {
        assert_eq!(pseudonym(7), "E07");
        assert_eq!(pseudonym(123), "E123");
    }
}
