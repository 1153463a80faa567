//! Orakel runs Delphi expert-panel studies end to end: recruiting experts by e-mail, coding
//! round-1 interviews into themes, rating rounds through personal links, the panel's
//! priorities and consensus, and the funder's report, with anonymity between experts kept by
//! construction.
//!
//! The modules are rooms with one job each:
//! - [`domain`]: the rules and statistics, pure and without I/O;
//! - [`db`]: the schema, connections and migrations for SQLite and PostgreSQL;
//! - [`ops`]: what people do, one transaction per action, shared by the API, pages and CLI;
//! - [`web`]: HTTP (the JSON API and the pages);
//! - [`report`]: the funder's report, computed from the data, in every format;
//! - [`mail`]: e-mail templates, messages and delivery; [`worker`]: the outbox and the clock;
//! - [`metrics`]: counters for operators at `/metrics`;
//! - [`config`]: settings; [`cli`]: the command line; [`startup`]: wiring it together.

pub mod assets;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod i18n;
pub mod mail;
pub mod metrics;
pub mod ops;
pub mod qda;
pub mod report;
pub mod startup;
pub mod telemetry;
pub mod templates;
pub mod web;
pub mod worker;
