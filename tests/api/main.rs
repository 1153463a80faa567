//! Integration tests: each starts the real server on a free port over a fresh database, once on
//! SQLite and once on PostgreSQL (see `helpers`).

#[allow(dead_code)]
mod helpers;

mod accounts;
mod anonymity;
mod answered;
mod attacks;
mod bad_input;
mod browser;
mod demo;
mod discussion;
mod faults;
mod funders;
mod fuzz;
mod groups;
mod language;
mod large;
mod live;
mod matrix;
mod migrations;
mod openapi;
mod privacy;
mod process;
mod protocol;
mod recruitment;
mod report;
mod round1;
mod rounds;
mod saving;
mod service;
mod smtp;
mod studies;
mod time_zones;
mod todo;
