//! The model-based test of edits (tests/edits_model.rs): a model of the
//! topology file, random valid edits of it, the claims and the kernel state
//! it implies, and a runner that shrinks what fails.
#![allow(dead_code)]

pub mod check;
pub mod claims;
pub mod edit;
pub mod edit_more;
pub mod model;
pub mod render;
pub mod run;
pub mod shrink;
