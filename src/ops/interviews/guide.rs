//! The interview guide: sections and questions for round 1, and the document sent with an appointment.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{self, DbConn, new_id};
use crate::domain::{Invalid, Language, text};
use crate::ops::access::{self, ResearcherId, Role};
use crate::ops::{Actor, AppError, AppResult, audit};

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuideInput {
    pub sections: Vec<SectionInput>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionInput {
    pub title: String,
    pub questions: Vec<QuestionInput>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionInput {
    pub text: String,
    /// Which respondents the question suits (optional).
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GuideView {
    pub round_id: String,
    pub sections: Vec<SectionView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SectionView {
    pub id: String,
    pub title: String,
    pub questions: Vec<QuestionView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuestionView {
    pub id: String,
    pub text: String,
    pub note: String,
}

pub fn guide_of(conn: &mut DbConn, round_id: &str) -> AppResult<GuideView> {
    let sections: Vec<GuideSection> = guide_sections::table
        .filter(guide_sections::round_id.eq(round_id))
        .order(guide_sections::position.asc())
        .select(GuideSection::as_select())
        .load(conn)?;
    let ids: Vec<String> = sections.iter().map(|s| s.id.clone()).collect();
    let questions: Vec<GuideQuestion> = guide_questions::table
        .filter(guide_questions::section_id.eq_any(&ids))
        .order(guide_questions::position.asc())
        .select(GuideQuestion::as_select())
        .load(conn)?;
    Ok(GuideView {
        round_id: round_id.into(),
        sections: sections
            .into_iter()
            .map(|s| SectionView {
                questions: questions
                    .iter()
                    .filter(|q| q.section_id == s.id)
                    .map(|q| QuestionView {
                        id: q.id.clone(),
                        text: q.text.clone(),
                        note: q.note.clone(),
                    })
                    .collect(),
                id: s.id,
                title: s.title,
            })
            .collect(),
    })
}

pub fn guide(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<GuideView> {
    access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    guide_of(conn, round_id)
}

/// Replaces the guide of a qualitative round. A questionnaire's guide is fixed once answered.
pub fn set_guide(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
    input: GuideInput,
) -> AppResult<GuideView> {
    let mut e = Invalid::new();
    if input.sections.len() > 50 {
        e.add("sections", "at most 50 categories of questions");
    }
    for (i, s) in input.sections.iter().enumerate() {
        e.take(text::line(&format!("sections[{i}].title"), &s.title, 200));
        if s.questions.len() > 100 {
            e.add(
                format!("sections[{i}].questions"),
                "at most 100 questions in a category",
            );
        }
        for (j, q) in s.questions.iter().enumerate() {
            let f = format!("sections[{i}].questions[{j}]");
            if let Some(t) = e.take(text::block(&format!("{f}.text"), &q.text, 2000))
                && t.is_empty()
            {
                e.add(format!("{f}.text"), "must not be empty");
            }
            e.take(text::block(&format!("{f}.note"), &q.note, 1000));
        }
    }
    e.into_result(())?;
    db::write(conn, |c| {
        let (r, study) = access::in_study::<Round>(c, researcher_id, round_id, Role::Researcher)?;
        if r.kind != crate::domain::round::Kind::Qualitative {
            return Err(AppError::Conflict(
                "only a qualitative round has an interview guide".into(),
            ));
        }
        let answered: i64 = questionnaire_answers::table
            .filter(questionnaire_answers::round_id.eq(&r.id))
            .count()
            .get_result(c)?;
        if answered > 0 {
            return Err(AppError::Conflict(
                "panellists have answered this questionnaire; its questions can no longer change"
                    .into(),
            ));
        }
        let old: Vec<String> = guide_sections::table
            .filter(guide_sections::round_id.eq(&r.id))
            .select(guide_sections::id)
            .load(c)?;
        diesel::delete(guide_questions::table.filter(guide_questions::section_id.eq_any(&old)))
            .execute(c)?;
        diesel::delete(guide_sections::table.filter(guide_sections::round_id.eq(&r.id)))
            .execute(c)?;
        for (i, s) in input.sections.iter().enumerate() {
            let sid = new_id();
            diesel::insert_into(guide_sections::table)
                .values(&GuideSection {
                    id: sid.clone(),
                    round_id: r.id.clone(),
                    title: s.title.trim().into(),
                    position: i as i32,
                })
                .execute(c)?;
            for (j, q) in s.questions.iter().enumerate() {
                diesel::insert_into(guide_questions::table)
                    .values(&GuideQuestion {
                        id: new_id(),
                        section_id: sid.clone(),
                        text: q.text.trim().into(),
                        note: q.note.trim().into(),
                        position: j as i32,
                    })
                    .execute(c)?;
            }
        }
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(&study.id),
            audit::Action::GuideSet,
            Some(&r.id),
            serde_json::json!({ "sections": input.sections.len() }),
        )?;
        guide_of(c, &r.id)
    })
}

/// The guide as a printable text in the study's language.
pub fn guide_document(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<(String, Language)> {
    let (r, study) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    let lang = Language::from_stored(&study.language);
    Ok((
        guide_text(&study.title, &guide_of(conn, &r.id)?, lang),
        lang,
    ))
}

pub fn guide_filename(lang: Language) -> &'static str {
    match lang {
        Language::Da => "interviewguide.txt",
        Language::En => "interview-guide.txt",
    }
}

/// The guide as plain text, to print or attach to an e-mail.
pub fn guide_text(study_title: &str, g: &GuideView, lang: Language) -> String {
    let mut out = format!(
        "{study_title}\n{}\n\n",
        if lang == Language::Da {
            "Interviewguide"
        } else {
            "Interview guide"
        }
    );
    for (i, s) in g.sections.iter().enumerate() {
        out.push_str(&format!("{}. {}\n", i + 1, s.title));
        for (j, q) in s.questions.iter().enumerate() {
            out.push_str(&format!("   {}.{} {}\n", i + 1, j + 1, q.text));
            if !q.note.is_empty() {
                out.push_str(&format!("        ({})\n", q.note));
            }
        }
        out.push('\n');
    }
    out
}
