//! The studies pages: the list, a new study, a study's home, its settings and its members.

use actix_web::http::StatusCode;
use actix_web::{get, post, web};
use serde::Deserialize;

use super::{InLang, PageResult, field_errors, page, page_with_status, serde_value, study_page};
use crate::domain::study::StudyInput;
use crate::domain::{ConsensusRule, DontKnow, Invalid, Scale};
use crate::i18n::text;
use crate::ops::AppError;
use crate::ops::recruitment::strata_of;
use crate::ops::studies::{self, StudyView};
use crate::web::AppState;
use crate::web::auth::{CsrfForm, PageResearcher};
use crate::web::flash::{Flash, redirect_with};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_route)
        .service(new_form_route)
        .service(create_route)
        .service(home_route)
        .service(settings_form_route)
        .service(save_settings_route)
        .service(members_route)
        .service(set_member_route)
        .service(remove_member_route)
        .service(audit_route);
}

/// The study's audit log, for owners.
#[get("/studies/{study}/audit")]
async fn audit_route(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
    query: web::Query<std::collections::BTreeMap<String, String>>,
) -> PageResult {
    let query = query.into_inner();
    let page_no = super::page_number(&query);
    let pairs: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "action" | "actor"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // A filter the form cannot send (edited by hand) is left out rather than refused.
    let mut wanted = crate::ops::audit::AuditQuery::parse(&pairs, 100)
        .unwrap_or_else(|_| crate::ops::audit::AuditQuery::first(100));
    wanted.paging = wanted.paging.page_number(page_no);
    let p = study_page(&state, &who, &path.into_inner(), move |c, id, sid| {
        crate::ops::privacy::audit_log(c, id, sid, &wanted)
    })
    .await?;
    let (lang, tz) = (
        who.lang(),
        crate::i18n::zone::from_stored(&p.study.time_zone),
    );
    let rows: Vec<minijinja::Value> = p
        .data
        .items
        .iter()
        .map(|e| {
            let action_key = format!("audit_action.{}", e.action);
            minijinja::context! {
                at => e.at.to_rfc3339(), actor_kind => e.actor_kind.clone(), actor => e.actor.clone(),
                action => e.action.clone(),
                action_said => crate::i18n::has_text(lang, &action_key).then(|| text(lang, &action_key)),
                target => e.target.clone(),
                details => audit_details(lang, tz, &e.details),
            }
        })
        .collect();
    let keep = |k: &str| matches!(k, "action" | "actor");
    let total = usize::try_from(p.data.total).unwrap_or(0);
    // The actions by their names in the reader's language, for the filter.
    let mut actions: Vec<(String, String)> = crate::ops::audit::Action::ALL
        .iter()
        .map(|a| {
            let key = format!("audit_action.{}", a.as_str());
            (text(lang, &key), a.as_str().to_string())
        })
        .collect();
    actions.sort();
    p.render(
        &who,
        StatusCode::OK,
        "study_audit.html",
        "members",
        minijinja::context! {
            entries => rows, total => p.data.total,
            pager => super::pager(&query, keep, page_no, total, p.data.limit, "audit-h"),
            filtered => query.iter().any(|(k, v)| keep(k) && !v.is_empty()),
            chosen_action => query.get("action").cloned().unwrap_or_default(),
            chosen_actor => query.get("actor").cloned().unwrap_or_default(),
            actions => actions, actors => crate::ops::audit::ACTOR_KINDS,
        },
    )
}

/// An audit entry's details as a person reads them: each named in `lang` and its value written
/// as the pages write values (times on the study's clock, numbers in the language's notation,
/// Orakel's own words said in `lang`). The stored JSON, for scripts, is the API's.
fn audit_details(lang: &str, tz: crate::i18n::Tz, details: &serde_json::Value) -> Vec<String> {
    use serde_json::Value as J;
    fn value(lang: &str, tz: crate::i18n::Tz, key: &str, v: &J) -> String {
        match v {
            J::Null => "—".into(),
            J::Bool(b) => text(lang, if *b { "tables.yes" } else { "tables.no" }),
            J::Number(n) => match n.as_i64() {
                Some(i) => i.to_string(),
                None => crate::i18n::number(n.as_f64().unwrap_or_default(), lang),
            },
            J::String(s) => {
                let coded = format!("{key}.{s}");
                if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                    crate::i18n::long_datetime(t.with_timezone(&chrono::Utc), lang, tz)
                } else if matches!(key, "role" | "kind") && crate::i18n::has_text(lang, &coded) {
                    text(lang, &coded)
                } else if key == "dont_know" {
                    // A consensus rule's handling of "don't know", as the report says it.
                    text(lang, &format!("report.rule_dk_{s}"))
                } else if key == "kind" && crate::i18n::has_text(lang, &format!("coding.kind_{s}"))
                {
                    // A transcript's source, as the coding page names it.
                    text(lang, &format!("coding.kind_{s}"))
                } else {
                    crate::i18n::messages::say(lang, s)
                }
            }
            J::Array(items) => items
                .iter()
                .map(|x| value(lang, tz, key, x))
                .collect::<Vec<_>>()
                .join(", "),
            J::Object(_) => format!("({})", audit_details(lang, tz, v).join("; ")),
        }
    }
    details
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let label_key = format!("audit_detail.{k}");
            let label = if crate::i18n::has_text(lang, &label_key) {
                text(lang, &label_key)
            } else {
                k.clone()
            };
            format!("{label}: {}", value(lang, tz, k, v))
        })
        .collect()
}

#[get("/studies")]
async fn list_route(state: web::Data<AppState>, who: PageResearcher) -> PageResult {
    let id = who.id();
    let list = state.db(move |c| studies::list(c, &id)).await.lang(&who)?;
    page(
        &who,
        "studies.html",
        minijinja::context! { studies => serde_value(&list) },
    )
}

#[get("/studies/new")]
async fn new_form_route(who: PageResearcher) -> PageResult {
    page(
        &who,
        "study_new.html",
        minijinja::context! { form => minijinja::context! { title => "", purpose => "", language => who.lang() }, errors => minijinja::context! {} },
    )
}

#[derive(Deserialize, serde::Serialize)]
struct NewStudyForm {
    title: String,
    #[serde(default)]
    purpose: String,
    language: String,
}

#[post("/studies/new")]
async fn create_route(state: web::Data<AppState>, f: CsrfForm<NewStudyForm>) -> PageResult {
    let id = f.who.id();
    let input = StudyInput {
        title: Some(f.form.title.clone()),
        purpose: Some(f.form.purpose.clone()),
        language: Some(f.form.language.clone()),
        ..Default::default()
    };
    let zone = state.settings.time_zone();
    match state
        .db(move |c| studies::create(c, &id, input, zone))
        .await
    {
        Ok(study) => Ok(redirect_with(
            &format!("/studies/{}", study.id),
            Flash::done("studies.created", &[]),
            f.who.secure,
        )),
        Err(AppError::Invalid(inv)) => page_with_status(
            &f.who,
            StatusCode::UNPROCESSABLE_ENTITY,
            "study_new.html",
            minijinja::context! { form => serde_value(&f.form), errors => field_errors(f.who.lang(), Some(&inv)) },
        ),
        Err(e) => Err(e).lang(&f.who),
    }
}

#[get("/studies/{study}")]
async fn home_route(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    let sender = state.settings.mail.from.clone();
    let p = study_page(&state, &who, &path.into_inner(), move |c, id, study| {
        Ok((
            studies::overview(c, id, study)?,
            crate::ops::todo::todo(c, id, study, &sender)?,
        ))
    })
    .await?;
    let (overview, todo) = &p.data;
    p.render(
        &who,
        StatusCode::OK,
        "study_home.html",
        "home",
        minijinja::context! {
            overview => serde_value(overview),
            todo => serde_value(todo),
            nothing_to_do => todo.is_empty(),
            mail_from => state.settings.mail.from.clone(),
        },
    )
}

/// The settings form: every field a string, as browsers send them.
#[derive(Deserialize, serde::Serialize, Default)]
struct SettingsForm {
    title: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    funder: String,
    #[serde(default)]
    contact: String,
    language: String,
    scale_min: String,
    scale_max: String,
    scale_low_label: String,
    scale_high_label: String,
    #[serde(default)]
    dont_know: Option<String>,
    #[serde(default)]
    consensus_share_percent: Option<String>,
    #[serde(default)]
    consensus_points: Option<String>,
    #[serde(default)]
    consensus_max_iqr: Option<String>,
    #[serde(default)]
    consensus_dont_know: Option<String>,
    /// Absent while locked (the select is disabled); empty for no groups.
    #[serde(default)]
    groups_by: Option<String>,
    min_group_size: String,
    small_cell_threshold: String,
    priority_threshold: String,
    #[serde(default)]
    reminder_days: String,
    no_reply_after_days: String,
    link_grace_days: String,
    #[serde(default)]
    retention_until: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    rationale: String,
    #[serde(default)]
    panel_size_rationale: String,
    #[serde(default)]
    limitations: String,
    #[serde(default)]
    funding_and_interests: String,
    #[serde(default)]
    discussion: String,
}

/// The time zones a study can take, for the settings form.
fn zones() -> Vec<&'static str> {
    crate::i18n::zone::choices().collect()
}

/// A number as people type it, with a decimal comma or point.
fn number(e: &mut Invalid, field: &str, value: &str) -> f64 {
    match value.trim().replace(',', ".").parse::<f64>() {
        Ok(v) if v.is_finite() => v,
        _ => {
            e.add(field, "must be a number");
            0.0
        }
    }
}

fn whole(e: &mut Invalid, field: &str, value: &str) -> i32 {
    match value.trim().parse::<i32>() {
        Ok(v) => v,
        Err(_) => {
            e.add(field, "must be a whole number");
            0
        }
    }
}

impl SettingsForm {
    /// The settings as the form shows them to a reader of `lang` (a decimal comma in Danish).
    fn from_view(s: &StudyView, lang: &str) -> Self {
        let fmt = |v: f64| {
            let typed = v.to_string();
            if lang == "da" {
                typed.replace('.', ",")
            } else {
                typed
            }
        };
        SettingsForm {
            title: s.title.clone(),
            purpose: s.purpose.clone(),
            funder: s.funder.clone(),
            contact: s.contact.clone(),
            language: s.language.code().into(),
            scale_min: s.scale.min.to_string(),
            scale_max: s.scale.max.to_string(),
            scale_low_label: s.scale.low_label.clone(),
            scale_high_label: s.scale.high_label.clone(),
            dont_know: s.scale.dont_know.then(|| "on".into()),
            consensus_share_percent: Some(fmt(s.consensus.share_percent)),
            consensus_points: Some(s.consensus.points.to_string()),
            consensus_max_iqr: Some(fmt(s.consensus.max_iqr)),
            consensus_dont_know: Some(s.consensus.dont_know.key().into()),
            groups_by: Some(s.groups_by.clone().unwrap_or_default()),
            min_group_size: s.min_group_size.to_string(),
            small_cell_threshold: s.small_cell_threshold.to_string(),
            priority_threshold: fmt(s.priority_threshold),
            reminder_days: s
                .reminder_days
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            no_reply_after_days: s.no_reply_after_days.to_string(),
            link_grace_days: s.link_grace_days.to_string(),
            retention_until: s.retention_until.map(|d| d.to_string()).unwrap_or_default(),
            time_zone: s.time_zone.clone(),
            rationale: s.rationale.clone(),
            panel_size_rationale: s.panel_size_rationale.clone(),
            limitations: s.limitations.clone(),
            funding_and_interests: s.funding_and_interests.clone(),
            discussion: s.discussion.as_str().into(),
        }
    }

    fn to_input(&self) -> Result<StudyInput, Invalid> {
        let mut e = Invalid::new();
        let scale = Scale {
            min: whole(&mut e, "scale.min", &self.scale_min),
            max: whole(&mut e, "scale.max", &self.scale_max),
            low_label: self.scale_low_label.clone(),
            high_label: self.scale_high_label.clone(),
            dont_know: self.dont_know.is_some(),
        };
        // A locked rule's inputs are disabled in the form, so browsers do not send them.
        let consensus = match (
            &self.consensus_share_percent,
            &self.consensus_points,
            &self.consensus_max_iqr,
        ) {
            (Some(share), Some(points), Some(iqr)) => Some(ConsensusRule {
                share_percent: number(&mut e, "consensus.share_percent", share),
                points: whole(&mut e, "consensus.points", points),
                max_iqr: number(&mut e, "consensus.max_iqr", iqr),
                dont_know: match self.consensus_dont_know.as_deref() {
                    Some("not_agreeing") => DontKnow::NotAgreeing,
                    _ => DontKnow::Excluded,
                },
            }),
            _ => None,
        };
        let mut reminder_days = Vec::new();
        for part in self
            .reminder_days
            .split([',', ' ', ';'])
            .filter(|p| !p.trim().is_empty())
        {
            reminder_days.push(whole(&mut e, "reminder_days", part));
        }
        let retention_until = match self.retention_until.trim() {
            "" => Some(None),
            d => match chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(d) => Some(Some(d)),
                Err(_) => {
                    e.add("retention_until", "must be a date (YYYY-MM-DD)");
                    None
                }
            },
        };
        let input = StudyInput {
            title: Some(self.title.clone()),
            purpose: Some(self.purpose.clone()),
            funder: Some(self.funder.clone()),
            contact: Some(self.contact.clone()),
            language: Some(self.language.clone()),
            scale: Some(scale),
            consensus,
            min_group_size: Some(whole(&mut e, "min_group_size", &self.min_group_size)),
            small_cell_threshold: Some(whole(
                &mut e,
                "small_cell_threshold",
                &self.small_cell_threshold,
            )),
            priority_threshold: Some(number(
                &mut e,
                "priority_threshold",
                &self.priority_threshold,
            )),
            reminder_days: Some(reminder_days),
            no_reply_after_days: Some(whole(
                &mut e,
                "no_reply_after_days",
                &self.no_reply_after_days,
            )),
            link_grace_days: Some(whole(&mut e, "link_grace_days", &self.link_grace_days)),
            retention_until,
            time_zone: Some(self.time_zone.trim().to_string()).filter(|z| !z.is_empty()),
            rationale: Some(self.rationale.clone()),
            panel_size_rationale: Some(self.panel_size_rationale.clone()),
            limitations: Some(self.limitations.clone()),
            funding_and_interests: Some(self.funding_and_interests.clone()),
            discussion: Some(crate::domain::study::Discussion::from_stored(
                &self.discussion,
            )),
            groups_by: self
                .groups_by
                .as_ref()
                .map(|g| Some(g.trim().to_string()).filter(|g| !g.is_empty())),
        };
        e.into_result(input)
    }
}

#[get("/studies/{study}/settings")]
async fn settings_form_route(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    let id = who.id();
    let study_id = path.into_inner();
    let (study, strata) = state
        .db(move |c| Ok((studies::get(c, &id, &study_id)?, strata_of(c, &study_id)?)))
        .await
        .lang(&who)?;
    let form = SettingsForm::from_view(&study, who.lang());
    page(
        &who,
        "study_settings.html",
        minijinja::context! { study => serde_value(&study), strata => serde_value(&strata), form => serde_value(&form), errors => minijinja::context! {}, saved => false, tab => "settings", zones => zones() },
    )
}

#[post("/studies/{study}/settings")]
async fn save_settings_route(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<SettingsForm>,
) -> PageResult {
    let id = f.who.id();
    let study_id = path.into_inner();
    let result = match f.form.to_input() {
        Ok(input) => {
            let (id, study_id) = (id.clone(), study_id.clone());
            state
                .db(move |c| studies::update(c, &id, &study_id, input))
                .await
        }
        Err(inv) => Err(AppError::Invalid(inv)),
    };
    match result {
        Ok(study) => {
            let form = SettingsForm::from_view(&study, f.who.lang());
            let strata = state
                .db(move |c| strata_of(c, &study_id))
                .await
                .lang(&f.who)?;
            page(
                &f.who,
                "study_settings.html",
                minijinja::context! { study => serde_value(&study), strata => serde_value(&strata), form => serde_value(&form), errors => minijinja::context! {}, saved => true, tab => "settings", zones => zones() },
            )
        }
        Err(AppError::Invalid(inv)) => {
            let (study, strata) = state
                .db(move |c| Ok((studies::get(c, &id, &study_id)?, strata_of(c, &study_id)?)))
                .await
                .lang(&f.who)?;
            page_with_status(
                &f.who,
                StatusCode::UNPROCESSABLE_ENTITY,
                "study_settings.html",
                minijinja::context! { study => serde_value(&study), strata => serde_value(&strata), form => serde_value(&f.form), errors => field_errors(f.who.lang(), Some(&inv)), saved => false, tab => "settings", zones => zones() },
            )
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

async fn members_page(
    state: &AppState,
    who: &PageResearcher,
    study_id: String,
    status: StatusCode,
    errors: Option<&Invalid>,
) -> PageResult {
    let p = study_page(state, who, &study_id, studies::members).await?;
    p.render(
        who,
        status,
        "study_members.html",
        "members",
        minijinja::context! { members => serde_value(&p.data), errors => field_errors(who.lang(), errors) },
    )
}

#[get("/studies/{study}/members")]
async fn members_route(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    members_page(&state, &who, path.into_inner(), StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct MemberForm {
    email: String,
    role: String,
}

#[post("/studies/{study}/members")]
async fn set_member_route(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<MemberForm>,
) -> PageResult {
    let id = f.who.id();
    let study_id = path.into_inner();
    let (sid, email, role) = (study_id.clone(), f.form.email.clone(), f.form.role.clone());
    match state
        .db(move |c| studies::set_member(c, &id, &sid, &email, &role))
        .await
    {
        Ok(_) => Ok(redirect_with(
            &format!("/studies/{study_id}/members"),
            Flash::done("members.set_done", &[]),
            f.who.secure,
        )),
        Err(AppError::Invalid(inv)) => {
            members_page(
                &state,
                &f.who,
                study_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
            )
            .await
        }
        Err(AppError::Conflict(m)) => {
            let inv = Invalid::one("role", m);
            members_page(&state, &f.who, study_id, StatusCode::CONFLICT, Some(&inv)).await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

#[derive(Deserialize)]
struct Empty {}

#[post("/studies/{study}/members/{researcher}/remove")]
async fn remove_member_route(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    f: CsrfForm<Empty>,
) -> PageResult {
    let id = f.who.id();
    let (study_id, member) = path.into_inner();
    let sid = study_id.clone();
    let left = member == id.as_str();
    match state
        .db(move |c| studies::remove_member(c, &id, &sid, &member))
        .await
    {
        Ok(()) if left => Ok(redirect_with(
            "/studies",
            Flash::done("members.left", &[]),
            f.who.secure,
        )),
        Ok(()) => Ok(redirect_with(
            &format!("/studies/{study_id}/members"),
            Flash::done("members.removed_done", &[]),
            f.who.secure,
        )),
        Err(AppError::Conflict(m)) => {
            let inv = Invalid::one("role", m);
            members_page(&state, &f.who, study_id, StatusCode::CONFLICT, Some(&inv)).await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}
