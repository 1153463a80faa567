//! Rounds and answers: what kinds of round exist, which flags make sense together, and what
//! makes an expert's answer to one theme valid.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Invalid, Scale, text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Round 1: interviews or a written questionnaire with open questions.
    Qualitative,
    /// The experts validate and/or score the published themes.
    Rating,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Qualitative => "qualitative",
            Kind::Rating => "rating",
        }
    }
    pub fn from_stored(s: &str) -> Kind {
        Self::parse(s).unwrap_or(Kind::Rating)
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Qualitative, Kind::Rating]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// How a rating round shows the panel to itself while it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Experts answer on their own; the panel's figures come back in a later round.
    #[default]
    Classic,
    /// Experts see the panel's figures for a theme once they have answered it, as snapshots
    /// published in batches, and may revise until the round closes.
    Live,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Classic => "classic",
            Mode::Live => "live",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Classic, Mode::Live]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Being prepared; experts see nothing.
    Draft,
    /// Experts answer until the deadline.
    Open,
    /// Answers are final.
    Closed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Open => "open",
            State::Closed => "closed",
        }
    }
    pub fn from_stored(s: &str) -> State {
        Self::parse(s).unwrap_or(State::Draft)
    }

    pub fn parse(s: &str) -> Option<State> {
        [State::Draft, State::Open, State::Closed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Whether a round takes answers at `at`: it is open and its deadline has not passed.
pub fn accepting(
    state: State,
    closes_at: Option<chrono::NaiveDateTime>,
    at: chrono::NaiveDateTime,
) -> bool {
    state == State::Open && closes_at.is_none_or(|c| at < c)
}

/// Another round of the same study, as far as opening this one goes.
#[derive(Debug, Clone, Copy)]
pub struct Sibling {
    pub number: i32,
    pub state: State,
    pub rating: bool,
}

/// What opening a round depends on. `others` and `active_themes` matter only for a draft
/// (opening an open round again only mails those who joined since).
#[derive(Debug, Clone, Copy)]
pub struct Opening<'a> {
    pub number: i32,
    pub state: State,
    pub kind: Kind,
    pub feedback: bool,
    pub closes_at: Option<chrono::NaiveDateTime>,
    pub others: &'a [Sibling],
    /// Active themes in the codebook, to publish in a rating round.
    pub active_themes: usize,
}

/// Why a round cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The round, or another one, is in a state that rules it out.
    Conflict(String),
    /// A field of the round must change first.
    Invalid(Invalid),
}

/// Whether the round may open at `now`: not closed, with a deadline still ahead, no other round
/// open, feedback only after a closed rating round, and a rating round with themes to publish.
pub fn may_open(o: &Opening, now: chrono::NaiveDateTime) -> Result<(), Refusal> {
    if o.state == State::Closed {
        return Err(Refusal::Conflict(format!("round {} is closed", o.number)));
    }
    let Some(deadline) = o.closes_at else {
        return Err(Refusal::Invalid(Invalid::one(
            "closes_at",
            "set a deadline before opening the round",
        )));
    };
    if deadline <= now {
        return Err(Refusal::Invalid(Invalid::one(
            "closes_at",
            "the deadline has passed; set a new one",
        )));
    }
    if o.state != State::Draft {
        return Ok(());
    }
    if let Some(open) = o.others.iter().find(|x| x.state == State::Open) {
        return Err(Refusal::Conflict(format!(
            "round {} is still open; close it first",
            open.number
        )));
    }
    if o.feedback
        && !o
            .others
            .iter()
            .any(|x| x.state == State::Closed && x.rating && x.number < o.number)
    {
        return Err(Refusal::Invalid(Invalid::one(
            "feedback",
            "feedback needs an earlier closed rating round",
        )));
    }
    if o.kind == Kind::Rating && o.active_themes == 0 {
        return Err(Refusal::Invalid(Invalid::one(
            "themes",
            "the codebook has no active themes to publish",
        )));
    }
    Ok(())
}

/// What an expert said about one theme, as far as counting answers goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Said {
    pub scored: bool,
    pub dont_know: bool,
    pub commented: bool,
    pub proposed: bool,
}

/// The one rule for "answered", used by the expert's page, the round's progress, the table of
/// who answered, the participant flow and the report: in a rating round a theme is answered
/// with a score or "don't know" (a comment alone is a remark, not an answer); in a round without
/// rating, with a comment or a proposed wording. A panellist responded to a round when they
/// answered at least one of its themes.
pub fn answered(rating: bool, said: Said) -> bool {
    if rating {
        said.scored || said.dont_know
    } else {
        said.commented || said.proposed
    }
}

/// A new round as requested.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoundInput {
    pub kind: Kind,
    /// Experts may comment on each theme and propose a new wording.
    #[serde(default)]
    pub validation: bool,
    /// Experts score each theme on the study's scale.
    #[serde(default)]
    pub rating: bool,
    /// Experts see the previous round's group results and their own previous score.
    #[serde(default)]
    pub feedback: bool,
    /// In a feedback round, each panel group's distribution is shown beside the whole panel's
    /// (the study needs panel groups).
    #[serde(default)]
    pub feedback_by_group: bool,
    /// A qualitative round answered in writing through the personal link.
    #[serde(default)]
    pub questionnaire: bool,
    /// `classic` (the default) or `live`: a live rating round shows each expert the panel's
    /// figures for a theme once they have answered it, in snapshots published in batches.
    #[serde(default)]
    pub mode: Mode,
    /// The deadline (RFC 3339); the round closes by itself then.
    pub closes_at: Option<DateTime<Utc>>,
    /// A word to the experts, shown above the form.
    #[serde(default)]
    pub instructions: String,
    /// Days before the deadline on which those who have not submitted are reminded.
    #[serde(default)]
    pub reminder_days: Option<Vec<i32>>,
}

/// The checked flags of a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundFlags {
    pub kind: Kind,
    pub validation: bool,
    pub rating: bool,
    pub feedback: bool,
    pub feedback_by_group: bool,
    pub questionnaire: bool,
    pub mode: Mode,
    pub instructions: String,
    pub reminder_days: Vec<i32>,
}

impl RoundInput {
    pub fn validate(&self) -> Result<RoundFlags, Invalid> {
        let mut e = Invalid::new();
        match self.kind {
            Kind::Rating => {
                if !self.validation && !self.rating {
                    e.add(
                        "rating",
                        "a rating round asks for validation, rating or both",
                    );
                }
                if self.feedback && !self.rating {
                    e.add(
                        "feedback",
                        "feedback shows earlier scores, so the round must also ask for a rating",
                    );
                }
                if self.feedback_by_group && !self.feedback {
                    e.add(
                        "feedback_by_group",
                        "feedback by group is a kind of feedback, so the round must also give feedback",
                    );
                }
                if self.questionnaire {
                    e.add(
                        "questionnaire",
                        "only a qualitative round can be a written questionnaire",
                    );
                }
                if self.mode == Mode::Live && !self.rating {
                    e.add(
                        "mode",
                        "a live round shows the panel's scores, so it must ask for a rating",
                    );
                }
            }
            Kind::Qualitative => {
                if self.mode == Mode::Live {
                    e.add(
                        "mode",
                        "a live round shows the panel's scores, so it must be a rating round",
                    );
                }
                if self.validation || self.rating || self.feedback {
                    e.add(
                        "kind",
                        "a qualitative round has no validation, rating or feedback",
                    );
                }
            }
        }
        let instructions = e
            .take(text::block("instructions", &self.instructions, 5000))
            .unwrap_or_default();
        let reminder_days = self.reminder_days.clone().unwrap_or_else(|| vec![3, 1]);
        if reminder_days.len() > 10 || reminder_days.iter().any(|d| !(0..=60).contains(d)) {
            e.add(
                "reminder_days",
                "at most 10 days, each between 0 and 60 days before the deadline",
            );
        }
        e.into_result(RoundFlags {
            kind: self.kind,
            validation: self.validation,
            rating: self.rating,
            feedback: self.feedback,
            feedback_by_group: self.feedback_by_group,
            questionnaire: self.questionnaire,
            mode: self.mode,
            instructions,
            reminder_days,
        })
    }
}

/// An expert's answer to one theme.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    pub theme_id: String,
    /// A point on the study's scale, or null.
    #[serde(default)]
    pub score: Option<i32>,
    /// "Don't know" (only when the study allows it); excluded from every statistic.
    #[serde(default)]
    pub dont_know: bool,
    #[serde(default)]
    pub comment: Option<String>,
    /// A proposed new wording of the theme.
    #[serde(default)]
    pub proposal: Option<String>,
    /// In a feedback round: why the score differs from the group (optional).
    #[serde(default)]
    pub reason: Option<String>,
}

/// A checked answer, with empty texts as none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerData {
    pub theme_id: String,
    pub score: Option<i32>,
    pub dont_know: bool,
    pub comment: Option<String>,
    pub proposal: Option<String>,
    pub reason: Option<String>,
}

pub const MAX_TEXT: usize = 5000;

impl AnswerInput {
    /// Checks the answer against the scale and the round's flags; `i` names it in errors.
    pub fn validate(
        &self,
        i: usize,
        scale: &Scale,
        flags: &RoundFlags,
    ) -> Result<AnswerData, Invalid> {
        let f = |name: &str| format!("answers[{i}].{name}");
        let mut e = Invalid::new();
        if let Some(s) = self.score {
            if !flags.rating {
                e.add(f("score"), "this round does not ask for scores");
            } else if !scale.contains(s) {
                e.add(
                    f("score"),
                    format!("must be between {} and {}", scale.min, scale.max),
                );
            }
        }
        if self.dont_know {
            if !scale.dont_know {
                e.add(f("dont_know"), "this study has no \"don't know\"");
            } else if self.score.is_some() {
                e.add(
                    f("dont_know"),
                    "a score and \"don't know\" exclude each other",
                );
            }
        }
        let mut opt =
            |name: &str, v: &Option<String>, allowed: bool, why: &str| -> Option<String> {
                let v = v.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
                if !allowed {
                    e.add(f(name), why.to_string());
                    return None;
                }
                e.take(text::block(&f(name), v, MAX_TEXT))
            };
        let comment = opt(
            "comment",
            &self.comment,
            flags.validation || flags.rating,
            "this round takes no comments",
        );
        let proposal = opt(
            "proposal",
            &self.proposal,
            flags.validation,
            "this round does not ask for new wordings",
        );
        let reason = opt(
            "reason",
            &self.reason,
            flags.feedback,
            "a reason belongs to a feedback round",
        );
        e.into_result(AnswerData {
            theme_id: self.theme_id.trim().to_string(),
            score: self.score,
            dont_know: self.dont_know,
            comment,
            proposal,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_round_needs_to_open() {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let later = Some(now + chrono::Duration::days(7));
        let closed_rating = Sibling {
            number: 2,
            state: State::Closed,
            rating: true,
        };
        let draft = Opening {
            number: 3,
            state: State::Draft,
            kind: Kind::Rating,
            feedback: true,
            closes_at: later,
            others: &[closed_rating],
            active_themes: 12,
        };
        assert_eq!(may_open(&draft, now), Ok(()));
        let field = |o: &Opening| match may_open(o, now) {
            Err(Refusal::Invalid(inv)) => inv.0[0].field.clone(),
            other => panic!("expected a field at fault, got {other:?}"),
        };
        assert_eq!(
            field(&Opening {
                closes_at: None,
                ..draft
            }),
            "closes_at"
        );
        assert_eq!(
            field(&Opening {
                closes_at: Some(now),
                ..draft
            }),
            "closes_at"
        );
        assert_eq!(
            field(&Opening {
                active_themes: 0,
                ..draft
            }),
            "themes"
        );
        assert_eq!(
            field(&Opening {
                others: &[],
                ..draft
            }),
            "feedback"
        );
        // Feedback looks back: a later rating round does not count.
        let after = Sibling {
            number: 4,
            ..closed_rating
        };
        assert_eq!(
            field(&Opening {
                others: &[after],
                ..draft
            }),
            "feedback"
        );
        // A round without rating publishes no themes.
        let qualitative = Opening {
            kind: Kind::Qualitative,
            feedback: false,
            active_themes: 0,
            ..draft
        };
        assert_eq!(may_open(&qualitative, now), Ok(()));
        let open_other = Sibling {
            number: 2,
            state: State::Open,
            rating: true,
        };
        assert_eq!(
            may_open(
                &Opening {
                    others: &[open_other],
                    ..draft
                },
                now
            ),
            Err(Refusal::Conflict(
                "round 2 is still open; close it first".into()
            ))
        );
        assert!(matches!(
            may_open(
                &Opening {
                    state: State::Closed,
                    ..draft
                },
                now
            ),
            Err(Refusal::Conflict(_))
        ));
        // Opening an open round again (to mail newcomers) asks only for a deadline ahead.
        let reopen = Opening {
            state: State::Open,
            others: &[open_other],
            active_themes: 0,
            ..draft
        };
        assert_eq!(may_open(&reopen, now), Ok(()));
        assert_eq!(
            field(&Opening {
                closes_at: Some(now),
                ..reopen
            }),
            "closes_at"
        );
    }

    #[test]
    fn what_counts_as_answered() {
        let said = |scored, dont_know, commented, proposed| Said {
            scored,
            dont_know,
            commented,
            proposed,
        };
        assert!(answered(true, said(true, false, false, false)));
        assert!(answered(true, said(false, true, false, false)));
        assert!(
            !answered(true, said(false, false, true, true)),
            "a remark is no score"
        );
        assert!(answered(false, said(false, false, true, false)));
        assert!(answered(false, said(false, false, false, true)));
        assert!(!answered(false, said(false, false, false, false)));
    }

    fn flags() -> RoundFlags {
        RoundInput {
            kind: Kind::Rating,
            validation: true,
            rating: true,
            feedback: false,
            feedback_by_group: false,
            questionnaire: false,
            mode: Mode::Classic,
            closes_at: None,
            instructions: String::new(),
            reminder_days: None,
        }
        .validate()
        .unwrap()
    }

    fn scale() -> Scale {
        Scale::default_for(crate::domain::Language::En)
    }

    #[test]
    fn round_flags_must_make_sense() {
        let mut r = RoundInput {
            kind: Kind::Rating,
            validation: false,
            rating: false,
            feedback: true,
            feedback_by_group: false,
            questionnaire: false,
            mode: Mode::Classic,
            closes_at: None,
            instructions: String::new(),
            reminder_days: None,
        };
        let fields: Vec<String> = r
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, ["rating", "feedback"]);
        r.rating = true;
        assert!(r.validate().is_ok());
        assert_eq!(r.validate().unwrap().reminder_days, [3, 1]);
    }

    #[test]
    fn answers_are_checked_against_the_scale_and_the_round() {
        let ok = AnswerInput {
            theme_id: "t".into(),
            score: Some(4),
            comment: Some("  ".into()),
            ..Default::default()
        };
        let a = ok.validate(0, &scale(), &flags()).unwrap();
        assert_eq!(a.comment, None, "blank text is no text");
        let bad = AnswerInput {
            theme_id: "t".into(),
            score: Some(5),
            ..Default::default()
        };
        assert_eq!(
            bad.validate(3, &scale(), &flags()).unwrap_err().0[0].field,
            "answers[3].score"
        );
        let both = AnswerInput {
            theme_id: "t".into(),
            score: Some(1),
            dont_know: true,
            ..Default::default()
        };
        assert!(both.validate(0, &scale(), &flags()).is_err());
        let reason = AnswerInput {
            theme_id: "t".into(),
            reason: Some("why".into()),
            ..Default::default()
        };
        assert!(
            reason.validate(0, &scale(), &flags()).is_err(),
            "no reasons outside feedback rounds"
        );
        let long = AnswerInput {
            theme_id: "t".into(),
            comment: Some("x".repeat(MAX_TEXT + 1)),
            ..Default::default()
        };
        assert!(long.validate(0, &scale(), &flags()).is_err());
    }
}
