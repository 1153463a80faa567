//! The recruitment overview: counts per status and per panel attribute, the referral tree, and the messages sent.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConn;
use crate::db::models::{Candidate, OutboxMessage};
use crate::db::schema::outbox;
use crate::domain::candidate::Status;
use crate::ops::AppResult;
use crate::ops::access::{self, ResearcherId, Role};
use crate::ops::outbox::MessageView;

use super::*;

// ---------------------------------------------------------------------------------------------
// The recruitment overview

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Recruitment {
    /// Candidates per status (every status present, zero included).
    pub by_status: BTreeMap<String, i64>,
    /// Per attribute and value: candidates per status.
    pub by_stratum: Vec<StratumCounts>,
    /// Declines grouped by the reason given.
    pub decline_reasons: BTreeMap<String, i64>,
    /// Who referred whom: the candidates nobody referred, each with those they referred.
    pub referral_tree: Vec<ReferralNode>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StratumCounts {
    pub key: String,
    pub label: String,
    pub values: Vec<ValueCounts>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ValueCounts {
    pub value: String,
    pub by_status: BTreeMap<String, i64>,
    pub total: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReferralNode {
    pub id: String,
    pub name: String,
    pub status: Status,
    pub source: String,
    #[schema(no_recursion)]
    pub referred: Vec<ReferralNode>,
}

/// Where recruitment stands: counts by status and stratum, the response rate and who referred whom.
pub fn overview(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Recruitment> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let cands = all_candidates(conn, study_id)?;
    let defs = strata_of(conn, study_id)?;
    let zero = || {
        Status::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), 0i64))
            .collect::<BTreeMap<_, _>>()
    };
    let mut by_status = zero();
    let mut decline_reasons = BTreeMap::new();
    for c in &cands {
        *by_status.entry(c.status.as_str().to_string()).or_default() += 1;
        if c.status == Status::Declined {
            let reason = c
                .status_reason
                .clone()
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| "—".into());
            *decline_reasons.entry(reason).or_default() += 1;
        }
    }
    let mut by_stratum = Vec::new();
    for s in &defs {
        let mut values = Vec::new();
        for v in s.values.iter().map(Some).chain([None]) {
            let mut counts = zero();
            let mut total = 0;
            for c in &cands {
                let vals = strata_values(c)?;
                if vals.get(&s.key) == v {
                    *counts.entry(c.status.as_str().to_string()).or_default() += 1;
                    total += 1;
                }
            }
            if v.is_some() || total > 0 {
                values.push(ValueCounts {
                    value: v.cloned().unwrap_or_else(|| "—".into()),
                    by_status: counts,
                    total,
                });
            }
        }
        by_stratum.push(StratumCounts {
            key: s.key.clone(),
            label: s.label.clone(),
            values,
        });
    }
    Ok(Recruitment {
        by_status,
        by_stratum,
        decline_reasons,
        referral_tree: referral_tree(&cands),
    })
}

fn referral_tree(cands: &[Candidate]) -> Vec<ReferralNode> {
    let ids: HashSet<&str> = cands.iter().map(|c| c.id.as_str()).collect();
    let mut children: HashMap<&str, Vec<&Candidate>> = HashMap::new();
    let mut roots = Vec::new();
    for c in cands {
        match c
            .referred_by
            .as_deref()
            .filter(|r| ids.contains(r) && *r != c.id)
        {
            Some(r) => children.entry(r).or_default().push(c),
            None => roots.push(c),
        }
    }
    fn build<'a>(
        c: &'a Candidate,
        children: &HashMap<&str, Vec<&'a Candidate>>,
        depth: usize,
    ) -> ReferralNode {
        let referred = if depth > 50 {
            Vec::new()
        } else {
            children
                .get(c.id.as_str())
                .map(|v| v.iter().map(|k| build(k, children, depth + 1)).collect())
                .unwrap_or_default()
        };
        ReferralNode {
            id: c.id.clone(),
            name: c.name.clone(),
            status: status_of(c),
            source: c.source.clone(),
            referred,
        }
    }
    // Only chains of referrals: a candidate nobody named and who named nobody is no tree.
    roots
        .into_iter()
        .filter(|r| children.contains_key(r.id.as_str()))
        .map(|r| build(r, &children, 0))
        .collect()
}

/// Every message of a study, newest first.
pub fn messages(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    limit: i64,
) -> AppResult<Vec<MessageView>> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    Ok(outbox::table
        .filter(outbox::study_id.eq(study_id))
        .order(outbox::created_at.desc())
        .limit(limit)
        .select(OutboxMessage::as_select())
        .load(conn)?
        .into_iter()
        .map(MessageView::from)
        .collect())
}
