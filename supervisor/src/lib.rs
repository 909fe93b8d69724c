//! davit's supervisor: app files ([`app`]), the daemon that runs them ([`daemon`]), the
//! launcher it spawns davit children from ([`launcher`]), and its D-Bus API ([`api`]).

pub mod api;
pub mod app;
pub mod daemon;
pub mod launcher;
