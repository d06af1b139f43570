//! Plan: the difference between a desired and an observed network, as an ordered
//! graph of operations.
pub mod op;

pub use op::{LinkChange, Op, Plan, Step};
