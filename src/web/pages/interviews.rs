//! The qualitative round's own page for researchers: the interview guide (edited as plain
//! text, printable), the appointments with each panellist, and, for a written questionnaire,
//! turning the answers into documents to code.

use actix_web::http::StatusCode;
use actix_web::{get, post, web};

use super::rounds::{clock_of, typed_moment};
use super::{InLang, PageResult, field_errors, page_with_status, serde_value};
use crate::db::models::Round;
use crate::domain::Invalid;
use crate::domain::round::Kind;
use crate::ops::coding;
use crate::ops::interviews::{
    self, AppointmentInput, GuideInput, GuideView, QuestionInput, SectionInput,
};
use crate::ops::{AppError, access, rounds, studies};
use crate::web::auth::{CsrfForm, PageResearcher};
use crate::web::render::text_with;
use crate::web::{AppState, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(interviews_page)
        .service(interviews_action)
        .service(guide_print);
}

/// The guide as the researcher edits it: `# ` starts a category, each other line is a
/// question, and `> ` adds a note (which respondents it suits) to the question above.
pub fn guide_to_text(g: &GuideView) -> String {
    let mut out = String::new();
    for s in &g.sections {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("# {}\n", s.title));
        for q in &s.questions {
            out.push_str(&q.text);
            out.push('\n');
            for line in q.note.lines() {
                out.push_str(&format!("> {line}\n"));
            }
        }
    }
    out
}

/// Reads the text form of the guide; errors name the line.
pub fn guide_from_text(text: &str) -> Result<GuideInput, Invalid> {
    let mut sections: Vec<SectionInput> = Vec::new();
    let mut e = Invalid::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(title) = line.strip_prefix('#') {
            sections.push(SectionInput {
                title: title.trim().to_string(),
                questions: Vec::new(),
            });
        } else if let Some(note) = line.strip_prefix('>') {
            match sections.last_mut().and_then(|s| s.questions.last_mut()) {
                Some(q) => {
                    if !q.note.is_empty() {
                        q.note.push('\n');
                    }
                    q.note.push_str(note.trim());
                }
                None => e.add(
                    "guide",
                    format!("line {}: a note (>) must follow a question", n + 1),
                ),
            }
        } else {
            match sections.last_mut() {
                Some(s) => s.questions.push(QuestionInput {
                    text: line.to_string(),
                    note: String::new(),
                }),
                None => e.add(
                    "guide",
                    format!(
                        "line {}: start with a category line beginning with #",
                        n + 1
                    ),
                ),
            }
        }
    }
    e.into_result(GuideInput { sections })
}

async fn interviews_view(
    state: &AppState,
    who: &PageResearcher,
    round_id: String,
    status: StatusCode,
    errors: Option<&Invalid>,
    notice: Option<String>,
    guide_draft: Option<String>,
) -> PageResult {
    let id = who.id();
    let (study, round, guide, appointments, panellists, members) = state
        .db(move |c| {
            let study_id = access::study_id_of::<Round>(c, &id, &round_id)?;
            Ok((
                studies::get(c, &id, &study_id)?,
                rounds::get(c, &id, &round_id)?,
                interviews::guide(c, &id, &round_id)?,
                interviews::appointments(c, &id, &round_id)?,
                coding::pseudonyms(c, &id, &study_id)?,
                studies::members(c, &id, &study_id)?,
            ))
        })
        .await
        .lang(who)?;
    if round.kind != Kind::Qualitative {
        return Err(AppError::NotFound).lang(who);
    }
    let text = guide_draft.unwrap_or_else(|| guide_to_text(&guide));
    page_with_status(
        who,
        status,
        "interviews.html",
        minijinja::context! {
            study => serde_value(&study), round => serde_value(&round), guide => serde_value(&guide),
            guide_text => text, appointments => serde_value(&appointments), panellists => panellists,
            members => serde_value(&members), errors => field_errors(who.lang(), errors), notice => notice,
            tab => "rounds",
        },
    )
}

#[get("/rounds/{round}/interviews")]
async fn interviews_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    interviews_view(
        &state,
        &who,
        path.into_inner(),
        StatusCode::OK,
        None,
        None,
        None,
    )
    .await
}

fn get(form: &[(String, String)], k: &str) -> String {
    form.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The appointment as the form has it; its time is placed on the study's clock by the caller.
fn appointment_input(
    form: &[(String, String)],
) -> Result<(AppointmentInput, Option<crate::domain::moment::Typed>), Invalid> {
    let mut e = Invalid::new();
    let starts_at = typed_moment(&mut e, "starts_at", &get(form, "starts_at"));
    let minutes = get(form, "duration_minutes");
    let duration_minutes = if minutes.trim().is_empty() {
        None
    } else {
        match minutes.trim().parse::<i32>() {
            Ok(m) => Some(m),
            Err(_) => {
                e.add("duration_minutes", "must be a whole number of minutes");
                None
            }
        }
    };
    let interviewer = Some(get(form, "interviewer")).filter(|s| !s.trim().is_empty());
    e.into_result((
        AppointmentInput {
            panellist: get(form, "panellist"),
            starts_at: None,
            duration_minutes,
            interviewer,
            state: Some(get(form, "state")).filter(|s| !s.is_empty()),
            notes: get(form, "notes"),
        },
        starts_at,
    ))
}

/// The page's actions: `guide`, `add_appointment`, `update_appointment`, `send_appointment`
/// and `documents`.
#[post("/rounds/{round}/interviews")]
async fn interviews_action(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Vec<(String, String)>>,
) -> PageResult {
    let round_id = path.into_inner();
    let (id, rid) = (f.who.id(), round_id.clone());
    let lang = f.who.lang().to_string();
    let action = get(&f.form, "action");
    let mut draft = None;
    let result: Result<Option<String>, AppError> = match action.as_str() {
        "guide" => {
            let text = get(&f.form, "guide");
            draft = Some(text.clone());
            match guide_from_text(&text) {
                Ok(input) => state
                    .db(move |c| interviews::set_guide(c, &id, &rid, input))
                    .await
                    .map(|_| Some(crate::web::render::text(&lang, "interviews.guide_saved"))),
                Err(inv) => Err(inv.into()),
            }
        }
        "add_appointment" | "update_appointment" => match appointment_input(&f.form) {
            Ok((input, starts_at)) => {
                let aid = Some(get(&f.form, "appointment_id")).filter(|a| !a.is_empty());
                state
                    .db(move |c| {
                        if let Some(a) = &aid
                            && interviews::appointment_round(c, a)? != rid
                        {
                            return Err(AppError::NotFound);
                        }
                        let tz = clock_of::<Round>(c, &id, &rid)?;
                        let starts_at =
                            starts_at.map(|t| t.resolve("starts_at", tz)).transpose()?;
                        let input = AppointmentInput { starts_at, ..input };
                        interviews::save_appointment(c, &id, &rid, aid.as_deref(), input)
                    })
                    .await
                    .map(|_| None)
            }
            Err(inv) => Err(inv.into()),
        },
        "send_appointment" => {
            let aid = get(&f.form, "appointment_id");
            let attach = get(&f.form, "attach_guide") == "on";
            let env = state.mail.clone();
            state
                .db(move |c| {
                    if interviews::appointment_round(c, &aid)? != rid {
                        return Err(AppError::NotFound);
                    }
                    interviews::send_appointment(c, &env, &id, &aid, attach)
                })
                .await
                .map(|_| Some(crate::web::render::text(&lang, "interviews.sent")))
        }
        "documents" => state
            .db(move |c| interviews::questionnaire_documents(c, &id, &rid))
            .await
            .map(|n| {
                Some(text_with(
                    &lang,
                    "interviews.documents_made",
                    &[("n", n.to_string())],
                ))
            }),
        _ => Err(AppError::Invalid(Invalid::one("action", "unknown action"))),
    };
    match result {
        Ok(notice) => {
            state.wake_worker();
            match notice {
                Some(n) => {
                    interviews_view(
                        &state,
                        &f.who,
                        round_id,
                        StatusCode::OK,
                        None,
                        Some(n),
                        None,
                    )
                    .await
                }
                None => Ok(see_other(&format!("/rounds/{round_id}/interviews"))),
            }
        }
        Err(AppError::Invalid(inv)) => {
            interviews_view(
                &state,
                &f.who,
                round_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
                None,
                draft,
            )
            .await
        }
        Err(AppError::Conflict(m)) => {
            interviews_view(
                &state,
                &f.who,
                round_id,
                StatusCode::CONFLICT,
                Some(&Invalid::one(
                    if action == "guide" { "guide" } else { "round" },
                    m,
                )),
                None,
                draft,
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

/// The guide as a page to print or save as PDF from the browser.
#[get("/rounds/{round}/guide")]
async fn guide_print(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    let (id, rid) = (who.id(), path.into_inner());
    let (study, round, guide) = state
        .db(move |c| {
            let study_id = access::study_id_of::<Round>(c, &id, &rid)?;
            Ok((
                studies::get(c, &id, &study_id)?,
                rounds::get(c, &id, &rid)?,
                interviews::guide(c, &id, &rid)?,
            ))
        })
        .await
        .lang(&who)?;
    page_with_status(
        &who,
        StatusCode::OK,
        "guide_print.html",
        minijinja::context! { study => serde_value(&study), round => serde_value(&round), guide => serde_value(&guide) },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::interviews::{QuestionView, SectionView};

    #[test]
    fn the_guide_text_reads_back_as_written() {
        let text = "# Arbejdsmiljø\nHvad fylder mest i jeres hverdag?\n> kun ledere\n> og tillidsfolk\nHvad savner I?\n\n# Løn\nEr lønnen rimelig?\n";
        let input = guide_from_text(text).unwrap();
        assert_eq!(input.sections.len(), 2);
        assert_eq!(
            input.sections[0].questions[0].note,
            "kun ledere\nog tillidsfolk"
        );
        assert_eq!(input.sections[1].title, "Løn");
        let view = GuideView {
            round_id: "r".into(),
            sections: input
                .sections
                .iter()
                .map(|s| SectionView {
                    id: String::new(),
                    title: s.title.clone(),
                    questions: s
                        .questions
                        .iter()
                        .map(|q| QuestionView {
                            id: String::new(),
                            text: q.text.clone(),
                            note: q.note.clone(),
                        })
                        .collect(),
                })
                .collect(),
        };
        assert_eq!(guide_to_text(&view), text);
    }

    #[test]
    fn a_question_before_any_category_names_its_line() {
        let err = guide_from_text("\nWhat matters?\n").unwrap_err();
        assert!(err.0[0].message.contains("line 2"), "{err:?}");
        let err = guide_from_text("# A\n> a note first\n").unwrap_err();
        assert!(err.0[0].message.contains("line 2"), "{err:?}");
    }
}
