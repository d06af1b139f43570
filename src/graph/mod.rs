//! graph: a topology drawn (placeholder while the module is written).
