//! Reading kernel state as plain [`crate::model`] data.
