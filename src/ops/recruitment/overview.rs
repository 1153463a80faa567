//! The recruitment overview: counts per status and per panel attribute, the referral tree, and the messages sent.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConn;
use crate::db::models::{Candidate, OutboxMessage};
use crate::db::schema::outbox;
use crate::domain::candidate::Status;
use crate::domain::states::MessageState;
use crate::ops::AppResult;
use crate::ops::access::{self, ResearcherId, Role};
use crate::ops::outbox::MessageView;

use super::*;

// ---------------------------------------------------------------------------------------------
// The recruitment overview

/// The declines of one category and the reasons written with them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeclineGroup {
    pub category: String,
    pub count: i64,
    /// The reasons written, most often given first; declines without one are only counted.
    pub reasons: Vec<DeclineReason>,
}

/// A reason written with declines, and how many gave it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeclineReason {
    pub reason: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Recruitment {
    /// Candidates per status (every status present, zero included).
    pub by_status: BTreeMap<String, i64>,
    /// Per attribute and value: candidates per status.
    pub by_stratum: Vec<StratumCounts>,
    /// Declines grouped by the reason given.
    pub decline_reasons: BTreeMap<String, i64>,
    /// Declines by the category the candidate chose (`busy`, `not_my_field`, `other`, or
    /// `none` when a researcher recorded the decline), most first, each with its written
    /// reasons, most often given first.
    pub declines: Vec<DeclineGroup>,
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
    let mut by_category: BTreeMap<&str, (i64, BTreeMap<String, i64>)> = BTreeMap::new();
    for c in &cands {
        *by_status.entry(c.status.as_str().to_string()).or_default() += 1;
        if c.status == Status::Declined {
            let written = c.status_reason.clone().filter(|r| !r.trim().is_empty());
            let group = by_category
                .entry(c.decline_category.map_or("none", |d| d.as_str()))
                .or_default();
            group.0 += 1;
            if let Some(r) = &written {
                *group.1.entry(r.trim().to_string()).or_default() += 1;
            }
            let reason = written.unwrap_or_else(|| "—".into());
            *decline_reasons.entry(reason).or_default() += 1;
        }
    }
    let mut declines: Vec<DeclineGroup> = by_category
        .into_iter()
        .map(|(category, (count, reasons))| {
            let mut reasons: Vec<DeclineReason> = reasons
                .into_iter()
                .map(|(reason, count)| DeclineReason { reason, count })
                .collect();
            reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
            DeclineGroup {
                category: category.to_string(),
                count,
                reasons,
            }
        })
        .collect();
    declines.sort_by_key(|d| std::cmp::Reverse(d.count));
    // Each candidate's attributes read once, not once per attribute value.
    let attributes: Vec<BTreeMap<String, String>> =
        cands.iter().map(strata_values).collect::<Result<_, _>>()?;
    let mut by_stratum = Vec::new();
    for s in &defs {
        let mut values = Vec::new();
        for v in s.values.iter().map(Some).chain([None]) {
            let mut counts = zero();
            let mut total = 0;
            for (c, vals) in cands.iter().zip(&attributes) {
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
        declines,
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

/// Which of a study's messages a list shows: a state, a kind, words of the recipient's address.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    pub state: Option<MessageState>,
    pub kind: Option<crate::mail::Kind>,
    /// Lower-case words to find in the recipient's address.
    pub to: String,
    pub paging: Paging,
}

impl MessageQuery {
    /// Reads `state`, `kind`, `to`, `limit` and `offset`.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, Invalid> {
        let mut e = Invalid::new();
        let mut q = MessageQuery::default();
        for (k, v) in crate::ops::paging::read(pairs, &mut q.paging, &mut e) {
            match k {
                "state" => match MessageState::parse(v) {
                    Some(s) => q.state = Some(s),
                    None => e.add("state", "must be queued, sending, sent or failed"),
                },
                "kind" => match crate::mail::Kind::parse(v) {
                    Some(kind) => q.kind = Some(kind),
                    None => e.add("kind", "is not a kind of message"),
                },
                "to" => q.to = v.to_lowercase(),
                _ => {}
            }
        }
        e.into_result(q)
    }
}

/// A page of a study's messages: failed ones first, then newest first. `counts` holds every
/// message of the study per state; `total` those matching the query.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessagePage {
    pub counts: BTreeMap<String, i64>,
    pub total: i64,
    pub offset: usize,
    pub limit: usize,
    pub items: Vec<MessageView>,
}

/// A page of the study's messages with their delivery state (never their bodies).
pub fn messages(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    query: &MessageQuery,
) -> AppResult<MessagePage> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let mut counts: BTreeMap<String, i64> = MessageState::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), 0))
        .collect();
    counts.extend(
        outbox::table
            .filter(outbox::study_id.eq(study_id))
            .group_by(outbox::state)
            .select((outbox::state, diesel::dsl::count_star()))
            .load::<(String, i64)>(conn)?,
    );
    // `%` and `_` typed by the researcher are letters, not patterns.
    let pattern = format!(
        "%{}%",
        query
            .to
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let filtered = || {
        let mut q = outbox::table
            .filter(outbox::study_id.eq(study_id))
            .into_boxed();
        if let Some(s) = query.state {
            q = q.filter(outbox::state.eq(s));
        }
        if let Some(k) = query.kind {
            q = q.filter(outbox::kind.eq(k));
        }
        if !query.to.is_empty() {
            q = q.filter(
                crate::db::lower(outbox::recipient)
                    .like(pattern.clone())
                    .escape('\\'),
            );
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn)?;
    let (offset, limit) = query.paging.sql();
    let items = filtered()
        .order((
            outbox::state.eq(MessageState::Failed).desc(),
            outbox::created_at.desc(),
            outbox::id,
        ))
        .offset(offset)
        .limit(limit)
        .select(OutboxMessage::as_select())
        .load(conn)?
        .into_iter()
        .map(MessageView::from)
        .collect();
    Ok(MessagePage {
        counts,
        total,
        offset: query.paging.offset,
        limit: query.paging.limit,
        items,
    })
}
