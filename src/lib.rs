//! netloom: one declarative YAML file becomes a real, running Linux virtual network.
//!
//! The path is straight: [`spec`] (file -> resolved topology) -> [`kernel`]
//! (observe the kernel as plain [`model`] data) -> [`plan`] (diff as a graph of
//! ops) -> [`kernel`] apply (with a journal for rollback) -> [`verify`] (traffic).
//! Lower layers never import higher ones: `model` imports nothing of netloom.
//! [`wire`] (packet bytes for the probes, no I/O) stands on `model` alone.
//!
//! `unsafe` is denied everywhere but in two rooms: `kernel::sys` (fork and
//! exec into namespaces, netlink socket adoption, ioctls, fsmount) and
//! `verify::probe::packet` (the ARP probes' raw socket).
#![warn(missing_docs)]
#![deny(unsafe_code, clippy::undocumented_unsafe_blocks)]

pub mod apply;
pub mod engine;
pub mod kernel;
pub mod model;
pub mod plan;
pub mod sandbox;
pub mod spec;
pub mod state;
pub mod verify;
pub mod wire;
