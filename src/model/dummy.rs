//! dummy: a device that drops what it is sent (drivers/net/dummy.c); it has
//! no options of its own.
use serde::{Deserialize, Serialize};

use super::kind::Kind;

/// Options of a dummy device: none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DummyOptions {}

impl Kind for DummyOptions {}
