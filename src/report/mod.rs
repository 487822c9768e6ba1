//! Renderings of a cycle's outcome: pure functions from [`crate::outcome`] to text, JSON,
//! HTML and PNG. Nothing here reads a clock, a file or the network; sending and storing what
//! is rendered is `delivery`'s job, serving it the API's.

pub mod json;
pub mod table;
pub mod weekly;
