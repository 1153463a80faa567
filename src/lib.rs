//! Orakel runs Delphi expert-panel studies end to end: recruiting experts by e-mail, coding
//! round-1 interviews into themes, rating rounds through personal links, the panel's
//! priorities and consensus, and the funder's report, with anonymity between experts kept by
//! construction.
//!
//! How the modules are layered, and where each kind of change goes: `ARCHITECTURE.md`.

pub mod assets;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod i18n;
pub mod ics;
pub mod mail;
pub mod memory;
pub mod metrics;
pub mod ops;
pub mod qda;
pub mod report;
pub mod startup;
pub mod telemetry;
pub mod templates;
pub mod web;
pub mod worker;
