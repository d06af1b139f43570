//! spec: a topology file becomes a validated, resolved [`model::Network`] plus
//! expectations, or a list of located errors.
pub mod error;
pub mod yaml;

pub use error::{Location, SpecError, SpecErrors};
pub mod decode;
pub mod expect;
pub mod kind;
pub mod link;
pub mod node;
