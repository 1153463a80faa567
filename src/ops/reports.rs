//! Reports as people ask for them: researchers for their studies, funders through a link;
//! funder links themselves; and the release of small cells, which is logged.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::access::{self, ResearcherId, Role};
use super::secret::{looks_like_token, new_token, token_hash};
use super::{Actor, AppError, AppResult, audit};
use crate::db::utc;
use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::recruitment::{strata_of, strata_values};
use super::rounds::published as rounds_published;
use crate::db::models::{Candidate, Round, Study};
use crate::db::schema::{
    answers, candidate_events, candidates, minority_statements, report_links, round_participations,
    rounds, small_cell_releases, studies, theme_revisions, themes,
};
use crate::db::{self, DbConn, new_id, now};
use crate::domain::Invalid;
use crate::domain::candidate::{DeclineCategory, Status};
use crate::domain::round::State;
use crate::report::{
    self, Audience, Cleared, CodebookChange, Options, Report, ReportData, RoundTally, Scores,
    Standing, StudyInfo, Which,
};

/// The report for a researcher of the study: their own view, or (`Audience::Funder`) exactly
/// what the funder's link shows, to hand on.
pub fn for_researcher(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    opts: &Options,
    audience: Audience,
) -> AppResult<Report> {
    let (study, _) = access::study(conn, researcher_id, study_id, Role::Researcher)?;
    build(conn, &study, opts, audience)
}

/// The report of a study for an audience: its data gathered, then composed. A closed round's
/// report is kept and served again until something changes (`report::cache`).
pub fn build(
    conn: &mut DbConn,
    study: &Study,
    opts: &Options,
    audience: Audience,
) -> AppResult<Report> {
    let all = rating_rounds(conn, &study.id)?;
    let round = report::choose_round(&all, opts.round, audience)?;
    let database = db::database_name(conn)?;
    // Several servers may share a PostgreSQL database: what another one changed is counted
    // there (SQLite has one server).
    let changes = match conn {
        DbConn::Pg(_) => db::change_count(conn)?,
        DbConn::Sqlite(_) => 0,
    };
    let key = report::cache::Key::new(&database, changes, &study.id, round.number, opts, audience);
    // The round the key names, even if a later one closes meanwhile ("the latest" would then
    // be another round's report under this key).
    let opts = &Options {
        round: Some(round.number),
        ..opts.clone()
    };
    let compute = |c: &mut DbConn| -> AppResult<Report> {
        let data = gather(c, study, opts, audience)?;
        Ok(report::compose(&data, opts, audience))
    };
    if round.state != State::Closed {
        // Still changing: computed every time, but within the bound on reports at once.
        let r = report::cache::report(key, false, || compute(conn))?;
        return Ok(Report::clone(&r));
    }
    let r = report::cache::report(key.clone(), true, || compute(conn))?;
    let mut r = Report::clone(&r);
    r.cache_key = Some(key);
    Ok(r)
}

/// The rating rounds that opened, oldest first.
fn rating_rounds(conn: &mut DbConn, study_id: &str) -> AppResult<Vec<Round>> {
    Ok(rounds::table
        .filter(rounds::study_id.eq(study_id))
        .filter(rounds::rating.eq(true))
        .filter(rounds::state.ne(State::Draft))
        .order(rounds::number.asc())
        .select(Round::as_select())
        .load(conn)?)
}

/// Everything the report of `opts.round` needs, in one read.
pub fn gather(
    conn: &mut DbConn,
    study: &Study,
    opts: &Options,
    audience: Audience,
) -> AppResult<ReportData> {
    db::read(conn, |c| {
        let settings = study.settings()?;
        let all = rating_rounds(c, &study.id)?;
        let round = report::choose_round(&all, opts.round, audience)?.clone();
        let shown = report::rounds_shown(&all, &round, audience);
        let previous_round = shown
            .iter()
            .rev()
            .find(|r| r.number < round.number)
            .copied();
        // On PostgreSQL the previous round is read on a second connection meanwhile: each
        // read of a whole round keeps one core busy, and the machine has more than one.
        let before = previous_round.and_then(|prev| read_scores_beside(c, &prev.id));
        let mut answers = Scores::default();
        read_scores(c, &round.id, Which::Now, &mut answers)?;
        answers.cleared = answers::table
            .filter(answers::round_id.eq(&round.id))
            .filter(answers::comment_cleared_at.is_not_null())
            .filter(answers::comment.is_not_null())
            .select((answers::theme_id, answers::score, answers::comment))
            .load::<(String, Option<i32>, Option<String>)>(c)?
            .into_iter()
            .filter_map(|(theme_id, score, text)| {
                Some(Cleared {
                    theme_id,
                    score,
                    text: text?,
                })
            })
            .collect();
        let mut tallies = Vec::new();
        for r in &shown {
            let responders = if r.id == round.id && r.rating {
                answers.responders()
            } else {
                super::answers::responders(c, &r.id, r.rating)?
            };
            let panellists = round_participations::table
                .filter(round_participations::round_id.eq(&r.id))
                .count()
                .get_result::<i64>(c)? as usize;
            tallies.push(RoundTally {
                number: r.number,
                panellists,
                responders,
            });
        }
        if let Some(prev) = previous_round {
            match before.and_then(|pending| pending.wait()) {
                Some((themes, panellists)) => {
                    for p in panellists {
                        push_panellist(&mut answers, Which::Before, &themes, p)?;
                    }
                }
                None => read_scores(c, &prev.id, Which::Before, &mut answers)?,
            }
        }
        let previous = previous_round.map(|r| r.number);
        let changes = match previous_round {
            Some(prev) => changes_between(c, prev, &round)?,
            None => Vec::new(),
        };
        // A closed round's report describes the panel as it stood at the close.
        let as_of = round.closed_at.filter(|_| round.state == State::Closed);
        let people = standings(c, &study.id, as_of)?;
        let strata = strata_of(c, &study.id)?;
        let groups = match &settings.groups_by {
            Some(by) => groups_data(c, study, &round, &strata, by)?,
            None => None,
        };
        let statements: HashMap<String, String> = minority_statements::table
            .filter(minority_statements::round_id.eq(&round.id))
            .select((
                minority_statements::theme_id,
                minority_statements::statement,
            ))
            .load(c)?
            .into_iter()
            .collect();
        let protocol = if super::protocol::registered(c, &study.id)? {
            Some(super::protocol::view_of(c, study)?)
        } else {
            None
        };
        let rating_began = all.iter().filter_map(|r| r.opened_at).min().map(utc);
        let item_flow = item_flow(c, &study.id, &shown)?;
        let facts = checklist_facts(c, study, &settings, &round, audience, protocol.as_ref())?;
        let live = if round.mode == crate::domain::round::Mode::Live {
            Some(super::live::timeline(c, &round, study)?)
        } else {
            None
        };
        let published = rounds_published(c, &round.id)?;
        let discussion = {
            let numbers: std::collections::HashMap<String, i32> = published
                .iter()
                .map(|t| (t.theme_id.clone(), t.snapshot.number))
                .collect();
            super::discussion::for_report(c, &round, study, &numbers, audience == Audience::Funder)?
        };
        let releases: Vec<(String, String)> = small_cell_releases::table
            .filter(small_cell_releases::study_id.eq(&study.id))
            .select((
                small_cell_releases::table_key,
                small_cell_releases::cell_key,
            ))
            .load(c)?;
        Ok::<_, AppError>(ReportData {
            study: StudyInfo {
                id: study.id.clone(),
                title: study.title.clone(),
                purpose: study.purpose.clone(),
                funder: study.funder.clone(),
                contact: study.contact.clone(),
                language: settings.language,
                time_zone: settings.time_zone.name().into(),
            },
            consensus_locked_at: study.consensus_locked_at.map(utc),
            published,
            strata,
            settings,
            round,
            answers,
            rounds: tallies,
            previous,
            people,
            releases,
            changes,
            groups,
            statements,
            protocol,
            rating_began,
            item_flow,
            facts,
            live,
            discussion,
        })
    })
}

/// A round's answers into `scores`, each kept as a few bytes: rounds can hold millions of
/// answers. SQLite hands them over a row at a time from its covering index; PostgreSQL a
/// panellist at a time ([`pg_panellists`]).
fn read_scores(c: &mut DbConn, round_id: &str, which: Which, scores: &mut Scores) -> AppResult<()> {
    if let DbConn::Pg(pg) = c {
        let themes = round_theme_ids(pg, round_id)?;
        return pg_panellists(pg, round_id, &themes, |p| {
            push_panellist(scores, which, &themes, p)
        });
    }
    db::each_row!(
        c,
        answers::table
            .filter(answers::round_id.eq(round_id))
            .order((answers::panellist_id.asc(), answers::theme_id.asc()))
            .select((
                answers::panellist_id,
                answers::theme_id,
                answers::score,
                answers::dont_know,
            )),
        (String, String, Option<i32>, bool),
        |(panellist, theme, score, dont_know)| scores
            .push(which, &panellist, &theme, score, dont_know)
    );
    Ok(())
}

/// [`read_scores`] of a round on a second PostgreSQL connection, started now and seeing what
/// `c`'s transaction sees (`db::beside`); nothing on SQLite or when no connection is free.
fn read_scores_beside(
    c: &mut DbConn,
    round_id: &str,
) -> Option<db::beside::Pending<(Vec<String>, Vec<PanellistScores>)>> {
    let round_id = round_id.to_string();
    db::beside::read(c, move |pg| -> AppResult<_> {
        let themes = round_theme_ids(pg, &round_id)?;
        let mut panellists = Vec::new();
        pg_panellists(pg, &round_id, &themes, |p| {
            panellists.push(p);
            Ok(())
        })?;
        Ok((themes, panellists))
    })
}

/// One panellist's answers in a round, as PostgreSQL sends them: one row of arrays.
#[derive(QueryableByName)]
struct PanellistScores {
    #[diesel(sql_type = diesel::sql_types::Text)]
    panellist_id: String,
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Nullable<diesel::sql_types::Integer>>)]
    scores: Vec<Option<i32>>,
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Bool>)]
    dont_know: Vec<bool>,
    /// `None` when they are the round's themes in the round's order.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Text>>)]
    themes: Option<Vec<String>>,
}

/// A round's themes in the order PostgreSQL sorts their ids.
fn round_theme_ids(pg: &mut diesel::PgConnection, round_id: &str) -> AppResult<Vec<String>> {
    use crate::db::schema::round_themes;
    Ok(round_themes::table
        .filter(round_themes::round_id.eq(round_id))
        .order(round_themes::theme_id.asc())
        .select(round_themes::theme_id)
        .load(pg)?)
}

/// Each panellist's answers in a round, handed to `each` a panellist at a time. PostgreSQL sends
/// each panellist's answers as one row of arrays, since a row of its protocol costs far more
/// than the few bytes of an answer (a million answers took over a second one row at a time,
/// against a tenth of that to group them), and names the themes only for a panellist whose
/// themes are not the round's (`themes`), in the round's order (two ids per score were most of
/// the bytes).
fn pg_panellists(
    pg: &mut diesel::PgConnection,
    round_id: &str,
    themes: &[String],
    mut each: impl FnMut(PanellistScores) -> AppResult<()>,
) -> AppResult<()> {
    use diesel::sql_types::{Array, Text};
    // Grouped from the covering index in panellist order, as SQLite reads them. The three
    // arrays are built from the same rows in the same order (one aggregation feeds each row to
    // all three); which order that is does not matter to the report, and when it is not the
    // round's themes' (another plan), the themes come along.
    let query = diesel::sql_query(
        "SELECT panellist_id, array_agg(score) AS scores, array_agg(dont_know) AS dont_know, \
                CASE WHEN array_agg(theme_id) = $2 THEN NULL ELSE array_agg(theme_id) END \
                  AS themes \
         FROM answers WHERE round_id = $1 \
         GROUP BY panellist_id ORDER BY panellist_id",
    )
    .bind::<Text, _>(round_id)
    .bind::<Array<Text>, _>(themes);
    for row in query.load_iter::<PanellistScores, diesel::pg::PgRowByRowLoadingMode>(pg)? {
        each(row?)?;
    }
    Ok(())
}

/// One panellist's answers into `scores`.
fn push_panellist(
    scores: &mut Scores,
    which: Which,
    round_themes: &[String],
    p: PanellistScores,
) -> AppResult<()> {
    let themes = p.themes.as_deref().unwrap_or(round_themes);
    if themes.len() != p.scores.len() || p.dont_know.len() != p.scores.len() {
        return Err(AppError::Internal(anyhow::anyhow!(
            "a panellist's answers came back as arrays of different lengths"
        )));
    }
    for ((theme, score), dont_know) in themes.iter().zip(p.scores).zip(p.dont_know) {
        scores.push(which, &p.panellist_id, theme, score, dont_know);
    }
    Ok(())
}

/// What the report's checklist appendix needs beyond the figures: how the candidates were found,
/// reminders, the rounds, the interviews and their coders, and the researchers' own texts.
fn checklist_facts(
    c: &mut DbConn,
    study: &Study,
    settings: &crate::domain::study::StudySettings,
    round: &Round,
    audience: Audience,
    protocol: Option<&super::protocol::ProtocolView>,
) -> AppResult<report::checklist::Facts> {
    use crate::db::schema::{codings, excerpts, transcripts};
    // A funder's report describes recruitment as it stood when the round closed: candidates
    // added later do not move it.
    let until = match audience {
        Audience::Funder => round.closed_at,
        Audience::Researcher => None,
    };
    let people: Vec<(String, String, Option<String>, i32)> = candidates::table
        .filter(candidates::study_id.eq(&study.id))
        .filter(candidates::erased_at.is_null())
        .select((
            candidates::id,
            candidates::source,
            candidates::referred_by,
            candidates::reminders_sent,
            candidates::created_at,
        ))
        .load::<(String, String, Option<String>, i32, NaiveDateTime)>(c)?
        .into_iter()
        .filter(|(.., at)| until.is_none_or(|u| *at <= u))
        .map(|(id, source, by, reminders, _)| (id, source, by, reminders))
        .collect();
    let mut sources = std::collections::BTreeMap::new();
    for (_, source, _, _) in &people {
        *sources.entry(source.clone()).or_insert(0) += 1;
    }
    let referrer: HashMap<&str, &str> = people
        .iter()
        .filter_map(|(id, _, by, _)| by.as_deref().map(|b| (id.as_str(), b)))
        .collect();
    // The snowball's waves: the longest chain of namings (a chain stops at a loop).
    let waves = people
        .iter()
        .map(|(id, ..)| {
            let (mut at, mut depth) = (id.as_str(), 0);
            while let Some(by) = referrer.get(at) {
                depth += 1;
                if depth > people.len() {
                    break;
                }
                at = by;
            }
            depth
        })
        .max()
        .unwrap_or(0);
    let all: Vec<Round> = rounds::table
        .filter(rounds::study_id.eq(&study.id))
        .filter(rounds::state.ne(State::Draft))
        .filter(rounds::number.le(round.number))
        .order(rounds::number.asc())
        .select(Round::as_select())
        .load(c)?;
    let mut round_facts = Vec::new();
    for r in all
        .iter()
        .filter(|r| audience == Audience::Researcher || r.state == State::Closed)
    {
        let reminders: Option<i64> = round_participations::table
            .filter(round_participations::round_id.eq(&r.id))
            .select(diesel::dsl::sum(round_participations::reminders_sent))
            .first(c)?;
        round_facts.push(report::checklist::RoundFacts {
            number: r.number,
            rating: r.rating,
            validation: r.validation,
            feedback: r.feedback,
            feedback_by_group: r.feedback_by_group,
            opened_at: r.opened_at.map(utc),
            closed_at: r.closed_at.map(utc),
            reminders: reminders.unwrap_or(0) as usize,
        });
    }
    let transcript_count = transcripts::table
        .filter(transcripts::study_id.eq(&study.id))
        .count()
        .get_result::<i64>(c)? as usize;
    // Which coder coded which transcript.
    let coded: Vec<(String, String)> = codings::table
        .inner_join(excerpts::table.inner_join(transcripts::table))
        .filter(transcripts::study_id.eq(&study.id))
        .select((codings::coder_id, excerpts::transcript_id))
        .distinct()
        .load(c)?;
    let mut by_coder: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        Default::default();
    for (coder, transcript) in &coded {
        by_coder.entry(coder).or_default().insert(transcript);
    }
    // The two coders with the most transcripts in common.
    let mut best: Option<(usize, &str, &str)> = None;
    let ids: Vec<&str> = by_coder.keys().copied().collect();
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            let common = by_coder[a].intersection(&by_coder[b]).count();
            if common > 0 && best.is_none_or(|(n, ..)| common > n) {
                best = Some((common, a, b));
            }
        }
    }
    let agreement = match best {
        Some((_, a, b)) => {
            let found = super::coding::agreement_of(c, &study.id, a, b)?;
            found.overall_kappa.map(|k| (k, found.transcripts))
        }
        None => None,
    };
    let registered = protocol.filter(|p| p.registered_at.is_some());
    Ok(report::checklist::Facts {
        sources,
        referrals: referrer.len(),
        waves,
        invitation_reminders: (audience == Audience::Researcher)
            .then(|| people.iter().map(|(.., n)| *n as usize).sum()),
        rounds: round_facts,
        transcripts: transcript_count,
        coders: by_coder.len(),
        agreement,
        planned_rounds: registered.map(|p| p.protocol.planned_rounds),
        stopping_rule: registered.map(|p| p.protocol.stopping.clone()),
        attributes: strata_of(c, &study.id)?
            .into_iter()
            .map(|s| s.label)
            .collect(),
        rationale: settings.rationale.clone(),
        panel_size_rationale: settings.panel_size_rationale.clone(),
        limitations: settings.limitations.clone(),
        funding_and_interests: settings.funding_and_interests.clone(),
    })
}

/// The flow of items up to `round`: the themes coded in the interviews (round 1, with the
/// interviews each came from), then per rating round the themes rated and what the codebook's
/// history says changed before it opened.
fn item_flow(
    c: &mut DbConn,
    study_id: &str,
    shown: &[&Round],
) -> AppResult<Vec<report::ItemFlowStep>> {
    use crate::db::schema::{codings, excerpts, transcripts};
    let coded: Vec<(String, String)> = codings::table
        .inner_join(excerpts::table.inner_join(transcripts::table))
        .filter(transcripts::study_id.eq(study_id))
        .select((codings::theme_id, excerpts::transcript_id))
        .distinct()
        .load(c)?;
    let numbers: HashMap<String, i32> = themes::table
        .filter(themes::study_id.eq(study_id))
        .select((themes::id, themes::number))
        .load::<(String, i32)>(c)?
        .into_iter()
        .collect();
    let mut out = Vec::new();
    if !coded.is_empty() {
        let mut interviews: std::collections::BTreeMap<i32, usize> = Default::default();
        for (theme, _) in &coded {
            if let Some(n) = numbers.get(theme) {
                *interviews.entry(*n).or_insert(0) += 1;
            }
        }
        out.push(report::ItemFlowStep {
            round: 1,
            found: Some(interviews.len()),
            interviews: Some(interviews),
            ..Default::default()
        });
    }
    let history: Vec<(String, NaiveDateTime)> = theme_revisions::table
        .inner_join(themes::table)
        .filter(themes::study_id.eq(study_id))
        .select((theme_revisions::change, theme_revisions::at))
        .load(c)?;
    let mut before: Option<NaiveDateTime> = None;
    for r in shown {
        let Some(opened) = r.opened_at else { continue };
        let rated = crate::db::schema::round_themes::table
            .filter(crate::db::schema::round_themes::round_id.eq(&r.id))
            .count()
            .get_result::<i64>(c)? as usize;
        let mut step = report::ItemFlowStep {
            round: r.number,
            rated: Some(rated),
            ..Default::default()
        };
        if let Some(from) = before {
            let count = |kinds: &[&str]| {
                history
                    .iter()
                    .filter(|(k, at)| *at > from && *at <= opened && kinds.contains(&k.as_str()))
                    .count()
            };
            step.reworded = Some(count(&["reworded", "statements"]));
            step.merged = Some(count(&["merged"]));
            step.split = Some(count(&["split"]));
            step.dropped = Some(count(&["dropped"]));
            step.added = Some(count(&["created"]));
        }
        before = Some(opened);
        out.push(step);
    }
    Ok(out)
}

/// The panel groups of the study's report: who is in which group, and who the round was for.
fn groups_data(
    c: &mut DbConn,
    study: &Study,
    round: &Round,
    strata: &[crate::domain::candidate::Stratum],
    by: &str,
) -> AppResult<Option<report::GroupsData>> {
    let Some(stratum) = strata.iter().find(|s| s.key == by) else {
        return Ok(None);
    };
    let of_panellist = super::recruitment::panellist_values(c, &study.id, by)?;
    let round_panellists: Vec<String> = round_participations::table
        .filter(round_participations::round_id.eq(&round.id))
        .select(round_participations::panellist_id)
        .load(c)?;
    Ok(Some(report::GroupsData {
        by: stratum.key.clone(),
        label: stratum.label.clone(),
        values: stratum.values.clone(),
        of_panellist,
        round_panellists,
    }))
}

/// The study's candidates as of `at` (from their status history), or as they stand now.
fn standings(
    conn: &mut DbConn,
    study_id: &str,
    at: Option<NaiveDateTime>,
) -> AppResult<Vec<Standing>> {
    let cands: Vec<Candidate> = candidates::table
        .filter(candidates::study_id.eq(study_id))
        .order(candidates::id)
        .select(Candidate::as_select())
        .load(conn)?;
    let history: Option<HashMap<String, (Status, bool)>> = match at {
        None => None,
        Some(at) => {
            let events: Vec<(String, String)> = candidate_events::table
                .inner_join(candidates::table)
                .filter(candidates::study_id.eq(study_id))
                .filter(candidate_events::at.le(at))
                .order((candidate_events::at.asc(), candidate_events::id.asc()))
                .select((candidate_events::candidate_id, candidate_events::to_status))
                .load(conn)?;
            let mut h: HashMap<String, (Status, bool)> = HashMap::new();
            for (cand, to) in events {
                let Some(to) = Status::parse(&to) else {
                    continue;
                };
                let e = h.entry(cand).or_insert((to, false));
                e.0 = to;
                e.1 |= to == Status::Invited;
            }
            Some(h)
        }
    };
    let mut out = Vec::new();
    for c in cands {
        let (status, invited) = match &history {
            None => (c.status, c.invited_at.is_some()),
            Some(h) => match h.get(&c.id) {
                Some(x) => *x,
                None => continue, // not yet a candidate then
            },
        };
        out.push(Standing {
            status,
            invited,
            decline_category: c.decline_category.unwrap_or(DeclineCategory::Other),
            decline_reason: c.status_reason.clone(),
            strata: strata_values(&c)?,
        });
    }
    Ok(out)
}

/// Revisions made between the two rounds opening, with their reasons.
fn changes_between(
    conn: &mut DbConn,
    prev: &Round,
    round: &Round,
) -> AppResult<Vec<CodebookChange>> {
    let (Some(from), Some(to)) = (prev.opened_at, round.opened_at) else {
        return Ok(Vec::new());
    };
    let revs: Vec<(String, String, String)> = theme_revisions::table
        .inner_join(themes::table)
        .filter(themes::study_id.eq(&round.study_id))
        .filter(theme_revisions::at.gt(from))
        .filter(theme_revisions::at.le(to))
        .order((theme_revisions::at.asc(), theme_revisions::version.asc()))
        .select((
            theme_revisions::change,
            theme_revisions::reason,
            theme_revisions::snapshot,
        ))
        .load(conn)?;
    Ok(revs
        .into_iter()
        .filter_map(|(change, reason, snapshot)| {
            let snap: crate::domain::codebook::ThemeSnapshot =
                serde_json::from_str(&snapshot).ok()?;
            Some(CodebookChange {
                number: snap.number,
                title: snap.title,
                change,
                reason,
            })
        })
        .collect())
}

/// The study behind a live funder link, recording its use.
pub fn funder_study(conn: &mut DbConn, token: &str) -> AppResult<Option<(String, Study)>> {
    if !looks_like_token(token) {
        return Ok(None);
    }
    let t = now();
    let found: Option<(String, Study)> = report_links::table
        .inner_join(studies::table)
        .filter(report_links::token_hash.eq(token_hash(token)))
        .filter(report_links::revoked_at.is_null())
        .filter(
            report_links::expires_at
                .is_null()
                .or(report_links::expires_at.gt(t)),
        )
        .select((report_links::id, Study::as_select()))
        .first(conn)
        .optional()?;
    if let Some((id, _)) = &found {
        diesel::update(report_links::table.find(id))
            .set(report_links::last_used_at.eq(t))
            .execute(conn)?;
    }
    Ok(found)
}

/// What a funder link gives: `None` when the link is unknown, expired or revoked; otherwise the
/// report (which may be an error such as a round that is not closed yet).
pub fn for_funder(
    conn: &mut DbConn,
    token: &str,
    opts: &Options,
) -> AppResult<Option<AppResult<Report>>> {
    let Some((link_id, study)) = funder_study(conn, token)? else {
        return Ok(None);
    };
    Ok(Some(funder_report(conn, &link_id, &study, opts)))
}

fn funder_report(
    conn: &mut DbConn,
    link_id: &str,
    study: &Study,
    opts: &Options,
) -> AppResult<Report> {
    let link_id = link_id.to_string();
    let r = build(conn, study, opts, Audience::Funder)?;
    audit::record(
        conn,
        &Actor::Funder { link_id },
        Some(&study.id),
        audit::Action::ReportViewed,
        Some(&study.id),
        serde_json::json!({ "round": r.round.number }),
    )?;
    Ok(r)
}

/// A funder link as researchers see it; `url` only when it was just made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportLinkView {
    pub id: String,
    pub label: String,
    /// The link itself, shown once.
    pub url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportLinkInput {
    #[serde(default)]
    pub label: String,
    /// When the link stops working; by default in 90 days.
    pub expires_at: Option<DateTime<Utc>>,
}

pub const DEFAULT_LINK_DAYS: i64 = 90;

pub fn create_link(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    input: ReportLinkInput,
    public_url: &str,
) -> AppResult<ReportLinkView> {
    let label = crate::domain::text::block("label", &input.label, 200)?;
    let expires = input
        .expires_at
        .map(|t| t.naive_utc())
        .unwrap_or_else(|| now() + Duration::days(DEFAULT_LINK_DAYS));
    crate::domain::validation::ahead("expires_at", expires, now())?;
    let raw = new_token();
    db::write(conn, |c| {
        access::study(c, researcher_id, study_id, Role::Researcher)?;
        let id = new_id();
        let t = now();
        diesel::insert_into(report_links::table)
            .values((
                report_links::id.eq(&id),
                report_links::study_id.eq(study_id),
                report_links::token_hash.eq(token_hash(&raw)),
                report_links::label.eq(&label),
                report_links::created_by.eq(researcher_id.as_str()),
                report_links::created_at.eq(t),
                report_links::expires_at.eq(Some(expires)),
            ))
            .execute(c)?;
        audit::record(
            c,
            &Actor::Researcher {
                id: researcher_id.into(),
            },
            Some(study_id),
            audit::Action::ReportLinkCreated,
            Some(&id),
            serde_json::json!({ "expires_at": utc(expires) }),
        )?;
        Ok::<_, AppError>(ReportLinkView {
            id,
            label: label.clone(),
            url: Some(format!("{}/f/{raw}", public_url.trim_end_matches('/'))),
            created_at: utc(t),
            expires_at: Some(utc(expires)),
            revoked_at: None,
            last_used_at: None,
        })
    })
}

type LinkRow = (
    String,
    String,
    chrono::NaiveDateTime,
    Option<chrono::NaiveDateTime>,
    Option<chrono::NaiveDateTime>,
    Option<chrono::NaiveDateTime>,
);

pub fn links(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Vec<ReportLinkView>> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let rows: Vec<LinkRow> = report_links::table
        .filter(report_links::study_id.eq(study_id))
        .order(report_links::created_at.desc())
        .select((
            report_links::id,
            report_links::label,
            report_links::created_at,
            report_links::expires_at,
            report_links::revoked_at,
            report_links::last_used_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, label, created, expires, revoked, used)| ReportLinkView {
                id,
                label,
                url: None,
                created_at: utc(created),
                expires_at: expires.map(utc),
                revoked_at: revoked.map(utc),
                last_used_at: used.map(utc),
            },
        )
        .collect())
}

pub fn revoke_link(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    link_id: &str,
) -> AppResult<()> {
    db::write(conn, |c| {
        let study_id: String = report_links::table
            .find(link_id)
            .select(report_links::study_id)
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        access::study(c, researcher_id, &study_id, Role::Researcher)?;
        diesel::update(
            report_links::table
                .find(link_id)
                .filter(report_links::revoked_at.is_null()),
        )
        .set(report_links::revoked_at.eq(now()))
        .execute(c)?;
        audit::record(
            c,
            &Actor::Researcher {
                id: researcher_id.into(),
            },
            Some(&study_id),
            audit::Action::ReportLinkRevoked,
            Some(link_id),
            serde_json::json!({}),
        )
    })
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInput {
    /// The composition table's key, as the report gives it (`composition:COLUMN:ROWS`).
    pub table_key: String,
    /// The cell's key, as the report gives it (`row value|column value`).
    pub cell_key: String,
    /// Show it to the funder (true) or hide it again (false).
    pub released: bool,
    #[serde(default)]
    pub reason: String,
}

/// Releases a small cell for the funder's report, or takes the release back; both are logged.
pub fn set_release(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    input: ReleaseInput,
) -> AppResult<()> {
    let reason = crate::domain::text::block("reason", &input.reason, 1000)?;
    if input.table_key.len() > 500
        || input.cell_key.len() > 500
        || !input.table_key.starts_with("composition:")
    {
        return Err(Invalid::one("table_key", "is not a table of the report").into());
    }
    db::write(conn, |c| {
        access::study(c, researcher_id, study_id, Role::Researcher)?;
        diesel::delete(
            small_cell_releases::table
                .filter(small_cell_releases::study_id.eq(study_id))
                .filter(small_cell_releases::table_key.eq(&input.table_key))
                .filter(small_cell_releases::cell_key.eq(&input.cell_key)),
        )
        .execute(c)?;
        if input.released {
            diesel::insert_into(small_cell_releases::table)
                .values((
                    small_cell_releases::id.eq(new_id()),
                    small_cell_releases::study_id.eq(study_id),
                    small_cell_releases::table_key.eq(&input.table_key),
                    small_cell_releases::cell_key.eq(&input.cell_key),
                    small_cell_releases::reason.eq(&reason),
                    small_cell_releases::released_by.eq(researcher_id.as_str()),
                    small_cell_releases::released_at.eq(now()),
                ))
                .execute(c)?;
        }
        audit::record(
            c,
            &Actor::Researcher {
                id: researcher_id.into(),
            },
            Some(study_id),
            if input.released {
                audit::Action::SmallCellReleased
            } else {
                audit::Action::SmallCellHidden
            },
            Some(&format!("{}#{}", input.table_key, input.cell_key)),
            serde_json::json!({ "reason": reason }),
        )
    })
}
