//! The written questionnaire: round 1 answered in writing through the expert's link, whose answers become documents to code.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::utc;
use crate::db::{self, DbConn, new_id, now};
use crate::domain::{Invalid, text};
use crate::ops::access::{self, ResearcherId, Role};
use crate::ops::{AppError, AppResult};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Questionnaire {
    pub number: i32,
    /// When the expert handed in their answers (they may still change them until the deadline).
    pub submitted_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub accepting: bool,
    pub instructions: String,
    pub sections: Vec<QuestionnaireSection>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuestionnaireSection {
    pub title: String,
    pub questions: Vec<QuestionnaireQuestion>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuestionnaireQuestion {
    pub id: String,
    pub text: String,
    pub answer: String,
}

fn questionnaire_round(
    conn: &mut DbConn,
    p: &crate::ops::participation::Participant,
    number: i32,
) -> AppResult<(Round, String)> {
    let pid = match (p.status(), &p.candidate.panellist_id) {
        (crate::domain::candidate::Status::Accepted, Some(id)) => id.clone(),
        _ => return Err(AppError::NotFound),
    };
    let r = crate::ops::answers::shown_round(conn, &p.study.id, number)?;
    if !r.questionnaire {
        return Err(AppError::NotFound);
    }
    Ok((r, pid))
}

/// The written questionnaire as the expert sees it; the first view is recorded.
pub fn questionnaire(conn: &mut DbConn, token: &str, number: i32) -> AppResult<Questionnaire> {
    let p = crate::ops::participation::resolve(conn, token)?.ok_or(AppError::NotFound)?;
    questionnaire_for(conn, &p, number)
}

/// `questionnaire` for a participant already resolved from their link.
pub fn questionnaire_for(
    conn: &mut DbConn,
    p: &crate::ops::participation::Participant,
    number: i32,
) -> AppResult<Questionnaire> {
    let (r, pid) = questionnaire_round(conn, p, number)?;
    questionnaire_in(conn, &pid, r)
}

/// The written questionnaire of a round already read, for panellist `pid`; the first view is
/// recorded.
pub fn questionnaire_in(conn: &mut DbConn, pid: &str, r: Round) -> AppResult<Questionnaire> {
    let part: RoundParticipation = round_participations::table
        .find((&r.id, pid))
        .select(RoundParticipation::as_select())
        .first(conn)
        .optional()?
        // Joined after the round opened and not yet invited to it.
        .ok_or(AppError::NotFound)?;
    crate::ops::rounds::record_first_view(conn, &part)?;
    let g = guide_of(conn, &r.id)?;
    let answers: HashMap<String, String> = questionnaire_answers::table
        .filter(questionnaire_answers::round_id.eq(&r.id))
        .filter(questionnaire_answers::panellist_id.eq(pid))
        .select((
            questionnaire_answers::question_id,
            questionnaire_answers::text,
        ))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    Ok(Questionnaire {
        number: r.number,
        submitted_at: part.submitted_at.map(utc),
        closes_at: r.closes_at.map(utc),
        accepting: r.accepting(now()),
        instructions: r.instructions.clone(),
        sections: g
            .sections
            .into_iter()
            .map(|s| QuestionnaireSection {
                title: s.title,
                questions: s
                    .questions
                    .into_iter()
                    .map(|q| QuestionnaireQuestion {
                        answer: answers.get(&q.id).cloned().unwrap_or_default(),
                        id: q.id,
                        text: q.text,
                    })
                    .collect(),
            })
            .collect(),
    })
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionnaireInput {
    pub answers: Vec<QuestionnaireAnswerInput>,
    /// Hand the answers in (they can still be changed until the deadline).
    #[serde(default)]
    pub submit: bool,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionnaireAnswerInput {
    pub question_id: String,
    pub text: String,
}

pub fn save_questionnaire(
    conn: &mut DbConn,
    token: &str,
    number: i32,
    input: QuestionnaireInput,
) -> AppResult<Questionnaire> {
    let mut e = Invalid::new();
    let texts: Vec<String> = input
        .answers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            e.take(text::block(&format!("answers[{i}].text"), &a.text, 20_000))
                .unwrap_or_default()
        })
        .collect();
    e.into_result(())?;
    db::write(conn, |c| {
        let p = crate::ops::participation::resolve(c, token)?.ok_or(AppError::NotFound)?;
        let (r, pid) = questionnaire_round(c, &p, number)?;
        if !r.accepting(now()) {
            return Err(AppError::Conflict(format!(
                "round {} has closed; its answers are final",
                r.number
            )));
        }
        let g = guide_of(c, &r.id)?;
        let valid: HashSet<String> = g
            .sections
            .iter()
            .flat_map(|s| s.questions.iter().map(|q| q.id.clone()))
            .collect();
        for (i, a) in input.answers.iter().enumerate() {
            if !valid.contains(&a.question_id) {
                return Err(Invalid::one(
                    format!("answers[{i}].question_id"),
                    "is not a question of this round",
                )
                .into());
            }
        }
        let at = now();
        let part: RoundParticipation = round_participations::table
            .find((&r.id, &pid))
            .select(RoundParticipation::as_select())
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        diesel::update(round_participations::table.find((&r.id, &pid)))
            .set((
                round_participations::submitted_at
                    .eq(part.submitted_at.or(input.submit.then_some(at))),
                round_participations::updated_at.eq(at),
            ))
            .execute(c)?;
        for (a, text) in input.answers.iter().zip(&texts) {
            diesel::delete(
                questionnaire_answers::table
                    .filter(questionnaire_answers::round_id.eq(&r.id))
                    .filter(questionnaire_answers::panellist_id.eq(&pid))
                    .filter(questionnaire_answers::question_id.eq(&a.question_id)),
            )
            .execute(c)?;
            if !text.is_empty() {
                diesel::insert_into(questionnaire_answers::table)
                    .values(&QuestionnaireAnswer {
                        id: new_id(),
                        round_id: r.id.clone(),
                        panellist_id: pid.clone(),
                        question_id: a.question_id.clone(),
                        text: text.clone(),
                        updated_at: now(),
                    })
                    .execute(c)?;
            }
        }
        Ok::<_, AppError>(())
    })?;
    questionnaire(conn, token, number)
}

/// Turns each panellist's written answers into a document to code (one per panellist; made
/// again when called again, as long as nobody coded it).
pub fn questionnaire_documents(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<usize> {
    db::write(conn, |c| {
        let (r, study) = access::in_study::<Round>(c, researcher_id, round_id, Role::Researcher)?;
        let g = guide_of(c, &r.id)?;
        let rows: Vec<QuestionnaireAnswer> = questionnaire_answers::table
            .filter(questionnaire_answers::round_id.eq(&r.id))
            .select(QuestionnaireAnswer::as_select())
            .load(c)?;
        let by_panellist: BTreeMap<String, Vec<&QuestionnaireAnswer>> =
            rows.iter().fold(BTreeMap::new(), |mut m, a| {
                m.entry(a.panellist_id.clone())
                    .or_insert_with(Vec::new)
                    .push(a);
                m
            });
        let mut made = 0;
        for (pid, answers) in by_panellist {
            let existing: Option<String> = transcripts::table
                .filter(transcripts::round_id.eq(&r.id))
                .filter(transcripts::panellist_id.eq(&pid))
                .filter(transcripts::source_kind.eq("questionnaire"))
                .select(transcripts::id)
                .first(c)
                .optional()?;
            if let Some(id) = &existing {
                let coded: i64 = excerpts::table
                    .filter(excerpts::transcript_id.eq(id))
                    .count()
                    .get_result(c)?;
                if coded > 0 {
                    continue;
                }
                diesel::delete(transcripts::table.find(id)).execute(c)?;
            }
            let mut body = String::new();
            for s in &g.sections {
                for q in &s.questions {
                    if let Some(a) = answers.iter().find(|a| a.question_id == q.id) {
                        body.push_str(&format!("{}\n{}\n\n", q.text, a.text));
                    }
                }
            }
            let pseudonym: String = panellists::table
                .find(&pid)
                .select(panellists::pseudonym)
                .first(c)?;
            diesel::insert_into(transcripts::table)
                .values(&Transcript {
                    id: new_id(),
                    study_id: study.id.clone(),
                    round_id: Some(r.id.clone()),
                    panellist_id: pid,
                    title: format!(
                        "{} {pseudonym}",
                        if study.language == "da" {
                            "Spørgeskema"
                        } else {
                            "Questionnaire"
                        }
                    ),
                    body: body.trim_end().to_string(),
                    source_kind: "questionnaire".into(),
                    original_filename: None,
                    uploaded_by: Some(researcher_id.into()),
                    created_at: now(),
                })
                .execute(c)?;
            made += 1;
        }
        Ok(made)
    })
}
