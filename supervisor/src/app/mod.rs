//! App files: one `NAME.toml` per app in the config directory, in docker-compose's vocabulary
//! (see supervisor/README.md for the format), and the order in which apps start and stop.

mod duration;
mod signal;
mod size;

pub use duration::{DurationError, parse_duration};
pub use signal::Signal;
pub use size::{SizeError, parse_size};
