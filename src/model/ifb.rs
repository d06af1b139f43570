//! ifb: an intermediate functional block (drivers/net/ifb.c), the device tc
//! redirects traffic into to queue or shape it; it has no options of its own.
use serde::{Deserialize, Serialize};

use super::kind::Kind;

/// Options of an ifb device: none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfbOptions {}

impl Kind for IfbOptions {}
