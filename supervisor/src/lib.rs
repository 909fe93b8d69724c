//! davit's supervisor: the layer that runs a board's apps. For now, its app files and the order
//! they start and stop in; the daemon comes next.

pub mod app;
