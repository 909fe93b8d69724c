//! The supervisor daemon (`davit supervise`) and its API, end to end: real containers, a
//! private D-Bus, and the host's own view (/proc, cgroups, files the apps write). The
//! interface under test is supervisor/README.md ("App files", "The daemon", "The D-Bus API").
//! Run as root, like the other integration tests.

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod access;
mod adopt;
mod api;
mod badfiles;
mod freeze;
// enable when notify/healthcheck land
mod health;
mod order;
mod release;
mod restart;
mod stop;
