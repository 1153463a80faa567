//! The study's protocol page: the draft's own parts (planned rounds, stopping rule, feedback per
//! round, analyses) beside the settings it fixes, registration, amendments with their reasons,
//! and the registered document to download.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{get, post, web};

use super::{InLang, PageResult, field_errors, serde_value, study_page};
use crate::domain::Invalid;
use crate::domain::protocol::{ANALYSES, FEEDBACK, Protocol, StoppingRule};
use crate::ops::AppError;
use crate::ops::protocol::{self, ProtocolInput};
use crate::ops::recruitment::strata_of;
use crate::web::AppState;
use crate::web::auth::{CsrfForm, PageResearcher};
use crate::web::flash::{Flash, redirect_with};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(protocol_route).service(save_protocol_route);
}

type Form = HashMap<String, String>;

async fn protocol_page(
    state: &AppState,
    who: &PageResearcher,
    study_id: &str,
    status: StatusCode,
    errors: Option<&Invalid>,
) -> PageResult {
    let p = study_page(state, who, study_id, |c, id, sid| {
        Ok((protocol::get(c, id, sid)?, strata_of(c, sid)?))
    })
    .await?;
    let (view, strata) = &p.data;
    let groups_label = view.protocol.groups_by.as_ref().map(|key| {
        strata
            .iter()
            .find(|s| &s.key == key)
            .map_or_else(|| key.clone(), |s| s.label.clone())
    });
    p.render(
        who,
        status,
        "study_protocol.html",
        "protocol",
        minijinja::context! {
            p => serde_value(view),
            strata => serde_value(strata),
            groups_label => groups_label,
            analyses => ANALYSES.to_vec(),
            feedback_kinds => FEEDBACK.to_vec(),
            errors => field_errors(who.lang(), errors),
        },
    )
}

#[get("/studies/{study}/protocol")]
async fn protocol_route(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    protocol_page(&state, &who, &path.into_inner(), StatusCode::OK, None).await
}

/// The protocol's own parts as the form sends them, over the protocol as it stands.
fn from_form(current: &Protocol, f: &Form, e: &mut Invalid) -> Protocol {
    let get = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let whole = |e: &mut Invalid, field: &str, v: String| -> Option<i32> {
        if v.is_empty() {
            return None;
        }
        match v.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                e.add(field, "must be a whole number");
                None
            }
        }
    };
    let planned = whole(e, "planned_rounds", get("planned_rounds")).unwrap_or(0);
    let change = get("stopping_change_below_percent").replace(',', ".");
    let change_below_percent = if change.is_empty() {
        None
    } else {
        match change.parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                e.add("stopping.change_below_percent", "must be a number");
                None
            }
        }
    };
    let feedback = (1..=planned.clamp(0, 20))
        .map(|i| {
            let v = get(&format!("feedback_{i}"));
            if v.is_empty() { "none".to_string() } else { v }
        })
        .collect();
    // Once registered, the form also carries the settings the protocol fixes (those not
    // locked by rating): changing them is part of the amendment.
    let number = |e: &mut Invalid, field: &str, v: String| -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        match v.replace(',', ".").parse::<f64>() {
            Ok(n) if n.is_finite() => Some(n),
            _ => {
                e.add(field, "must be a number");
                None
            }
        }
    };
    let mut consensus = current.consensus.clone();
    if f.contains_key("consensus_share_percent") {
        consensus.share_percent =
            number(e, "consensus.share_percent", get("consensus_share_percent"))
                .unwrap_or(consensus.share_percent);
        consensus.points =
            whole(e, "consensus.points", get("consensus_points")).unwrap_or(consensus.points);
        consensus.max_iqr =
            number(e, "consensus.max_iqr", get("consensus_max_iqr")).unwrap_or(consensus.max_iqr);
        consensus.dont_know = match get("consensus_dont_know").as_str() {
            "not_agreeing" => crate::domain::DontKnow::NotAgreeing,
            _ => crate::domain::DontKnow::Excluded,
        };
    }
    let priority_threshold = if f.contains_key("priority_threshold") {
        number(e, "priority_threshold", get("priority_threshold"))
            .unwrap_or(current.priority_threshold)
    } else {
        current.priority_threshold
    };
    let min_group_size = if f.contains_key("min_group_size") {
        whole(e, "min_group_size", get("min_group_size")).unwrap_or(current.min_group_size)
    } else {
        current.min_group_size
    };
    let groups_by = if f.contains_key("groups_by") {
        Some(get("groups_by")).filter(|g| !g.is_empty())
    } else {
        current.groups_by.clone()
    };
    Protocol {
        consensus,
        priority_threshold,
        min_group_size,
        groups_by,
        planned_rounds: planned,
        stopping: StoppingRule {
            all_verdicts: f.contains_key("stopping_all_verdicts"),
            change_below_percent,
            max_rounds: whole(e, "stopping.max_rounds", get("stopping_max_rounds")),
        },
        feedback,
        analyses: ANALYSES
            .iter()
            .filter(|a| f.contains_key(&format!("analysis_{a}")))
            .map(|a| a.to_string())
            .collect(),
    }
}

#[post("/studies/{study}/protocol")]
async fn save_protocol_route(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Form>,
) -> PageResult {
    let study_id = path.into_inner();
    let (id, sid, form) = (f.who.id(), study_id.clone(), f.form.clone());
    let register = form.get("action").map(String::as_str) == Some("register");
    let result = state
        .db(move |c| {
            let current = protocol::get(c, &id, &sid)?;
            let mut e = Invalid::new();
            let p = from_form(&current.protocol, &form, &mut e);
            e.into_result(())?;
            let reason = form
                .get("amendment_reason")
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty());
            if current.registered_at.is_none() || p != current.protocol || reason.is_some() {
                protocol::put(
                    c,
                    &id,
                    &sid,
                    ProtocolInput {
                        protocol: p,
                        amendment_reason: reason,
                    },
                )?;
            }
            if register {
                protocol::register(c, &id, &sid)?;
            }
            Ok(current.registered_at.is_some())
        })
        .await;
    let here = format!("/studies/{study_id}/protocol");
    match result {
        Ok(was_registered) => {
            let key = match (register, was_registered) {
                (true, _) => "protocol.registered_done",
                (false, true) => "protocol.amended_done",
                (false, false) => "protocol.saved",
            };
            Ok(redirect_with(&here, Flash::done(key, &[]), f.who.secure))
        }
        Err(AppError::Invalid(inv)) => {
            protocol_page(
                &state,
                &f.who,
                &study_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
            )
            .await
        }
        Err(AppError::Conflict(m)) => {
            protocol_page(
                &state,
                &f.who,
                &study_id,
                StatusCode::CONFLICT,
                Some(&Invalid::one("protocol", m)),
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}
