//! netloom: one declarative YAML file becomes a real, running Linux virtual network.
//!
//! The path is straight: [`spec`] (file -> resolved topology) -> [`kernel`]
//! (observe the kernel as plain [`model`] data) -> [`plan`] (diff as a graph of
//! ops) -> [`apply`] (run it through the kernel with a journal for rollback)
//! -> [`verify`] (traffic); [`explain`] says why a flow gets through or
//! not; [`engine`] composes them into the verbs.
//!
//! Lower layers never import higher ones (tests/architecture.rs holds the
//! code to this line):
//!
//! Layers, lowest first: timing, model, effects, spec, state, kernel, plan, apply, verify, explain, engine, sandbox.
#![warn(missing_docs)]

pub mod apply;
pub mod effects;
pub mod engine;
pub mod explain;
pub mod kernel;
pub mod model;
pub mod plan;
pub mod sandbox;
pub mod spec;
pub mod state;
pub mod timing;
pub mod verify;
