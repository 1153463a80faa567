//! The expert's rounds: what they see (the published themes, their own answers, and in a
//! feedback round the group's previous distribution when enough answered), and saving their
//! answers, which are kept with every change until the deadline makes them final.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::participation::{Participant, resolve};
use super::rounds::{flags_of, published};
use super::{AppError, AppResult};
use crate::db::models::{Answer, AnswerChange, Round, RoundParticipation};
use crate::db::schema::{
    answer_changes, answers, questionnaire_answers, round_participations, round_themes, rounds,
};
use crate::db::utc;
use crate::db::{self, DbConn, new_id, now};
use crate::domain::candidate::Status;
use crate::domain::codebook::StatementSnapshot;
use crate::domain::compare::shown_groups;
use crate::domain::round::{AnswerData, AnswerInput, Kind, State};
use crate::domain::stats::ItemStats;
use crate::domain::{Invalid, Scale};

/// An expert's answer as stored.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnswerView {
    pub score: Option<i32>,
    pub dont_know: bool,
    pub comment: Option<String>,
    pub proposal: Option<String>,
    pub reason: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// The group's answers to a theme in the previous round, as fed back to each expert.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Feedback {
    /// Whether the group's figures are shown: only when at least the study's minimum group
    /// size scored the theme.
    pub shown: bool,
    /// Valid scores in the previous round (only when shown).
    pub n: Option<usize>,
    /// Scores per scale point, lowest first (only when shown).
    pub counts: Option<Vec<usize>>,
    pub median: Option<f64>,
    /// This expert's own previous score, and whether they answered "don't know".
    pub previous_score: Option<i32>,
    pub previous_dont_know: bool,
    /// In a round with feedback by group: each panel group's figures, the expert's own marked.
    pub groups: Vec<GroupFeedback>,
}

/// One panel group's answers to a theme in the previous round. A group is shown only with at
/// least the study's minimum group size, and only when the whole panel's figure does not let a
/// hidden group be worked out by subtraction.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupFeedback {
    /// The group (a value of the study's panel groups attribute).
    pub label: String,
    /// The expert's own group.
    pub own: bool,
    pub shown: bool,
    pub n: Option<usize>,
    pub counts: Option<Vec<usize>>,
    pub median: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExpertTheme {
    pub theme_id: String,
    pub number: i32,
    pub title: String,
    pub description: String,
    pub statements: Vec<StatementSnapshot>,
    pub answer: Option<AnswerView>,
    pub feedback: Option<Feedback>,
    /// In a live round: the panel's latest snapshot for the theme, once this expert has
    /// answered it and at least k others scored it; otherwise null.
    pub live: Option<super::live::LiveFigures>,
    /// Posts the panel can read in the theme's discussion.
    pub posts: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExpertCategory {
    pub code: String,
    pub title: String,
    pub themes: Vec<ExpertTheme>,
}

/// A round as one expert sees it: never anything of another expert but the group's figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExpertRound {
    pub number: i32,
    pub kind: Kind,
    pub validation: bool,
    pub rating: bool,
    pub feedback: bool,
    /// `classic` or `live` (snapshots of the panel's figures while the round runs).
    pub mode: crate::domain::round::Mode,
    pub state: State,
    pub closes_at: Option<DateTime<Utc>>,
    /// Whether answers are taken now (open and before the deadline).
    pub accepting: bool,
    pub instructions: String,
    pub scale: Scale,
    pub min_group_size: i32,
    /// The name of the attribute whose values are the groups, in a round with feedback by group.
    pub groups_label: Option<String>,
    /// The panel's discussion of the themes: `moderated`, `open`, or none when the study
    /// holds none.
    pub discussion: Option<crate::domain::study::Discussion>,
    pub categories: Vec<ExpertCategory>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// Themes with a score or "don't know" (in a rating round) or any text (otherwise).
    pub answered: usize,
    pub total: usize,
}

fn answer_view(a: &Answer) -> AnswerView {
    AnswerView {
        score: a.score,
        dont_know: a.dont_know,
        comment: a.comment.clone(),
        proposal: a.proposal.clone(),
        reason: a.reason.clone(),
        updated_at: utc(a.updated_at),
    }
}

/// The participant's panellist id; only panel members reach rounds.
pub(crate) fn panellist(p: &Participant) -> AppResult<String> {
    match (p.status(), &p.candidate.panellist_id) {
        (Status::Accepted, Some(id)) => Ok(id.clone()),
        (Status::Withdrawn, _) => Err(AppError::Conflict(
            "you have withdrawn from the study".into(),
        )),
        _ => Err(AppError::NotFound),
    }
}

pub(crate) fn round_by_number(conn: &mut DbConn, study_id: &str, number: i32) -> AppResult<Round> {
    rating_round(shown_round(conn, study_id, number)?)
}

/// The study's round numbered `number`, if experts may see it (drafts do not exist for them).
pub(crate) fn shown_round(conn: &mut DbConn, study_id: &str, number: i32) -> AppResult<Round> {
    let r: Round = rounds::table
        .filter(rounds::study_id.eq(study_id))
        .filter(rounds::number.eq(number))
        .select(Round::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    if r.state == State::Draft {
        return Err(AppError::NotFound);
    }
    Ok(r)
}

/// `r`, if it is a round of themes to rate and comment on.
fn rating_round(r: Round) -> AppResult<Round> {
    if r.kind != Kind::Rating {
        return Err(AppError::NotFound);
    }
    Ok(r)
}

/// The panellists who responded to a round (by `domain::round::answered`), reading only what
/// decides it.
pub fn responders(
    conn: &mut DbConn,
    round_id: &str,
    rating: bool,
) -> AppResult<std::collections::HashSet<String>> {
    #[derive(QueryableByName)]
    struct Responder {
        #[diesel(sql_type = diesel::sql_types::Text)]
        panellist_id: String,
    }
    // Each panellist's first answered answer is enough: one look into the index each, where
    // counting them all read every answer of the round (a report asks for each earlier round).
    // Every answer is saved through its panellist's participation, which is never deleted.
    let rule = if rating {
        "(a.score IS NOT NULL OR a.dont_know = TRUE)"
    } else {
        "(a.comment IS NOT NULL OR a.proposal IS NOT NULL)"
    };
    let param = match conn {
        DbConn::Pg(_) => "$1",
        DbConn::Sqlite(_) => "?",
    };
    let rows: Vec<Responder> = diesel::sql_query(format!(
        "SELECT p.panellist_id FROM round_participations p \
         WHERE p.round_id = {param} AND EXISTS (SELECT 1 FROM answers a \
           WHERE a.round_id = p.round_id AND a.panellist_id = p.panellist_id AND {rule})"
    ))
    .bind::<diesel::sql_types::Text, _>(round_id)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.panellist_id).collect())
}

/// How many themes each panellist has answered in a round (a score or don't-know in a rating
/// round, a comment or proposal otherwise, as `domain::round::answered` says), counted by the
/// database: a round can hold millions of answers.
pub fn answered_counts(
    conn: &mut DbConn,
    round_id: &str,
    rating: bool,
) -> AppResult<std::collections::HashMap<String, usize>> {
    use diesel::dsl::count_star;
    let counts: Vec<(String, i64)> = answers::table
        .filter(answers::round_id.eq(round_id))
        .filter(answered_rule(rating))
        .group_by(answers::panellist_id)
        .select((answers::panellist_id, count_star()))
        .load(conn)?;
    Ok(counts.into_iter().map(|(p, n)| (p, n as usize)).collect())
}

/// Which answers count as answered (`domain::round::answered` in SQL).
fn answered_rule(
    rating: bool,
) -> Box<
    dyn BoxableExpression<
            answers::table,
            <DbConn as diesel::Connection>::Backend,
            SqlType = diesel::sql_types::Bool,
        >,
> {
    if rating {
        Box::new(answers::score.is_not_null().or(answers::dont_know.eq(true)))
    } else {
        Box::new(
            answers::comment
                .is_not_null()
                .or(answers::proposal.is_not_null()),
        )
    }
}

/// The rounds an expert can see: open and closed rating rounds and written questionnaires,
/// newest first.
/// A round on an expert's own page: when they finished it (if they did) and whether they
/// answered anything in it.
pub struct MyRound {
    pub round: Round,
    pub submitted_at: Option<DateTime<Utc>>,
    pub answered: bool,
}

pub fn rounds_for(conn: &mut DbConn, p: &Participant) -> AppResult<Vec<MyRound>> {
    let Ok(pid) = panellist(p) else {
        return Ok(Vec::new());
    };
    let rows: Vec<Round> = rounds::table
        .filter(rounds::study_id.eq(&p.study.id))
        .filter(rounds::state.ne(State::Draft))
        .filter(
            rounds::kind
                .eq(Kind::Rating)
                .or(rounds::questionnaire.eq(true)),
        )
        .order(rounds::number.desc())
        .select(Round::as_select())
        .load(conn)?;
    let parts: HashMap<String, Option<chrono::NaiveDateTime>> = round_participations::table
        .filter(round_participations::panellist_id.eq(&pid))
        .select((
            round_participations::round_id,
            round_participations::submitted_at,
        ))
        .load::<(String, Option<chrono::NaiveDateTime>)>(conn)?
        .into_iter()
        .collect();
    let mut answered: HashSet<String> = answers::table
        .filter(answers::panellist_id.eq(&pid))
        .select(answers::round_id)
        .distinct()
        .load::<String>(conn)?
        .into_iter()
        .collect();
    answered.extend(
        questionnaire_answers::table
            .filter(questionnaire_answers::panellist_id.eq(&pid))
            .select(questionnaire_answers::round_id)
            .distinct()
            .load::<String>(conn)?,
    );
    Ok(rows
        .into_iter()
        .filter(|r| parts.contains_key(&r.id))
        .map(|r| MyRound {
            submitted_at: parts.get(&r.id).cloned().flatten().map(utc),
            answered: answered.contains(&r.id),
            round: r,
        })
        .collect())
}

/// The round as the expert sees it; the first view is recorded (researchers see who opened).
pub fn expert_round(conn: &mut DbConn, token: &str, number: i32) -> AppResult<ExpertRound> {
    let p = resolve(conn, token)?.ok_or(AppError::NotFound)?;
    expert_round_for(conn, &p, number)
}

/// `expert_round` for a participant already resolved from their link.
pub fn expert_round_for(conn: &mut DbConn, p: &Participant, number: i32) -> AppResult<ExpertRound> {
    let pid = panellist(p)?;
    let r = shown_round(conn, &p.study.id, number)?;
    expert_round_in(conn, p, &pid, r)
}

/// `expert_round` of a round already read (by [`shown_round`]) for panellist `pid`.
pub fn expert_round_in(
    conn: &mut DbConn,
    p: &Participant,
    pid: &str,
    r: Round,
) -> AppResult<ExpertRound> {
    let r = rating_round(r)?;
    let part: Option<RoundParticipation> = round_participations::table
        .find((&r.id, pid))
        .select(RoundParticipation::as_select())
        .first(conn)
        .optional()?;
    let Some(part) = part else {
        // Joined after the round opened and not yet invited to it.
        return Err(AppError::NotFound);
    };
    super::rounds::record_first_view(conn, &part)?;
    build(conn, p, pid, &r, part.submitted_at)
}

fn build(
    conn: &mut DbConn,
    p: &Participant,
    pid: &str,
    r: &Round,
    submitted_at: Option<chrono::NaiveDateTime>,
) -> AppResult<ExpertRound> {
    let settings = p.study.settings()?;
    let themes = published(conn, &r.id)?;
    let own: Vec<Answer> = answers::table
        .filter(answers::round_id.eq(&r.id))
        .filter(answers::panellist_id.eq(pid))
        .select(Answer::as_select())
        .load(conn)?;
    let groups = match (&settings.groups_by, r.feedback && r.feedback_by_group) {
        (Some(by), true) => panel_groups(conn, p, by)?,
        _ => None,
    };
    let feedback = if r.feedback {
        previous_round_feedback(
            conn,
            p,
            pid,
            r,
            &settings.scale,
            settings.min_group_size,
            groups.as_ref(),
        )?
    } else {
        HashMap::new()
    };
    let said: Vec<String> = own
        .iter()
        .filter(|a| a.score.is_some() || a.dont_know)
        .map(|a| a.theme_id.clone())
        .collect();
    let live = super::live::for_expert(conn, r, &p.study, &said)?;
    let discussion =
        Some(settings.discussion).filter(|d| *d != crate::domain::study::Discussion::Off);
    let posts = if discussion.is_some() {
        super::discussion::published_counts(conn, &r.id)?
    } else {
        HashMap::new()
    };
    let mut categories: Vec<ExpertCategory> = Vec::new();
    for t in &themes {
        let answer = own
            .iter()
            .find(|a| a.theme_id == t.theme_id)
            .map(answer_view);
        let item = ExpertTheme {
            theme_id: t.theme_id.clone(),
            number: t.snapshot.number,
            title: t.snapshot.title.clone(),
            description: t.snapshot.description.clone(),
            statements: t.snapshot.statements.clone(),
            answer,
            feedback: feedback.get(&t.theme_id).cloned(),
            live: live.get(&t.theme_id).cloned(),
            posts: posts.get(&t.theme_id).copied().unwrap_or(0),
        };
        match categories.last_mut() {
            Some(c) if c.code == t.snapshot.category_code => c.themes.push(item),
            _ => categories.push(ExpertCategory {
                code: t.snapshot.category_code.clone(),
                title: t.snapshot.category_title.clone(),
                themes: vec![item],
            }),
        }
    }
    let answered = own
        .iter()
        .filter(|a| crate::domain::round::answered(r.rating, a.said()))
        .count();
    Ok(ExpertRound {
        number: r.number,
        kind: r.kind,
        validation: r.validation,
        rating: r.rating,
        feedback: r.feedback,
        mode: r.mode,
        state: r.state,
        closes_at: r.closes_at.map(utc),
        accepting: r.accepting(now()),
        instructions: r.instructions.clone(),
        scale: settings.scale,
        min_group_size: settings.min_group_size,
        groups_label: groups.map(|g| g.label),
        discussion,
        categories,
        submitted_at: submitted_at.map(utc),
        answered,
        total: themes.len(),
    })
}

/// The panel groups as an expert's feedback shows them: the attribute's name, its values that
/// some panellist has, each panellist's group, and the expert's own.
struct PanelGroups {
    label: String,
    values: Vec<String>,
    of_panellist: HashMap<String, String>,
    own: Option<String>,
}

fn panel_groups(conn: &mut DbConn, p: &Participant, by: &str) -> AppResult<Option<PanelGroups>> {
    let strata = super::recruitment::strata_of(conn, &p.study.id)?;
    let Some(stratum) = strata.into_iter().find(|s| s.key == by) else {
        return Ok(None);
    };
    let of_panellist = super::recruitment::panellist_values(conn, &p.study.id, by)?;
    let used: HashSet<&String> = of_panellist.values().collect();
    let values = stratum
        .values
        .iter()
        .filter(|v| used.contains(v))
        .cloned()
        .collect();
    let own = super::recruitment::strata_values(&p.candidate)?.remove(by);
    Ok(Some(PanelGroups {
        label: stratum.label,
        values,
        of_panellist,
        own,
    }))
}

/// Per theme of this round: the latest earlier closed rating round's distribution, median and
/// this expert's own score there, and with `groups` each group's. Figures only when at least `k`
/// scored the theme (or the group), and no group whose figures with the others' would give away
/// a group below `k`.
fn previous_round_feedback(
    conn: &mut DbConn,
    p: &Participant,
    pid: &str,
    r: &Round,
    scale: &Scale,
    k: i32,
    groups: Option<&PanelGroups>,
) -> AppResult<HashMap<String, Feedback>> {
    let k = k.max(1) as usize;
    let previous: Option<Round> = rounds::table
        .filter(rounds::study_id.eq(&p.study.id))
        .filter(rounds::number.lt(r.number))
        .filter(rounds::state.eq(State::Closed))
        .filter(rounds::rating.eq(true))
        .order(rounds::number.desc())
        .select(Round::as_select())
        .first(conn)
        .optional()?;
    let Some(prev) = previous else {
        return Ok(HashMap::new());
    };
    let all: Vec<(String, String, Option<i32>, bool)> = answers::table
        .filter(answers::round_id.eq(&prev.id))
        .select((
            answers::theme_id,
            answers::panellist_id,
            answers::score,
            answers::dont_know,
        ))
        .load(conn)?;
    let mut out = HashMap::new();
    let before: HashSet<String> = published(conn, &prev.id)?
        .into_iter()
        .map(|x| x.theme_id)
        .collect();
    for t in published(conn, &r.id)? {
        let rows: Vec<&(String, String, Option<i32>, bool)> =
            all.iter().filter(|a| a.0 == t.theme_id).collect();
        if rows.is_empty() && !before.contains(&t.theme_id) {
            continue; // a new theme: nothing to feed back
        }
        let scores: Vec<i32> = rows.iter().filter_map(|a| a.2).collect();
        let dk = rows.iter().filter(|a| a.3).count();
        let stats = ItemStats::of(&scores, dk, scale);
        let shown = stats.n >= k;
        let mine = rows.iter().find(|a| a.1 == pid);
        let group_figures = groups.map_or_else(Vec::new, |g| {
            let per_group: Vec<Vec<i32>> = g
                .values
                .iter()
                .map(|v| {
                    rows.iter()
                        .filter(|a| g.of_panellist.get(&a.1) == Some(v))
                        .filter_map(|a| a.2)
                        .collect()
                })
                .collect();
            let sizes: Vec<usize> = per_group.iter().map(Vec::len).collect();
            let visible = shown_groups(stats.n, &sizes, k);
            g.values
                .iter()
                .zip(per_group)
                .zip(visible)
                .map(|((value, scores), visible)| {
                    let s = ItemStats::of(&scores, 0, scale);
                    let shown = shown && visible;
                    GroupFeedback {
                        label: value.clone(),
                        own: g.own.as_ref() == Some(value),
                        shown,
                        n: shown.then_some(s.n),
                        counts: shown.then_some(s.counts),
                        median: s.median.filter(|_| shown),
                    }
                })
                .collect()
        });
        out.insert(
            t.theme_id.clone(),
            Feedback {
                shown,
                n: shown.then_some(stats.n),
                counts: shown.then(|| stats.counts.clone()),
                median: if shown { stats.median } else { None },
                previous_score: mine.and_then(|a| a.2),
                previous_dont_know: mine.is_some_and(|a| a.3),
                groups: group_figures,
            },
        );
    }
    Ok(out)
}

/// What an expert sends: some or all of their answers, and whether they are done.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersInput {
    pub answers: Vec<AnswerInput>,
    /// Marks the round as done for them; answers can still change until the deadline.
    #[serde(default)]
    pub submit: bool,
}

/// Saves answers (all checked before any is written) and, with `submit`, marks the round done.
/// `live_minutes` is the server's batching interval of live rounds: at 0 a snapshot is
/// published as soon as enough changes accumulated, within the save.
pub fn save(
    conn: &mut DbConn,
    token: &str,
    number: i32,
    input: AnswersInput,
    live_minutes: i64,
) -> AppResult<ExpertRound> {
    let p = resolve(conn, token)?.ok_or(AppError::NotFound)?;
    save_for(conn, &p, number, input, live_minutes)?.round(conn, &p)
}

/// What a save leaves behind, to answer with as much of the round as the reply needs.
pub struct Saved {
    round: Round,
    panellist_id: String,
    /// How many themes the round has (read before the save, and fixed once it opened).
    themes: usize,
}

/// How far an expert is after a save: what the page's script shows beside each answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SavedAnswers {
    /// Themes with a score or "don't know" (in a rating round) or any text (otherwise).
    pub answered: usize,
    pub total: usize,
    pub submitted_at: Option<DateTime<Utc>>,
}

impl Saved {
    /// When the expert marked the round done, as the save left it.
    fn submitted_at(&self, conn: &mut DbConn) -> AppResult<Option<chrono::NaiveDateTime>> {
        Ok(round_participations::table
            .find((&self.round.id, &self.panellist_id))
            .select(round_participations::submitted_at)
            .first(conn)?)
    }

    /// The whole round as the expert now sees it, with the answers just saved.
    pub fn round(&self, conn: &mut DbConn, p: &Participant) -> AppResult<ExpertRound> {
        db::read(conn, |c| {
            let submitted_at = self.submitted_at(c)?;
            build(c, p, &self.panellist_id, &self.round, submitted_at)
        })
    }

    /// How many themes the expert has answered, of how many.
    pub fn progress(&self, conn: &mut DbConn) -> AppResult<SavedAnswers> {
        let answered: i64 = answers::table
            .filter(answers::round_id.eq(&self.round.id))
            .filter(answers::panellist_id.eq(&self.panellist_id))
            .filter(answered_rule(self.round.rating))
            .count()
            .get_result(conn)?;
        Ok(SavedAnswers {
            answered: answered as usize,
            total: self.themes,
            submitted_at: self.submitted_at(conn)?.map(utc),
        })
    }
}

/// `save` for a participant already resolved from their link; the reply is read apart.
pub fn save_for(
    conn: &mut DbConn,
    p: &Participant,
    number: i32,
    input: AnswersInput,
    live_minutes: i64,
) -> AppResult<Saved> {
    if input.answers.len() > 1000 {
        return Err(Invalid::one("answers", "at most 1000 answers at a time").into());
    }
    // Two tabs saving the same new answer at once: one insert loses and simply tries again.
    super::retrying(|| save_once(conn, p, number, &input, live_minutes))
}

/// Why a round takes no more answers, when it does not.
fn refusing(r: &Round, at: chrono::NaiveDateTime) -> AppResult<()> {
    if r.accepting(at) {
        return Ok(());
    }
    let when = r
        .closed_at
        .or(r.closes_at)
        .map(|t| utc(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    Err(AppError::Conflict(format!(
        "round {} closed at {when}; its answers are final and can no longer change",
        r.number
    )))
}

fn save_once(
    conn: &mut DbConn,
    p: &Participant,
    number: i32,
    input: &AnswersInput,
    live_minutes: i64,
) -> AppResult<Saved> {
    let pid = panellist(p)?;
    // The answers are checked against the round before the write: on SQLite the write holds
    // the one write turn (shared with the saves committed together), so it does only what must
    // be atomic with the round's state, and the reply is read after the commit. A round's
    // themes and kind are fixed once it opens; whether it still takes answers is asked again
    // inside the write.
    let r = round_by_number(conn, &p.study.id, number)?;
    refusing(&r, now())?;
    let settings = p.study.settings()?;
    let flags = flags_of(&r);
    let theme_ids: Vec<String> = round_themes::table
        .filter(round_themes::round_id.eq(&r.id))
        .select(round_themes::theme_id)
        .load(conn)?;
    let mut e = Invalid::new();
    let mut checked: Vec<AnswerData> = Vec::new();
    for (i, a) in input.answers.iter().enumerate() {
        if let Some(d) = e.take(a.validate(i, &settings.scale, &flags)) {
            if !theme_ids.contains(&d.theme_id) {
                e.add(
                    format!("answers[{i}].theme_id"),
                    "is not a theme of this round",
                );
            } else if checked.iter().any(|x| x.theme_id == d.theme_id) {
                e.add(format!("answers[{i}].theme_id"), "appears twice");
            } else {
                checked.push(d);
            }
        }
    }
    if !e.is_empty() {
        // Someone outside the round learns nothing of its themes.
        let member = round_participations::table
            .find((&r.id, &pid))
            .select(round_participations::round_id)
            .first::<String>(conn)
            .optional()?
            .is_some();
        if !member {
            return Err(AppError::NotFound);
        }
    }
    e.into_result(())?;
    let submit = input.submit;
    let (round_id, panellist_id) = (r.id.clone(), pid.clone());
    // Saves arriving together share one commit (`db::group`): the write owns what it uses.
    let r = db::group::write_together(conn, move |c| {
        let pid = panellist_id;
        let r: Round = rounds::table
            .find(&round_id)
            .select(Round::as_select())
            .first(c)?;
        let at = now();
        refusing(&r, at)?;
        // Marked done once, at the first save that says so; a participation is the expert's
        // place in the round, without which nothing is saved (the write is rolled back).
        let marked = diesel::update(round_participations::table.find((&r.id, &pid)))
            .set((
                round_participations::submitted_at.eq(db::coalesce(
                    round_participations::submitted_at,
                    submit.then_some(at),
                )),
                round_participations::updated_at.eq(at),
            ))
            .execute(c)?;
        if marked == 0 {
            return Err(AppError::NotFound);
        }
        let live = r.mode == crate::domain::round::Mode::Live;
        for d in &checked {
            store(c, &r.id, &pid, d, at, live)?;
        }
        if live && live_minutes == 0 {
            super::live::publish_round(c, &r, at)?;
        }
        Ok(r)
    })?;
    Ok(Saved {
        round: r,
        panellist_id: pid,
        themes: theme_ids.len(),
    })
}

/// Writes one answer if it changed, keeping the change.
fn store(
    conn: &mut DbConn,
    round_id: &str,
    pid: &str,
    d: &AnswerData,
    at: chrono::NaiveDateTime,
    live: bool,
) -> AppResult<()> {
    let existing: Option<Answer> = answers::table
        .filter(answers::round_id.eq(round_id))
        .filter(answers::panellist_id.eq(pid))
        .filter(answers::theme_id.eq(&d.theme_id))
        .select(Answer::as_select())
        .first(conn)
        .optional()?;
    let empty = d.score.is_none()
        && !d.dont_know
        && d.comment.is_none()
        && d.proposal.is_none()
        && d.reason.is_none();
    if existing.is_none() && empty {
        return Ok(()); // nothing said, nothing to keep
    }
    let previous = existing.clone();
    // In a live round a changed score (or "don't know") counts towards the next snapshot.
    let scored_changed = match &existing {
        Some(a) => a.score != d.score || a.dont_know != d.dont_know,
        None => d.score.is_some() || d.dont_know,
    };
    if live && scored_changed {
        super::live::record_change(conn, round_id, &d.theme_id, pid, at)?;
    }
    let new = existing.is_none();
    let id = match existing {
        Some(a) => {
            let same = a.score == d.score
                && a.dont_know == d.dont_know
                && a.comment == d.comment
                && a.proposal == d.proposal
                && a.reason == d.reason;
            if same {
                return Ok(());
            }
            // A comment that changes needs clearing again before it appears in a report.
            let cleared = if a.comment == d.comment {
                a.comment_cleared_at
            } else {
                None
            };
            diesel::update(answers::table.find(&a.id))
                .set((
                    answers::score.eq(d.score),
                    answers::dont_know.eq(d.dont_know),
                    answers::comment.eq(&d.comment),
                    answers::proposal.eq(&d.proposal),
                    answers::reason.eq(&d.reason),
                    answers::comment_cleared_at.eq(cleared),
                    answers::updated_at.eq(at),
                ))
                .execute(conn)?;
            a.id
        }
        None => {
            let a = Answer {
                id: new_id(),
                round_id: round_id.into(),
                panellist_id: pid.into(),
                theme_id: d.theme_id.clone(),
                score: d.score,
                dont_know: d.dont_know,
                comment: d.comment.clone(),
                proposal: d.proposal.clone(),
                reason: d.reason.clone(),
                comment_cleared_at: None,
                created_at: at,
                updated_at: at,
            };
            diesel::insert_into(answers::table)
                .values(&a)
                .execute(conn)?;
            a.id
        }
    };
    record_change(conn, &id, previous.as_ref(), d, at, new)
}

/// How many changes of one answer are kept one by one; after that the last one follows the
/// answer, so one link cannot fill the disk however often it saves.
const MAX_CHANGES_PER_ANSWER: i64 = 200;

/// Keeps one change of an answer: its score, and only the texts that changed.
fn record_change(
    conn: &mut DbConn,
    answer_id: &str,
    previous: Option<&Answer>,
    d: &AnswerData,
    at: chrono::NaiveDateTime,
    new: bool,
) -> AppResult<()> {
    // A new answer has no changes kept yet.
    let kept_count: i64 = if new {
        0
    } else {
        answer_changes::table
            .filter(answer_changes::answer_id.eq(answer_id))
            .count()
            .get_result(conn)?
    };
    if kept_count >= MAX_CHANGES_PER_ANSWER {
        let last: String = answer_changes::table
            .filter(answer_changes::answer_id.eq(answer_id))
            .order((answer_changes::at.desc(), answer_changes::id.desc()))
            .select(answer_changes::id)
            .first(conn)?;
        diesel::update(answer_changes::table.find(&last))
            .set((
                answer_changes::score.eq(d.score),
                answer_changes::dont_know.eq(d.dont_know),
                answer_changes::comment.eq(&d.comment),
                answer_changes::proposal.eq(&d.proposal),
                answer_changes::reason.eq(&d.reason),
                answer_changes::at.eq(at),
                answer_changes::kept.eq(""),
            ))
            .execute(conn)?;
        return Ok(());
    }
    let mut kept = Vec::new();
    let mut text = |name: &'static str, before: Option<&Option<String>>, now: &Option<String>| {
        if before == Some(now) {
            kept.push(name);
            None
        } else {
            now.clone()
        }
    };
    let comment = text("comment", previous.map(|a| &a.comment), &d.comment);
    let proposal = text("proposal", previous.map(|a| &a.proposal), &d.proposal);
    let reason = text("reason", previous.map(|a| &a.reason), &d.reason);
    diesel::insert_into(answer_changes::table)
        .values(&AnswerChange {
            id: new_id(),
            answer_id: answer_id.into(),
            score: d.score,
            dont_know: d.dont_know,
            comment,
            proposal,
            reason,
            at,
            kept: kept.join(","),
        })
        .execute(conn)?;
    Ok(())
}

/// The rounds list on the expert's page, resolved from the token.
pub fn my_rounds(conn: &mut DbConn, token: &str) -> AppResult<Vec<MyRound>> {
    let p = resolve(conn, token)?.ok_or(AppError::NotFound)?;
    rounds_for(conn, &p)
}
