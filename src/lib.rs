//! netloom: one declarative YAML file becomes a real, running Linux virtual network.
//!
//! The path is straight: [`spec`] (file -> resolved topology) -> [`kernel`]
//! (observe the kernel as plain [`model`] data) -> [`plan`] (diff as a graph of
//! ops) -> [`apply`] (run it through the kernel with a journal for rollback)
//! -> [`verify`] (traffic); [`agent`] holds the bodies of netloom's own
//! supervised helpers (the DHCP client, the LIF watcher); [`explain`] says
//! why a flow gets through or not; [`engine`] composes them into the verbs,
//! and [`cni`] serves them to container runtimes as a CNI plugin. What the
//! kernel does on its own is stated once, in [`effects`]; [`wire`] holds the
//! probes' packet bytes (no I/O).
//!
//! `unsafe` is denied everywhere but in two rooms: `kernel::sys` (fork and
//! exec into namespaces, netlink socket adoption, ioctls, fsmount) and
//! `verify::probe::packet` (the ARP probes' raw socket).
//!
//! Lower layers never import higher ones (tests/architecture.rs holds the
//! code to this line):
//!
//! Layers, lowest first: timing, model, wire, effects, spec, import, state, kernel, plan, apply, verify, agent, explain, engine, graph, cni, sandbox.
#![warn(missing_docs)]
#![deny(unsafe_code, clippy::undocumented_unsafe_blocks)]

pub mod agent;
pub mod apply;
pub mod cni;
pub mod effects;
pub mod engine;
pub mod explain;
pub mod graph;
pub mod import;
pub mod kernel;
pub mod model;
pub mod plan;
#[cfg(any(test, feature = "sandbox"))]
pub mod sandbox;
pub mod spec;
pub mod state;
pub mod timing;
pub mod verify;
pub mod wire;
